// Loads the addon: a prebuild or the build from `npm install` (node-gyp-build), or the file named
// by SHIELDFS_ADDON (the sanitizer build of `npm run test:sanitize`).
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

export interface NativeOpenOptions {
  create?: boolean;
  readOnly?: boolean;
  chunkSize?: number;
  cacheBytes?: number;
  expectedTag?: string;
  expectedFileId?: string;
  keyBudget?: number;
  /** Undo journal of the volume transaction this file takes part in (FORMAT.md, "Undo journal"). */
  journal?: NativeJournal;
}

export interface NativeFileInfo {
  size: number;
  tag: string;
  fileId: string;
  keyId: string;
  chunkSize: number;
  encryptions: number;
}

type Callback<T> = (error: NodeJS.ErrnoException | null, result: T) => void;

export interface NativeFile {
  readSync(buffer: Uint8Array, offset: number, length: number, position: number): number;
  read(buffer: Uint8Array, offset: number, length: number, position: number, callback: Callback<number>): void;
  writeSync(buffer: Uint8Array, offset: number, length: number, position: number): number;
  write(buffer: Uint8Array, offset: number, length: number, position: number, callback: Callback<number>): void;
  truncateSync(length: number): void;
  truncate(length: number, callback: Callback<undefined>): void;
  flushSync(): string;
  flush(callback: Callback<string>): void;
  closeSync(): string;
  close(callback: Callback<string>): void;
  info(): NativeFileInfo;
  /** info().size without building the rest. */
  size(): number;
  /** Every hole's chunk slot and every unstored node slot holds zeros on disk (else EINTEGRITY); for verify. */
  verifyUnusedSlotsSync(): void;
}

/**
 * The undo journal of one volume: before a journaled file overwrites, shrinks or replaces bytes that
 * existed when the transaction began, the old bytes are appended here and made durable.
 */
export interface NativeJournal {
  /**
   * Creates the journal file (durably) if the transaction has not begun yet; `context` (≤ 4096 bytes,
   * default: the constructor's) is stored authenticated in its header and returned by recovery.
   */
  begin(context?: Uint8Array): void;
  /** Ends the transaction: deletes the journal file (durably); the next change begins a new one. */
  finish(): void;
  readonly active: boolean;
}

export interface NativeJournalConstructor {
  /** `context` (≤ 4096 bytes) is stored authenticated in the journal header and returned by recovery. */
  new (journalPath: string, baseDirectory: string, key: Uint8Array, context: Uint8Array): NativeJournal;
}

/** An advisory lock (flock) held on an open file until release() or process death. */
export interface NativeLock {
  release(): void;
}

export interface NativeBinding {
  NativeJournal: NativeJournalConstructor;
  /** The context of the journal at `journalPath`, or null when there is none. Throws EINTEGRITY/EBADKEY. */
  journalContext(journalPath: string, key: Uint8Array): Buffer | null;
  /** Restores every byte the journal preserved (idempotent); returns its context. Leaves the file. */
  rollBackJournal(journalPath: string, baseDirectory: string, key: Uint8Array): Buffer;
  /** Deletes the journal (and any whole-file backups it names) durably: the transaction stands. */
  discardJournal(journalPath: string): void;
  /**
   * Takes a non-blocking flock on `path`: an existing directory, or a regular file (created 0600 if
   * missing; a symlink, FIFO or device is refused). EBUSY when another holds it.
   */
  lockFile(path: string, exclusive: boolean): NativeLock;
  /** HMAC-SHA256 under HKDF-SHA256(key, no salt, info = label): keyed digests of the volume layer. */
  keyedDigest(key: Uint8Array, label: string, message: Uint8Array): Buffer;
  /**
   * Crash injection for tests (SHIELDFS_CRASH_AT=<op>:<n>, FORMAT.md): call just before a durable step
   * taken in JavaScript (op: write, fdatasync, ftruncate, rename or unlink); it counts on the same
   * counter as the native core's steps and SIGKILLs the process at the n-th. Without the variable it
   * does nothing.
   */
  crashPoint(op: 'write' | 'fdatasync' | 'ftruncate' | 'rename' | 'unlink'): void;

  openSync(path: string, key: Uint8Array, options: NativeOpenOptions): NativeFile;
  open(path: string, key: Uint8Array, options: NativeOpenOptions, callback: Callback<NativeFile>): void;
  gcmSeal(key: Buffer, nonce: Buffer, aad: Buffer, plaintext: Buffer): Buffer;
  gcmOpen(key: Buffer, nonce: Buffer, aad: Buffer, sealed: Buffer): Buffer | null;
  gcmThroughput(chunkBytes: number, threads: number, seconds: number): number;
  cores: number;
  /** SEV-SNP SNP_GET_REPORT on a /dev/sev-guest: the firmware's whole 4000-byte response (core/tee_device.h). */
  snpReport(devicePath: string, reportData: Uint8Array, vmpl: number, callback: (error: Error | null, response?: Buffer) => void): void;
  /** One raw request to a Nitro Secure Module (/dev/nsm): CBOR in, CBOR out. */
  nsmRequest(devicePath: string, request: Uint8Array, callback: (error: Error | null, response?: Buffer) => void): void;
}

const require = createRequire(import.meta.url);
const packageRoot = fileURLToPath(new URL('../..', import.meta.url));

export const native: NativeBinding = process.env.SHIELDFS_ADDON
  ? require(process.env.SHIELDFS_ADDON)
  : require('node-gyp-build')(packageRoot);
