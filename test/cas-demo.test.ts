// `shield demo` as a newcomer runs it: every attack refused with its code, exit 0, nothing left behind.
import { readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { describe, expect, it } from 'vitest';
import { cliRunner, expectSuccess } from './support/cli-run.js';

const shield = cliRunner({ SHIELD_CAS: undefined, SHIELD_CAS_KEY: undefined, SHIELD_IDENTITY: undefined, SHIELD_CONFIG: undefined });

describe('shield demo', () => {
  it('prints 0 1 2, refuses every attack with the expected code, exits 0 and leaves no directory behind', () => {
    const before = readdirSync(tmpdir()).filter((name) => name.startsWith('shieldfs-demo-'));
    const result = expectSuccess(shield(['demo']));
    expect(result.out).toMatch(/listening on https:\/\/127\.0\.0\.1:\d+ key [0-9a-f]{64}/);
    expect(result.out).toMatch(/run 1 +prints 0\nrun 2 +prints 1\nrun 3 +prints 2\n/);
    const attacks: [string, string][] = [
      ['a fourth start over max_executions: 3', 'ELIMIT'],
      ['an old copy of the volume restored', 'EROLLBACK'],
      ['the counter file deleted', 'EINTEGRITY'],
      ['the whole volume deleted', 'EROLLBACK'],
      ['a byte of the code changed', 'EINTEGRITY'],
      ['the argument changed to /tmp/num', 'EPOLICY'],
    ];
    for (const [attack, code] of attacks) {
      expect(result.out).toMatch(new RegExp(`${attack.replace(/[/.]/g, '\\$&')} +${code} +${code} +refused`));
    }
    expect(result.out).toMatch(/run after attacks +prints 3/);
    expect(result.out).toContain('every attack was refused');
    expect(readdirSync(tmpdir()).filter((name) => name.startsWith('shieldfs-demo-'))).toEqual(before);
  });
});
