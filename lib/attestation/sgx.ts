// Intel SGX enclaves, attested by DCAP quotes (dcap.ts holds the shared verification).
import type { Claims, EvidenceVerifier, VerifyContext } from './evidence.js';
import { verifyDcap } from './dcap.js';

export const sgxVerifier: EvidenceVerifier = {
  type: 'sgx',
  async verify(evidence: Uint8Array, context: VerifyContext): Promise<Claims> {
    return verifyDcap('sgx', evidence, context);
  },
};
