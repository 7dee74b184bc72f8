// The policy service and hardware evidence: a session's service pins each real fixture's values (as an
// attestation variant, or as its measurement), and the service's own judging code (lib/cas/evidence-policy.ts,
// what every release runs) accepts the fixture with the clock at the fixture's time and the expected
// report data taken from the fixture itself; a session pinning other values refuses it. Then the same
// evidence through a real `shield cas serve` over HTTPS: it reaches the verifier with its VCEK or
// collateral, and is refused because a published fixture cannot bind this release's nonce and key.
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Claims } from '../lib/attestation/evidence.js';
import { CasClient } from '../lib/cas/client.js';
import { judgeClaims, verifyEvidence, type EvidenceSubmission } from '../lib/cas/evidence-policy.js';
import { requestRelease } from '../lib/cas/instance.js';
import { parseSession, type Session } from '../lib/cas/session.js';
import { FIXTURE_LIST, type Fixture } from './attestation/fixtures.js';
import { startCasService, type CasService } from './support/cas-service.js';
import { cliRunner, expectSuccess } from './support/cli-run.js';
import { useTempDir } from './support/temp.js';

const temp = useTempDir('shieldfs-cas-attestation-');

/** What each fixture admits to, tolerated as SCONE's vocabulary names it. */
const TOLERATE: Record<string, string[]> = {
  nitro: ['debug-mode'],
  sgx: ['insecure-configuration', 'software-hardening-needed'],
};
/** The advisories each fixture's platform has, accepted explicitly (none are unless listed). */
const IGNORE: Record<string, string[]> = { sgx: ['INTEL-SA-00289', 'INTEL-SA-00615'] };

function submission(fixture: Fixture): EvidenceSubmission {
  return {
    type: fixture.type, data: fixture.evidence,
    ...(fixture.context.collateral !== undefined ? { collateral: fixture.context.collateral } : {}),
    ...(fixture.context.vcek !== undefined ? { vcek: fixture.context.vcek } : {}),
  };
}

/** The variant a session writes to pin these claims (the fixture's own values). */
function variantOf(claims: Claims): string {
  const p = claims.platform as Record<string, unknown>;
  switch (claims.type) {
    case 'nitro': {
      const pcrs = p['pcrs'] as Record<string, string>;
      return `{ type: nitro, pcr0: "${pcrs['0']}", pcr1: "${pcrs['1']}", pcr2: "${pcrs['2']}" }`;
    }
    case 'snp':
      return `{ type: snp, measurement: "${claims.measurement}", host_data: "${String(p['host_data'])}" }`;
    case 'tdx':
      return `{ type: tdx, mrtd: "${claims.measurement}", rtmr: ["${String(p['rtmr0'])}", "${String(p['rtmr1'])}"] }`;
    case 'sgx':
      return `{ type: sgx, mrenclave: "${String(p['mrenclave'])}" }`;
    default:
      throw new Error(`no variant for ${claims.type}`);
  }
}

/** Another value of the same shape: the last hex digit changed. */
function otherValue(variant: string): string {
  return variant.replace(/"([0-9a-f]+)"/, (_m, hex: string) => `"${hex.slice(0, -1)}${hex.endsWith('0') ? '1' : '0'}"`);
}

function session(name: string, pin: string, tolerate: string[], ignore: string[] = []): Session {
  return parseSession([
    `name: ${name}`, 'version: "0.3"',
    'services:', '  - name: enclave', '    command: ["node", "/app/main.js"]', pin,
    'security:', `  attestation: { tolerate: [${tolerate.join(', ')}], ignore_advisories: [${ignore.join(', ')}] }`,
  ].join('\n') + '\n', `${name}.yaml`);
}

async function judge(fixture: Fixture, policy: Session) {
  const claims = await verifyEvidence(submission(fixture), { now: fixture.context.now, expectedReportData: Buffer.from((await ownClaims(fixture)).reportData, 'hex') });
  if (claims instanceof Error) throw claims;
  return judgeClaims(claims, policy.services[0]!, policy.security);
}

