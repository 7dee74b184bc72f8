// What node:fs checks of each function's arguments before it touches anything, in Node's order, for
// a call whose path or descriptor is inside a mount (surface.ts runs the check before the
// operation). The sync and callback forms throw the error at once; fs.promises and FileHandle
// methods reject with it. `args` are the call's arguments without the callback.
import {
  invalidArgType, invalidArgValue, optionsObject, RM_DEFAULTS, RMDIR_DEFAULTS, validateAccessMode, validateBoolean, validateBuffer,
  validateBufferArray, validateFileMode, validateFlags, validateFunction, validateInteger, validateObject, validateOffsetLengthRead,
  validateOffsetLengthWrite, validatePath, validatePosition, validateRmdirOptions, validateTime, validateAbortSignal, validateUint32,
  validateNumber,
} from './node-validators.js';
import { handleReadTruncatesLength, mkdirOptionsModeName, positionRangeChecksLength, statCallbackChecksOptions } from './node-behaviour.js';

export type Form = 'sync' | 'callback' | 'promise' | 'handle';
type Check = (args: unknown[], form: Form) => void;

const MAX_USER_ID = 2 ** 32 - 1;
const isView = (value: unknown): value is NodeJS.ArrayBufferView => ArrayBuffer.isView(value);
const isIterable = (value: unknown): boolean => value != null && typeof value !== 'string' && !isView(value) &&
  (typeof (value as Iterable<unknown>)[Symbol.iterator] === 'function' || typeof (value as AsyncIterable<unknown>)[Symbol.asyncIterator] === 'function');

function ids(uid: unknown, gid: unknown): void {
  validateInteger(uid, 'uid', -1, MAX_USER_ID);
  validateInteger(gid, 'gid', -1, MAX_USER_ID);
}

function times(atime: unknown, mtime: unknown): void {
  validateTime(atime, 'atime');
  validateTime(mtime, 'mtime');
}

/** writeFile and appendFile: options, flush, data, then (when it opens) flag and mode. */
function writeFileArguments(path: unknown, data: unknown, options: unknown, form: Form, defaultFlag: string): void {
  const settings = optionsObject(options, { encoding: 'utf8', mode: 0o666, flag: defaultFlag, flush: false });
  validateBoolean(settings.flush ?? false, 'options.flush');
  const promise = form === 'promise' || form === 'handle';
  if (!isView(data) && !(promise && isIterable(data)) && typeof data !== 'string') {
    throw invalidArgType('data', ['string', 'Buffer', 'TypedArray', 'DataView'], data);
  }
  if (promise) validateAbortSignal(settings.signal, 'options.signal');
  if (form === 'handle' || typeof path === 'number') return;
  validatePath(path);
  validateFlags(settings.flag || defaultFlag);
  validateFileMode(settings.mode, 'mode', true);
}

/** read(fd, buffer, offset, length, position) and its overloads (buffer or options objects). */
function readArguments(args: unknown[], form: Form): void {
  let [buffer, offset, length, position] = args;
  let params: Record<string, unknown> | null | undefined;
  if (form === 'sync') {
    validateBuffer(buffer);
    if (args.length <= 2 || (typeof offset === 'object')) {
      if (offset !== undefined) validateObject(offset, 'options', { nullable: true });
      params = offset as Record<string, unknown> | null;
    }
  } else if (form === 'callback') {
    if (args.length === 2 && !isView(buffer)) validateObject(offset, 'options', { nullable: true });
    if (args.length === 2 && isView(buffer)) params = offset as Record<string, unknown>;
    if (args.length === 1 && !isView(buffer)) {
      params = buffer as Record<string, unknown> | null;
      if (params !== undefined) validateObject(params, 'options', { nullable: true });
      buffer = params?.buffer ?? Buffer.alloc(16384);
    }
    if (args.length === 0) buffer = Buffer.alloc(16384);
  } else {
    // FileHandle.read(buffer, offset, length, position) or (buffer, options) or (options).
    if (!isView(buffer)) {
      if (buffer !== undefined) validateObject(buffer, 'options', { nullable: true });
      params = (buffer ?? {}) as Record<string, unknown>;
      buffer = params?.buffer ?? Buffer.alloc(16384);
    } else if (offset !== null && typeof offset === 'object') {
      params = offset as Record<string, unknown>;
    }
    buffer ??= Buffer.alloc(16384);
  }
  if (params !== undefined) {
    const view = buffer as NodeJS.ArrayBufferView | undefined;
    ({ offset = 0, length = (view?.byteLength ?? 0) - (Number(params?.offset ?? 0)), position = null } = params ?? {});
  }
  validateBuffer(buffer);
  const view = buffer as NodeJS.ArrayBufferView;
  if (offset == null) offset = 0;
  else validateInteger(offset, 'offset', 0);
  if (form === 'handle') {
    length ??= view.byteLength - (offset as number);
    if (handleReadTruncatesLength) {
      length = (length as number) | 0;
      if (position != null) validatePosition(position, 'position', length as number);
    }
    if (length === 0) return;
    if (view.byteLength === 0) throw invalidArgValue('buffer', buffer, 'is empty and cannot be written');
    validateOffsetLengthRead(offset as number, length as number, view.byteLength);
  } else {
    length = (length as number) | 0;
    if (length === 0) return;
    if (view.byteLength === 0) throw invalidArgValue('buffer', buffer, 'is empty and cannot be written');
    validateOffsetLengthRead(offset as number, length as number, view.byteLength);
  }
  // Node 20's FileHandle.read takes any position that is not a safe integer as the current one.
  const newer = positionRangeChecksLength();
  if (form === 'handle' && !newer) return;
  if (position == null) position = -1;
  validatePosition(position, 'position', newer ? length as number : undefined);
}

