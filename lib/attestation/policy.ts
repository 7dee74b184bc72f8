// A session service's attestation policy, in the spirit of SCONE's session language: a list of
// variants (one per accepted platform, each with its reference values) and the tolerances that say
// which weaknesses the owner accepts. The verifier vouches for the claims; this decides whether those
// claims are the ones the owner wants. Every refusal is an AttestationError naming what did not match.
import { AttestationError, type Claims, type EvidenceType } from './evidence.js';

export const TOLERANCES = ['debug-mode', 'outdated-tcb', 'software-hardening-needed', 'insecure-configuration', 'simulation'] as const;
export type Tolerance = (typeof TOLERANCES)[number];

export type AttestationVariant =
  | { type: 'nitro'; pcrs: Record<number, string> }
  | { type: 'snp'; measurement: string; host_data?: string }
  | { type: 'tdx'; mrtd: string; rtmr: (string | null)[] }
  | { type: 'sgx'; mrenclave?: string; mrsigner?: string; isvprodid?: number; isvsvn_min?: number }
  | { type: 'simulation'; measurement: string };

export interface AttestationPolicy {
  variants: AttestationVariant[];
  tolerate: Tolerance[];
  /** Advisory ids the owner accepts; '*' accepts every one. */
  ignoreAdvisories: string[];
}

/** What a TCB status needs tolerated (Intel's statuses in SCONE's vocabulary); statuses not listed are never accepted. */
const STATUS_NEEDS: Record<string, Tolerance[]> = {
  UpToDate: [],
  NotApplicable: [],
  SWHardeningNeeded: ['software-hardening-needed'],
  ConfigurationNeeded: ['insecure-configuration'],
  ConfigurationAndSWHardeningNeeded: ['insecure-configuration', 'software-hardening-needed'],
  OutOfDate: ['outdated-tcb'],
  OutOfDateConfigurationNeeded: ['outdated-tcb', 'insecure-configuration'],
};

function invalid(where: string, message: string): AttestationError {
  return new AttestationError('invalid-policy', `${where}: ${message}`);
}

function hexValue(value: unknown, where: string, lengths: number[]): string {
  if (typeof value !== 'string' || !/^(?:[0-9a-fA-F]{2})+$/.test(value) || !lengths.includes(value.length / 2)) {
    throw invalid(where, `must be ${lengths.join(' or ')} bytes of hex`);
  }
  return value.toLowerCase();
}

function unsignedValue(value: unknown, where: string): number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > 0xffff) throw invalid(where, 'must be an integer from 0 to 65535');
  return value;
}

function checkKeys(variant: Record<string, unknown>, allowed: string[], where: string): void {
  for (const key of Object.keys(variant)) {
    if (!allowed.includes(key)) throw invalid(`${where}.${key}`, `is not a field of a ${String(variant['type'])} variant (fields: ${allowed.join(', ')})`);
  }
}

