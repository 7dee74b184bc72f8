// Errors shaped like node:fs's own (code, errno, syscall, path and the same message format), so a
// caller that handles `ENOENT` from node:fs handles it from a volume too. Shield-specific failures
// (EINTEGRITY, EROLLBACK, EBADKEY) use the same shape with a message that says what to do.
import { constants } from 'node:os';
import { getSystemErrorMap } from 'node:util';
import type { ShieldError } from './errors.js';

const systemErrors = getSystemErrorMap();

/** An error exactly like node:fs would throw for `code` in `syscall` on `path`. */
export function fsError(code: string, syscall: string, path?: string, dest?: string): ShieldError {
  const errno = -((constants.errno as Record<string, number>)[code] ?? 0);
  const description = systemErrors.get(errno)?.[1] ?? code;
  let message = `${code}: ${description}, ${syscall}`;
  if (path !== undefined) message += ` '${path}'`;
  if (dest !== undefined) message += ` -> '${dest}'`;
  const error = new Error(message) as ShieldError;
  error.errno = errno;
  error.code = code;
  error.syscall = syscall;
  if (path !== undefined) error.path = path;
  if (dest !== undefined) (error as ShieldError & { dest?: string }).dest = dest;
  return error;
}

/** A shield failure (or any code) with a message of our own: `CODE: message`. */
export function shieldError(code: string, message: string, path?: string): ShieldError {
  const error = new Error(`${code}: ${message}`) as ShieldError;
  error.code = code;
  const errno = (constants.errno as Record<string, number>)[code];
  if (errno !== undefined) error.errno = -errno;
  if (path !== undefined) error.path = path;
  return error;
}

/** Re-labels an error from a file inside the volume with the volume path the caller used. */
export function atVolumePath<E>(error: E, volumePath: string): E {
  if (error instanceof Error) {
    const e = error as unknown as ShieldError;
    if (typeof e.path === 'string' && e.path !== volumePath) {
      e.message = `${e.message} [volume path '${volumePath}']`;
      e.path = volumePath;
    }
  }
  return error;
}