/** write(fd, buffer, offset, length, position), write(fd, buffer, options), write(fd, string, position, encoding). */
function writeArguments(args: unknown[]): void {
  let [buffer, offset, length] = args;
  if (typeof buffer === 'string') {
    // node's validateEncoding: hex data of odd length cannot be decoded.
    if (typeof length === 'string' && length.toLowerCase() === 'hex' && buffer.length % 2 !== 0) throw invalidArgValue('encoding', length, `is invalid for data of length ${buffer.length}`);
    return;
  }
  if (isView(buffer)) {
    if (offset !== null && typeof offset === 'object') {
      const options = offset as Record<string, unknown>;
      ({ offset = 0, length = buffer.byteLength - Number(options.offset ?? 0) } = options);
    }
    if (offset == null) offset = 0;
    else validateInteger(offset, 'offset', 0);
    if (typeof length !== 'number') length = buffer.byteLength - (offset as number);
    // The position is not checked: libuv writes at the current position for anything that is not
    // a non-negative safe integer (operations.ts, fileOffset).
    validateOffsetLengthWrite(offset as number, length as number, buffer.byteLength);
    return;
  }
  if (typeof buffer !== 'string') {
    throw invalidArgType('buffer', ['string', 'Buffer', 'TypedArray', 'DataView'], buffer);
  }
}

const path = (name = 'path'): Check => (args) => validatePath(args[0], name);

const CP_DEFAULTS = { dereference: false, errorOnExist: false, filter: undefined, force: true, preserveTimestamps: false, recursive: false, verbatimSymlinks: false };

function cpOptions(options: unknown): void {
  if (options === undefined) return;
  validateObject(options, 'options');
  const merged = { ...CP_DEFAULTS, ...(options as object) } as Record<string, unknown>;
  for (const name of ['dereference', 'errorOnExist', 'force', 'preserveTimestamps', 'recursive', 'verbatimSymlinks']) {
    validateBoolean(merged[name], `options.${name}`);
  }
  if (merged.mode != null) validateInteger(merged.mode, 'mode', 0, 7);
  if (merged.dereference === true && merged.verbatimSymlinks === true) {
    throw Object.assign(new TypeError('Option "dereference" cannot be used in combination with option "verbatimSymlinks"'), { code: 'ERR_INCOMPATIBLE_OPTION_PAIR' });
  }
  if (merged.filter !== undefined) validateFunction(merged.filter, 'options.filter');
}

