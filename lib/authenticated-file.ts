// AuthenticatedFile: the content of a file in a volume's *authenticated* region. The bytes stay
// plaintext on disk (so `cat` works), but every read is checked chunk by chunk against a hash list
// whose digest, the file's tag, the volume's authenticated manifest keeps (fs-verity style). It has
// the method shapes of ShieldedFile so the volume layer can use either.
//
// On-disk format (normative; "||" is concatenation, integers are little-endian):
//
//   Data file: exactly the file's `size` bytes of content, nothing else.
//
//   Hash list ("tree file"), exactly 24 + 32 * n bytes where n = ceil(size / chunkSize):
//     offset  0  magic       8 bytes  "SHLDAUT1" (ASCII)
//     offset  8  version     u32      1
//     offset 12  chunkSize   u32      a power of two from 4096 to 1048576, fixed when the file is created
//     offset 16  size        u64      content bytes, at most 2^53 - 1
//     offset 24  leaf[0 … n-1], 32 bytes each:
//       leaf(i) = SHA-256("shieldfs auth leaf v1" || objectId || u64 i || chunk i)
//     where chunk i is content bytes [i * chunkSize, min((i + 1) * chunkSize, size)) (the last chunk
//     is hashed with its real bytes only, never padded), and objectId is the 16 bytes of the file's
//     identity (32 hex characters in the manifest). The labels are their ASCII bytes, no terminator.
//
//   Tag = SHA-256("shieldfs auth tag v1" || objectId || u32 chunkSize || u64 size || leaf[0] || … ||
//   leaf[n-1]), written as 64 lowercase hex characters. The manifest lists it per file.
//
// Checks. Opening reads the whole hash list, refuses any malformation (short header, magic,
// version, chunk size, size above 2^53 - 1, length other than 24 + 32 * n), recomputes the tag and
// compares it with the manifest's; then the data file's length must equal `size`. Any failure,
// including a missing data file or hash list, is EINTEGRITY: the manifest lists the file, so its
// absence is an attack, not ENOENT. Because the index and objectId are in every leaf and the size
// and chunk size in the tag, a chunk moved within or across files, a swapped pair of files, a
// truncation or extension, and an older hash list all fail. A read verifies every chunk it touches
// (in a scratch buffer: unverified bytes never reach the caller) and fails with EINTEGRITY naming
// the chunk; on any failure the caller's target range is zeroed.
//
// Writes. The volume layer only writes an authenticated file that no committed manifest refers to
// (it copies on write and lists the copy's tag at commit), so a crash can only damage a file nobody
// will open with its old tag: updates need no journal. A write changes the data file in place and
// the leaves in memory; bytes it keeps from a partly overwritten chunk are verified first, so a
// tampered byte is never blessed by a new leaf. flush() fdatasyncs the data file, writes the hash
// list to `<treePath>.tmp`, fdatasyncs it, renames it over `<treePath>`, fsyncs the directory and
// returns the new tag. A failed write or truncate leaves data and leaves disagreeing, so the file
// refuses further use (EIO) rather than later report its own failure as tampering.
//
// This is the one place the shield hashes in JavaScript (node:crypto, on the calling thread, also
// for the async methods): SHA-256 of plaintext chunks needs no key and no native code. The async
// methods do all I/O on the libuv pool; they run one at a time per file, in call order, and a sync
// call while one is pending fails with EBUSY instead of interleaving with it.
import { checkInteger, ioArguments, type IoArguments } from './io-arguments.js';
import { constants as bufferConstants } from 'node:buffer';
import { createHash, timingSafeEqual, type Hash } from 'node:crypto';
import * as fs from 'node:fs';
import { dirname } from 'node:path';
import { invalidArgument, type ShieldError } from './errors.js';
import { native } from './native.js';

export interface AuthenticatedOpenOptions {
  /** The file's identity (32 hex characters), bound into every hash. */
  objectId: string;
  /** Create a new empty file; the data file and hash list must both not exist (EEXIST). Default false. */
  create?: boolean;
  /** Refuse writes. Default false. */
  readOnly?: boolean;
  /** Required unless `create`: the tag the manifest lists for the file. */
  expectedTag?: string;
  /** Content bytes per chunk for a new file: a power of two from 4096 to 1048576. Default 4096. */
  chunkSize?: number;
  /** The size the manifest lists, when it knows it: a hash list declaring another size is refused before it is read. */
  expectedSize?: number;
}

const MAGIC = Buffer.from('SHLDAUT1', 'latin1');
const VERSION = 1;
const HEADER_BYTES = 24;
const LEAF_BYTES = 32;
const LEAF_LABEL = Buffer.from('shieldfs auth leaf v1', 'latin1');
const TAG_LABEL = Buffer.from('shieldfs auth tag v1', 'latin1');
const MIN_CHUNK = 4096;
const MAX_CHUNK = 1 << 20;
const DEFAULT_CHUNK = 4096;
/** Bytes read, hashed or written per step: large enough for few system calls, small enough to bound memory. */
const BATCH_BYTES = 4 << 20;
const TWO_32 = 2 ** 32;

