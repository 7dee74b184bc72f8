// Node's argument validators (lib/internal/validators.js, lib/internal/fs/utils.js and the checks
// node_file.cc makes), mirrored with Node's own error classes, codes and messages: the errors a
// caller gets for a bad argument inside a mount are the ones node:fs gives outside it. The same on
// Node 20, 22 and 24 (test/fs-arguments.test.ts compares every function with the running node:fs).
import { isDate } from 'node:util/types';
import { inspect } from 'node:util';
import { fileURLToPath } from 'node:url';

type Coded<E extends Error> = E & { code: string };

// Node's errors: `name` is the class name, the code is an own enumerable property, and String(e)
// reads "TypeError [CODE]: message".
function nodeError<E extends Error>(error: E, code: string): Coded<E> {
  Object.defineProperty(error, 'code', { value: code, enumerable: true, configurable: true, writable: true });
  Object.defineProperty(error, 'toString', {
    value() { return `${error.name} [${code}]: ${error.message}`; }, enumerable: false, configurable: true, writable: true,
  });
  return error as Coded<E>;
}

const kTypes = ['string', 'function', 'number', 'object', 'Function', 'Object', 'boolean', 'bigint', 'symbol'];
const classRegExp = /^([A-Z][a-z0-9]*)+$/;

function formatList(list: string[], word: string): string {
  return list.length < 3 ? list.join(` ${word} `) : `${list.slice(0, -1).join(', ')}, ${word} ${list[list.length - 1]}`;
}

/** internal/errors.js determineSpecificType: what "Received …" says of a value. */
export function describeReceived(value: unknown): string {
  if (value === null) return 'null';
  if (value === undefined) return 'undefined';
  switch (typeof value) {
    case 'bigint': return `type bigint (${value}n)`;
    case 'number':
      if (value === 0) return 1 / value === -Infinity ? 'type number (-0)' : 'type number (0)';
      return `type number (${String(value)})`;
    case 'boolean': return `type boolean (${value})`;
    case 'symbol': return `type symbol (${String(value)})`;
    case 'function': return `function ${value.name}`;
    case 'object': {
      const name = (value as { constructor?: { name?: unknown } }).constructor?.name;
      return typeof name === 'string' && name !== '' ? `an instance of ${name}` : inspect(value, { depth: -1 });
    }
    case 'string': {
      const shown = value.length > 28 ? `${value.slice(0, 25)}...` : value;
      return shown.includes("'") ? `type string (${JSON.stringify(shown)})` : `type string ('${shown}')`;
    }
    default: return `type ${typeof value} (${inspect(value, { colors: false })})`;
  }
}

/** ERR_INVALID_ARG_TYPE, its message built as Node builds it from the expected types. */
export function invalidArgType(name: string, expected: string | string[], actual: unknown): Coded<TypeError> {
  const list = Array.isArray(expected) ? expected : [expected];
  let message = name.endsWith(' argument') ? `The ${name} ` : `The "${name}" ${name.includes('.') ? 'property' : 'argument'} `;
  message += 'must be ';
  const types: string[] = [], instances: string[] = [], other: string[] = [];
  for (const value of list) {
    if (kTypes.includes(value)) types.push(value.toLowerCase());
    else if (classRegExp.test(value)) instances.push(value);
    else other.push(value);
  }
  if (instances.length > 0 && types.includes('object')) {
    types.splice(types.indexOf('object'), 1);
    instances.push('Object');
  }
  if (types.length > 0) {
    message += `${types.length > 1 ? 'one of type' : 'of type'} ${formatList(types, 'or')}`;
    if (instances.length > 0 || other.length > 0) message += ' or ';
  }
  if (instances.length > 0) {
    message += `an instance of ${formatList(instances, 'or')}`;
    if (other.length > 0) message += ' or ';
  }
  if (other.length > 0) {
    if (other.length > 1) message += `one of ${formatList(other, 'or')}`;
    else message += `${other[0]!.toLowerCase() !== other[0] ? 'an ' : ''}${other[0]}`;
  }
  return nodeError(new TypeError(`${message}. Received ${describeReceived(actual)}`), 'ERR_INVALID_ARG_TYPE');
}

export function invalidArgValue(name: string, value: unknown, reason = 'is invalid'): Coded<TypeError> {
  let inspected = inspect(value);
  if (inspected.length > 128) inspected = `${inspected.slice(0, 128)}...`;
  return nodeError(new TypeError(`The ${name.includes('.') ? 'property' : 'argument'} '${name}' ${reason}. Received ${inspected}`), 'ERR_INVALID_ARG_VALUE');
}

function addNumericalSeparator(value: string): string {
  let result = '', i = value.length;
  const start = value[0] === '-' ? 1 : 0;
  for (; i >= start + 4; i -= 3) result = `_${value.slice(i - 3, i)}${result}`;
  return `${value.slice(0, i)}${result}`;
}

