// The session's attestation variants and tolerances against the claims of the real fixtures: the
// fixture's own values are accepted, any other value or an untolerated weakness is refused by name.
import { describe, expect, it } from 'vitest';
import { AttestationError, type Claims } from '../../lib/attestation/evidence.js';
import { judgeWeaknesses, matchAttestationPolicy, parseAttestationPolicy } from '../../lib/attestation/policy.js';
import { verifierFor } from '../../lib/attestation/verifiers.js';
import { fixtureNamed } from './fixtures.js';

async function claimsOf(prefix: string): Promise<Claims> {
  const fixture = fixtureNamed(prefix);
  return verifierFor(fixture.type).verify(fixture.evidence, fixture.context);
}

function refusedReason(run: () => unknown): string {
  try {
    run();
  } catch (error) {
    expect(error).toBeInstanceOf(AttestationError);
    return (error as AttestationError).reason;
  }
  throw new Error('accepted');
}

const OTHER48 = 'ab'.repeat(48);
const OTHER32 = 'cd'.repeat(32);

describe('policy matcher with the fixtures\' values', async () => {
  const nitro = await claimsOf('nitro');
  const snp = await claimsOf('snp test-report');
  const sgx = await claimsOf('sgx');
  const tdx = await claimsOf('tdx');
  const p = nitro.platform['pcrs'] as Record<string, string>;
  const t = tdx.platform as Record<string, string>;

  it('nitro: its PCR0–2 accepted when debug-mode is tolerated, refused as debug otherwise, other PCRs refused', () => {
    const variant = { type: 'nitro', pcr0: p['0'], pcr1: p['1'], pcr2: p['2'], pcr4: p['4'] };
    expect(matchAttestationPolicy(nitro, parseAttestationPolicy({ attestation: [variant], tolerate: ['debug-mode'] }))).toEqual({ variant: 0 });
    expect(refusedReason(() => matchAttestationPolicy(nitro, parseAttestationPolicy({ attestation: [variant] })))).toBe('debug');
    expect(refusedReason(() => matchAttestationPolicy(nitro, parseAttestationPolicy({ attestation: [{ ...variant, pcr4: OTHER48 }], tolerate: ['debug-mode'] })))).toBe('measurement');
  });

  it('snp: measurement + host_data accepted; another measurement or host_data refused', () => {
    const variant = { type: 'snp', measurement: snp.measurement, host_data: snp.platform['host_data'] };
    expect(matchAttestationPolicy(snp, parseAttestationPolicy({ attestation: [variant] }))).toEqual({ variant: 0 });
    expect(refusedReason(() => matchAttestationPolicy(snp, parseAttestationPolicy({ attestation: [{ ...variant, measurement: OTHER48 }] })))).toBe('measurement');
    expect(refusedReason(() => matchAttestationPolicy(snp, parseAttestationPolicy({ attestation: [{ ...variant, host_data: OTHER32 }] })))).toBe('measurement');
  });

  it('tdx: mrtd + rtmr accepted (the second of two variants); another rtmr refused naming it', () => {
    const variant = { type: 'tdx', mrtd: t['mrtd'], rtmr: [t['rtmr0'], t['rtmr1'], t['rtmr2'], null] };
    const policy = parseAttestationPolicy({ attestation: [{ type: 'snp', measurement: OTHER48 }, variant] });
    expect(matchAttestationPolicy(tdx, policy)).toEqual({ variant: 1 });
    const wrong = parseAttestationPolicy({ attestation: [{ ...variant, rtmr: [t['rtmr0'], OTHER48] }] });
    expect(() => matchAttestationPolicy(tdx, wrong)).toThrow(/rtmr\[1\]/);
  });

  it('sgx: mrenclave and mrsigner/isvprodid/isvsvn_min accepted only with the status tolerated and advisories ignored', () => {
    const tolerate = ['insecure-configuration', 'software-hardening-needed'];
    const ignore = ['INTEL-SA-00289', 'INTEL-SA-00615'];
    const byEnclave = { type: 'sgx', mrenclave: sgx.measurement };
    const bySigner = { type: 'sgx', mrsigner: sgx.platform['mrsigner'], isvprodid: 0, isvsvn_min: 0 };
    for (const variant of [byEnclave, bySigner]) {
      expect(matchAttestationPolicy(sgx, parseAttestationPolicy({ attestation: [variant], tolerate, ignore_advisories: ignore }))).toEqual({ variant: 0 });
      expect(matchAttestationPolicy(sgx, parseAttestationPolicy({ attestation: [variant], tolerate, ignore_advisories: ['*'] }))).toEqual({ variant: 0 });
      expect(refusedReason(() => matchAttestationPolicy(sgx, parseAttestationPolicy({ attestation: [variant], ignore_advisories: ignore })))).toBe('tcb-status');
      expect(refusedReason(() => matchAttestationPolicy(sgx, parseAttestationPolicy({ attestation: [variant], tolerate: ['insecure-configuration'], ignore_advisories: ignore })))).toBe('tcb-status');
      expect(refusedReason(() => matchAttestationPolicy(sgx, parseAttestationPolicy({ attestation: [variant], tolerate, ignore_advisories: ['INTEL-SA-00289'] })))).toBe('advisory');
    }
    expect(refusedReason(() => matchAttestationPolicy(sgx, parseAttestationPolicy({ attestation: [{ ...bySigner, isvsvn_min: 1 }], tolerate, ignore_advisories: ignore })))).toBe('measurement');
    expect(refusedReason(() => matchAttestationPolicy(sgx, parseAttestationPolicy({ attestation: [{ type: 'sgx', mrenclave: OTHER32 }], tolerate, ignore_advisories: ignore })))).toBe('measurement');
  });

  it('evidence of a type the policy does not list is refused (no-variant)', () => {
    expect(refusedReason(() => matchAttestationPolicy(snp, parseAttestationPolicy({ attestation: [{ type: 'tdx', mrtd: t['mrtd'] }] })))).toBe('no-variant');
  });

  it('simulation claims need tolerate simulation', () => {
    const simulated: Claims = { type: 'simulation', measurement: OTHER32, reportData: '', debug: false, tcbStatus: 'NotApplicable', advisoryIds: [], platform: {} };
    const variant = { type: 'simulation', measurement: OTHER32 };
    expect(refusedReason(() => matchAttestationPolicy(simulated, parseAttestationPolicy({ attestation: [variant] })))).toBe('simulation');
    expect(matchAttestationPolicy(simulated, parseAttestationPolicy({ attestation: [variant], tolerate: ['simulation'] }))).toEqual({ variant: 0 });
  });

  it('judgeWeaknesses without ignore_advisories reports advisories unjudged; Revoked is never accepted', () => {
    expect(() => judgeWeaknesses(sgx, ['insecure-configuration', 'software-hardening-needed'])).not.toThrow();
    expect(refusedReason(() => judgeWeaknesses({ ...sgx, tcbStatus: 'Revoked' }, ['outdated-tcb', 'insecure-configuration', 'software-hardening-needed']))).toBe('tcb-status');
    expect(refusedReason(() => judgeWeaknesses({ ...tdx, tcbStatus: 'OutOfDate' }, []))).toBe('tcb-status');
    expect(() => judgeWeaknesses({ ...tdx, tcbStatus: 'OutOfDate' }, ['outdated-tcb'])).not.toThrow();
  });
});

