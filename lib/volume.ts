// Volume: a directory on untrusted storage holding a tree of protected files, described by its
// protection file (manifest) and pinned by its tag in a trusted tag store. Read top-down:
//   create / open  → header (key check) → lock → crash recovery → manifest vs trusted tag → entries
//   namespace ops  → in-memory entries (manifest records are rewritten at commit)
//   openFile       → a VolumeFile over the entry's content (ShieldedFile / AuthenticatedFile / PlainFile)
//   commit         → flush contents → write changed records → compare-and-set the tag → end journal
// The commit protocol and the on-disk layout are in FORMAT.md ("Volumes").
import * as fs from 'node:fs';
import { join } from 'node:path';
import { AuthenticatedFile } from './authenticated-file.js';
import { invalidArgument } from './errors.js';
import type { FileContent } from './file-content.js';
import { atVolumePath, fsError, shieldError } from './fs-errors.js';
import { checkKey, importKey, wipeKey } from './keys.js';
import { native, type NativeJournal } from './native.js';
import { ObjectStore } from './object-store.js';
import { parseOpenFlags, type OpenFlags } from './open-flags.js';
import { PlainFile } from './plain-file.js';
import { ProtectionFile, randomId, type Entry, type EntryType, type Storage } from './protection-file.js';
import { RegionTable, type Region, type RegionKind } from './regions.js';
import { ShieldedFile } from './shielded-file.js';
import { openTagStore, type TagStore } from './tag-store.js';
import { readVolumeHeader, UPDATE_POLICIES, writeVolumeHeader, type UpdatePolicy, type VolumeHeader } from './volume-header.js';
import { VolumeFile, type FileHost, type OpenContent } from './volume-file.js';
import { VolumeLock } from './volume-lock.js';
import { syncPath } from './durable-file.js';
import { closeContent, closeTagStore, compareAndSetTag, flushContent, getTag, runAsync, runSync, type Steps } from './sync-or-async.js';
import { isWithin, joinVolumePath, normalizeVolumePath, parentOf, pathComponents, RESERVED_NAME, ROOT, baseName } from './volume-path.js';

export type { UpdatePolicy } from './volume-header.js';
export type { Region, RegionKind } from './regions.js';

export interface VolumeOpenOptions {
  /** The volume key (32 bytes). The volume keeps its own copy, wiped at close(). */
  key: Uint8Array;
  /** Tag store URL (`file:PATH`, `etcd://HOST:PORT,…`, `memory:`) or an open TagStore. Default: defaultTagStoreUrl(). */
  tagStore?: string | TagStore;
  /** Open for reading only: shares the volume with other readers, refuses changes with EROFS. */
  readOnly?: boolean;
  /** The volume id the directory must hold (32 hex): another volume under the same key is EINTEGRITY. */
  expectedId?: string;
  /**
   * The volume tag the directory must be at (64 hex), for a volume pinned by its owner rather than
   * by a tag store (a protected tree): any other state is EROLLBACK.
   */
  expectedTag?: string;
}

export interface VolumeCreateOptions extends Omit<VolumeOpenOptions, 'readOnly' | 'expectedId' | 'expectedTag'> {
  /** Plaintext bytes per chunk of the volume's files: a power of two from 4096 to 1048576. Default 4096. */
  chunkSize?: number;
  /** Default `rollback-protected`. */
  updatePolicy?: UpdatePolicy;
  /** Path prefix → protection; the longest prefix wins; `encrypted` where none matches. Fixed at creation. */
  regions?: Region[];
}

export interface VolumeStats {
  type: EntryType;
  /** Permission bits with the file type bits, as in fs.Stats.mode. */
  mode: number;
  size: number;
  mtimeNs: bigint;
  ctimeNs: bigint;
  birthtimeNs: bigint;
  atimeNs: bigint;
  region: RegionKind;
  /** Content tag recorded in the manifest (files of protected regions). */
  tag?: string;
  /** A number unique among the volume's current entries (its manifest slot + 1); 0 for not-protected paths. */
  ino: number;
  /** Names the entry has: 0 for a file removed (unlinked, renamed over) while a handle still has it open. */
  nlink: number;
}

export interface DirectoryEntry {
  name: string;
  type: EntryType;
}

export interface VolumeInfo {
  directory: string;
  id: string;
  tag: string;
  updatePolicy: UpdatePolicy;
  tagStore: string | null;
  chunkSize: number;
  regions: Region[];
  files: number;
  directories: number;
  bytes: number;
  commits: number;
}

export interface VerifyProblem {
  path: string;
  code: string;
  message: string;
}

export interface VerifyReport {
  files: number;
  bytes: number;
  problems: VerifyProblem[];
}

const META = RESERVED_NAME;
const STAGING = '.shieldfs-creating';
const VOLUME_TAG_LABEL = 'shieldfs volume tag v1';
const VERIFY_PIECE = 1 << 20;

interface OpenedContent {
  content: FileContent;
  fresh: boolean;  // a new object: the file was created, or truncated by O_TRUNC
}
const NO_OBJECT = '0'.repeat(32);
const IDLE_CONTENTS = 64;

export class Volume implements FileHost {
  readonly directory: string;
  readonly readOnly: boolean;
  readonly #meta: string;
  readonly #key: Buffer;
  readonly #header: VolumeHeader;
  readonly #objects: ObjectStore;
  readonly #open = new Map<Entry | string, OpenContent>();
  // Encrypted contents whose last handle closed, kept open (in #open, with no handles) so that
  // reading a file again costs no native open: the small-file case of a service. Least recently
  // released first; each holds one descriptor.
  readonly #idle = new Set<OpenContent>();
  readonly #opening = new Map<Entry, Promise<OpenContent>>();
  #store: TagStore | null = null;
  #ownsStore = false;
  #lock: VolumeLock | null = null;
  #journal: NativeJournal | undefined;
  #manifest!: ProtectionFile;
  #tag = '';
  #changed = false;
  #garbage: string[] = [];     // object files to delete once the commit that dropped them stands
  #created: string[] = [];     // object files made in this transaction (ephemeral close deletes them)
  #broken: Error | null = null;
  #closed = false;
  #populating = false;

  private constructor(directory: string, key: Buffer, header: VolumeHeader, readOnly: boolean) {
    this.directory = directory;
    this.readOnly = readOnly;
    this.#meta = join(directory, META);
    this.#key = key;
    this.#header = header;
    this.#objects = new ObjectStore(join(this.#meta, 'objects'));
  }

  // ---------------------------------------------------------------------------------------------
  // Create and open