const claimsCache = new Map<string, Claims>();
async function ownClaims(fixture: Fixture): Promise<Claims> {
  if (!claimsCache.has(fixture.name)) {
    const claims = await verifyEvidence(submission(fixture), { now: fixture.context.now, expectedReportData: undefined as unknown as Uint8Array });
    if (claims instanceof Error) throw claims;
    claimsCache.set(fixture.name, claims);
  }
  return claimsCache.get(fixture.name)!;
}

describe.each(FIXTURE_LIST.map((f) => [f.name, f] as const))('the policy service judging %s', (_name, fixture) => {
  const tolerate = TOLERATE[fixture.type] ?? [];
  const ignore = IGNORE[fixture.type] ?? [];

  it('accepts it against a session whose attestation variant pins its values; refuses other values (measurement)', async () => {
    const variant = variantOf(await ownClaims(fixture));
    expect(await judge(fixture, session('hw/pinned', `    attestation:\n      - ${variant}`, tolerate, ignore))).toBeNull();
    const refused = await judge(fixture, session('hw/other', `    attestation:\n      - ${otherValue(variant)}`, tolerate, ignore));
    expect(refused).toMatchObject({ reason: 'measurement' });
    expect(refused!.message).toMatch(/no .* variant matches/);
  });

  it('refuses it against a session that pins only a runtime measurement, or only another platform (no-variant)', async () => {
    expect(await judge(fixture, session('hw/measured', `    measurement: "${'ab'.repeat(32)}"`, tolerate, ignore))).toMatchObject({ reason: 'no-variant' });
    const elsewhere = fixture.type === 'snp' ? `{ type: tdx, mrtd: "${'00'.repeat(48)}", rtmr: [] }` : `{ type: snp, measurement: "${'00'.repeat(48)}" }`;
    expect(await judge(fixture, session('hw/elsewhere', `    attestation:\n      - ${elsewhere}`, tolerate, ignore))).toMatchObject({ reason: 'no-variant' });
  });

  if (tolerate.length > 0) {
    it(`refuses it when the session does not tolerate ${tolerate.join(' and ')}`, async () => {
      const variant = variantOf(await ownClaims(fixture));
      const refused = await judge(fixture, session('hw/strict', `    attestation:\n      - ${variant}`, [], ignore));
      expect(refused?.reason).toMatch(/^(debug|tcb-status)$/);
    });
  }
});

describe('sessions with attestation variants', () => {
  it('name the field of a bad variant, and require a measurement or variants', () => {
    expect(() => session('hw/bad', '    attestation:\n      - { type: snp, measurement: "zz" }', [])).toThrow(/services\[0\]\.attestation\[0\]\.measurement: must be 48 bytes of hex/);
    expect(() => session('hw/unknown', '    attestation:\n      - { type: snp, measurement: "' + '00'.repeat(48) + '", pcr0: "00" }', []))
      .toThrow(/attestation\[0\]\.pcr0: is not a field of a snp variant/);
    expect(() => session('hw/none', '    pwd: /', [])).toThrow(/services\[0\]\.measurement: is missing/);
    expect(() => parseSession('name: hw/adv\nversion: "0.3"\nservices:\n  - { name: s, command: x, measurement: ' + 'ab'.repeat(32) +
      ' }\nsecurity:\n  attestation: { ignore_advisories: [not-an-id] }\n', 'adv.yaml')).toThrow(/ignore_advisories/);
  });
});