// ---------------------------------------------------------------------------------------------
// I/O as effects: each operation is written once as a generator that yields the system calls it
// needs; runSync performs them on the calling thread, runAsync on the libuv pool.

type Effect =
  | { kind: 'open'; path: string; flags: number; mode: number }
  | { kind: 'close'; fd: number }
  | { kind: 'read'; fd: number; buffer: Uint8Array; offset: number; length: number; position: number }
  | { kind: 'write'; fd: number; buffer: Uint8Array; offset: number; length: number; position: number }
  | { kind: 'fstat'; fd: number }
  | { kind: 'ftruncate'; fd: number; length: number }
  | { kind: 'fdatasync'; fd: number }
  | { kind: 'fsync'; fd: number }
  | { kind: 'rename'; from: string; to: string }
  | { kind: 'unlink'; path: string }
  /** Lets other callbacks run between long stretches of hashing (async only). */
  | { kind: 'pause' };

type Io<T> = Generator<Effect, T, unknown>;

// Every durable step is a crash point of the tests (SHIELDFS_CRASH_AT), counted with the native core's.
const CRASH_POINTS: Partial<Record<Effect['kind'], 'write' | 'ftruncate' | 'fdatasync' | 'rename' | 'unlink'>> = {
  write: 'write', ftruncate: 'ftruncate', fdatasync: 'fdatasync', fsync: 'fdatasync', rename: 'rename', unlink: 'unlink',
};

function crashPointOf(effect: Effect): void {
  const op = CRASH_POINTS[effect.kind];
  if (op) native.crashPoint(op);
}

function performSync(effect: Effect): unknown {
  crashPointOf(effect);
  switch (effect.kind) {
    case 'open': return fs.openSync(effect.path, effect.flags, effect.mode);
    case 'close': return fs.closeSync(effect.fd);
    case 'read': return fs.readSync(effect.fd, effect.buffer, effect.offset, effect.length, effect.position);
    case 'write': return fs.writeSync(effect.fd, effect.buffer, effect.offset, effect.length, effect.position);
    case 'fstat': return fs.fstatSync(effect.fd);
    case 'ftruncate': return fs.ftruncateSync(effect.fd, effect.length);
    case 'fdatasync': return fs.fdatasyncSync(effect.fd);
    case 'fsync': return fs.fsyncSync(effect.fd);
    case 'rename': return fs.renameSync(effect.from, effect.to);
    case 'unlink': return fs.unlinkSync(effect.path);
    case 'pause': return undefined;
  }
}

function performAsync(effect: Effect): Promise<unknown> {
  crashPointOf(effect);
  return new Promise((resolve, reject) => {
    const done = (error: NodeJS.ErrnoException | null, result?: unknown) => (error ? reject(error) : resolve(result));
    switch (effect.kind) {
      case 'open': return fs.open(effect.path, effect.flags, effect.mode, done);
      case 'close': return fs.close(effect.fd, done);
      case 'read': return fs.read(effect.fd, effect.buffer, effect.offset, effect.length, effect.position, done);
      case 'write': return fs.write(effect.fd, effect.buffer, effect.offset, effect.length, effect.position, done);
      case 'fstat': return fs.fstat(effect.fd, done);
      case 'ftruncate': return fs.ftruncate(effect.fd, effect.length, done);
      case 'fdatasync': return fs.fdatasync(effect.fd, done);
      case 'fsync': return fs.fsync(effect.fd, done);
      case 'rename': return fs.rename(effect.from, effect.to, done);
      case 'unlink': return fs.unlink(effect.path, done);
      case 'pause': return setImmediate(resolve);
    }
  });
}

function runSync<T>(steps: Io<T>): T {
  let step = steps.next();
  while (!step.done) {
    let result: unknown;
    try {
      result = performSync(step.value);
    } catch (error) {
      step = steps.throw(error);
      continue;
    }
    step = steps.next(result);
  }
  return step.value;
}

async function runAsync<T>(steps: Io<T>): Promise<T> {
  let step = steps.next();
  while (!step.done) {
    let result: unknown;
    try {
      result = await performAsync(step.value);
    } catch (error) {
      step = steps.throw(error);
      continue;
    }
    step = steps.next(result);
  }
  return step.value;
}

function* openFd(path: string, flags: number, mode = 0o600): Io<number> {
  return (yield { kind: 'open', path, flags, mode }) as number;
}

function* closeFd(fd: number): Io<void> {
  yield { kind: 'close', fd };
}

function* closeQuietly(fd: number): Io<void> {
  try {
    yield { kind: 'close', fd };
  } catch {
    // Already failing with a better error.
  }
}

function* unlinkQuietly(path: string): Io<void> {
  try {
    yield { kind: 'unlink', path };
  } catch {
    // Best effort: a leftover is refused by the next create with EEXIST.
  }
}

