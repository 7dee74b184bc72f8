// What the parts of one open volume share: its identity and key, the manifest in memory, the undo
// journal and the bookkeeping of the transaction under way (what changed, which objects were made
// and which became garbage), and the contents of files that are open. The Volume class
// (volume.ts) owns one; the namespace (namespace.ts), the file opener (volume-files.ts) and the
// commit (commit.ts) work on it. Not part of the public API.
import { join } from 'node:path';
import { fsError, shieldError } from '../file/fs-errors.js';
import { native, type NativeJournal } from '../file/native.js';
import type { TagStore } from '../tag-store/tag-store.js';
import type { FileContent } from './file-content.js';
import { ObjectStore } from './object-store.js';
import type { Entry, ProtectionFile } from './protection-file.js';
import type { VolumeHeader } from './volume-header.js';
import type { OpenContent } from './volume-file.js';
import { normalizeVolumePath, pathComponents, RESERVED_NAME } from './volume-path.js';

// Encrypted contents kept open after their last handle closed, so that reading a file again costs
// no native open (the small-file case of a service); each holds one descriptor.
const IDLE_CONTENTS = 64;

export class VolumeState {
  /** `VOLUME/.shieldfs`: everything the volume keeps. */
  readonly meta: string;
  readonly objects: ObjectStore;
  readonly contents: OpenContents;
  manifest!: ProtectionFile;
  journal: NativeJournal | undefined;
  /** The trusted tag store (none for no-rollback-protection), and whether the volume opened it. */
  store: TagStore | null = null;
  ownsStore = false;
  /** The last committed volume tag. */
  tag = '';
  /** Something changed since the last commit. */
  changed = false;
  /** Object files to delete once the commit that dropped them stands. */
  garbage: string[] = [];
  /** Object files made in this transaction (an ephemeral close deletes them). */
  created: string[] = [];
  /** The error of a commit that failed half-way: the volume refuses further use. */
  broken: Error | null = null;
  closed = false;
  /** The session that created the volume: its commits stand even when the policy is ephemeral. */
  populating = false;

  constructor(readonly directory: string, readonly key: Buffer, readonly header: VolumeHeader, readonly readOnly: boolean) {
    this.meta = join(directory, RESERVED_NAME);
    this.objects = new ObjectStore(join(this.meta, 'objects'));
    this.contents = new OpenContents(this);
  }

  get id(): string {
    return this.header.id;
  }

  get journalPath(): string {
    return join(this.meta, 'journal');
  }

  /** Changes are discarded at close, never made durable (an ephemeral volume after its creation). */
  get discardsChanges(): boolean {
    return this.header.updatePolicy === 'ephemeral' && !this.populating;
  }

  usable(): void {
    if (this.closed) throw shieldError('EBADF', `volume ${this.directory} is closed`, this.directory);
    if (this.broken) {
      throw shieldError((this.broken as NodeJS.ErrnoException).code ?? 'EIO', `volume ${this.directory} is unusable after a failed commit ` +
        `(${this.broken.message}); close and reopen it`, this.directory);
    }
  }

  writable(syscall: string, path: string): void {
    this.usable();
    if (this.readOnly) throw fsError('EROFS', syscall, path);
  }

  /** The normalized volume path of a caller's path, on a usable volume. */
  path(path: string, syscall: string): string {
    this.usable();
    return normalizeVolumePath(path, syscall);
  }

  writablePath(path: string, syscall: string): string {
    this.writable(syscall, path);
    return normalizeVolumePath(path, syscall);
  }

  /** Where a not-protected path lives on the real disk. */
  realPath(p: string): string {
    return join(this.directory, ...pathComponents(p));
  }

  // First change of a transaction: the journal is made durable before anything is overwritten. It
  // records the volume id and the tag the transaction starts from; recovery compares them with the
  // tag store.
  begin(): void {
    this.changed = true;
    if (!this.journal!.active) this.journal!.begin(Buffer.concat([Buffer.from(this.id, 'hex'), Buffer.from(this.tag, 'hex')]));
  }

  /** A file's size: its open content's (with unflushed writes), else the manifest's. */
  sizeOf(entry: Entry): number {
    return this.contents.get(entry)?.content.size ?? entry.size;
  }
}

/** The contents of open files, one per file however many handles it has, and the idle ones. */
export class OpenContents {
  readonly #open = new Map<Entry | string, OpenContent>();
  // Least recently released first.
  readonly #idle = new Set<OpenContent>();
  /** Contents being opened asynchronously: a second open of the same file waits for the first. */
  readonly opening = new Map<Entry, Promise<OpenContent>>();

  constructor(private readonly state: VolumeState) {}

  get(entry: Entry): OpenContent | undefined {
    return this.#open.get(entry);
  }

  has(entry: Entry): boolean {
    return this.#open.has(entry);
  }

  values(): IterableIterator<OpenContent> {
    return this.#open.values();
  }

  /** The first handle of an entry's content. */
  share(entry: Entry, content: FileContent, fresh: boolean): OpenContent {
    const open: OpenContent = { entry, content, handles: 0, dirty: fresh, copied: fresh || entry.storage === 'encrypted' };
    this.#open.set(entry, open);
    return open;
  }

  /** One more handle of `open`: it is no longer idle. */
  addHandle(open: OpenContent): void {
    open.handles++;
    this.#idle.delete(open);
  }

  /** Every content forgotten (after they were closed). */
  clear(): void {
    this.#open.clear();
    this.#idle.clear();
  }

  // Authenticated contents are copied on their first write of a transaction: they are not kept.
  // Nor is the content of a file removed while it was open: no name leads to it any more.
  keepsIdle(open: OpenContent): boolean {
    return open.entry !== null && open.entry.storage === 'encrypted' && this.#open.get(open.entry) === open && isAttached(open.entry);
  }

  makeIdle(open: OpenContent): void {
    this.#idle.add(open);
    for (const oldest of this.#idle) {
      if (this.#idle.size <= IDLE_CONTENTS) break;
      this.#closeIdle(oldest);
    }
  }

  /** Closes the entry's content if it is idle (before the file is truncated or removed). */
  evictIdle(entry: Entry): void {
    const open = this.#open.get(entry);
    if (open && this.#idle.has(open)) this.#closeIdle(open);
  }

  #closeIdle(open: OpenContent): void {
    this.#idle.delete(open);
    this.forget(open);
    this.record(open, open.content.closeSync());
  }

  forget(open: OpenContent): void {
    this.#open.delete(open.entry ?? '');
  }

  /** The manifest learns a content's flushed tag and size (written to disk at the next commit). */
  record(open: OpenContent, tag: string): void {
    if (!open.entry || !open.dirty) return;
    open.entry.tag = tag;
    open.entry.size = open.content.size;
    open.dirty = false;
    this.state.manifest.markDirty(open.entry);
  }
}

/** Still in its directory (an unlinked or replaced entry lives on only through its open handles). */
export function isAttached(entry: Entry): boolean {
  return entry.parent === null || entry.parent.children!.get(entry.name) === entry;
}

const VOLUME_TAG_LABEL = 'shieldfs volume tag v1';

/** The volume's tag: its id and its manifest's tag under the volume key (FORMAT.md, "Volumes"). */
export function volumeTag(key: Uint8Array, id: string, manifestTag: string): string {
  return native.keyedDigest(key, VOLUME_TAG_LABEL, Buffer.concat([Buffer.from(id, 'hex'), Buffer.from(manifestTag, 'hex')])).toString('hex');
}

export function nowNs(): bigint {
  return BigInt(Date.now()) * 1_000_000n;
}
