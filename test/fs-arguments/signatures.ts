// The bad-argument table (issue 10): every function of the fs surface, its parameters by kind, and
// for each kind the wrong values an application (or Node's own tests) may pass. The harness in
// test/fs-arguments.test.ts calls every function once per bad value (one argument wrong at a
// time, the others good) on node:fs in a temporary directory and on shieldfs/fs inside a mount,
// in every form (sync, callback, promise, FileHandle), and requires the same outcome: thrown
// synchronously or rejected or called back, with the same error class, code and message.

/** What a call gets to build its good arguments from: a fresh directory with a file, a directory, a descriptor. */
export interface CallContext {
  root: string;
  /** `${root}/file`, holding 'hello world' */
  file: string;
  /** `${root}/dir`, an empty directory */
  dir: string;
  /** a descriptor open 'r+' on file */
  fd: number;
}

type Good = (c: CallContext) => unknown;
export interface Parameter { kind: Kind; good: Good; extra?: unknown[] }

export type Kind = 'path' | 'fd' | 'mode' | 'flags' | 'buffer' | 'offset' | 'length' | 'position' | 'options' | 'time' | 'len' | 'id'
  | 'data' | 'copyMode' | 'buffers' | 'prefix' | 'none';

const huge = 2 ** 53;
/** Wrong values of each kind. Functions get the call's root (a path spelled inside the mount). */
export const BAD: Record<Kind, Array<unknown | ((root: string) => unknown)>> = {
  path: [(root: string) => `${root}/nul\0byte`, (root: string) => Buffer.from(`${root}/nul\0byte`), 123, {}, true, undefined],
  fd: ['1', 1.5, -1, 2 ** 31, null, {}],
  mode: ['abc', -1, 1.5, 2 ** 32, {}, true, '0o644', NaN],
  flags: ['invalid', {}, 1.5, true, -1, 'rw'],
  buffer: [{}, 123, null, [1, 2, 3], true],
  offset: [-1, 1.5, 'x', NaN, huge, 100, 2n, {}],
  length: [-1, 1.5, 'x', NaN, huge, 100, 2n, {}],
  position: [1.5, 'x', NaN, -2, 2n ** 63n, {}, huge, Infinity],
  // (A function is not among them: in the callback form node takes it for the callback.)
  options: [123, true, 'bogus-encoding', { encoding: 'bogus' }, { encoding: 123 }, Symbol('s')],
  time: ['x', {}, NaN, undefined, null, true, 1n],
  len: ['x', -1, 1.5, huge, {}, NaN, 2n, true],
  id: ['x', -2, 1.5, 2 ** 32, {}, null, undefined],
  data: [123, {}, null, undefined, true, [1, 2]],
  copyMode: ['x', -1, 8, 1.5, {}, 2 ** 32],
  buffers: ['x', [1], [Buffer.alloc(1), 'x'], {}, null, Buffer.alloc(1)],
  prefix: [(root: string) => `${root}/nul\0`, 123, {}, null],
  none: [],
};

/** A plain object posing as an AbortSignal. */
const fakeSignal = { aborted: false };

const path: Parameter = { kind: 'path', good: (c) => c.file };
const fd: Parameter = { kind: 'fd', good: (c) => c.fd };
const mode: Parameter = { kind: 'mode', good: () => 0o644 };
const uid: Parameter = { kind: 'id', good: () => process.getuid!() };
const gid: Parameter = { kind: 'id', good: () => process.getgid!() };
const time: Parameter = { kind: 'time', good: () => 1000 };
const len: Parameter = { kind: 'len', good: () => 3 };
const buffer: Parameter = { kind: 'buffer', good: () => Buffer.alloc(4) };
const offset: Parameter = { kind: 'offset', good: () => 0 };
const length: Parameter = { kind: 'length', good: () => 4 };
const position: Parameter = { kind: 'position', good: () => 0 };
const buffers: Parameter = { kind: 'buffers', good: () => [Buffer.alloc(2), Buffer.alloc(2)] };
const data: Parameter = { kind: 'data', good: () => 'data' };
const statOptions: Parameter = { kind: 'options', good: () => undefined, extra: [{ bigint: 'yes' }, { throwIfNoEntry: 'no' }] };
const writeOptions: Parameter = {
  kind: 'options', good: () => undefined,
  extra: [{ flush: 'true' }, { flush: 1 }, { mode: 'abc' }, { mode: -1 }, { flag: 'bogus' }, { flag: 1.5 }, { flag: {} }, { signal: 'x' },
    { signal: fakeSignal }, { encoding: 'bogus' }, { flag: 'r' }],
};
const readOptions: Parameter = {
  kind: 'options', good: () => undefined,
  extra: [{ flag: 'bogus' }, { flag: 1.5 }, { flag: 'w' }, { signal: 'x' }, { signal: fakeSignal }, { encoding: 'bogus' }],
};
const encodingOptions: Parameter = { kind: 'options', good: () => undefined };

