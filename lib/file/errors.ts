// The error codes of the shield. Errors thrown by shieldfs are ordinary Error objects with a
// `code` (like node:fs errors), plus `path` and, for integrity failures, `chunk`.

export type ShieldErrorCode = 'EINTEGRITY' | 'EROLLBACK' | 'EBADKEY';

export interface ShieldError extends NodeJS.ErrnoException {
  code: ShieldErrorCode | string;
  chunk?: number;
}

export function isShieldError(error: unknown, code?: string): error is ShieldError {
  return error instanceof Error && typeof (error as ShieldError).code === 'string' &&
    (code === undefined || (error as ShieldError).code === code);
}

export function invalidArgument(message: string): ShieldError {
  const error = new Error(`EINVAL: ${message}`) as ShieldError;
  error.code = 'EINVAL';
  error.errno = -22;
  return error;
}
