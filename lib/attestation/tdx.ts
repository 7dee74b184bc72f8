// Intel TDX trust domains, attested by DCAP quotes (dcap.ts holds the shared verification).
import type { Claims, EvidenceVerifier, VerifyContext } from './evidence.js';
import { verifyDcap } from './dcap.js';

export const tdxVerifier: EvidenceVerifier = {
  type: 'tdx',
  async verify(evidence: Uint8Array, context: VerifyContext): Promise<Claims> {
    return verifyDcap('tdx', evidence, context);
  },
};
