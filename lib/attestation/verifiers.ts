// Which verifier checks which evidence type. The hardware verifiers are built in; the `simulation`
// verifier (which proves nothing about the host) is registered by the policy service that owns it,
// so a build without it refuses simulation evidence instead of accepting it by accident.
import { AttestationError, type EvidenceType, type EvidenceVerifier } from './evidence.js';
import { nitroVerifier } from './nitro.js';
import { snpVerifier } from './snp.js';
import { sgxVerifier } from './sgx.js';
import { tdxVerifier } from './tdx.js';

export const HARDWARE_EVIDENCE_TYPES = ['nitro', 'snp', 'sgx', 'tdx'] as const satisfies readonly EvidenceType[];

const registry = new Map<EvidenceType, EvidenceVerifier>(
  [nitroVerifier, snpVerifier, sgxVerifier, tdxVerifier].map((verifier) => [verifier.type, verifier]),
);

/** Adds (or replaces) the verifier of `verifier.type`, e.g. the policy service's simulation verifier. */
export function registerVerifier(verifier: EvidenceVerifier): void {
  registry.set(verifier.type, verifier);
}

export function verifierFor(type: string): EvidenceVerifier {
  const verifier = registry.get(type as EvidenceType);
  if (!verifier) {
    throw new AttestationError('unknown-type', `no verifier for evidence type '${type}': known types are ${[...registry.keys()].join(', ')}`);
  }
  return verifier;
}

export function registeredEvidenceTypes(): EvidenceType[] {
  return [...registry.keys()];
}