/** The callback-style functions of node:fs (with their Sync form unless noted), and their promise forms. */
export interface Signature {
  params: Parameter[];
  /** s: fs.nameSync, c: fs.name(…, callback), p: fs.promises.name */
  forms: string;
}

const dirPath: Parameter = { kind: 'path', good: (c) => c.dir };
const newPath: Parameter = { kind: 'path', good: (c) => `${c.root}/new` };

export const SIGNATURES: Record<string, Signature> = {
  access: { params: [path, { kind: 'mode', good: () => 0 }], forms: 'scp' },
  appendFile: { params: [path, data, writeOptions], forms: 'scp' },
  chmod: { params: [path, mode], forms: 'scp' },
  chown: { params: [path, uid, gid], forms: 'scp' },
  close: { params: [fd], forms: 'sc' },
  copyFile: { params: [path, newPath, { kind: 'copyMode', good: () => 0 }], forms: 'scp' },
  cp: {
    params: [path, newPath, {
      kind: 'options', good: () => undefined,
      extra: [{ recursive: 'yes' }, { force: 'x' }, { filter: 'x' }, { mode: 'x' }, { mode: -1 }, { dereference: 1 }, { errorOnExist: 'x' }, { preserveTimestamps: 'x' }, { verbatimSymlinks: 'x' }],
    }],
    forms: 'scp',
  },
  exists: { params: [path], forms: 's' },
  fchmod: { params: [fd, mode], forms: 'sc' },
  fchown: { params: [fd, uid, gid], forms: 'sc' },
  fdatasync: { params: [fd], forms: 'sc' },
  fstat: { params: [fd, statOptions], forms: 'sc' },
  fsync: { params: [fd], forms: 'sc' },
  ftruncate: { params: [fd, len], forms: 'sc' },
  futimes: { params: [fd, time, time], forms: 'sc' },
  lchown: { params: [path, uid, gid], forms: 'scp' },
  lstat: { params: [path, statOptions], forms: 'scp' },
  lutimes: { params: [path, time, time], forms: 'scp' },
  mkdir: {
    params: [newPath, { kind: 'options', good: () => undefined, extra: [{ recursive: 'yes' }, { mode: 'abc' }, { mode: -1 }, { mode: 1.5 }, 'abc', -1, { recursive: 1 }] }],
    forms: 'scp',
  },
  mkdtemp: { params: [{ kind: 'prefix', good: (c) => `${c.root}/tmp-` }, encodingOptions], forms: 'scp' },
  open: { params: [path, { kind: 'flags', good: () => 'r' }, mode], forms: 'sc' },
  opendir: {
    params: [dirPath, { kind: 'options', good: () => undefined, extra: [{ bufferSize: 0 }, { bufferSize: 'x' }, { bufferSize: 1.5 }, { recursive: 'x' }] }],
    forms: 'scp',
  },
  read: { params: [fd, buffer, offset, length, position], forms: 'sc' },
  readdir: { params: [dirPath, { kind: 'options', good: () => undefined, extra: [{ withFileTypes: 'x' }, { recursive: 'x' }] }], forms: 'scp' },
  readFile: { params: [path, readOptions], forms: 'scp' },
  readlink: { params: [path, encodingOptions], forms: 'scp' },
  readv: { params: [fd, buffers, position], forms: 'sc' },
  realpath: { params: [path, encodingOptions], forms: 'scp' },
  rename: { params: [path, newPath], forms: 'scp' },
  rm: {
    params: [path, {
      kind: 'options', good: () => undefined,
      extra: [{ recursive: 'x' }, { force: 'x' }, { maxRetries: -1 }, { maxRetries: 'x' }, { retryDelay: 'x' }, { retryDelay: -1 }],
    }],
    forms: 'scp',
  },
  rmdir: {
    params: [dirPath, { kind: 'options', good: () => undefined, extra: [{ recursive: 'x' }, { maxRetries: -1 }, { retryDelay: 'x' }, { recursive: 1 }] }],
    forms: 'scp',
  },
  stat: { params: [path, statOptions], forms: 'scp' },
  statfs: { params: [path, { kind: 'options', good: () => undefined, extra: [{ bigint: 'x' }] }], forms: 'scp' },
  truncate: { params: [path, len], forms: 'scp' },
  unlink: { params: [path], forms: 'scp' },
  utimes: { params: [path, time, time], forms: 'scp' },
  write: { params: [fd, buffer, offset, length, position], forms: 'sc' },
  writeFile: { params: [path, data, writeOptions], forms: 'scp' },
  writev: { params: [fd, buffers, position], forms: 'sc' },
};