function* fstat(fd: number): Io<fs.Stats> {
  return (yield { kind: 'fstat', fd }) as fs.Stats;
}

/** Reads until `length` bytes or end of file; returns the count. */
function* readFull(fd: number, buffer: Uint8Array, offset: number, length: number, position: number): Io<number> {
  let got = 0;
  while (got < length) {
    const n = (yield { kind: 'read', fd, buffer, offset: offset + got, length: length - got, position: position + got }) as number;
    if (n === 0) break;
    got += n;
  }
  return got;
}

function* writeAll(fd: number, buffer: Uint8Array, offset: number, length: number, position: number): Io<void> {
  let done = 0;
  while (done < length) {
    done += (yield { kind: 'write', fd, buffer, offset: offset + done, length: length - done, position: position + done }) as number;
  }
}

function* syncDirectory(path: string): Io<void> {
  const fd = yield* openFd(path, fs.constants.O_RDONLY | fs.constants.O_DIRECTORY, 0);
  try {
    yield { kind: 'fsync', fd };
  } finally {
    yield* closeQuietly(fd);
  }
}

// ---------------------------------------------------------------------------------------------


interface FileState {
  dataPath: string;
  treePath: string;
  fd: number;
  objectId: Buffer;
  chunkSize: number;
  size: number;
  leaves: Buffer;
  readOnly: boolean;
  tag: string;
}

export class AuthenticatedFile {
  /** The data file. */
  readonly path: string;
  /** The hash list. */
  readonly treePath: string;
  readonly #fd: number;
  readonly #objectId: Buffer;
  readonly #chunkSize: number;
  readonly #readOnly: boolean;
  readonly #batchChunks: number;
  readonly #leafPrefix: Hash;
  #size: number;
  /** leaf(i) at i * 32, for i < ceil(size / chunkSize); capacity beyond that is unused. */
  #leaves: Buffer;
  #tag: string;
  #dirty = false;
  #closed = false;
  /** Set when a write or truncate failed part-way: data and leaves may disagree. */
  #failure: ShieldError | undefined;
  #queue: Promise<unknown> = Promise.resolve();
  #pending = 0;
  #zeros: Buffer | undefined;

  private constructor(state: FileState) {
    this.path = state.dataPath;
    this.treePath = state.treePath;
    this.#fd = state.fd;
    this.#objectId = state.objectId;
    this.#chunkSize = state.chunkSize;
    this.#readOnly = state.readOnly;
    this.#size = state.size;
    this.#leaves = state.leaves;
    this.#batchChunks = Math.max(1, BATCH_BYTES / state.chunkSize);
    this.#leafPrefix = createHash('sha256').update(LEAF_LABEL).update(state.objectId);
    this.#tag = state.tag;
  }

  static async open(dataPath: string, treePath: string, options: AuthenticatedOpenOptions): Promise<AuthenticatedFile> {
    const checked = openArguments(dataPath, treePath, options);
    return new AuthenticatedFile(await runAsync(openSteps(dataPath, treePath, checked)));
  }

  static openSync(dataPath: string, treePath: string, options: AuthenticatedOpenOptions): AuthenticatedFile {
    const checked = openArguments(dataPath, treePath, options);
    return new AuthenticatedFile(runSync(openSteps(dataPath, treePath, checked)));
  }

  /** Reads up to `length` bytes at `position` into `buffer[offset…]`; resolves to the count, 0 at end of file. */
  async read(buffer: ArrayBufferView, offset?: number, length?: number, position?: number): Promise<number> {
    const args = ioArguments(buffer, offset, length, position);
    return this.#async(() => this.#readSteps(...args));
  }

  readSync(buffer: ArrayBufferView, offset?: number, length?: number, position?: number): number {
    const args = ioArguments(buffer, offset, length, position);
    return this.#sync('read', () => this.#readSteps(...args));
  }

  /** Writes `length` bytes of `buffer[offset…]` at `position`; a gap past the end becomes zeros. */
  async write(buffer: ArrayBufferView, offset?: number, length?: number, position?: number): Promise<number> {
    const args = writeArguments(buffer, offset, length, position);
    return this.#async(() => this.#writeSteps(...args));
  }

  writeSync(buffer: ArrayBufferView, offset?: number, length?: number, position?: number): number {
    const args = writeArguments(buffer, offset, length, position);
    return this.#sync('write', () => this.#writeSteps(...args));
  }

  /** Shrinks or grows (with zeros) the content to `length` bytes. */
  async truncate(length = 0): Promise<void> {
    const checked = checkInteger(length, 'length');
    return this.#async(() => this.#truncateSteps(checked));
  }

  truncateSync(length = 0): void {
    const checked = checkInteger(length, 'length');
    this.#sync('ftruncate', () => this.#truncateSteps(checked));
  }

  /** Makes every change durable; resolves to the file's new tag (hex). */
  async flush(): Promise<string> {
    return this.#async(() => this.#flushSteps());
  }

  flushSync(): string {
    return this.#sync('fsync', () => this.#flushSteps());
  }

