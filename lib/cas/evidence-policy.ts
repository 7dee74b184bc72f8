// How the policy service judges an instance's evidence (PROTOCOL.md, "Release"): verify it with the
// verifier of its type (lib/attestation: the hardware types, and `simulation`, which proves nothing),
// then decide whether the verified claims are what the session's service accepts. A service pins its
// runtime measurement (`measurement`, what simulation evidence claims) and/or a list of attestation
// variants, one per platform with its reference values (`attestation`; hardware evidence is judged
// only against these); `security.attestation` says which weaknesses are tolerated (`tolerate`) and
// which of the platform's security advisories are accepted (`ignore_advisories`: none unless listed).
// Every refusal is an AttestationError with its reason.
import { AttestationError, type Claims } from '../attestation/evidence.js';
import {
  judgeWeaknesses, matchAttestationPolicy, parseAttestationPolicy, type AttestationPolicy, type Tolerance,
} from '../attestation/policy.js';
import { SimulationVerifier } from '../attestation/simulation.js';
import { registerVerifier, registeredEvidenceTypes, verifierFor } from '../attestation/verifiers.js';
import type { Session, SessionService } from './session.js';

// The service accepts simulation evidence only where a session tolerates it; registering its verifier
// here (not in lib/attestation) keeps it out of every program that does not run a policy service.
registerVerifier(new SimulationVerifier());

/** Evidence as an instance submits it: the platform's bytes, and what verifying them needs besides. */
export interface EvidenceSubmission {
  type: string;
  data: Uint8Array;
  /** SGX/TDX: the DCAP collateral (TCB info, QE identity, CRLs), from wherever the host got it. */
  collateral?: unknown;
  /** SNP: the VCEK or VLEK certificate. */
  vcek?: Uint8Array;
}

/** The verified claims, or why the evidence is refused. Never throws. */
export async function verifyEvidence(evidence: EvidenceSubmission, context: { now: Date; expectedReportData: Uint8Array }): Promise<Claims | AttestationError> {
  if (!registeredEvidenceTypes().includes(evidence.type as Claims['type'])) {
    return new AttestationError('unknown-type', `evidence type ${JSON.stringify(evidence.type)} is not known to this service ` +
      `(known: ${registeredEvidenceTypes().join(', ')})`);
  }
  try {
    return await verifierFor(evidence.type).verify(evidence.data, {
      now: context.now, expectedReportData: context.expectedReportData,
      ...(evidence.collateral !== undefined ? { collateral: evidence.collateral } : {}),
      ...(evidence.vcek !== undefined ? { vcek: evidence.vcek } : {}),
    });
  } catch (error) {
    return error instanceof AttestationError ? error : new AttestationError('malformed', (error as Error).message);
  }
}

/** Whether the session's service accepts these verified claims: null when it does, else the refusal. */
export function judgeClaims(claims: Claims, service: SessionService, security: Session['security']): AttestationError | null {
  const tolerate = security.attestation.tolerate as Tolerance[];
  const ignoreAdvisories = security.attestation.ignore_advisories;
  try {
    if (service.attestation) {
      matchAttestationPolicy(claims, attestationPolicyOf(service, tolerate, ignoreAdvisories));
      return null;
    }
    if (claims.type !== 'simulation') {
      throw new AttestationError('no-variant', `service ${service.name} pins only the runtime measurement, which ${claims.type} evidence does not carry: ` +
        `list the ${claims.type} platform's reference values in services[].attestation`);
    }
    judgeWeaknesses(claims, tolerate, ignoreAdvisories ?? []);
    if (!service.measurement.includes(claims.measurement)) {
      throw new AttestationError('measurement', `measurement ${claims.measurement} is not one the policy of service ${service.name} allows: ` +
        'the runtime (node binary or shieldfs files) differs from the measured one; measure it with `shield measure` and update the session if it is trusted');
    }
    return null;
  } catch (error) {
    if (error instanceof AttestationError) return error;
    throw error;
  }
}

function attestationPolicyOf(service: SessionService, tolerate: Tolerance[], ignoreAdvisories: string[] | undefined): AttestationPolicy {
  return parseAttestationPolicy({ attestation: service.attestation, tolerate, ...(ignoreAdvisories ? { ignore_advisories: ignoreAdvisories } : {}) },
    `services[${service.name}].attestation`);
}