/** ERR_OUT_OF_RANGE; `received` as Node shows it (large integers with separators, bigints with n). */
export function outOfRange(name: string, range: string, input: unknown, replaceDefaultBoolean = false): Coded<RangeError> {
  let message = replaceDefaultBoolean ? name : `The value of "${name}" is out of range.`;
  let received: string;
  if (Number.isInteger(input) && Math.abs(input as number) > 2 ** 32) received = addNumericalSeparator(String(input));
  else if (typeof input === 'bigint') {
    received = String(input);
    if (input > 2n ** 32n || input < -(2n ** 32n)) received = addNumericalSeparator(received);
    received += 'n';
  } else received = inspect(input);
  message += ` It must be ${range}. Received ${received}`;
  return nodeError(new RangeError(message), 'ERR_OUT_OF_RANGE');
}

/** An error node_file.cc throws (a plain message, no "The value of"). */
export function nativeArgError(kind: 'type' | 'range', code: string, message: string): Error {
  return nodeError(kind === 'type' ? new TypeError(message) : new RangeError(message), code);
}

// ------------------------------------------------------------------------------------------------
// internal/validators.js

export function validateFunction(value: unknown, name: string): void {
  if (typeof value !== 'function') throw invalidArgType(name, 'Function', value);
}

export function validateBoolean(value: unknown, name: string): void {
  if (typeof value !== 'boolean') throw invalidArgType(name, 'boolean', value);
}

export function validateNumber(value: unknown, name: string, min?: number, max?: number): void {
  if (typeof value !== 'number') throw invalidArgType(name, 'number', value);
  if ((min != null && value < min) || (max != null && value > max) || ((min != null || max != null) && Number.isNaN(value))) {
    throw outOfRange(name, `${min != null ? `>= ${min}` : ''}${min != null && max != null ? ' && ' : ''}${max != null ? `<= ${max}` : ''}`, value);
  }
}

export function validateInteger(value: unknown, name: string, min = Number.MIN_SAFE_INTEGER, max = Number.MAX_SAFE_INTEGER): void {
  if (typeof value !== 'number') throw invalidArgType(name, 'number', value);
  if (!Number.isInteger(value)) throw outOfRange(name, 'an integer', value);
  if (value < min || value > max) throw outOfRange(name, `>= ${min} && <= ${max}`, value);
}

export function validateInt32(value: unknown, name: string, min = -2147483648, max = 2147483647): void {
  if (typeof value !== 'number') throw invalidArgType(name, 'number', value);
  if (!Number.isInteger(value)) throw outOfRange(name, 'an integer', value);
  if (value < min || value > max) throw outOfRange(name, `>= ${min} && <= ${max}`, value);
}

export function validateUint32(value: unknown, name: string, positive = false): void {
  if (typeof value !== 'number') throw invalidArgType(name, 'number', value);
  if (!Number.isInteger(value)) throw outOfRange(name, 'an integer', value);
  const min = positive ? 1 : 0;
  if (value < min || value > 4294967295) throw outOfRange(name, `>= ${min} && <= 4294967295`, value);
}

/** validateObject with Node's default options: not null, not an array, not a function. */
export function validateObject(value: unknown, name: string, { nullable = false, allowArray = false, allowFunction = false } = {}): void {
  if ((!nullable && value === null) || (!allowArray && Array.isArray(value)) ||
    (typeof value !== 'object' && (!allowFunction || typeof value !== 'function'))) {
    throw invalidArgType(name, 'Object', value);
  }
}

export function validateAbortSignal(signal: unknown, name: string): void {
  if (signal !== undefined && (signal === null || typeof signal !== 'object' || !('aborted' in signal))) {
    throw invalidArgType(name, 'AbortSignal', signal);
  }
}

export function validateEncoding(encoding: unknown): void {
  if (encoding && !Buffer.isEncoding(encoding as string)) throw invalidArgValue('encoding', encoding, 'is invalid encoding');
}

// ------------------------------------------------------------------------------------------------
// internal/fs/utils.js

/** getValidatedPath: a string, Buffer or file: URL, without null bytes. */
export function validatePath(path: unknown, name = 'path'): void {
  let value = path;
  if (value instanceof URL) {
    if (value.protocol !== 'file:') throw invalidArgType(name, ['string', 'Buffer', 'URL'], path);
    value = fileURLToPath(value);
  }
  if (typeof value !== 'string' && !(value instanceof Uint8Array)) throw invalidArgType(name, ['string', 'Buffer', 'URL'], value);
  if (typeof value === 'string' ? value.includes('\u0000') : value.includes(0)) {
    throw invalidArgValue(name, value, 'must be a string, Uint8Array, or URL without null bytes');
  }
}

/** getOptions: undefined, a function (the callback) or null give the defaults; else a string or object. */
export function optionsObject(options: unknown, defaults: Record<string, unknown> = {}): Record<string, unknown> {
  if (options == null || typeof options === 'function') return defaults;
  let result: Record<string, unknown>;
  if (typeof options === 'string') result = { ...defaults, encoding: options };
  else if (typeof options !== 'object') throw invalidArgType('options', ['string', 'Object'], options);
  else result = options as Record<string, unknown>;
  if (result.encoding !== 'buffer') validateEncoding(result.encoding);
  if (result.signal !== undefined) validateAbortSignal(result.signal, 'options.signal');
  return result;
}

