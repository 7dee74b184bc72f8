// AuthenticatedFile: the content of a file in a volume's *authenticated* region. The bytes stay
// plaintext on disk (so `cat` works), but every read is checked chunk by chunk against a hash list
// whose digest, the file's tag, the volume's authenticated manifest keeps (fs-verity style). It has
// the method shapes of ShieldedFile so the volume layer can use either.
//
// The on-disk format of the hash list and the checks at open are in hash-list.ts.
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
import { constants as bufferConstants } from 'node:buffer';
import type { Hash } from 'node:crypto';
import { createHash, timingSafeEqual } from '../file/node-crypto.js';
import type * as fs from 'node:fs';
import { hostFs } from '../file/host-fs.js';
import { dirname } from 'node:path';
import { invalidArgument, type ShieldError } from '../file/errors.js';
import { checkInteger, ioArguments, type IoArguments } from '../file/io-arguments.js';
import { closeFd, openFd, readFull, runIoAsync, runIoSync, syncDirectory, unlinkQuietly, writeAll, type Io } from './authenticated-io.js';
import { openArguments, openSteps, type AuthenticatedOpenOptions, type FileState } from './authenticated-open.js';

export type { AuthenticatedOpenOptions } from './authenticated-open.js';
import { BATCH_BYTES, computeTag, encodeHeader, fileError, HEADER_BYTES, integrityError, LEAF_BYTES, LEAF_LABEL, u64 } from './hash-list.js';


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
    return new AuthenticatedFile(await runIoAsync(openSteps(dataPath, treePath, checked)));
  }

  static openSync(dataPath: string, treePath: string, options: AuthenticatedOpenOptions): AuthenticatedFile {
    const checked = openArguments(dataPath, treePath, options);
    return new AuthenticatedFile(runIoSync(openSteps(dataPath, treePath, checked)));
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
        return await runIoAsync(steps());
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
    return runIoSync(steps());
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
    const { O_WRONLY, O_CREAT, O_TRUNC, O_NOFOLLOW } = hostFs.constants;
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

function writeArguments(buffer: unknown, offset?: number, length?: number, position?: number): IoArguments {
  const args = ioArguments(buffer, offset, length, position);
  if (args[3] + args[2] > Number.MAX_SAFE_INTEGER) {
    throw invalidArgument(`position + length must be at most 2^53 - 1, got ${args[3]} + ${args[2]}`);
  }
  return args;
}