describe('hardware evidence through a real policy service', () => {
  const STORE = temp('store');
  const shield = cliRunner({ SHIELD_CAS: undefined, SHIELD_CAS_KEY: undefined, SHIELD_IDENTITY: undefined });
  const owner = temp('owner.pem');
  let cas: CasService;
  beforeAll(async () => {
    cas = await startCasService(STORE);
    expectSuccess(shield(['identity', 'create', '--identity', owner]));
  });
  afterAll(async () => {
    await cas?.stop();
  });

  it.each(FIXTURE_LIST.filter((f) => f.type !== 'nitro').map((f) => [f.name, f] as const))(
    '%s reaches the verifier with its VCEK or collateral, and is refused: a published report cannot bind this release (report data), or its collateral is past its validity today', async (_name, fixture) => {
      const file = temp(`session-${randomBytes(4).toString('hex')}.yaml`);
      const name = `hw/${fixture.type}-${randomBytes(3).toString('hex')}`;
      writeFileSync(file, [`name: ${name}`, 'version: "0.3"', 'services:', '  - name: enclave', '    command: ["node", "/app/main.js"]',
        `    attestation:\n      - ${variantOf(await ownClaims(fixture))}`, 'security:',
        `  attestation: { tolerate: [${(TOLERATE[fixture.type] ?? []).join(', ')}], ignore_advisories: [${(IGNORE[fixture.type] ?? []).join(', ')}] }`].join('\n') + '\n');
      expectSuccess(shield(['session', 'create', file], { env: { SHIELD_CAS: cas.url, SHIELD_CAS_KEY: cas.key, SHIELD_IDENTITY: owner } }));
      const client = new CasClient({ url: cas.url, key: cas.key });
      try {
        const refusal = await requestRelease(client, {
          session: name, service: 'enclave', hostCommand: null, evidence: async () => ({ ...submission(fixture) }),
        }).then(() => 'released', (error: Error & { code?: string }) => `${error.code}: ${error.message}`);
        // The VCEK or the collateral went over the wire: the refusal is about the binding or the service's
        // clock (today, not the fixture's time), never about a missing piece.
        expect(refusal).toMatch(/^EATTEST: .*evidence refused \((report-data|expired)\)/);
        expect(refusal).not.toMatch(/missing-vcek|missing-collateral|not known to this service/);
      } finally {
        client.close();
      }
    });
});

describe('the runtime\'s evidence (platformEvidenceSource) from a FAKE /dev/sev-guest', () => {
  it('sends the SNP report with the VCEK from SHIELD_VCEK_DIR; without a TEE, simulation', async () => {
    const { platformEvidenceSource } = await import('../lib/cas/instance.js');
    const { endorsementCacheNames } = await import('../lib/attestation/snp-endorsements.js');
    const { mkdirSync, writeFileSync: write } = await import('node:fs');
    const snp = FIXTURE_LIST.find((f) => f.name.startsWith('snp test-report'))!;
    const reportData = Buffer.from(snp.evidence.subarray(0x50, 0x90));
    const devRoot = temp('dev');
    mkdirSync(devRoot, { recursive: true });
    write(`${devRoot}/sev-guest`, '');
    const cache = temp('vcek-cache');
    mkdirSync(cache, { recursive: true });
    write(`${cache}/${endorsementCacheNames(snp.evidence)[0]}`, snp.context.vcek!);
    const firmware = Buffer.alloc(4000);
    firmware.writeUInt32LE(1184, 4);
    Buffer.from(snp.evidence).copy(firmware, 32);
    const devices = { snpReport: async () => firmware, nsmRequest: async () => Buffer.alloc(0) };
    const source = platformEvidenceSource('ab'.repeat(32), { tsmRoot: temp('no-tsm'), devRoot, devices }, { SHIELD_VCEK_DIR: cache });
    const evidence = await source(reportData);
    expect(evidence.type).toBe('snp');
    expect(Buffer.from(evidence.vcek!).equals(Buffer.from(snp.context.vcek!))).toBe(true);
    const claims = await verifyEvidence({ type: evidence.type, data: evidence.data, vcek: evidence.vcek! }, { now: snp.context.now, expectedReportData: reportData });
    expect(claims).toMatchObject({ type: 'snp', reportData: reportData.toString('hex') });
    const none = platformEvidenceSource('ab'.repeat(32), { tsmRoot: temp('no-tsm-2'), devRoot: temp('no-dev') }, {});
    expect((await none(Buffer.alloc(64))).type).toBe('simulation');
  });
});
