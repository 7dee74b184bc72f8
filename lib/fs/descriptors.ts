// Descriptors of files opened inside mounts. Their numbers start at 2^30, far above anything the
// kernel hands out (its limit, fs.nr_open, is 2^20 by default), so they never collide with real ones
// and a call can tell by the number alone which side a descriptor belongs to.
import type { FileContent } from '../volume/file-content.js';
import { fsError } from '../file/fs-errors.js';
import type { OpenFlags } from '../volume/open-flags.js';
import type { VolumeStats } from '../volume/volume.js';
import type { Mount } from './mount-table.js';

export const FIRST_DESCRIPTOR = 2 ** 30;
const LAST_DESCRIPTOR = 2 ** 31 - 1;

/** What a descriptor reads, writes and stats: a VolumeFile, or a DirectoryFile. */
export interface DescriptorFile extends Pick<FileContent, 'size' | 'read' | 'readSync' | 'write' | 'writeSync' | 'truncate' | 'truncateSync'> {
  readonly path: string;
  stat(): VolumeStats;
  utimes(atimeNs: bigint, mtimeNs: bigint): void;
  chmod(mode: number): void;
  closeSync(): void;
}

/**
 * A directory opened for reading (open(dir, 'r') succeeds on Linux): fstat, futimes and fchmod
 * work; reading is EISDIR with no path, as read(2) says. It holds no content, only the name.
 */
export class DirectoryFile implements DescriptorFile {
  constructor(private readonly mount: Mount, readonly path: string) {}

  get size(): number {
    return 0;
  }

  async read(): Promise<number> {
    return this.readSync();
  }

  readSync(): number {
    throw fsError('EISDIR', 'read');
  }

  async write(): Promise<number> {
    return this.writeSync();
  }

  writeSync(): number {
    throw fsError('EBADF', 'write');
  }

  async truncate(): Promise<void> {
    this.truncateSync();
  }

  truncateSync(): void {
    throw fsError('EINVAL', 'ftruncate');
  }

  stat(): VolumeStats {
    return this.mount.volume.stat(this.path);
  }

  utimes(atimeNs: bigint, mtimeNs: bigint): void {
    this.mount.volume.utimes(this.path, atimeNs, mtimeNs);
  }

  chmod(mode: number): void {
    this.mount.volume.chmod(this.path, mode);
  }

  closeSync(): void {}
}

export interface OpenDescriptor {
  readonly fd: number;
  readonly mount: Mount;
  readonly file: DescriptorFile;
  /** The virtual path it was opened by (for messages and streams). */
  readonly path: string;
  readonly flags: OpenFlags;
  /** Where reads and writes without a position happen, as the kernel's file offset. */
  position: number;
  /** Changed through this descriptor: its close is a commit point in 'close' mode. */
  changed: boolean;
}

export class DescriptorTable {
  readonly #open = new Map<number, OpenDescriptor>();
  #next = FIRST_DESCRIPTOR;

  /** True for numbers in our range (open or not): those never go to the real node:fs. */
  static owns(fd: unknown): fd is number {
    return typeof fd === 'number' && fd >= FIRST_DESCRIPTOR && fd <= LAST_DESCRIPTOR && Number.isInteger(fd);
  }

  add(mount: Mount, file: DescriptorFile, path: string, flags: OpenFlags): OpenDescriptor {
    while (this.#open.has(this.#next)) this.#advance();
    const descriptor: OpenDescriptor = { fd: this.#next, mount, file, path, flags, position: 0, changed: false };
    this.#open.set(descriptor.fd, descriptor);
    this.#advance();
    return descriptor;
  }

  get(fd: number, syscall: string): OpenDescriptor {
    const descriptor = this.#open.get(fd);
    if (!descriptor) throw fsError('EBADF', syscall);
    return descriptor;
  }

  /** Removes and returns the descriptor (its number may be handed out again later, as a kernel does). */
  take(fd: number, syscall: string): OpenDescriptor {
    const descriptor = this.get(fd, syscall);
    this.#open.delete(fd);
    return descriptor;
  }

  of(mount: Mount): OpenDescriptor[] {
    return [...this.#open.values()].filter((d) => d.mount === mount);
  }

  #advance(): void {
    this.#next = this.#next === LAST_DESCRIPTOR ? FIRST_DESCRIPTOR : this.#next + 1;
  }
}
