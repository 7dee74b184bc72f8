// The evidence interface of the attestation subsystem: one verifier per evidence type, each turning
// the raw bytes a platform produces into verified claims, or refusing them with EATTEST and a reason.
// The policy service picks the verifier by the evidence's type and matches the claims against the
// session's reference values (policy.ts); nothing here trusts the host.

export type EvidenceType = 'simulation' | 'nitro' | 'snp' | 'sgx' | 'tdx';

/** What a verifier vouches for once every signature, certificate and binding checked out. */
export interface Claims {
  type: EvidenceType;
  /** The platform's primary measurement, lower-case hex (simulation: the runtime measurement; nitro: PCR0;
   *  snp: MEASUREMENT; sgx: MRENCLAVE; tdx: MRTD). */
  measurement: string;
  /** The bytes the platform binds for the caller, lower-case hex (nitro: user_data; others: report_data). */
  reportData: string;
  /** A debug enclave / guest (its memory is readable by the host). */
  debug: boolean;
  /** Intel's spelling where it applies (UpToDate, OutOfDate, SWHardeningNeeded, …); 'NotApplicable' otherwise. */
  tcbStatus: string;
  advisoryIds: string[];
  /** Every type-specific claim (pcrs, mrsigner, rtmr0–3, host_data, chip_id, …), binary values as lower-case hex. */
  platform: Record<string, unknown>;
}

export interface VerifyContext {
  /** The clock for every validity check (certificates, CRLs, TCB info). */
  now: Date;
  /** When given, the evidence's report data must equal it, else EATTEST. */
  expectedReportData?: Uint8Array;
  /** DCAP collateral (SGX/TDX) as parsed JSON. */
  collateral?: unknown;
  /** The VCEK or VLEK certificate (SNP), DER or PEM. */
  vcek?: Uint8Array;
}

export interface EvidenceVerifier {
  readonly type: EvidenceType;
  verify(evidence: Uint8Array, context: VerifyContext): Promise<Claims>;
}

/** A refusal: `code` 'EATTEST', `reason` a short machine-readable name (e.g. 'signature', 'chain',
 *  'expired', 'report-data', 'debug', 'tcb-status', 'malformed'), the message says what and what to do. */
export class AttestationError extends Error {
  readonly code = 'EATTEST';
  constructor(readonly reason: string, message: string) {
    super(`EATTEST: ${message}`);
    this.name = 'AttestationError';
  }
}
