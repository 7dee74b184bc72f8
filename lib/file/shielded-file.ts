// ShieldedFile: a file whose bytes on disk are chunked AES-256-GCM under a Merkle tree
// (FORMAT.md). Every operation is checked here once and then runs either on the calling thread
// (`xxxSync`) or on the libuv pool (`xxx`, a Promise): the two styles share one argument path.
import { checkInteger, ioArguments } from './io-arguments.js';
import { invalidArgument } from './errors.js';
import { checkKey } from './keys.js';
import { native, type NativeFile, type NativeFileInfo, type NativeJournal, type NativeOpenOptions } from './native.js';

export interface OpenOptions {
  /** 32-byte key (see generateKey()). */
  key: Uint8Array;
  /** Create the file when it does not exist (an existing file is opened). Default false. */
  create?: boolean;
  /** Refuse writes; shares the file with other readers. Default false. */
  readOnly?: boolean;
  /** Tag the file must have: an authentic file with another tag fails with EROLLBACK. */
  expectedTag?: string;
  /** Identity the file must have (`fileId`, 32 hex characters): another file fails with EINTEGRITY. */
  expectedFileId?: string;
  /** Plaintext bytes per chunk for a new file: a power of two from 4096 to 1048576. Default 4096. */
  chunkSize?: number;
  /** Bytes of verified Merkle nodes kept in memory. Default 8 MiB. */
  cacheBytes?: number;
  /** Chunk encryptions per chunk key before the file is re-keyed (FORMAT.md). For tests only. */
  keyBudget?: number;
  /**
   * Undo journal of the volume transaction the file takes part in: whatever the file changes on disk
   * is preserved there first (FORMAT.md, "Undo journal"). The file must lie inside the journal's
   * base directory.
   */
  journal?: NativeJournal;
}


export class ShieldedFile {
  readonly #native: NativeFile;
  readonly path: string;

  private constructor(nativeFile: NativeFile, path: string) {
    this.#native = nativeFile;
    this.path = path;
  }

  static async open(path: string, options: OpenOptions): Promise<ShieldedFile> {
    const [checkedPath, key, nativeOptions] = openArguments(path, options);
    const file = await settle<NativeFile>((done) => native.open(checkedPath, key, nativeOptions, done));
    return new ShieldedFile(file, checkedPath);
  }

  static openSync(path: string, options: OpenOptions): ShieldedFile {
    const [checkedPath, key, nativeOptions] = openArguments(path, options);
    return new ShieldedFile(native.openSync(checkedPath, key, nativeOptions), checkedPath);
  }