describe('variant validation names the field', () => {
  it.each([
    [{ attestation: [] }, /attestation: must list at least one variant/],
    [{ attestation: [{ type: 'nitro' }] }, /attestation\[0\]\.pcr0: is required/],
    [{ attestation: [{ type: 'nitro', pcr0: 'zz' }] }, /attestation\[0\]\.pcr0: must be 48 bytes of hex/],
    [{ attestation: [{ type: 'nitro', pcr0: OTHER48, pcr16: OTHER48 }] }, /attestation\[0\]\.pcr16: is not a field/],
    [{ attestation: [{ type: 'snp', measurement: OTHER32 }] }, /attestation\[0\]\.measurement: must be 48 bytes/],
    [{ attestation: [{ type: 'tdx', mrtd: OTHER48, rtmr: [OTHER48, OTHER48, OTHER48, OTHER48, OTHER48] }] }, /attestation\[0\]\.rtmr: must be a list of at most 4/],
    [{ attestation: [{ type: 'sgx' }] }, /attestation\[0\]: an sgx variant pins mrenclave/],
    [{ attestation: [{ type: 'sgx', mrsigner: OTHER32 }] }, /attestation\[0\]\.isvprodid: is required/],
    [{ attestation: [{ type: 'sgx', mrsigner: OTHER32, isvprodid: -1, isvsvn_min: 0 }] }, /attestation\[0\]\.isvprodid: must be an integer/],
    [{ attestation: [{ type: 'quantum' }] }, /attestation\[0\]\.type: 'quantum' is not one of/],
    [{ attestation: [{ type: 'simulation', measurement: OTHER32 }], tolerate: ['everything'] }, /tolerate\[0\]: 'everything' is not one of/],
    [{ attestation: [{ type: 'simulation', measurement: OTHER32 }], ignore_advisories: ['bogus'] }, /ignore_advisories: must be a list/],
  ])('%j', (input, message) => {
    expect(() => parseAttestationPolicy(input)).toThrow(message);
    expect(refusedReason(() => parseAttestationPolicy(input))).toBe('invalid-policy');
  });
});