const STRING_FLAGS = new Set(['r', 'rs', 'sr', 'r+', 'rs+', 'sr+', 'w', 'wx', 'xw', 'w+', 'wx+', 'xw+', 'a', 'ax', 'xa', 'as', 'sa',
  'a+', 'ax+', 'xa+', 'as+', 'sa+']);

/** stringToFlags: a known flag string or an integer. */
export function validateFlags(flags: unknown, name = 'flags'): void {
  if (flags == null || typeof flags === 'number') {
    if (typeof flags === 'number') validateInt32(flags, name);
    return;
  }
  if (typeof flags !== 'string' || !STRING_FLAGS.has(flags)) throw invalidArgValue('flags', flags);
}

/** parseFileMode: a 32-bit unsigned integer or an octal string (undefined only where there is a default). */
export function validateFileMode(value: unknown, name: string, hasDefault = false): void {
  if (value == null && hasDefault) return;
  if (typeof value === 'string') {
    if (!/^[0-7]+$/.test(value)) throw invalidArgValue(name, value, 'must be a 32-bit unsigned integer or an octal string');
    return;
  }
  validateUint32(value, name);
}

/** node_file.cc GetValidMode (access and copyFile): an int32 in 0..7. */
export function validateAccessMode(mode: unknown): void {
  if (mode == null) return;
  if (typeof mode !== 'number') throw nativeArgError('type', 'ERR_INVALID_ARG_TYPE', 'mode must be int32 or null/undefined');
  if (Number.isNaN(mode)) throw nativeArgError('range', 'ERR_OUT_OF_RANGE', 'mode is out of range');
  const value = Math.trunc(mode);
  if (value < 0 || value > 7) throw nativeArgError('range', 'ERR_OUT_OF_RANGE', 'mode is out of range: >= 0 && <= 7');
}

/** toUnixTimestamp: a Date, a number of seconds or a numeric string. */
export function validateTime(time: unknown, name: string): void {
  if (typeof time === 'string' && +time == (time as unknown as number)) return;  // eslint-disable-line eqeqeq
  if (typeof time === 'number' && Number.isFinite(time)) return;
  if (isDate(time)) return;
  throw invalidArgType(name, ['Date', 'Time in seconds'], time);
}

export function validateBuffer(buffer: unknown, name = 'buffer'): void {
  if (!ArrayBuffer.isView(buffer)) throw invalidArgType(name, ['Buffer', 'TypedArray', 'DataView'], buffer);
}

export function validateBufferArray(buffers: unknown, name = 'buffers'): void {
  if (!Array.isArray(buffers) || !buffers.every((b) => ArrayBuffer.isView(b))) throw invalidArgType(name, 'ArrayBufferView[]', buffers);
}

/** `length` given: the range of Node 22 and later (-1 .. 2^63-1-length); without, Node 20's (any int64). */
export function validatePosition(position: unknown, name: string, length?: number): void {
  if (typeof position === 'number') validateInteger(position, name, -1);
  else if (typeof position === 'bigint') {
    if (length !== undefined) {
      const max = 2n ** 63n - 1n - BigInt(length);
      if (!(position >= -1n && position <= max)) throw outOfRange(name, `>= -1 && <= ${max}`, position);
    } else if (!(position >= -(2n ** 63n) && position <= 2n ** 63n - 1n)) {
      throw outOfRange(name, `>= ${-(2n ** 63n)} && <= ${2n ** 63n - 1n}`, position);
    }
  } else throw invalidArgType(name, ['integer', 'bigint'], position);
}

export function validateOffsetLengthRead(offset: number, length: number, bufferLength: number): void {
  if (offset < 0) throw outOfRange('offset', '>= 0', offset);
  if (length < 0) throw outOfRange('length', '>= 0', length);
  if (offset + length > bufferLength) throw outOfRange('length', `<= ${bufferLength - offset}`, length);
}

export function validateOffsetLengthWrite(offset: number, length: number, byteLength: number): void {
  if (offset > byteLength) throw outOfRange('offset', `<= ${byteLength}`, offset);
  if (length > byteLength - offset) throw outOfRange('length', `<= ${byteLength - offset}`, length);
  if (length < 0) throw outOfRange('length', '>= 0', length);
  validateInt32(length, 'length', 0);
}

export function validateRmdirOptions(options: unknown, defaults: Record<string, unknown>): Record<string, unknown> {
  if (options === undefined) return defaults;
  validateObject(options, 'options');
  const merged = { ...defaults, ...(options as object) } as Record<string, unknown>;
  validateBoolean(merged.recursive, 'options.recursive');
  validateInt32(merged.retryDelay, 'options.retryDelay', 0);
  validateUint32(merged.maxRetries, 'options.maxRetries');
  return merged;
}

export const RMDIR_DEFAULTS = { retryDelay: 100, maxRetries: 0, recursive: false };
export const RM_DEFAULTS = { recursive: false, force: false, retryDelay: 100, maxRetries: 0 };
