// VolumeFile: an open file of a volume. Several handles of one file share one FileContent (so
// writes through one are seen by the others, as with a real file); the volume decides what happens
// before a write (begin the transaction, copy an authenticated file on its first write) and after
// the last close (record the flushed tag and size in the manifest).
import { atVolumePath, fsError } from '../file/fs-errors.js';
import type { FileContent } from './file-content.js';
import type { OpenFlags } from './open-flags.js';
import type { Entry } from './protection-file.js';
import type { VolumeStats } from './volume-types.js';

/** What every handle of one file shares. */
export interface OpenContent {
  entry: Entry | null;     // null: a not-protected (pass-through) file
  content: FileContent;
  handles: number;
  dirty: boolean;          // written since the last flush the manifest recorded
  copied: boolean;         // authenticated content: already copied in this transaction
  appending?: Promise<unknown>;  // the last O_APPEND write of any handle: the next one waits for it
}

/** The volume's side of a handle. */
export interface FileHost {
  beforeWrite(open: OpenContent, path: string): void;
  beforeWriteAsync(open: OpenContent, path: string): Promise<void>;
  afterWrite(open: OpenContent): void;
  release(open: OpenContent): void;
  statOf(open: OpenContent): VolumeStats;
  setTimesOf(open: OpenContent, path: string, atimeNs: bigint, mtimeNs: bigint): void;
  setModeOf(open: OpenContent, path: string, mode: number): void;
  releaseAsync(open: OpenContent): Promise<void>;
}

export class VolumeFile {
  #open: OpenContent | null;

  constructor(private readonly host: FileHost, open: OpenContent, readonly path: string, readonly flags: OpenFlags) {
    this.#open = open;
  }

  /** Plaintext size, including writes not yet committed. */
  get size(): number {
    return this.#content('fstat').content.size;
  }

  async read(buffer: ArrayBufferView, offset?: number, length?: number, position?: number): Promise<number> {
    const open = this.#readable('read');
    return open.content.read(buffer, offset, length, position).catch((error) => this.#relabel(error));
  }

  readSync(buffer: ArrayBufferView, offset?: number, length?: number, position?: number): number {
    const open = this.#readable('read');
    try {
      return open.content.readSync(buffer, offset, length, position);
    } catch (error) {
      return this.#relabel(error);
    }
  }

  /**
   * Writes at `position` (at the end in append mode, as O_APPEND does). Appends of all handles of
   * the file take turns: the end is read when a write starts, so two in flight would both land there.
   */
  async write(buffer: ArrayBufferView, offset?: number, length?: number, position?: number): Promise<number> {
    const open = this.#writable('write');
    if (!this.flags.append) return this.#write(open, buffer, offset, length, position);
    const turn = (open.appending ?? Promise.resolve()).then(() => this.#write(open, buffer, offset, length, position));
    open.appending = turn.catch(() => undefined);
    return turn;
  }

  async #write(open: OpenContent, buffer: ArrayBufferView, offset?: number, length?: number, position?: number): Promise<number> {
    await this.host.beforeWriteAsync(open, this.path);
    const written = await open.content.write(buffer, offset, length, this.flags.append ? open.content.size : position)
      .catch((error) => this.#relabel(error));
    this.host.afterWrite(open);
    return written;
  }

  writeSync(buffer: ArrayBufferView, offset?: number, length?: number, position?: number): number {
    const open = this.#writable('write');
    this.host.beforeWrite(open, this.path);
    let written: number;
    try {
      written = open.content.writeSync(buffer, offset, length, this.flags.append ? open.content.size : position);
    } catch (error) {
      return this.#relabel(error);
    }
    this.host.afterWrite(open);
    return written;
  }

  async truncate(length = 0): Promise<void> {
    const open = this.#writable('ftruncate');
    await this.host.beforeWriteAsync(open, this.path);
    await open.content.truncate(length);
    this.host.afterWrite(open);
  }

  truncateSync(length = 0): void {
    const open = this.#writable('ftruncate');
    this.host.beforeWrite(open, this.path);
    open.content.truncateSync(length);
    this.host.afterWrite(open);
  }

  stat(): VolumeStats {
    return this.host.statOf(this.#content('fstat'));
  }

  utimes(atimeNs: bigint, mtimeNs: bigint): void {
    this.host.setTimesOf(this.#content('futime'), this.path, atimeNs, mtimeNs);
  }

  chmod(mode: number): void {
    this.host.setModeOf(this.#content('fchmod'), this.path, mode);
  }

  /** Closes this handle; the last handle of a file flushes it and records it in the manifest. */
  async close(): Promise<void> {
    const open = this.#content('close');
    this.#open = null;
    await this.host.releaseAsync(open);
  }

  closeSync(): void {
    const open = this.#content('close');
    this.#open = null;
    this.host.release(open);
  }

  /** For verify: the bytes of the content on disk that reads never look at are as the shield left them. */
  verifyUnusedSlotsSync(): void {
    try {
      this.#content('verify').content.verifyUnusedSlotsSync?.();
    } catch (error) {
      this.#relabel(error);
    }
  }

  // Errors of the content name its object file; the caller knows the file by its volume path.
  #relabel(error: unknown): never {
    throw atVolumePath(error, this.path);
  }

  #content(syscall: string): OpenContent {
    if (!this.#open) throw fsError('EBADF', syscall);
    return this.#open;
  }

  #readable(syscall: string): OpenContent {
    const open = this.#content(syscall);
    if (!this.flags.read) throw fsError('EBADF', syscall);
    return open;
  }

  #writable(syscall: string): OpenContent {
    const open = this.#content(syscall);
    if (!this.flags.write) throw fsError('EBADF', syscall);
    return open;
  }
}
