// Which verifier checks which evidence type. The service ships `simulation`; the hardware verifiers
// (lib/attestation/<tee>.ts) register themselves here when they exist, and the session's policy decides
// which types and which weaknesses (debug, out-of-date TCB) it tolerates.
import { SimulationVerifier } from '../attestation/simulation.js';
import type { EvidenceType, EvidenceVerifier } from '../attestation/evidence.js';

const verifiers = new Map<EvidenceType, EvidenceVerifier>([['simulation', new SimulationVerifier()]]);

export function registerEvidenceVerifier(verifier: EvidenceVerifier): void {
  verifiers.set(verifier.type, verifier);
}

export function evidenceVerifier(type: string): EvidenceVerifier | undefined {
  return verifiers.get(type as EvidenceType);
}

export function knownEvidenceTypes(): string[] {
  return [...verifiers.keys()];
}