  /** Reads up to `length` bytes at `position` into `buffer[offset…]`; resolves to the count, 0 at end of file. */
  async read(buffer: ArrayBufferView, offset?: number, length?: number, position?: number): Promise<number> {
    const args = ioArguments(buffer, offset, length, position);
    return settle((done) => this.#native.read(...args, done));
  }

  readSync(buffer: ArrayBufferView, offset?: number, length?: number, position?: number): number {
    return this.#native.readSync(...ioArguments(buffer, offset, length, position));
  }

  /** Writes `length` bytes of `buffer[offset…]` at `position`; a gap past the end becomes a hole. */
  async write(buffer: ArrayBufferView, offset?: number, length?: number, position?: number): Promise<number> {
    const args = ioArguments(buffer, offset, length, position);
    return settle((done) => this.#native.write(...args, done));
  }

  writeSync(buffer: ArrayBufferView, offset?: number, length?: number, position?: number): number {
    return this.#native.writeSync(...ioArguments(buffer, offset, length, position));
  }

  /** Shrinks or grows (with zeros) the plaintext to `length` bytes. */
  async truncate(length = 0): Promise<void> {
    const checked = checkInteger(length, 'length');
    await settle<undefined>((done) => this.#native.truncate(checked, done));
  }

  truncateSync(length = 0): void {
    this.#native.truncateSync(checkInteger(length, 'length'));
  }

  /** Makes every change durable; resolves to the file's new tag (hex). */
  async flush(): Promise<string> {
    return settle((done) => this.#native.flush(done));
  }

  flushSync(): string {
    return this.#native.flushSync();
  }

  /** Flushes and closes; resolves to the final tag. Later calls fail with EBADF. */
  async close(): Promise<string> {
    return settle((done) => this.#native.close(done));
  }

  closeSync(): string {
    return this.#native.closeSync();
  }

  /** Plaintext size in bytes, including writes not yet flushed. */
  get size(): number {
    return this.#native.size();
  }

  /** Tag of the last flushed state (64 hex characters). */
  get tag(): string {
    return this.#info().tag;
  }

  /** The file's permanent random identity (32 hex characters). */
  get fileId(): string {
    return this.#info().fileId;
  }

  get chunkSize(): number {
    return this.#info().chunkSize;
  }

  /** Low-level facts about the file, for tooling and tests. */
  /**
   * Checks the bytes reads never look at: every hole's chunk slot and every node slot not stored holds
   * zeros on disk (EINTEGRITY otherwise). After reading every byte of the file, every byte of it on
   * disk is then accounted for: what `shield volume verify` promises. EBUSY while changes are unflushed.
   */
  verifyUnusedSlotsSync(): void {
    this.#native.verifyUnusedSlotsSync();
  }

  info(): NativeFileInfo {
    return this.#info();
  }

  #info(): NativeFileInfo {
    return this.#native.info();
  }
}

function settle<T>(start: (done: (error: NodeJS.ErrnoException | null, result: T) => void) => void): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    start((error, result) => (error ? reject(error) : resolve(result)));
  });
}


function openArguments(path: unknown, options: OpenOptions): [string, Uint8Array, NativeOpenOptions] {
  if (typeof path !== 'string' || path.length === 0) throw invalidArgument('path must be a non-empty string');
  if (typeof options !== 'object' || options === null) throw invalidArgument('options with a key are required');
  const key = checkKey(options.key);
  const nativeOptions: NativeOpenOptions = { create: !!options.create, readOnly: !!options.readOnly };
  if (options.expectedTag !== undefined) {
    if (typeof options.expectedTag !== 'string' || !/^[0-9a-f]{64}$/i.test(options.expectedTag)) {
      throw invalidArgument('expectedTag must be 64 hex characters (a tag returned by flush() or close())');
    }
    nativeOptions.expectedTag = options.expectedTag;
  }
  if (options.expectedFileId !== undefined) {
    if (typeof options.expectedFileId !== 'string' || !/^[0-9a-f]{32}$/i.test(options.expectedFileId)) {
      throw invalidArgument('expectedFileId must be 32 hex characters (a fileId of this file)');
    }
    nativeOptions.expectedFileId = options.expectedFileId;
  }
  if (options.chunkSize !== undefined) {
    const size = checkInteger(options.chunkSize, 'chunkSize');
    if (size < 4096 || size > 1 << 20 || (size & (size - 1)) !== 0) {
      throw invalidArgument(`chunkSize must be a power of two from 4096 to 1048576, got ${size}`);
    }
    nativeOptions.chunkSize = size;
  }
  if (options.cacheBytes !== undefined) nativeOptions.cacheBytes = checkInteger(options.cacheBytes, 'cacheBytes');
  if (options.keyBudget !== undefined) {
    nativeOptions.keyBudget = checkInteger(options.keyBudget, 'keyBudget');
    if (nativeOptions.keyBudget === 0) throw invalidArgument('keyBudget must be at least 1');
  }
  if (options.journal !== undefined) {
    if (!(options.journal instanceof native.NativeJournal)) throw invalidArgument('journal must be a NativeJournal');
    nativeOptions.journal = options.journal;
  }
  return [path, key, nativeOptions];
}