  /**
   * Flushes and closes; resolves to the final tag. The file is closed even when the flush fails
   * (the error is thrown); later calls fail with EBADF.
   */
  async close(): Promise<string> {
    return this.#async(() => this.#closeSteps());
  }

  closeSync(): string {
    return this.#sync('close', () => this.#closeSteps());
  }

  /** Content size in bytes, including writes not yet flushed. */
  get size(): number {
    return this.#size;
  }

  /** Tag of the last flushed state (64 lowercase hex characters). */
  get tag(): string {
    return this.#tag;
  }

  get chunkSize(): number {
    return this.#chunkSize;
  }

  /** The identity bound into every hash (32 lowercase hex characters). */
  get objectId(): string {
    return this.#objectId.toString('hex');
  }

  // --- scheduling -------------------------------------------------------------------------------

  #async<T>(steps: () => Io<T>): Promise<T> {
    this.#pending++;
    const run = this.#queue.then(async () => {
      try {
        return await runAsync(steps());
      } finally {
        this.#pending--;
      }
    });
    this.#queue = run.catch(() => undefined);
    return run;
  }

  #sync<T>(syscall: string, steps: () => Io<T>): T {
    if (this.#pending > 0) {
      throw fileError('EBUSY', `EBUSY: '${this.path}' has asynchronous operations pending; await them before a synchronous ${syscall}`, syscall, this.path, -16);
    }
    return runSync(steps());
  }

  // --- operations -------------------------------------------------------------------------------

  *#readSteps(buffer: Uint8Array, offset: number, length: number, position: number): Io<number> {
    this.#ensureUsable('read');
    if (length === 0 || position >= this.#size) return 0;
    const chunkSize = this.#chunkSize;
    const end = Math.min(position + length, this.#size);
    const stop = Math.ceil(end / chunkSize);
    try {
      for (let chunk = Math.floor(position / chunkSize); chunk < stop; chunk += this.#batchChunks) {
        const bytes = yield* this.#readVerified(chunk, Math.min(this.#batchChunks, stop - chunk));
        const base = chunk * chunkSize;
        const from = Math.max(position, base);
        const to = Math.min(end, base + bytes.length);
        buffer.set(bytes.subarray(from - base, to - base), offset + (from - position));
      }
    } catch (error) {
      buffer.fill(0, offset, offset + length);
      throw error;
    }
    return end - position;
  }

  *#writeSteps(data: Uint8Array, offset: number, length: number, position: number): Io<number> {
    this.#ensureWritable('write');
    if (length === 0) return 0;
    if (position > this.#size) yield* this.#resizeSteps(position);
    const chunkSize = this.#chunkSize;
    const end = position + length;
    const newSize = Math.max(this.#size, end);
    const first = Math.floor(position / chunkSize);
    const last = Math.floor((end - 1) / chunkSize);
    for (let a = first; a <= last; a += this.#batchChunks) {
      const b = Math.min(last, a + this.#batchChunks - 1);
      const spanStart = a * chunkSize;
      const spanEnd = Math.min((b + 1) * chunkSize, newSize);
      const from = Math.max(position, spanStart);
      const to = Math.min(end, spanEnd);
      // The span holds chunks a…b as they will be: kept (verified) bytes around the caller's bytes,
      // copied so the hashes match what is written even if the caller changes the buffer meanwhile.
      const span = Buffer.allocUnsafe(spanEnd - spanStart);
      let head: Buffer | undefined;
      if (from > spanStart) {
        head = yield* this.#readVerified(a, 1);
        span.set(head.subarray(0, from - spanStart), 0);
      }
      if (to < spanEnd) {
        // Bytes after the write in its last chunk exist only when the file already extends past it.
        const tail = head !== undefined && a === b ? head : yield* this.#readVerified(b, 1);
        const tailBase = b * chunkSize;
        span.set(tail.subarray(to - tailBase, spanEnd - tailBase), to - spanStart);
      }
      span.set(data.subarray(offset + (from - position), offset + (to - position)), from - spanStart);
      const leaves = this.#hashSpan(a, span);
      yield* this.#mutating('write', writeAll(this.#fd, span, from - spanStart, to - from, from));
      this.#storeLeaves(a, leaves);
      this.#size = Math.max(this.#size, to);
      this.#dirty = true;
    }
    return length;
  }

  *#truncateSteps(length: number): Io<void> {
    this.#ensureWritable('ftruncate');
    yield* this.#resizeSteps(length);
  }

  /** Sets the size to `length`: shrinking rehashes a now-partial last chunk, growing appends zeros. */
  *#resizeSteps(length: number): Io<void> {
    const oldSize = this.#size;
    if (length === oldSize) return;
    const chunkSize = this.#chunkSize;
    if (length < oldSize) {
      const keep = Math.ceil(length / chunkSize);
      let leaf: Buffer | undefined;
      if (length % chunkSize !== 0) {
        const last = yield* this.#readVerified(keep - 1, 1);
        leaf = this.#hashChunk(keep - 1, last.subarray(0, length - (keep - 1) * chunkSize));
      }
      yield* this.#mutating('ftruncate', this.#ftruncate(length));
      if (leaf) this.#storeLeaves(keep - 1, leaf);
      this.#size = length;
      this.#dirty = true;
      return;
    }
    this.#ensureLeafCapacity(Math.ceil(length / chunkSize));
    // The old last chunk, if partial, is extended with zeros; every later chunk is all zeros.
    const firstChanged = Math.floor(oldSize / chunkSize);
    const stop = Math.ceil(length / chunkSize);
    const leaves = Buffer.allocUnsafe((stop - firstChanged) * LEAF_BYTES);
    const zeros = this.#zeroChunk();
    let next = firstChanged;
    if (oldSize % chunkSize !== 0) {
      const old = yield* this.#readVerified(firstChanged, 1);
      const chunk = Buffer.alloc(Math.min(chunkSize, length - firstChanged * chunkSize));
      chunk.set(old, 0);
      this.#hashChunk(firstChanged, chunk).copy(leaves, 0);
      next++;
    }
    for (; next < stop; next++) {
      this.#hashChunk(next, zeros.subarray(0, Math.min(chunkSize, length - next * chunkSize))).copy(
        leaves,
        (next - firstChanged) * LEAF_BYTES,
      );
      if ((next - firstChanged + 1) % this.#batchChunks === 0) yield { kind: 'pause' };
    }
    // Cutting back to the authenticated size first makes the new range zeros we wrote, even if the
    // host appended bytes since open.
    yield* this.#mutating('ftruncate', this.#ftruncate(oldSize));
    yield* this.#mutating('ftruncate', this.#ftruncate(length));
    this.#storeLeaves(firstChanged, leaves);
    this.#size = length;
    this.#dirty = true;
  }

  *#flushSteps(): Io<string> {
    this.#ensureUsable('fsync');
    if (!this.#dirty) return this.#tag;
    yield { kind: 'fdatasync', fd: this.#fd };
    const count = Math.ceil(this.#size / this.#chunkSize);
    const temporary = `${this.treePath}.tmp`;
    const { O_WRONLY, O_CREAT, O_TRUNC, O_NOFOLLOW } = fs.constants;
    const fd = yield* openFd(temporary, O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW, 0o600);
    try {
      try {
        yield* writeAll(fd, encodeHeader(this.#chunkSize, this.#size), 0, HEADER_BYTES, 0);
        yield* writeAll(fd, this.#leaves, 0, count * LEAF_BYTES, HEADER_BYTES);
        yield { kind: 'fdatasync', fd };
      } finally {
        yield* closeFd(fd);
      }
      yield { kind: 'rename', from: temporary, to: this.treePath };
    } catch (error) {
      yield* unlinkQuietly(temporary);
      throw error;
    }
    yield* syncDirectory(dirname(this.treePath));
    this.#tag = computeTag(this.#objectId, this.#chunkSize, this.#size, this.#leaves);
    this.#dirty = false;
    return this.#tag;
  }

  *#closeSteps(): Io<string> {
    this.#ensureOpen('close');
    let tag = this.#tag;
    let failed = false;
    let failure: unknown;
    try {
      if (this.#failure) throw this.#failure;
      tag = yield* this.#flushSteps();
    } catch (error) {
      failed = true;
      failure = error;
    }
    this.#closed = true;
    try {
      yield* closeFd(this.#fd);
    } catch (error) {
      if (!failed) {
        failed = true;
        failure = error;
      }
    }
    if (failed) throw failure;
    return tag;
  }

  // --- chunks and leaves ------------------------------------------------------------------------

  /** Chunks first…first+count-1 (all within the file), read in one go and each verified. */
  *#readVerified(first: number, count: number): Io<Buffer> {
    const chunkSize = this.#chunkSize;
    const start = first * chunkSize;
    const bytes = Buffer.allocUnsafe(Math.min((first + count) * chunkSize, this.#size) - start);
    const got = yield* readFull(this.#fd, bytes, 0, bytes.length, start);
    const complete = Math.floor(got / chunkSize);
    for (let i = 0; i < count; i++) {
      const chunk = bytes.subarray(i * chunkSize, Math.min((i + 1) * chunkSize, bytes.length));
      if (i >= complete && got < bytes.length) {
        throw this.#chunkError(first + i, 'is missing on disk (the data file is shorter than its authenticated size)');
      }
      const at = (first + i) * LEAF_BYTES;
      if (!timingSafeEqual(this.#hashChunk(first + i, chunk), this.#leaves.subarray(at, at + LEAF_BYTES))) {
        throw this.#chunkError(first + i, 'does not match its hash');
      }
    }
    return bytes;
  }

  #hashChunk(index: number, bytes: Uint8Array): Buffer {
    return this.#leafPrefix.copy().update(u64(index)).update(bytes).digest();
  }

  /** Leaves of the chunks that `span` holds, the first being chunk `first`. */
  #hashSpan(first: number, span: Buffer): Buffer {
    const count = Math.ceil(span.length / this.#chunkSize);
    const leaves = Buffer.allocUnsafe(count * LEAF_BYTES);
    for (let i = 0; i < count; i++) {
      const chunk = span.subarray(i * this.#chunkSize, Math.min((i + 1) * this.#chunkSize, span.length));
      this.#hashChunk(first + i, chunk).copy(leaves, i * LEAF_BYTES);
    }
    return leaves;
  }

  #storeLeaves(first: number, leaves: Buffer): void {
    this.#ensureLeafCapacity(first + leaves.length / LEAF_BYTES);
    leaves.copy(this.#leaves, first * LEAF_BYTES);
  }

  #ensureLeafCapacity(count: number): void {
    const needed = count * LEAF_BYTES;
    if (needed <= this.#leaves.length) return;
    if (needed > bufferConstants.MAX_LENGTH) {
      throw fileError('EFBIG', `EFBIG: '${this.path}' would need a hash list larger than a Buffer can hold`, 'write', this.path, -27);
    }
    const grown = Buffer.alloc(Math.min(Math.max(needed, 2 * this.#leaves.length, 64 * LEAF_BYTES), bufferConstants.MAX_LENGTH));
    this.#leaves.copy(grown);
    this.#leaves = grown;
  }

  #zeroChunk(): Buffer {
    return (this.#zeros ??= Buffer.alloc(this.#chunkSize));
  }

  *#ftruncate(length: number): Io<void> {
    yield { kind: 'ftruncate', fd: this.#fd, length };
  }

  /** Runs a step that changes the data file; if it fails, data and leaves may disagree from then on. */
  *#mutating(syscall: string, steps: Io<void>): Io<void> {
    try {
      yield* steps;
    } catch (error) {
      const cause = error as NodeJS.ErrnoException;
      this.#failure = fileError(
        'EIO',
        `EIO: '${this.path}' is in an unknown state after a failed ${syscall} (${cause.message}); discard it`,
        syscall,
        this.path,
        -5,
      );
      this.#failure.cause = error;
      throw error;
    }
  }

  // --- state checks and errors ------------------------------------------------------------------

  #ensureOpen(syscall: string): void {
    if (this.#closed) throw fileError('EBADF', `EBADF: '${this.path}' is closed`, syscall, this.path, -9);
  }

  #ensureUsable(syscall: string): void {
    this.#ensureOpen(syscall);
    if (this.#failure) throw this.#failure;
  }

  #ensureWritable(syscall: string): void {
    this.#ensureUsable(syscall);
    if (this.#readOnly) throw fileError('EBADF', `EBADF: '${this.path}' was opened read-only`, syscall, this.path, -9);
  }

  #chunkError(chunk: number, why: string): ShieldError {
    const start = chunk * this.#chunkSize;
    const error = integrityError(
      `EINTEGRITY: chunk ${chunk} of '${this.path}' (bytes ${start}-${start + this.#chunkSize - 1}) ${why}; ` +
        'the file was modified outside the shield: restore it from a backup',
      'read',
      this.path,
    );
    error.chunk = chunk;
    return error;
  }
}

// ---------------------------------------------------------------------------------------------
// Opening

interface CheckedOpenOptions {
  objectId: Buffer;
  create: boolean;
  readOnly: boolean;
  expectedTag: Buffer | undefined;
  expectedSize: number | undefined;
  chunkSize: number | undefined;
}

function* openSteps(dataPath: string, treePath: string, options: CheckedOpenOptions): Io<FileState> {
  const { O_RDONLY, O_RDWR, O_WRONLY, O_CREAT, O_EXCL, O_NONBLOCK } = fs.constants;
  if (options.create) {
    const chunkSize = options.chunkSize ?? DEFAULT_CHUNK;
    // Failures here (EEXIST, ENOENT for a missing directory, EACCES) are ordinary fs errors.
    const fd = yield* openFd(dataPath, O_RDWR | O_CREAT | O_EXCL, 0o600);
    let treeCreated = false;
    try {
      const treeFd = yield* openFd(treePath, O_WRONLY | O_CREAT | O_EXCL, 0o600);
      treeCreated = true;
      try {
        yield* writeAll(treeFd, encodeHeader(chunkSize, 0), 0, HEADER_BYTES, 0);
        yield { kind: 'fdatasync', fd: treeFd };
      } finally {
        yield* closeFd(treeFd);
      }
      yield* syncDirectory(dirname(dataPath));
      if (dirname(treePath) !== dirname(dataPath)) yield* syncDirectory(dirname(treePath));
    } catch (error) {
      // No half-made pair left behind to fail the next create.
      yield* closeQuietly(fd);
      yield* unlinkQuietly(dataPath);
      if (treeCreated) yield* unlinkQuietly(treePath);
      throw error;
    }
    const leaves = Buffer.alloc(0);
    const tag = computeTag(options.objectId, chunkSize, 0, leaves);
    return { dataPath, treePath, fd, objectId: options.objectId, chunkSize, size: 0, leaves, readOnly: false, tag };
  }

  const tree = yield* readHashList(dataPath, treePath, options.expectedSize);
  const tag = computeTag(options.objectId, tree.chunkSize, tree.size, tree.leaves);
  if (!timingSafeEqual(Buffer.from(tag, 'hex'), options.expectedTag!)) {
    throw integrityError(
      `EINTEGRITY: '${dataPath}' does not have the tag its manifest lists (its hash list '${treePath}' gives ` +
        `${tag.slice(0, 16)}…, expected ${options.expectedTag!.toString('hex', 0, 8)}…): the file or its hash list was ` +
        'altered or replaced outside the shield (or is an older version); restore the volume from a backup',
      'open',
      dataPath,
    );
  }
  if (options.chunkSize !== undefined && options.chunkSize !== tree.chunkSize) {
    const error = invalidArgument(`'${dataPath}' has chunk size ${tree.chunkSize}, not the requested ${options.chunkSize}`);
    error.path = dataPath;
    throw error;
  }
  const fd = yield* openExisting(dataPath, dataPath, (options.readOnly ? O_RDONLY : O_RDWR) | O_NONBLOCK);
  try {
    const stat = yield* fstat(fd);
    if (!stat.isFile()) throw notRegular(dataPath, dataPath);
    if (stat.size !== tree.size) {
      throw integrityError(
        `EINTEGRITY: '${dataPath}' is ${stat.size} bytes on disk but its authenticated size is ${tree.size} ` +
          `(${stat.size < tree.size ? 'truncated' : 'extended'}); the file was modified outside the shield: restore it from a backup`,
        'open',
        dataPath,
      );
    }
  } catch (error) {
    yield* closeQuietly(fd);
    throw error;
  }
  const { chunkSize, size, leaves } = tree;
  return { dataPath, treePath, fd, objectId: options.objectId, chunkSize, size, leaves, readOnly: options.readOnly, tag };
}

interface HashList {
  chunkSize: number;
  size: number;
  leaves: Buffer;
}

function* readHashList(dataPath: string, treePath: string, expectedSize: number | undefined): Io<HashList> {
  const fd = yield* openExisting(dataPath, treePath, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
  const malformed = (what: string) =>
    integrityError(
      `EINTEGRITY: hash list '${treePath}' of '${dataPath}' is not a valid shieldfs authenticated hash list (${what}); ` +
        'it was altered or replaced outside the shield: restore the volume from a backup',
      'open',
      dataPath,
    );
  try {
    const stat = yield* fstat(fd);
    if (!stat.isFile()) throw notRegular(dataPath, treePath);
    if (stat.size < HEADER_BYTES) throw malformed(`${stat.size} bytes, shorter than its ${HEADER_BYTES}-byte header`);
    const header = Buffer.alloc(HEADER_BYTES);
    if ((yield* readFull(fd, header, 0, HEADER_BYTES, 0)) !== HEADER_BYTES) throw malformed('shorter than its header');
    if (!header.subarray(0, 8).equals(MAGIC)) throw malformed('bad magic');
    const version = header.readUInt32LE(8);
    if (version !== VERSION) throw malformed(`version ${version}, expected ${VERSION}`);
    const chunkSize = header.readUInt32LE(12);
    if (!validChunkSize(chunkSize)) throw malformed(`chunk size ${chunkSize}`);
    const high = header.readUInt32LE(20);
    if (high >= 2 ** 21) throw malformed('size above 2^53 - 1');
    const size = high * TWO_32 + header.readUInt32LE(16);
    // The manifest knows the size: a hash list for another one is refused before it is read.
    if (expectedSize !== undefined && size !== expectedSize) throw malformed(`size ${size}, but the manifest lists ${expectedSize}`);
    const count = Math.ceil(size / chunkSize);
    const expected = HEADER_BYTES + count * LEAF_BYTES;
    if (stat.size !== expected) {
      throw malformed(`${stat.size} bytes, but ${count} leaves for size ${size} need ${expected}`);
    }
    if (count * LEAF_BYTES > bufferConstants.MAX_LENGTH) {
      throw fileError('EFBIG', `EFBIG: the hash list of '${dataPath}' is larger than a Buffer can hold`, 'open', dataPath, -27);
    }
    const leaves = Buffer.allocUnsafe(count * LEAF_BYTES);
    if ((yield* readFull(fd, leaves, 0, leaves.length, HEADER_BYTES)) !== leaves.length) throw malformed('shrank while being read');
    return { chunkSize, size, leaves };
  } finally {
    yield* closeQuietly(fd);
  }
}

/** Opens a file the manifest lists: its absence is an attack (EINTEGRITY), not ENOENT. */
function* openExisting(dataPath: string, path: string, flags: number): Io<number> {
  try {
    return yield* openFd(path, flags, 0);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') {
      const which = path === dataPath ? '' : ` (its hash list '${path}' is gone)`;
      throw integrityError(
        `EINTEGRITY: '${dataPath}' is listed in the manifest but missing${which}; it was deleted or moved outside ` +
          'the shield: restore it from a backup',
        'open',
        dataPath,
      );
    }
    if (code === 'EISDIR') throw notRegular(dataPath, path);
    throw error;
  }
}

function notRegular(dataPath: string, path: string): ShieldError {
  const what = path === dataPath ? `'${path}'` : `hash list '${path}' of '${dataPath}'`;
  return integrityError(
    `EINTEGRITY: ${what} is not a regular file (a directory, FIFO, socket or device took its place)`,
    'open',
    dataPath,
  );
}

// ---------------------------------------------------------------------------------------------
// Format helpers

function u64(value: number): Buffer {
  const out = Buffer.allocUnsafe(8);
  out.writeUInt32LE(value % TWO_32, 0);
  out.writeUInt32LE(Math.floor(value / TWO_32), 4);
  return out;
}

function encodeHeader(chunkSize: number, size: number): Buffer {
  const header = Buffer.alloc(HEADER_BYTES);
  MAGIC.copy(header, 0);
  header.writeUInt32LE(VERSION, 8);
  header.writeUInt32LE(chunkSize, 12);
  u64(size).copy(header, 16);
  return header;
}

function computeTag(objectId: Buffer, chunkSize: number, size: number, leaves: Buffer): string {
  const chunkSizeBytes = Buffer.allocUnsafe(4);
  chunkSizeBytes.writeUInt32LE(chunkSize);
  return createHash('sha256')
    .update(TAG_LABEL)
    .update(objectId)
    .update(chunkSizeBytes)
    .update(u64(size))
    .update(leaves.subarray(0, Math.ceil(size / chunkSize) * LEAF_BYTES))
    .digest('hex');
}

function validChunkSize(size: number): boolean {
  return size >= MIN_CHUNK && size <= MAX_CHUNK && (size & (size - 1)) === 0;
}

// ---------------------------------------------------------------------------------------------
// Errors and arguments

function fileError(code: string, message: string, syscall: string, path: string, errno?: number): ShieldError {
  const error = new Error(message) as ShieldError;
  error.code = code;
  if (errno !== undefined) error.errno = errno;
  error.syscall = syscall;
  error.path = path;
  return error;
}

function integrityError(message: string, syscall: string, path: string): ShieldError {
  return fileError('EINTEGRITY', message, syscall, path);
}


function writeArguments(buffer: unknown, offset?: number, length?: number, position?: number): IoArguments {
  const args = ioArguments(buffer, offset, length, position);
  if (args[3] + args[2] > Number.MAX_SAFE_INTEGER) {
    throw invalidArgument(`position + length must be at most 2^53 - 1, got ${args[3]} + ${args[2]}`);
  }
  return args;
}

function openArguments(dataPath: unknown, treePath: unknown, options: AuthenticatedOpenOptions): CheckedOpenOptions {
  if (typeof dataPath !== 'string' || dataPath.length === 0) throw invalidArgument('dataPath must be a non-empty string');
  if (typeof treePath !== 'string' || treePath.length === 0) throw invalidArgument('treePath must be a non-empty string');
  if (dataPath === treePath) throw invalidArgument('dataPath and treePath must differ');
  if (typeof options !== 'object' || options === null) throw invalidArgument('options with an objectId are required');
  if (typeof options.objectId !== 'string' || !/^[0-9a-f]{32}$/i.test(options.objectId)) {
    throw invalidArgument('objectId must be 32 hex characters');
  }
  const create = !!options.create;
  const readOnly = !!options.readOnly;
  let expectedTag: Buffer | undefined;
  if (options.expectedTag !== undefined) {
    if (typeof options.expectedTag !== 'string' || !/^[0-9a-f]{64}$/i.test(options.expectedTag)) {
      throw invalidArgument('expectedTag must be 64 hex characters (a tag returned by flush() or close())');
    }
    expectedTag = Buffer.from(options.expectedTag, 'hex');
  }
  if (create && readOnly) throw invalidArgument('create and readOnly exclude each other');
  // A file expected to be a particular one is never created in its place.
  if (create && expectedTag) throw invalidArgument('create and expectedTag exclude each other');
  if (!create && !expectedTag) throw invalidArgument('expectedTag (the tag the manifest lists) is required to open an existing file');
  let chunkSize: number | undefined;
  if (options.chunkSize !== undefined) {
    chunkSize = checkInteger(options.chunkSize, 'chunkSize');
    if (!validChunkSize(chunkSize)) {
      throw invalidArgument(`chunkSize must be a power of two from 4096 to 1048576, got ${chunkSize}`);
    }
  }
  const expectedSize = options.expectedSize === undefined ? undefined : checkInteger(options.expectedSize, 'expectedSize');
  return { objectId: Buffer.from(options.objectId, 'hex'), create, readOnly, expectedTag, expectedSize, chunkSize };
}