export function parseAttestationVariant(input: unknown, where: string): AttestationVariant {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) throw invalid(where, 'must be a mapping with a type');
  const v = input as Record<string, unknown>;
  switch (v['type']) {
    case 'nitro': {
      const pcrKeys = Object.keys(v).filter((key) => key !== 'type');
      checkKeys(v, ['type', ...Array.from({ length: 16 }, (_, i) => `pcr${i}`)], where);
      if (v['pcr0'] === undefined) throw invalid(`${where}.pcr0`, 'is required: PCR0 measures the enclave image');
      const pcrs: Record<number, string> = {};
      for (const key of pcrKeys) pcrs[Number(key.slice(3))] = hexValue(v[key], `${where}.${key}`, [48]);
      return { type: 'nitro', pcrs };
    }
    case 'snp': {
      checkKeys(v, ['type', 'measurement', 'host_data'], where);
      const variant: AttestationVariant = { type: 'snp', measurement: hexValue(v['measurement'], `${where}.measurement`, [48]) };
      if (v['host_data'] !== undefined) variant.host_data = hexValue(v['host_data'], `${where}.host_data`, [32]);
      return variant;
    }
    case 'tdx': {
      checkKeys(v, ['type', 'mrtd', 'rtmr'], where);
      const rtmr = v['rtmr'] ?? [];
      if (!Array.isArray(rtmr) || rtmr.length > 4) throw invalid(`${where}.rtmr`, 'must be a list of at most 4 RTMRs (null to leave one unpinned)');
      return {
        type: 'tdx',
        mrtd: hexValue(v['mrtd'], `${where}.mrtd`, [48]),
        rtmr: rtmr.map((value, i) => (value === null ? null : hexValue(value, `${where}.rtmr[${i}]`, [48]))),
      };
    }
    case 'sgx': {
      checkKeys(v, ['type', 'mrenclave', 'mrsigner', 'isvprodid', 'isvsvn_min'], where);
      const variant: AttestationVariant = { type: 'sgx' };
      if (v['mrenclave'] !== undefined) variant.mrenclave = hexValue(v['mrenclave'], `${where}.mrenclave`, [32]);
      if (v['mrsigner'] !== undefined || v['isvprodid'] !== undefined || v['isvsvn_min'] !== undefined) {
        for (const key of ['mrsigner', 'isvprodid', 'isvsvn_min']) {
          if (v[key] === undefined) throw invalid(`${where}.${key}`, 'is required with mrsigner, isvprodid and isvsvn_min (they pin a signer only together)');
        }
        variant.mrsigner = hexValue(v['mrsigner'], `${where}.mrsigner`, [32]);
        variant.isvprodid = unsignedValue(v['isvprodid'], `${where}.isvprodid`);
        variant.isvsvn_min = unsignedValue(v['isvsvn_min'], `${where}.isvsvn_min`);
      }
      if (variant.mrenclave === undefined && variant.mrsigner === undefined) throw invalid(where, 'an sgx variant pins mrenclave, or mrsigner with isvprodid and isvsvn_min');
      return variant;
    }
    case 'simulation':
      checkKeys(v, ['type', 'measurement'], where);
      return { type: 'simulation', measurement: hexValue(v['measurement'], `${where}.measurement`, [32, 48, 64]) };
    default:
      throw invalid(`${where}.type`, `'${String(v['type'])}' is not one of nitro, snp, tdx, sgx, simulation`);
  }
}

export function parseTolerances(input: unknown, where: string): Tolerance[] {
  if (input === undefined || input === null) return [];
  const list = typeof input === 'string' ? input.split(',').map((s) => s.trim()).filter(Boolean) : input;
  if (!Array.isArray(list)) throw invalid(where, `must be a list of ${TOLERANCES.join(', ')}`);
  return list.map((item, i) => {
    if (!TOLERANCES.includes(item as Tolerance)) throw invalid(`${where}[${i}]`, `'${String(item)}' is not one of ${TOLERANCES.join(', ')}`);
    return item as Tolerance;
  });
}

/** Reads `attestation`, `tolerate` and `ignore_advisories` as a session states them. */
export function parseAttestationPolicy(input: { attestation: unknown; tolerate?: unknown; ignore_advisories?: unknown }, where = 'attestation'): AttestationPolicy {
  if (!Array.isArray(input.attestation) || input.attestation.length === 0) throw invalid(where, 'must list at least one variant');
  const variants = input.attestation.map((variant, i) => parseAttestationVariant(variant, `${where}[${i}]`));
  const ignore = input.ignore_advisories ?? [];
  if (!Array.isArray(ignore) || !ignore.every((id) => typeof id === 'string' && /^(\*|[A-Z]+-[A-Z]+-\d+)$/.test(id))) {
    throw invalid('ignore_advisories', "must be a list of advisory ids like 'INTEL-SA-00615', or '*'");
  }
  return { variants, tolerate: parseTolerances(input.tolerate, 'tolerate'), ignoreAdvisories: ignore as string[] };
}

/**
 * Judges the weaknesses the claims admit: simulation, a debug enclave, a TCB status short of UpToDate,
 * and (when `ignoreAdvisories` is given) each advisory. Throws with the first one not tolerated.
 */
