// What the register loads at start-up (README, "Start-up"): the YAML parser only for a configuration
// that is not JSON, and libsodium without require-addon's resolver. Timing is the benchmark's
// business (bench/fs-startup.ts); this checks which modules a shielded process has loaded.
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, test } from 'vitest';
import { useTempDir } from './support/temp.js';

const REGISTER = fileURLToPath(new URL('../dist/register.js', import.meta.url));
const temp = useTempDir('shieldfs-register-startup-');

// Prints which packages the CommonJS loader holds once the register has run, and that /V1 works.
const PROBE = String.raw`
const fs = require('node:fs');
fs.writeFileSync('/V1/f', 'mounted');
const packages = new Set(Object.keys(require.cache).flatMap((p) => /node_modules\/([^/]+)\//.exec(p)?.slice(1) ?? []));
console.log(JSON.stringify({ read: fs.readFileSync('/V1/f', 'utf8'), packages: [...packages].sort() }));
`;

function probe(configText: string, name: string): { read: string; packages: string[] } {
  const config = temp(name);
  writeFileSync(config, configText);
  const script = temp('probe.cjs');
  writeFileSync(script, PROBE);
  const result = spawnSync(process.execPath, ['-r', REGISTER, script], {
    cwd: temp('.'), encoding: 'utf8', env: { ...process.env, NODE_OPTIONS: '', SHIELD_CONFIG: config, SHIELD_CONFIG_CHECKED: '' },
  });
  expect(result.stderr).toBe('');
  expect(result.status).toBe(0);
  return JSON.parse(result.stdout) as { read: string; packages: string[] };
}

describe('what the register loads', () => {
  const mount = () => ({ path: '/V1', volume: temp(`v-${randomBytes(4).toString('hex')}`), key: randomBytes(32).toString('hex'), create: true,
    tagStore: `file:${temp('tags.json')}` });

  test('a JSON configuration is read without the YAML parser; libsodium is loaded without require-addon', () => {
    const seen = probe(JSON.stringify({ mounts: [mount()] }), 'shield.json');
    expect(seen.read).toBe('mounted');
    expect(seen.packages).toContain('sodium-native');
    expect(seen.packages).not.toContain('yaml');
    expect(seen.packages).not.toContain('require-addon');
  });

  test('a YAML configuration loads the YAML parser', () => {
    const m = mount();
    const seen = probe(`mounts:\n  - { path: ${m.path}, volume: ${m.volume}, key: ${m.key}, create: true, tagStore: "${m.tagStore}" }\n`, 'shield.yaml');
    expect(seen.read).toBe('mounted');
    expect(seen.packages).toContain('yaml');
  });
});