export const ARGUMENT_CHECKS: Record<string, Check> = {
  cp: ([src, dest, options]) => { cpOptions(options); validatePath(src, 'src'); validatePath(dest, 'dest'); },
  access: ([p, mode]) => { validatePath(p); validateAccessMode(mode); },
  appendFile: ([p, data, options], form) => writeFileArguments(p, data, options, form, 'a'),
  chmod: ([p, mode]) => { validatePath(p); validateFileMode(mode, 'mode'); },
  chown: ([p, uid, gid]) => { validatePath(p); ids(uid, gid); },
  lchown: ([p, uid, gid]) => { validatePath(p); ids(uid, gid); },
  copyFile: ([src, dest, mode]) => { validatePath(src, 'src'); validatePath(dest, 'dest'); validateAccessMode(mode); },
  fchmod: ([, mode]) => validateFileMode(mode, 'mode'),
  fchown: ([, uid, gid]) => ids(uid, gid),
  ftruncate: ([, len]) => validateInteger(len === undefined ? 0 : len, 'len'),
  futimes: ([, atime, mtime]) => times(atime, mtime),
  // utimes and lutimes name both times 'time' (futimes and FileHandle.utimes say atime, mtime).
  utimes: ([p, atime, mtime]) => { validatePath(p); validateTime(atime, 'time'); validateTime(mtime, 'time'); },
  lutimes: ([p, atime, mtime]) => { validatePath(p); validateTime(atime, 'time'); validateTime(mtime, 'time'); },
  stat: ([p, options], form) => {
    if (form === 'callback' && options !== null && typeof options === 'object' && statCallbackChecksOptions()) optionsObject(options);
    validatePath(p);
  },
  lstat: path(),
  statfs: path(),
  unlink: path(),
  exists: () => {},
  mkdir: ([p, options], form) => {
    let mode: unknown = 0o777, recursive: unknown = false;
    if (typeof options === 'number' || typeof options === 'string') mode = options;
    else if (options) {
      const given = options as Record<string, unknown>;
      if (given.recursive !== undefined) recursive = given.recursive;
      if (given.mode !== undefined) mode = given.mode;
    }
    validatePath(p);
    validateBoolean(recursive, 'options.recursive');
    // fs.promises.mkdir names it 'mode' on every line.
    validateFileMode(mode, form !== 'promise' && typeof options === 'object' && options !== null ? mkdirOptionsModeName() : 'mode');
  },
  mkdtemp: ([prefix, options]) => { optionsObject(options); validatePath(prefix, 'prefix'); },
  open: ([p, flags, mode], form) => {
    validatePath(p);
    if (form !== 'callback' || typeof mode !== 'function') validateFileMode(mode, 'mode', true);
    validateFlags(flags);
  },
  opendir: ([p, options]) => {
    const settings = optionsObject(options, { encoding: 'utf8' });
    validatePath(p);
    if (settings.bufferSize !== undefined) validateUint32(settings.bufferSize, 'options.bufferSize', true);
  },
  read: (args, form) => readArguments(args.slice(1), form),
  readv: ([, buffers]) => validateBufferArray(buffers),
  writev: ([, buffers]) => validateBufferArray(buffers),
  // fs.promises.readdir does not check `recursive` (any truthy value is true).
  readdir: ([p, options], form) => {
    const settings = optionsObject(options);
    validatePath(p);
    if (form !== 'promise' && settings.recursive != null) validateBoolean(settings.recursive, 'options.recursive');
  },
  readFile: ([p, options], form) => {
    const settings = optionsObject(options, { flag: 'r' });
    if (form === 'promise' || form === 'handle') validateAbortSignal(settings.signal, 'options.signal');
    if (form === 'handle' || typeof p === 'number') return;
    // The callback form names the option; the others report node's open flags check.
    validateFlags(settings.flag, form === 'callback' ? 'options.flag' : 'flags');
    validatePath(p);
  },
  readlink: ([p, options]) => { optionsObject(options); validatePath(p, 'oldPath'); },
  realpath: ([p, options]) => { optionsObject(options); validatePath(p); },
  rename: ([from, to]) => { validatePath(from, 'oldPath'); validatePath(to, 'newPath'); },
  rm: ([p, options]) => {
    validatePath(p);
    validateBoolean(validateRmdirOptions(options, RM_DEFAULTS).force, 'options.force');
  },
  rmdir: ([p, options]) => {
    validatePath(p);
    if ((options as { recursive?: unknown } | undefined)?.recursive) {
      validateBoolean(validateRmdirOptions({ ...(options as object), force: false }, RM_DEFAULTS).force, 'options.force');
    } else {
      validateRmdirOptions(options, RMDIR_DEFAULTS);
    }
  },
  // Only the sync and callback forms take a descriptor (and only before Node 24: real-fs.ts).
  truncate: ([p, len], form) => { if (typeof p !== 'number' || form === 'promise') validatePath(p); validateInteger(len === undefined ? 0 : len, 'len'); },
  link: ([existing, newPath]) => { validatePath(existing, 'existingPath'); validatePath(newPath, 'newPath'); },
  symlink: ([target, p]) => { validatePath(target, 'target'); validatePath(p); },
  // watch and watchFile are refused inside a mount, after node's checks of their arguments.
  watch: ([, options]) => {
    const settings = optionsObject(typeof options === 'function' ? undefined : options);
    if (settings.recursive) validateBoolean(settings.recursive, 'options.recursive');
  },
  watchFile: ([, options, listener]) => {
    const given = options !== null && typeof options === 'object' ? options as Record<string, unknown> : null;
    validateFunction(given ? listener : options, 'listener');
    if (given?.interval !== undefined) validateNumber(given.interval, 'interval');
  },
  write: (args) => writeArguments(args.slice(1)),
  writeFile: ([p, data, options], form) => writeFileArguments(p, data, options, form, 'w'),
};

/** FileHandle methods: the same checks, without the descriptor. */
export const HANDLE_CHECKS: Record<string, Check> = {
  appendFile: ([data, options]) => writeFileArguments(null, data, options, 'handle', 'a'),
  writeFile: ([data, options]) => writeFileArguments(null, data, options, 'handle', 'w'),
  chmod: ([mode]) => validateFileMode(mode, 'mode'),
  chown: ([uid, gid]) => ids(uid, gid),
  read: (args) => readArguments(args, 'handle'),
  readFile: ([options]) => ARGUMENT_CHECKS.readFile!([null, options], 'handle'),
  readv: ([buffers]) => validateBufferArray(buffers),
  writev: ([buffers]) => validateBufferArray(buffers),
  truncate: ([len]) => validateInteger(len === undefined ? 0 : len, 'len'),
  utimes: ([atime, mtime]) => times(atime, mtime),
  write: (args) => writeArguments(args),
};

/**
 * The callback form's callback: node's makeCallback (a function, or for close, none at all).
 * Only called when the last argument is not a function.
 */
export function checkCallback(callback: unknown): void {
  validateFunction(callback, 'cb');
}
