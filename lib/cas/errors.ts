// Refusals of the policy service. Every refusal carries one of four codes (PROTOCOL.md, "Errors"), and
// the CLI ends with exit status 7 for them; the marker below tells a refusal by the service apart
// from the same code raised elsewhere (an EACCES of the local file system keeps its old status).
import { shieldError } from '../file/fs-errors.js';
import type { ShieldError } from '../file/errors.js';

export type RefusalCode = 'EACCES' | 'EATTEST' | 'EPOLICY' | 'ELIMIT';
export const REFUSAL_CODES: readonly RefusalCode[] = ['EACCES', 'EATTEST', 'EPOLICY', 'ELIMIT'];

/** Set on errors that are refusals by the policy service (exit status 7). */
export const REFUSED_BY_POLICY_SERVICE = 'refusedByPolicyService';

export interface CasError extends ShieldError {
  refusedByPolicyService?: boolean;
  /** The HTTP status the service answers with. */
  status?: number;
}

export function refusal(code: RefusalCode, message: string): CasError {
  const error = shieldError(code, message) as CasError;
  error.refusedByPolicyService = true;
  error.status = code === 'EACCES' ? 403 : code === 'ELIMIT' ? 429 : code === 'EATTEST' ? 401 : 409;
  return error;
}

export function casError(code: string, message: string, status: number): CasError {
  const error = shieldError(code, message) as CasError;
  error.status = status;
  return error;
}

export function isRefusal(error: unknown): error is CasError {
  return typeof error === 'object' && error !== null && (error as CasError).refusedByPolicyService === true;
}