export function judgeWeaknesses(claims: Claims, tolerate: readonly Tolerance[], ignoreAdvisories?: readonly string[]): void {
  if (claims.type === 'simulation' && !tolerate.includes('simulation')) {
    throw new AttestationError('simulation', 'simulation evidence proves nothing about the host; refused unless the policy tolerates simulation');
  }
  // Simulated memory is the host's to read by nature: tolerating simulation tolerates that.
  if (claims.debug && claims.type !== 'simulation' && !tolerate.includes('debug-mode')) {
    throw new AttestationError('debug', `the ${claims.type} evidence comes from a debug enclave or guest, whose memory the host can read; refused unless the policy tolerates debug-mode`);
  }
  const needs = STATUS_NEEDS[claims.tcbStatus];
  if (!needs) throw new AttestationError('tcb-status', `TCB status ${claims.tcbStatus} is never accepted`);
  const missing = needs.filter((tolerance) => !tolerate.includes(tolerance));
  if (missing.length > 0) {
    throw new AttestationError('tcb-status', `TCB status ${claims.tcbStatus} (advisories ${claims.advisoryIds.join(', ') || 'none'}) needs ` +
      `tolerate ${missing.join(', ')}: update the platform or tolerate it in the policy`);
  }
  if (ignoreAdvisories && !ignoreAdvisories.includes('*')) {
    const open = claims.advisoryIds.filter((id) => !ignoreAdvisories.includes(id));
    if (open.length > 0) throw new AttestationError('advisory', `advisories ${open.join(', ')} apply to this platform and are not in ignore_advisories`);
  }
}

function mismatch(claims: Claims, index: number, field: string, expected: string, actual: unknown): string {
  return `variant ${index} (${claims.type}) pins ${field} ${expected}, the evidence has ${String(actual)}`;
}

/** Why a variant does not match, or undefined when it does. */
function variantMismatch(variant: AttestationVariant, claims: Claims, index: number): string | undefined {
  const p = claims.platform;
  switch (variant.type) {
    case 'nitro': {
      const pcrs = p['pcrs'] as Record<string, string> | undefined;
      for (const [n, value] of Object.entries(variant.pcrs)) if (pcrs?.[n] !== value) return mismatch(claims, index, `pcr${n}`, value, pcrs?.[n]);
      return undefined;
    }
    case 'snp':
      if (claims.measurement !== variant.measurement) return mismatch(claims, index, 'measurement', variant.measurement, claims.measurement);
      if (variant.host_data !== undefined && p['host_data'] !== variant.host_data) return mismatch(claims, index, 'host_data', variant.host_data, p['host_data']);
      return undefined;
    case 'tdx':
      if (claims.measurement !== variant.mrtd) return mismatch(claims, index, 'mrtd', variant.mrtd, claims.measurement);
      for (const [n, value] of variant.rtmr.entries()) if (value !== null && p[`rtmr${n}`] !== value) return mismatch(claims, index, `rtmr[${n}]`, value, p[`rtmr${n}`]);
      return undefined;
    case 'sgx':
      if (variant.mrenclave !== undefined && p['mrenclave'] !== variant.mrenclave) return mismatch(claims, index, 'mrenclave', variant.mrenclave, p['mrenclave']);
      if (variant.mrsigner !== undefined) {
        if (p['mrsigner'] !== variant.mrsigner) return mismatch(claims, index, 'mrsigner', variant.mrsigner, p['mrsigner']);
        if (p['isvprodid'] !== variant.isvprodid) return mismatch(claims, index, 'isvprodid', String(variant.isvprodid), p['isvprodid']);
        if (typeof p['isvsvn'] !== 'number' || p['isvsvn'] < variant.isvsvn_min!) return mismatch(claims, index, 'isvsvn_min', String(variant.isvsvn_min), p['isvsvn']);
      }
      return undefined;
    case 'simulation':
      if (claims.measurement !== variant.measurement) return mismatch(claims, index, 'measurement', variant.measurement, claims.measurement);
      return undefined;
  }
}

/** Accepts verified claims when one variant of their type matches and every weakness is tolerated; else throws. */
export function matchAttestationPolicy(claims: Claims, policy: AttestationPolicy): { variant: number } {
  const candidates = policy.variants.map((variant, index) => ({ variant, index })).filter(({ variant }) => variant.type === claims.type);
  if (candidates.length === 0) {
    throw new AttestationError('no-variant', `the policy accepts ${[...new Set(policy.variants.map((v) => v.type))].join(', ')} evidence, not ${claims.type}`);
  }
  const reasons: string[] = [];
  for (const { variant, index } of candidates) {
    const reason = variantMismatch(variant, claims, index);
    if (reason === undefined) {
      judgeWeaknesses(claims, policy.tolerate, policy.ignoreAdvisories);
      return { variant: index };
    }
    reasons.push(reason);
  }
  throw new AttestationError('measurement', `no ${claims.type} variant matches: ${reasons.join('; ')}`);
}

export type { EvidenceType };