/** Non-function callbacks (the callback form is also called with none at all). */
export const BAD_CALLBACKS: unknown[] = ['notfn', {}, null, 123];

/** fs.createReadStream / createWriteStream: a path and stream options. */
const streamOptions = (write: boolean): Parameter => ({
  kind: 'options', good: () => undefined,
  extra: [
    { start: -1 }, { start: 'x' }, { start: 1.5 }, { end: 'x' }, { end: -1 }, { start: 5, end: 2 }, { highWaterMark: 'x' }, { highWaterMark: -1 },
    { fd: 'x' }, { fd: -1 }, { fs: 'x' }, { fs: { open: 'x' } }, { fs: { close: 1 } }, { signal: 'x' }, { autoClose: 'x' }, { encoding: 'bogus' },
    ...(write ? [{ flags: 1.5 }, { flags: {} }, { flush: 'true' }, { mode: 'abc' }] : [{ flags: 'bogus' }, { mode: -1 }]),
  ],
});
export const STREAMS: Record<string, Parameter[]> = {
  createReadStream: [path, streamOptions(false)],
  createWriteStream: [path, streamOptions(true)],
};

/** FileHandle methods: the handle is open 'r+' on the file. */
// FileHandle.read with a length that is not an integer aborts Node 20 and 22 (an assertion in
// node_file.cc): only the values Node survives are compared.
const handleReadLength: Parameter = { kind: 'none', good: () => 4, extra: [-1, huge, 100, 2n] };
export const FILE_HANDLE: Record<string, Parameter[]> = {
  appendFile: [data, writeOptions],
  chmod: [mode],
  chown: [uid, gid],
  read: [buffer, offset, handleReadLength, position],
  readFile: [readOptions],
  readv: [buffers, position],
  stat: [statOptions],
  truncate: [len],
  utimes: [time, time],
  write: [buffer, offset, length, position],
  writeFile: [data, writeOptions],
  writev: [buffers, position],
  createReadStream: [streamOptions(false)],
  createWriteStream: [streamOptions(true)],
  readLines: [streamOptions(false)],
};

/** Every argument list for a signature: the good one, and one per wrong value of each parameter. */
export function argumentLists(params: Parameter[], c: CallContext): Array<{ label: string; args: unknown[] }> {
  const goods = params.map((p) => p.good(c));
  const lists: Array<{ label: string; args: unknown[] }> = [{ label: 'good arguments', args: trimmed(goods) }];
  params.forEach((p, i) => {
    const values = [...BAD[p.kind], ...(p.extra ?? [])];
    values.forEach((value, j) => {
      const bad = typeof value === 'function' && BAD[p.kind].includes(value) && p.kind !== 'options' ? (value as (root: string) => unknown)(c.root) : value;
      const args = [...goods];
      args[i] = bad;
      lists.push({ label: `argument ${i} (${p.kind}) #${j}`, args: trimmed(args, i) });
    });
  });
  return lists;
}

// Trailing undefined arguments are left out (node counts arguments in some overloads), except the
// one being tested.
function trimmed(args: unknown[], keep = -1): unknown[] {
  let end = args.length;
  while (end > 0 && end - 1 > keep && args[end - 1] === undefined) end--;
  return args.slice(0, end);
}
