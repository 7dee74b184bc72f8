// The attestation layer: evidence that a service runs in a genuine, measured TEE, verified in
// software against the vendors' roots of trust compiled in. One verifier per evidence type (nitro.ts,
// snp.ts, sgx.ts and tdx.ts over dcap.ts), all behind one interface (evidence.ts) and one registry
// (verifiers.ts); policy.ts matches verified claims against a session's reference values and
// tolerances; platform.ts and devices.ts obtain evidence on the platform a runtime runs on (configfs-tsm,
// /dev/sev-guest, /dev/nsm). Uses only the file
// layer and node:crypto (README, "Attestation evidence"; docs/attestation.md).
export { AttestationError, type Claims, type EvidenceType, type EvidenceVerifier, type VerifyContext } from './evidence.js';
export { HARDWARE_EVIDENCE_TYPES, registerVerifier, registeredEvidenceTypes, verifierFor } from './verifiers.js';
export {
  judgeWeaknesses, matchAttestationPolicy, parseAttestationPolicy, parseAttestationVariant, parseTolerances, TOLERANCES,
  type AttestationPolicy, type AttestationVariant, type Tolerance,
} from './policy.js';
export { chooseEvidenceSource, detectEvidenceSources, evidenceFrom, evidenceFromConfigfsTsm, type EvidenceSource, type PlatformEvidence } from './platform.js';
export { nitroDocumentFromDevice, snpReportFromDevice, type TeeDevices } from './devices.js';
export { endorsementCacheNames, endorsementFromCache, endorsementFromTable, parseSnpCertificateTable } from './snp-endorsements.js';
