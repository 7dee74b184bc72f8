// Errors node:fs makes itself, before or instead of a system call: argument validation (TypeError /
// RangeError with ERR_* codes, thrown synchronously even by the callback forms) and the
// SystemErrors of rm and cp (ERR_FS_EISDIR, ERR_FS_CP_*). A caller that checks `code`, `name` or
// `errno` sees the same values as with node:fs.
import { constants } from 'node:os';
import { inspect } from 'node:util';

type Coded<E extends Error> = E & { code: string };

function coded<E extends Error>(error: E, code: string): Coded<E> {
  return Object.assign(error, { code });
}

export function invalidArgValue(name: string, value: unknown, reason = 'is invalid'): Coded<TypeError> {
  const kind = name.includes('.') ? 'property' : 'argument';
  return coded(new TypeError(`The ${kind} '${name}' ${reason}. Received ${inspect(value)}`), 'ERR_INVALID_ARG_VALUE');
}

export function invalidArgType(name: string, expected: string, value: unknown): Coded<TypeError> {
  const received = value === null || value === undefined ? ` Received ${String(value)}`
    : typeof value === 'function' ? ` Received function ${(value as { name?: string }).name || '<anonymous>'}`
      : typeof value === 'object' ? ` Received an instance of ${(value as object).constructor?.name ?? 'Object'}`
        : ` Received type ${typeof value} (${inspect(value)})`;
  const kind = name.includes('.') ? 'property' : 'argument';
  return coded(new TypeError(`The "${name}" ${kind} must be ${expected}.${received}`), 'ERR_INVALID_ARG_TYPE');
}

export function outOfRange(name: string, range: string, value: unknown): Coded<RangeError> {
  return coded(new RangeError(`The value of "${name}" is out of range. It must be ${range}. Received ${String(value)}`), 'ERR_OUT_OF_RANGE');
}

/** True for an error node:fs throws while checking arguments, before any I/O. */
export function isArgumentError(error: unknown): boolean {
  return (error instanceof TypeError || error instanceof RangeError) && /^ERR_/.test((error as { code?: unknown }).code as string);
}

/** node's parseFileMode: a 32-bit unsigned integer or an octal string. */
export function fileMode(value: unknown, name: string, fallback: number): number {
  if (value === undefined || value === null) return fallback;
  if (typeof value === 'string') {
    if (!/^[0-7]+$/.test(value)) throw invalidArgValue(name, value, 'must be a 32-bit unsigned integer or an octal string');
    return parseInt(value, 8);
  }
  if (typeof value !== 'number') throw invalidArgType(name, 'of type number', value);
  if (!Number.isInteger(value)) throw outOfRange(name, 'an integer', value);
  if (value < 0 || value > 0xffffffff) throw outOfRange(name, '>= 0 && <= 4294967295', value);
  return value;
}

const STRING_FLAGS = new Set(['r', 'rs', 'sr', 'r+', 'rs+', 'sr+', 'w', 'wx', 'xw', 'w+', 'wx+', 'xw+', 'a', 'ax', 'xa', 'as', 'sa',
  'a+', 'ax+', 'xa+', 'as+', 'sa+']);

/** node's stringToFlags: a known flag string or an integer. */
export function openFlags(flags: unknown): string | number {
  if (flags === undefined || flags === null) return 'r';
  if (typeof flags === 'number' && Number.isInteger(flags)) return flags;
  if (typeof flags === 'string' && STRING_FLAGS.has(flags)) return flags;
  throw invalidArgValue('flags', flags);
}

export function checkBuffer(buffer: unknown, name = 'buffer'): asserts buffer is NodeJS.ArrayBufferView {
  if (!ArrayBuffer.isView(buffer)) throw invalidArgType(name, 'an instance of Buffer, TypedArray, or DataView', buffer);
}

/**
 * node's SystemError (name 'SystemError', code ERR_FS_…, a positive errno, `info` with the context),
 * as rm and cp throw it.
 */
export function systemError(code: string, prefix: string, context: { code: string; message: string; syscall: string; path?: string; dest?: string; errno?: number }): Error {
  let message = `${prefix}: ${context.syscall} returned ${context.code} (${context.message})`;
  if (context.path !== undefined) message += ` ${context.path}`;
  if (context.dest !== undefined) message += ` => ${context.dest}`;
  const error = new Error(message);
  const errno = context.errno ?? (constants.errno as Record<string, number>)[context.code] ?? 0;
  Object.defineProperty(error, 'name', { value: 'SystemError', enumerable: false, configurable: true, writable: true });
  Object.assign(error, { code, info: { ...context, errno }, errno, syscall: context.syscall });
  if (context.path !== undefined) Object.assign(error, { path: context.path });
  if (context.dest !== undefined) Object.assign(error, { dest: context.dest });
  return error;
}

/** Node's AbortError (name 'AbortError', code 'ABORT_ERR'), the signal's reason as its cause. */
export function abortError(signal: AbortSignal): Error {
  const error = new Error('The operation was aborted', { cause: signal.reason });
  Object.defineProperty(error, 'name', { value: 'AbortError', enumerable: false, configurable: true, writable: true });
  return Object.assign(error, { code: 'ABORT_ERR' });
}

/** Throws node's AbortError when the `signal` option is already aborted. */
export function checkAborted(signal: unknown): void {
  if ((signal as AbortSignal | undefined)?.aborted) throw abortError(signal as AbortSignal);
}

/** The most readFile reads into one buffer (node's kIoMaxLength). */
export const MAX_READ_LENGTH = 2 ** 31 - 1;

export function fileTooLarge(size: number): Error {
  const error = new RangeError(`File size (${size}) is greater than 2 GiB`);
  return Object.assign(error, { code: 'ERR_FS_FILE_TOO_LARGE' });
}