  /** Creates a volume in `directory` (missing or empty) and registers its first tag in the tag store. */
  static async create(directory: string, options: VolumeCreateOptions): Promise<Volume> {
    return runAsync(Volume.#createSteps(directory, options));
  }

  /** create() on this thread (an etcd tag store is then reached through a worker thread). */
  static createSync(directory: string, options: VolumeCreateOptions): Volume {
    return runSync(Volume.#createSteps(directory, options));
  }

  static *#createSteps(directory: string, options: VolumeCreateOptions): Steps<Volume> {
    const key = checkKey(options?.key);
    const updatePolicy = options.updatePolicy ?? 'rollback-protected';
    if (!UPDATE_POLICIES.includes(updatePolicy)) throw invalidArgument(`updatePolicy must be one of ${UPDATE_POLICIES.join(', ')}`);
    const chunkSize = options.chunkSize ?? 4096;
    if (!Number.isInteger(chunkSize) || chunkSize < 4096 || chunkSize > 1 << 20 || (chunkSize & (chunkSize - 1)) !== 0) {
      throw invalidArgument(`chunkSize must be a power of two from 4096 to 1048576, got ${String(chunkSize)}`);
    }
    const regions = checkRegionNesting(new RegionTable(options.regions ?? []));
    const { store, owned } = storeFor(updatePolicy, options.tagStore);  // a bad URL fails before anything is made
    try {
      yield* Volume.#build(directory, key, { updatePolicy, chunkSize, regions, store });
    } finally {
      if (owned && store) yield* closeTagStore(store);
    }
    return yield* Volume.#openWith(directory, { key, tagStore: options.tagStore }, true);
  }

  static *#build(directory: string, key: Uint8Array, options: {
    updatePolicy: UpdatePolicy; chunkSize: number; regions: RegionTable; store: TagStore | null;
  }): Steps<void> {
    const { updatePolicy, chunkSize, regions, store } = options;
    fs.mkdirSync(directory, { recursive: true, mode: 0o700 });
    const present = fs.readdirSync(directory).filter((name) => name !== STAGING);
    if (present.length > 0) {
      throw shieldError('EEXIST', `cannot create a volume in ${directory}: it is not empty (${present.slice(0, 3).join(', ')}…)`, directory);
    }
    // Everything is built in a staging directory that becomes `.shieldfs` in one rename, after the
    // tag store knows the volume: a crash leaves either no volume or a complete one.
    const staging = join(directory, STAGING);
    fs.rmSync(staging, { recursive: true, force: true });
    fs.mkdirSync(staging, { mode: 0o700 });
    try {
      ObjectStore.create(join(staging, 'objects'));
      const manifest = yield* ProtectionFile.create(join(staging, 'manifest'), {
        key, regions: regions.regions, now: nowNs(), rootMode: 0o777 & ~process.umask(),
      });
      const header: VolumeHeader = {
        id: randomId(), updatePolicy, chunkSize, manifestFileId: manifest.fileId, created: new Date().toISOString(),
      };
      const tag = volumeTag(key, header.id, manifest.tag);
      yield* manifest.close();
      writeVolumeHeader(join(staging, 'volume'), key, header);
      syncPath(staging);
      if (store && !(yield* compareAndSetTag(store, header.id, null, tag))) {
        throw shieldError('EEXIST', `tag store ${store.url} already has volume ${header.id}`, directory);
      }
    } catch (error) {
      fs.rmSync(staging, { recursive: true, force: true });
      throw error;
    }
    fs.renameSync(staging, join(directory, META));
    syncPath(directory);
  }

  /** Opens a volume: checks the key, recovers from a crash, and checks its state against the tag store. */
  static async open(directory: string, options: VolumeOpenOptions): Promise<Volume> {
    return runAsync(Volume.#openWith(directory, options, false));
  }

  /** open() on this thread (an etcd tag store is then reached through a worker thread). */
  static openSync(directory: string, options: VolumeOpenOptions): Volume {
    return runSync(Volume.#openWith(directory, options, false));
  }

  // `populating`: the session that created the volume, whose commits stand even when the policy is
  // ephemeral (that is how an ephemeral volume gets the content every later session starts from).
  static *#openWith(directory: string, options: VolumeOpenOptions, populating: boolean): Steps<Volume> {
    const key = importKey(checkKey(options?.key));
    let volume: Volume | undefined;
    try {
      const header = readVolumeHeader(join(directory, META, 'volume'), key);
      volume = new Volume(directory, key, header, !!options.readOnly);
      volume.#populating = populating;
      yield* volume.#openState(options);
      return volume;
    } catch (error) {
      if (volume) yield* volume.#abandon();
      else wipeKey(key);
      throw error;
    }
  }

  *#openState({ tagStore, expectedId, expectedTag }: VolumeOpenOptions): Steps<void> {
    if (expectedId !== undefined && expectedId !== this.#header.id) {
      throw shieldError('EINTEGRITY', `${this.directory} holds volume ${this.#header.id}, not the expected ${expectedId}: ` +
        'the directory was replaced by another volume under the same key', this.directory);
    }
    const { store, owned } = storeFor(this.#header.updatePolicy, tagStore);
    this.#store = store;
    this.#ownsStore = owned;
    const trusted = store ? yield* getTag(store, this.#header.id) : null;
    if (store && trusted === null) {
      throw shieldError('EROLLBACK', `no trusted tag for volume ${this.#header.id} (${this.directory}) in tag store ${store.url}: ` +
        'the volume is unknown to this store; open it with the tag store it was created with', this.directory);
    }
    // The journal is looked at only under the lock: a writer may be in the middle of a commit.
    this.#lock = this.#acquireLock(!this.readOnly);
    let recovered = false;
    if (journalPresent(this.#journalPath)) {
      if (this.readOnly) {
        this.#lock?.release();
        this.#lock = this.#acquireLock(true);
      }
      if (journalPresent(this.#journalPath)) {
        this.#recover(trusted);
        recovered = true;
      }
      if (this.readOnly) {
        this.#lock?.release();
        this.#lock = this.#acquireLock(false);
      }
    }
    if (!this.readOnly) {
      // Every transaction begins through #begin(), which gives the journal its context (id ‖ base tag).
      this.#journal = new native.NativeJournal(this.#journalPath, this.#meta, this.#key, new Uint8Array(0));
    }
    const manifestPath = join(this.#meta, 'manifest');
    try {
      this.#manifest = yield* ProtectionFile.open(manifestPath, {
        key: this.#key, readOnly: this.readOnly, journal: this.#journal, expectedFileId: this.#header.manifestFileId,
      });
    } catch (error) {
      throw contentError(error, manifestPath, 'the protection file');
    }
    this.#tag = volumeTag(this.#key, this.#header.id, this.#manifest.tag);
    if (store && trusted !== this.#tag) {
      throw shieldError('EROLLBACK', `volume ${this.directory} is not at the state the tag store ${store.url} trusts ` +
        `(on disk ${this.#tag.slice(0, 16)}…, trusted ${trusted!.slice(0, 16)}…): the directory was rolled back or replaced; ` +
        'restore the latest copy of the volume', this.directory);
    }
    if (expectedTag !== undefined && expectedTag !== this.#tag) {
      throw shieldError('EROLLBACK', `${this.directory} is at tag ${this.#tag.slice(0, 16)}…, not the pinned ${expectedTag.slice(0, 16)}…: ` +
        'the directory was replaced by an older or another copy; restore the copy that was pinned', this.directory);
    }
    yield* this.#manifest.load();
    if (!this.readOnly || recovered) this.#objects.sweep(this.#referencedObjects());
  }

  // The volume directory itself is what is locked (a lock file could be deleted under its holder).
  #acquireLock(exclusive: boolean): VolumeLock | null {
    try {
      return VolumeLock.acquire(this.#meta, join(this.#meta, 'lock'), exclusive, this.directory);
    } catch (error) {
      // A reader of a volume on read-only media cannot record itself; the flock itself still works
      // on a read-only file system, so only a failure to open is tolerated, and only for readers.
      const code = (error as NodeJS.ErrnoException).code ?? '';
      if (exclusive || !['EROFS'].includes(code)) throw error;
      return null;
    }
  }

  // A journal means a transaction did not end. Roll it back if the tag store still holds the state
  // it started from; keep the commit (discard the journal) if the store holds exactly the state on
  // disk; anything else is not an honest crash: keep the journal and refuse.
  #recover(trusted: string | null): void {
    const journalPath = this.#journalPath;
    const context = native.journalContext(journalPath, this.#key);
    if (context === null) {  // torn while being created: it protected nothing
      native.discardJournal(journalPath);
      return;
    }
    const journalId = context.length === 48 ? Buffer.from(context.subarray(0, 16)).toString('hex') : null;
    if (journalId !== this.#header.id) {
      throw shieldError('EINTEGRITY', `the undo journal ${journalPath} does not belong to volume ${this.#header.id}: ` +
        'it was planted; remove it only if you are sure no commit of this volume was interrupted', journalPath);
    }
    const baseTag = Buffer.from(context.subarray(16, 48)).toString('hex');
    let rollBack = true;
    if (this.#header.updatePolicy === 'rollback-protected') {
      if (trusted === baseTag) rollBack = true;
      else if (trusted !== null && trusted === this.#tagOnDisk()) rollBack = false;
      else {
        throw shieldError('EROLLBACK', `volume ${this.directory} has an unfinished commit from tag ${baseTag.slice(0, 16)}…, but the ` +
          `tag store ${this.#store!.url} holds ${trusted?.slice(0, 16) ?? 'nothing'}…, neither that nor the state on disk: ` +
          'the directory was rolled back or replaced, or this is not its tag store', this.directory);
      }
    }
    if (rollBack) native.rollBackJournal(journalPath, this.#meta, this.#key);
    native.discardJournal(journalPath);
  }

  // The volume tag of whatever manifest is on disk now (null when it does not open).
  #tagOnDisk(): string | null {
    try {
      const manifest = ShieldedFile.openSync(join(this.#meta, 'manifest'), {
        key: this.#key, readOnly: true, expectedFileId: this.#header.manifestFileId,
      });
      try {
        return volumeTag(this.#key, this.#header.id, manifest.tag);
      } finally {
        manifest.closeSync();
      }
    } catch {
      return null;
    }
  }

  get #journalPath(): string {
    return join(this.#meta, 'journal');
  }

  // Recorded in the journal when a transaction begins: recovery compares it with the tag store.
  #journalContext(): Buffer {
    return Buffer.concat([Buffer.from(this.id, 'hex'), Buffer.from(this.#tag, 'hex')]);
  }

  // ---------------------------------------------------------------------------------------------
  // Facts

  get id(): string {
    return this.#header.id;
  }

  /** The last committed tag (the one the tag store holds). */
  get tag(): string {
    return this.#tag;
  }

  get updatePolicy(): UpdatePolicy {
    return this.#header.updatePolicy;
  }

  get chunkSize(): number {
    return this.#header.chunkSize;
  }

  get regions(): Region[] {
    return [...this.#manifest.regions.regions];
  }

  info(): VolumeInfo {
    this.#usable();
    let files = 0, directories = 0, bytes = 0;
    const pending: Entry[] = [this.#manifest.root];
    while (pending.length > 0) {
      const entry = pending.pop()!;
      if (entry.type === 'directory') {
        directories++;
        for (const child of entry.children!.values()) pending.push(child);
      } else {
        files++;
        bytes += this.#sizeOf(entry);
      }
    }
    return {
      directory: this.directory, id: this.id, tag: this.#tag, updatePolicy: this.updatePolicy,
      tagStore: this.#store?.url ?? null, chunkSize: this.chunkSize, regions: this.regions,
      files, directories: directories - 1, bytes, commits: Number(this.#manifest.counter),
    };
  }

  regionOf(path: string): RegionKind {
    return this.#manifest.regions.kindOf(normalizeVolumePath(path, 'region'));
  }

  // ---------------------------------------------------------------------------------------------
  // Namespace

  stat(path: string): VolumeStats {
    const p = this.#path(path, 'stat');
    const region = this.#manifest.regions.kindOf(p);
    if (region === 'not-protected') {
      const s = fs.statSync(this.#realPath(p), { bigint: true });
      return {
        type: s.isDirectory() ? 'directory' : 'file', mode: Number(s.mode), size: Number(s.size), mtimeNs: s.mtimeNs,
        ctimeNs: s.ctimeNs, birthtimeNs: s.birthtimeNs, atimeNs: s.atimeNs, region, ino: 0, nlink: Number(s.nlink),
      };
    }
    return this.#statsOf(this.#lookup(p, 'stat'), region);
  }

  #statsOf(entry: Entry, region: RegionKind): VolumeStats {
    return {
      type: entry.type, mode: entry.mode | (entry.type === 'file' ? fs.constants.S_IFREG : fs.constants.S_IFDIR),
      size: entry.type === 'file' ? this.#sizeOf(entry) : 0, mtimeNs: entry.mtimeNs, ctimeNs: entry.ctimeNs,
      birthtimeNs: entry.birthtimeNs, atimeNs: entry.atimeNs, region: entry.type === 'file' ? entry.storage : region,
      ino: entry.slot + 1,
      nlink: entry.type === 'directory' ? 2 : this.#attached(entry) ? 1 : 0,
      ...(entry.type === 'file' ? { tag: entry.tag } : {}),
    };
  }

  /** Sets access and modification times, in nanoseconds since the epoch (kept in the manifest). */
  utimes(path: string, atimeNs: bigint, mtimeNs: bigint): void {
    const p = this.#writablePath(path, 'utime');
    if (this.#manifest.regions.kindOf(p) === 'not-protected') {
      return fs.utimesSync(this.#realPath(p), nsToSeconds(atimeNs), nsToSeconds(mtimeNs));
    }
    this.#setTimes(this.#lookup(p, 'utime'), atimeNs, mtimeNs);
  }

  /** Sets the permission bits (kept in the manifest; the shield itself does not enforce them). */
  chmod(path: string, mode: number): void {
    const p = this.#writablePath(path, 'chmod');
    if (this.#manifest.regions.kindOf(p) === 'not-protected') return fs.chmodSync(this.#realPath(p), mode);
    this.#setMode(this.#lookup(p, 'chmod'), mode);
  }

  #setTimes(entry: Entry, atimeNs: bigint, mtimeNs: bigint): void {
    this.#begin();
    entry.atimeNs = atimeNs;
    entry.mtimeNs = mtimeNs;
    entry.ctimeNs = nowNs();
    this.#manifest.markDirty(entry);
  }

  #setMode(entry: Entry, mode: number): void {
    this.#begin();
    entry.mode = mode & 0o7777;
    entry.ctimeNs = nowNs();
    this.#manifest.markDirty(entry);
  }

  exists(path: string): boolean {
    try {
      this.stat(path);
      return true;
    } catch (error) {
      if (['ENOENT', 'ENOTDIR'].includes((error as NodeJS.ErrnoException).code ?? '')) return false;
      throw error;
    }
  }

  /** Names in `path`, sorted. */
  readdir(path: string): string[] {
    return this.readdirEntries(path).map((e) => e.name);
  }

  readdirEntries(path: string): DirectoryEntry[] {
    const p = this.#path(path, 'scandir');
    if (this.#manifest.regions.kindOf(p) === 'not-protected') {
      return fs.readdirSync(this.#realPath(p), { withFileTypes: true })
        .map((d) => ({ name: d.name, type: (d.isDirectory() ? 'directory' : 'file') as EntryType }))
        .sort(byName);
    }
    const directory = this.#lookup(p, 'scandir');
    if (directory.type !== 'directory') throw fsError('ENOTDIR', 'scandir', path);
    const entries: DirectoryEntry[] = [...directory.children!.values()].map((e) => ({ name: e.name, type: e.type }));
    for (const name of this.#manifest.regions.passThroughNamesIn(p)) {
      try {
        if (fs.statSync(this.#realPath(joinVolumePath(p, name))).isDirectory()) entries.push({ name, type: 'directory' });
      } catch {
        // a not-protected region whose directory does not exist (yet)
      }
    }
    return entries.sort(byName);
  }

  mkdir(path: string, options: { recursive?: boolean; mode?: number } = {}): void {
    const p = this.#writablePath(path, 'mkdir');
    const mode = (options.mode ?? 0o777) & 0o7777 & ~process.umask();
    if (this.#manifest.regions.kindOf(p) === 'not-protected') {
      fs.mkdirSync(this.#realPath(p), { recursive: options.recursive, mode });
      return;
    }
    if (options.recursive) {
      let at = ROOT;
      for (const name of pathComponents(p)) {
        at = joinVolumePath(at, name);
        const existing = this.#find(at);
        // A file as the last name already exists (EEXIST); on the way it is not a directory.
        if (existing?.type === 'file') throw fsError(at === p ? 'EEXIST' : 'ENOTDIR', 'mkdir', path);
        if (!existing) this.#mkdirOne(at, mode, path);
      }
      return;
    }
    if (this.#find(p)) throw fsError('EEXIST', 'mkdir', path);
    this.#mkdirOne(p, mode, path);
  }

  #mkdirOne(p: string, mode: number, asked: string): void {
    const parent = this.#parentDirectory(p, 'mkdir', asked);
    this.#begin();
    const entry = this.#manifest.allocate('directory', 'encrypted', baseName(p), parent, mode, nowNs());
    parent.children!.set(entry.name, entry);
    this.#touch(parent);
  }

  rmdir(path: string): void {
    const p = this.#writablePath(path, 'rmdir');
    if (this.#manifest.regions.kindOf(p) === 'not-protected') return fs.rmdirSync(this.#realPath(p));
    if (p === ROOT) throw fsError('EBUSY', 'rmdir', path);
    const entry = this.#lookup(p, 'rmdir');
    if (entry.type !== 'directory') throw fsError('ENOTDIR', 'rmdir', path);
    if (entry.children!.size > 0 || this.#manifest.regions.passThroughNamesIn(p).length > 0) throw fsError('ENOTEMPTY', 'rmdir', path);
    this.#begin();
    this.#detach(entry);
  }

  unlink(path: string): void {
    const p = this.#writablePath(path, 'unlink');
    if (this.#manifest.regions.kindOf(p) === 'not-protected') return fs.unlinkSync(this.#realPath(p));
    const entry = this.#lookup(p, 'unlink');
    if (entry.type === 'directory') throw fsError('EISDIR', 'unlink', path);
    this.#begin();
    this.#detach(entry);
  }

  /** Renames atomically at the next commit; the content is not touched (nor re-encrypted). */
  rename(from: string, to: string): void {
    const source = this.#writablePath(from, 'rename');
    const target = this.#writablePath(to, 'rename');
    const sourceKind = this.#manifest.regions.kindOf(source), targetKind = this.#manifest.regions.kindOf(target);
    if (sourceKind === 'not-protected' && targetKind === 'not-protected') return fs.renameSync(this.#realPath(source), this.#realPath(target));
    const entry = this.#lookup(source, 'rename', from, to);
    // Moving between regions would change how the bytes are protected: that is a copy, not a rename.
    if (sourceKind !== targetKind || (entry.type === 'file' && entry.storage !== targetKind)) throw fsError('EXDEV', 'rename', from, to);
    if (source === target) return;
    if (entry.type === 'directory' && isWithin(target, source)) throw fsError('EINVAL', 'rename', from, to);
    const parent = this.#parentDirectory(target, 'rename', from, to);
    const replaced = parent.children!.get(baseName(target));
    if (replaced) {
      if (replaced.type === 'directory' && entry.type !== 'directory') throw fsError('EISDIR', 'rename', from, to);
      if (replaced.type !== 'directory' && entry.type === 'directory') throw fsError('ENOTDIR', 'rename', from, to);
      if (replaced.type === 'directory' && replaced.children!.size > 0) throw fsError('ENOTEMPTY', 'rename', from, to);
    }
    this.#begin();
    if (replaced) this.#detach(replaced);
    entry.parent!.children!.delete(entry.name);
    this.#touch(entry.parent!);
    entry.name = baseName(target);
    entry.parent = parent;
    parent.children!.set(entry.name, entry);
    entry.ctimeNs = nowNs();
    this.#touch(parent);
    this.#manifest.markDirty(entry);
  }

  // ---------------------------------------------------------------------------------------------
  // Files

  /** Opens a file with node's flags ('r', 'r+', 'w', 'wx', 'a', …, or O_* numbers). */
  async openFile(path: string, flags: string | number = 'r', mode = 0o666): Promise<VolumeFile> {
    const request = this.#openRequest(path, flags);
    if (request.passThrough) {
      return this.#plainHandle(await PlainFile.open(request.passThrough, request.flags.numeric, mode), path, request.flags);
    }
    const { entry, created } = this.#resolveForOpen(request.p, path, request.flags, mode);
    if (request.flags.truncate) this.#evictIdle(entry);
    // Handles of one file share its content, also when they are opened at the same time. (No await
    // unless someone is opening it: the check and the #opening entry must be one step.)
    const pending = this.#open.has(entry) ? undefined : this.#opening.get(entry);
    const shared = pending ? await pending : this.#open.get(entry);
    if (shared) return this.#joinShared(shared, entry, path, request.flags, false);
    const opening = this.#openContent(entry, created, request.flags.truncate, path, false).then((opened) => this.#share(entry, opened));
    this.#opening.set(entry, opening);
    try {
      return this.#firstHandle(await opening, created, path, request.flags);
    } finally {
      this.#opening.delete(entry);
    }
  }

  /** openFile on this thread. */
  openFileSync(path: string, flags: string | number = 'r', mode = 0o666): VolumeFile {
    const request = this.#openRequest(path, flags);
    if (request.passThrough) return this.#plainHandle(PlainFile.openSync(request.passThrough, request.flags.numeric, mode), path, request.flags);
    const { entry, created } = this.#resolveForOpen(request.p, path, request.flags, mode);
    if (request.flags.truncate) this.#evictIdle(entry);
    const shared = this.#open.get(entry);
    if (shared) return this.#joinShared(shared, entry, path, request.flags, true) as VolumeFile;
    if (this.#opening.has(entry)) {
      throw shieldError('EBUSY', `${path} is being opened asynchronously; await that open before opening it synchronously`, path);
    }
    const opened = this.#openContent(entry, created, request.flags.truncate, path, true);
    return this.#firstHandle(this.#share(entry, opened), created, path, request.flags);
  }

  #openRequest(path: string, flags: string | number): { flags: OpenFlags; p: string; passThrough: string | null } {
    const parsed = parseOpenFlags(flags);
    const p = this.#path(path, 'open');
    if (this.#manifest.regions.kindOf(p) !== 'not-protected') return { flags: parsed, p, passThrough: null };
    if (parsed.write) this.#writable('open', path);
    return { flags: parsed, p, passThrough: this.#realPath(p) };
  }

  #plainHandle(content: PlainFile, path: string, flags: OpenFlags): VolumeFile {
    return this.#handle({ entry: null, content, handles: 0, dirty: false, copied: true }, path, flags);
  }

  #share(entry: Entry, { content, fresh }: OpenedContent): OpenContent {
    const open: OpenContent = { entry, content, handles: 0, dirty: fresh, copied: fresh || entry.storage === 'encrypted' };
    this.#open.set(entry, open);
    return open;
  }

  #firstHandle(open: OpenContent, created: boolean, path: string, flags: OpenFlags): VolumeFile {
    if (created || flags.truncate) this.afterWrite(open);
    return this.#handle(open, path, flags);
  }

  // Another handle of an open file; O_TRUNC truncates the shared content.
  #joinShared(open: OpenContent, entry: Entry, path: string, flags: OpenFlags, sync: boolean): VolumeFile | Promise<VolumeFile> {
    const handle = this.#handle(open, path, flags);
    if (!flags.truncate || this.#sizeOf(entry) === 0) return handle;
    if (sync) {
      handle.truncateSync(0);
      return handle;
    }
    return handle.truncate(0).then(() => handle);
  }

  /** Reads a whole file. */
  async readFile(path: string): Promise<Buffer> {
    const file = await this.openFile(path, 'r');
    try {
      const out = Buffer.allocUnsafe(file.size);
      let done = 0;
      while (done < out.length) {
        const got = await file.read(out, done, out.length - done, done);
        if (got === 0) break;
        done += got;
      }
      return out.subarray(0, done);
    } finally {
      await file.close();
    }
  }

  /** Replaces (or creates) a whole file; parent directories must exist. */
  async writeFile(path: string, data: Uint8Array | string, mode = 0o666): Promise<void> {
    const bytes = typeof data === 'string' ? Buffer.from(data) : data;
    const file = await this.openFile(path, 'w', mode);
    try {
      await file.write(bytes, 0, bytes.byteLength, 0);
    } finally {
      await file.close();
    }
  }

  #resolveForOpen(p: string, asked: string, flags: OpenFlags, mode: number): { entry: Entry; created: boolean } {
    const existing = this.#find(p, 'open', asked);
    if (existing) {
      if (flags.create && flags.exclusive) throw fsError('EEXIST', 'open', asked);
      if (existing.type === 'directory') throw fsError('EISDIR', 'open', asked);
      if (flags.write || flags.truncate) this.#writable('open', asked);
      return { entry: existing, created: false };
    }
    if (!flags.create) throw fsError('ENOENT', 'open', asked);
    this.#writable('open', asked);
    const parent = this.#parentDirectory(p, 'open', asked);
    this.#begin();
    const storage: Storage = this.#manifest.regions.kindOf(p) === 'authenticated' ? 'authenticated' : 'encrypted';
    const entry = this.#manifest.allocate('file', storage, baseName(p), parent, mode & 0o7777 & ~process.umask(), nowNs());
    parent.children!.set(entry.name, entry);
    this.#touch(parent);
    return { entry, created: true };
  }

  // Opens the entry's content, on this thread (`sync`) or as a Promise. A new file, or an existing
  // one opened with O_TRUNC, gets a fresh object: nothing committed is overwritten, so that costs no
  // journal at all.
  #openContent(entry: Entry, create: boolean, truncate: boolean, asked: string, sync: true): OpenedContent;
  #openContent(entry: Entry, create: boolean, truncate: boolean, asked: string, sync: false): Promise<OpenedContent>;
  #openContent(entry: Entry, create: boolean, truncate: boolean, asked: string, sync: boolean): OpenedContent | Promise<OpenedContent> {
    const fresh = create || (truncate && entry.size > 0);
    if (fresh) {
      this.#begin();
      this.#replaceObject(entry);
    }
    const path = this.#objects.contentPath(entry.objectId, entry.storage);
    const fail = (error: unknown): never => {
      throw atVolumePath(contentError(error, path, `file ${asked}`), asked);
    };
    const adopt = (content: ShieldedFile | AuthenticatedFile): OpenedContent => {
      if (fresh) {
        if (content instanceof ShieldedFile) entry.fileId = content.fileId;
        entry.tag = content.tag;
      }
      return { content, fresh };
    };
    try {
      if (entry.storage === 'authenticated') {
        const args = [path, this.#objects.treePath(entry.objectId), {
          objectId: entry.fileId, create: fresh, readOnly: this.readOnly, chunkSize: this.chunkSize,
          ...(fresh ? {} : { expectedTag: entry.tag, expectedSize: entry.size }),
        }] as const;
        return sync ? adopt(AuthenticatedFile.openSync(...args)) : AuthenticatedFile.open(...args).then(adopt, fail);
      }
      const options = {
        key: this.#key, create: fresh, readOnly: this.readOnly, journal: this.#journal, chunkSize: this.chunkSize,
        ...(fresh ? {} : { expectedTag: entry.tag, expectedFileId: entry.fileId }),
      };
      return sync ? adopt(ShieldedFile.openSync(path, options)) : ShieldedFile.open(path, options).then(adopt, fail);
    } catch (error) {
      return fail(error);
    }
  }


  // Points the entry at a new, empty object; the old one is garbage once the commit stands.
  #replaceObject(entry: Entry): void {
    if (entry.objectId !== NO_OBJECT) this.#garbage.push(...this.#objects.filesOf(entry.objectId, entry.storage));
    entry.objectId = randomId();
    if (entry.storage === 'authenticated') entry.fileId = randomId();
    entry.size = 0;
    this.#created.push(...this.#objects.filesOf(entry.objectId, entry.storage));
    this.#manifest.markDirty(entry);
  }

  #handle(open: OpenContent, path: string, flags: OpenFlags): VolumeFile {
    open.handles++;
    this.#idle.delete(open);
    return new VolumeFile(this, open, path, flags);
  }

  // FileHost: what the volume does around a handle's writes and closes.

  beforeWrite(open: OpenContent, path: string): void {
    if (!open.entry) return;
    this.#writable('write', path);
    this.#begin();
    if (!open.copied) {
      open.content = this.#copyAuthenticated(open, path);
      open.copied = true;
    }
  }

  async beforeWriteAsync(open: OpenContent, path: string): Promise<void> {
    this.beforeWrite(open, path);
  }

  afterWrite(open: OpenContent): void {
    open.dirty = true;
    if (!open.entry) return;
    open.entry.mtimeNs = open.entry.ctimeNs = nowNs();
    this.#manifest.markDirty(open.entry);
  }

  statOf(open: OpenContent): VolumeStats {
    this.#usable();
    if (!open.entry) {
      const plain = open.content as PlainFile;
      return this.stat(plain.path.slice(this.directory.length) || ROOT);
    }
    return this.#statsOf(open.entry, open.entry.storage);
  }

  setTimesOf(open: OpenContent, path: string, atimeNs: bigint, mtimeNs: bigint): void {
    this.#writable('futime', path);
    if (!open.entry) return this.utimes((open.content as PlainFile).path.slice(this.directory.length), atimeNs, mtimeNs);
    this.#setTimes(open.entry, atimeNs, mtimeNs);
  }

  setModeOf(open: OpenContent, path: string, mode: number): void {
    this.#writable('fchmod', path);
    if (!open.entry) return this.chmod((open.content as PlainFile).path.slice(this.directory.length), mode);
    this.#setMode(open.entry, mode);
  }

  release(open: OpenContent): void {
    if (--open.handles > 0) return;
    if (this.#keepsIdle(open)) {
      if (open.dirty) this.#record(open, open.content.flushSync());
      this.#makeIdle(open);
      return;
    }
    this.#forget(open);
    this.#record(open, open.content.closeSync());
  }

  async releaseAsync(open: OpenContent): Promise<void> {
    if (--open.handles > 0) return;
    if (this.#keepsIdle(open)) {
      if (open.dirty) this.#record(open, await open.content.flush());
      if (open.handles === 0) this.#makeIdle(open);  // unless reopened while flushing
      return;
    }
    this.#forget(open);
    this.#record(open, await open.content.close());
  }

  // Authenticated contents are copied on their first write of a transaction: they are not kept.
  // Nor is the content of a file removed while it was open: no name leads to it any more.
  #keepsIdle(open: OpenContent): boolean {
    return open.entry !== null && open.entry.storage === 'encrypted' && this.#open.get(open.entry) === open && this.#attached(open.entry);
  }

  // Still in its directory (an unlinked or replaced entry lives on only through its open handles).
  #attached(entry: Entry): boolean {
    return entry.parent === null || entry.parent.children!.get(entry.name) === entry;
  }

  #makeIdle(open: OpenContent): void {
    this.#idle.add(open);
    for (const oldest of this.#idle) {
      if (this.#idle.size <= IDLE_CONTENTS) break;
      this.#closeIdle(oldest);
    }
  }

  #evictIdle(entry: Entry): void {
    const open = this.#open.get(entry);
    if (open && this.#idle.has(open)) this.#closeIdle(open);
  }

  #closeIdle(open: OpenContent): void {
    this.#idle.delete(open);
    this.#forget(open);
    this.#record(open, open.content.closeSync());
  }

  #forget(open: OpenContent): void {
    this.#open.delete(open.entry ?? '');
  }

  // The manifest learns a content's flushed tag and size (written to disk at the next commit).
  #record(open: OpenContent, tag: string): void {
    if (!open.entry || !open.dirty) return;
    open.entry.tag = tag;
    open.entry.size = open.content.size;
    open.dirty = false;
    this.#manifest.markDirty(open.entry);
  }

  // Authenticated content is plaintext with a hash list and has no journal, so its first write in a
  // transaction goes to a copy: the committed object stays intact until the commit stands. The copy
  // is made through the open, verified content (never by copying whatever the path points to now),
  // made durable, and must come out with the same tag before the entry points at it.
  #copyAuthenticated(open: OpenContent, asked: string): FileContent {
    const entry = open.entry!;
    const source = open.content as AuthenticatedFile;
    const objectId = randomId();
    const [data, tree] = this.#objects.filesOf(objectId, 'authenticated') as [string, string];
    this.#created.push(data, tree);
    let copy: AuthenticatedFile | null = null;
    try {
      copy = AuthenticatedFile.openSync(data, tree, { objectId: entry.fileId, create: true, chunkSize: source.chunkSize });
      const piece = Buffer.allocUnsafe(Math.max(source.chunkSize, 1 << 20));
      for (let at = 0; ;) {
        const got = source.readSync(piece, 0, piece.length, at);
        if (got === 0) break;
        copy.writeSync(piece, 0, got, at);
        at += got;
      }
      if (copy.flushSync() !== source.tag) throw shieldError('EIO', `the copy of ${asked} does not match it; nothing was changed`, asked);
    } catch (error) {
      try {
        copy?.closeSync();
      } catch {
        // removed below
      }
      this.#objects.remove([data, tree]);
      throw atVolumePath(error, asked);
    }
    source.closeSync();
    this.#garbage.push(...this.#objects.filesOf(entry.objectId, 'authenticated'));
    entry.objectId = objectId;
    this.#manifest.markDirty(entry);
    return copy;
  }

  // ---------------------------------------------------------------------------------------------
  // Commit, verify, close

  /**
   * Makes every change since the last commit durable and advances the tag in the tag store; resolves
   * to the new tag. With nothing changed it resolves to the current tag and writes nothing.
   */
  async commit(): Promise<string> {
    return runAsync(this.#commitSteps());
  }

  /** commit() on this thread (an etcd tag store is then reached through a worker thread). */
  commitSync(): string {
    return runSync(this.#commitSteps());
  }

  *#commitSteps(): Steps<string> {
    this.#usable();
    if (this.readOnly) return this.#tag;
    try {
      for (const open of this.#open.values()) {
        if (open.dirty) this.#record(open, yield* flushContent(open.content));
      }
      if (!this.#changed) return this.#tag;
      if (this.#discardsChanges) return this.#tag;  // discarded at close, never durable
      const next = volumeTag(this.#key, this.id, yield* this.#manifest.writeChanges());
      // A store client that retried a compare-and-set its server had already applied answers "no"
      // to its own write; the store holding exactly `next` (unique to this commit) means it stood.
      if (this.#store && !(yield* compareAndSetTag(this.#store, this.id, this.#tag, next)) && (yield* getTag(this.#store, this.id)) !== next) {
        throw shieldError('EROLLBACK', `tag store ${this.#store.url} no longer holds the tag this volume was opened at: ` +
          'another writer committed, or the store was reset; nothing was committed. Reopen the volume', this.directory);
      }
      this.#journal!.finish();  // the commit stands from here (the store said yes, or there is no store)
      this.#tag = next;
      this.#changed = false;
      this.#created = [];
      for (const open of this.#open.values()) open.copied = open.entry?.storage !== 'authenticated';
      const garbage = this.#garbage.filter((path) => ![...this.#open.values()].some((o) => o.entry && this.#objects.filesOf(o.entry.objectId, o.entry.storage).includes(path)));
      this.#garbage = [];
      this.#objects.remove(garbage);
      return next;
    } catch (error) {
      // Unknown how far the commit got: refuse further use; the next open recovers from the journal.
      this.#broken = error as Error;
      throw error;
    }
  }

  /** Reads every byte of every file (each verified on the way); reports problems instead of stopping. */
  async verify(onProgress?: (bytesDone: number, bytesTotal: number) => void): Promise<VerifyReport> {
    this.#usable();
    const files: [string, Entry][] = [];
    const pending: [string, Entry][] = [[ROOT, this.#manifest.root]];
    while (pending.length > 0) {
      const [path, entry] = pending.pop()!;
      if (entry.type === 'file') files.push([path, entry]);
      else for (const child of entry.children!.values()) pending.push([joinVolumePath(path, child.name), child]);
    }
    files.sort((a, b) => (a[0] < b[0] ? -1 : 1));
    const total = files.reduce((sum, [, e]) => sum + this.#sizeOf(e), 0);
    const report: VerifyReport = { files: files.length, bytes: 0, problems: [] };
    const piece = Buffer.allocUnsafe(VERIFY_PIECE);
    for (const [path] of files) {
      try {
        const file = await this.openFile(path, 'r');
        try {
          for (let at = 0; ;) {
            const got = await file.read(piece, 0, piece.length, at);
            if (got === 0) break;
            at += got;
            report.bytes += got;
            onProgress?.(report.bytes, total);
          }
        } finally {
          await file.close();
        }
      } catch (error) {
        const e = error as NodeJS.ErrnoException;
        report.problems.push({ path, code: e.code ?? 'EIO', message: e.message });
      }
    }
    piece.fill(0);
    return report;
  }

  /**
   * Commits (rollback-protected, no-rollback-protection) or discards every change (ephemeral), closes
   * the files and releases the lock. A volume whose commit failed is closed without committing.
   */
  async close(): Promise<void> {
    return runAsync(this.#closeSteps(true));
  }

  /** close() on this thread. */
  closeSync(): void {
    runSync(this.#closeSteps(true));
  }

  /** Closes without committing: every change since the last commit is undone; the tag store is not touched. */
  async abort(): Promise<void> {
    return runAsync(this.#closeSteps(false));
  }

  /** abort() on this thread. */
  abortSync(): void {
    runSync(this.#closeSteps(false));
  }

  *#closeSteps(keepChanges: boolean): Steps<void> {
    if (this.#closed) return;
    try {
      if (!this.#broken && !this.readOnly) {
        if (!keepChanges || this.#discardsChanges) yield* this.#discardChanges();
        else yield* this.#commitSteps();
      }
    } finally {
      yield* this.#abandon();
    }
  }

  *#discardChanges(): Steps<void> {
    for (const open of this.#open.values()) yield* closeContent(open.content);
    this.#open.clear();
    this.#idle.clear();
    if (this.#journal?.active) {
      const journalPath = join(this.#meta, 'journal');
      native.rollBackJournal(journalPath, this.#meta, this.#key);
      native.discardJournal(journalPath);
    }
    this.#objects.remove(this.#created);
  }

  // Closes everything without committing; the journal, if any, stays for the next open.
  *#abandon(): Steps<void> {
    this.#closed = true;
    for (const open of this.#open.values()) {
      try {
        yield* closeContent(open.content);
      } catch {
        // closing after a failure: the journal protects what was committed
      }
    }
    this.#open.clear();
    this.#idle.clear();
    try {
      if (this.#manifest) yield* this.#manifest.close();
    } catch {
      // as above
    }
    this.#lock?.release();
    if (this.#ownsStore && this.#store) yield* closeTagStore(this.#store);
    wipeKey(this.#key);
  }

  // ---------------------------------------------------------------------------------------------
  // Helpers

  get #discardsChanges(): boolean {
    return this.updatePolicy === 'ephemeral' && !this.#populating;
  }

  #usable(): void {
    if (this.#closed) throw shieldError('EBADF', `volume ${this.directory} is closed`, this.directory);
    if (this.#broken) {
      throw shieldError((this.#broken as NodeJS.ErrnoException).code ?? 'EIO', `volume ${this.directory} is unusable after a failed commit ` +
        `(${this.#broken.message}); close and reopen it`, this.directory);
    }
  }

  #writable(syscall: string, path: string): void {
    this.#usable();
    if (this.readOnly) throw fsError('EROFS', syscall, path);
  }

  #path(path: string, syscall: string): string {
    this.#usable();
    return normalizeVolumePath(path, syscall);
  }

  #writablePath(path: string, syscall: string): string {
    this.#writable(syscall, path);
    return normalizeVolumePath(path, syscall);
  }

  // First change of a transaction: the journal is made durable before anything is overwritten.
  #begin(): void {
    this.#changed = true;
    if (!this.#journal!.active) this.#journal!.begin(this.#journalContext());
  }

  #realPath(p: string): string {
    return join(this.directory, ...pathComponents(p));
  }

  #find(p: string, syscall = 'stat', asked = p): Entry | null {
    let entry = this.#manifest.root;
    for (const name of pathComponents(p)) {
      if (entry.type !== 'directory') throw fsError('ENOTDIR', syscall, asked);
      const child = entry.children!.get(name);
      if (!child) return null;
      entry = child;
    }
    return entry;
  }

  #lookup(p: string, syscall: string, asked = p, dest?: string): Entry {
    const entry = this.#find(p, syscall, asked);
    if (!entry) throw fsError('ENOENT', syscall, asked, dest);
    return entry;
  }

  #parentDirectory(p: string, syscall: string, asked: string, dest?: string): Entry {
    const parentPath = parentOf(p);
    const parent = this.#find(parentPath, syscall, dest ?? asked);
    if (!parent) throw fsError('ENOENT', syscall, asked, dest);
    if (parent.type !== 'directory') throw fsError('ENOTDIR', syscall, asked, dest);
    if (this.#manifest.regions.kindOf(parentPath) === 'not-protected') throw fsError('EXDEV', syscall, asked, dest);
    return parent;
  }

  #detach(entry: Entry): void {
    this.#evictIdle(entry);
    const parent = entry.parent!;
    parent.children!.delete(entry.name);
    this.#touch(parent);
    if (entry.type === 'file') this.#garbage.push(...this.#objects.filesOf(entry.objectId, entry.storage));
    this.#manifest.release(entry);
  }

  #touch(directory: Entry): void {
    directory.mtimeNs = directory.ctimeNs = nowNs();
    this.#manifest.markDirty(directory);
  }

  #sizeOf(entry: Entry): number {
    return this.#open.get(entry)?.content.size ?? entry.size;
  }

  #referencedObjects(): Set<string> {
    const referenced = new Set<string>();
    const pending: Entry[] = [this.#manifest.root];
    while (pending.length > 0) {
      const entry = pending.pop()!;
      if (entry.type === 'directory') for (const child of entry.children!.values()) pending.push(child);
      else for (const name of ObjectStore.namesOf(entry.objectId, entry.storage)) referenced.add(name);
    }
    return referenced;
  }

}

function volumeTag(key: Uint8Array, id: string, manifestTag: string): string {
  return native.keyedDigest(key, VOLUME_TAG_LABEL, Buffer.concat([Buffer.from(id, 'hex'), Buffer.from(manifestTag, 'hex')])).toString('hex');
}

function storeFor(policy: UpdatePolicy, tagStore: string | TagStore | undefined): { store: TagStore | null; owned: boolean } {
  if (policy === 'no-rollback-protection') return { store: null, owned: false };
  if (tagStore !== undefined && typeof tagStore !== 'string') return { store: tagStore, owned: false };
  return { store: openTagStore(tagStore), owned: true };
}

function checkRegionNesting(table: RegionTable): RegionTable {
  for (const region of table.regions) {
    if (region.kind === 'not-protected' || region.path === ROOT) continue;
    if (region.path !== ROOT && table.kindOf(parentOf(region.path)) === 'not-protected') {
      throw invalidArgument(`region ${region.path} (${region.kind}) lies inside a not-protected region: nothing there is protected`);
    }
  }
  if (table.kindOf(ROOT) === 'not-protected') throw invalidArgument('the volume root cannot be not-protected');
  return table;
}

// Content the manifest lists is the volume's: if it is gone, or something else is in its place, that
// is an attack on completeness, not ENOENT. A failed key check of content is damage too: the volume
// header already proved the key.
function contentError(error: unknown, path: string, what: string): unknown {
  const code = (error as NodeJS.ErrnoException).code;
  if (code === 'ENOENT' || code === 'ENOTDIR') {
    return shieldError('EINTEGRITY', `${what} is listed in the manifest but its content '${path}' is missing: ` +
      'it was deleted from the volume directory; restore the volume from a trusted copy', path);
  }
  if (code === 'EISDIR' || code === 'ELOOP' || code === 'EBADKEY') {
    return shieldError('EINTEGRITY', `the content '${path}' of ${what} was replaced or altered ` +
      `(${(error as Error).message}); restore the volume from a trusted copy`, path);
  }
  return error;
}

function journalPresent(path: string): boolean {
  let stat: fs.Stats;
  try {
    stat = fs.lstatSync(path);
  } catch {
    return false;
  }
  if (stat.isFile()) return true;
  // Not something this shield writes (a symlink, a FIFO, a directory): it protected nothing.
  fs.rmSync(path, { recursive: true, force: true });
  return false;
}

function nsToSeconds(ns: bigint): number {
  return Number(ns) / 1e9;
}

function nowNs(): bigint {
  return BigInt(Date.now()) * 1_000_000n;
}

function byName(a: DirectoryEntry, b: DirectoryEntry): number {
  return a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
}
