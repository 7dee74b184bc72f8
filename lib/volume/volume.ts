// Volume: a directory on untrusted storage holding a tree of protected files, described by its
// protection file (manifest) and pinned by its tag in a trusted tag store. This class is the
// volume's lifecycle and public face; the work is in its parts, read top-down:
//   create / open  → header (key check) → lock → crash recovery (recovery.ts) → manifest vs trusted tag
//   namespace ops  → namespace.ts: in-memory entries (manifest records are rewritten at commit)
//   openFile       → volume-files.ts: a VolumeFile over the entry's content (ShieldedFile / AuthenticatedFile / PlainFile)
//   commit / close → commit.ts: flush contents → write changed records → compare-and-set the tag → end journal
// What the parts share is a VolumeState (volume-state.ts). The commit protocol and the on-disk layout
// are in FORMAT.md ("Volumes").
import type * as fs from 'node:fs';
import { hostFs } from '../file/host-fs.js';
import { join } from 'node:path';
import { invalidArgument } from '../file/errors.js';
import { shieldError } from '../file/fs-errors.js';
import { checkKey, importKey, wipeKey } from '../file/keys.js';
import { native } from '../file/native.js';
import { runAsync, runSync, type Steps } from '../file/sync-or-async.js';
import { syncPath } from '../file/durable-file.js';
import { openTagStore } from '../tag-store/open-tag-store.js';
import { closeTagStore, compareAndSetTag, getTag, type TagStore } from '../tag-store/tag-store.js';
import { abandon, commitSteps, discardChanges } from './commit.js';
import { VolumeNamespace } from './namespace.js';
import { ObjectStore } from './object-store.js';
import { ProtectionFile, randomId, type Entry } from './protection-file.js';
import { journalPresent, recoverJournal } from './recovery.js';
import { RegionTable, type Region, type RegionKind } from './regions.js';
import { readVolumeHeader, UPDATE_POLICIES, writeVolumeHeader, type UpdatePolicy, type VolumeHeader } from './volume-header.js';
import {
  adoptVolume, bindNewVolume, checkNameFree, checkUpdatePolicy, forgetVolumeName, missingVolume, needsTagStore, pinVolume, volumeName,
  type PinnedVolume,
} from './volume-identity.js';
import { contentError, VolumeFiles } from './volume-files.js';
import type { VolumeFile } from './volume-file.js';
import { VolumeLock } from './volume-lock.js';
import { joinVolumePath, parentOf, RESERVED_NAME, ROOT } from './volume-path.js';
import { nowNs, volumeTag, VolumeState } from './volume-state.js';
import type {
  DirectoryEntry, VerifyReport, VolumeCreateOptions, VolumeInfo, VolumeOpenOptions, VolumeResetOptions, VolumeStats,
} from './volume-types.js';

export type {
  DirectoryEntry, Region, RegionKind, UpdatePolicy, VerifyProblem, VerifyReport, VolumeCreateOptions, VolumeInfo,
  VolumeOpenOptions, VolumeResetOptions, VolumeStats,
} from './volume-types.js';

const STAGING = '.shieldfs-creating';
const VERIFY_PIECE = 1 << 20;

export class Volume {
  readonly #state: VolumeState;
  readonly #namespace: VolumeNamespace;
  readonly #files: VolumeFiles;
  #lock: VolumeLock | null = null;

  private constructor(directory: string, key: Buffer, header: VolumeHeader, readOnly: boolean) {
    this.#state = new VolumeState(directory, key, header, readOnly);
    this.#namespace = new VolumeNamespace(this.#state);
    this.#files = new VolumeFiles(this.#state, this.#namespace);
  }

  get directory(): string {
    return this.#state.directory;
  }

  get readOnly(): boolean {
    return this.#state.readOnly;
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
    const name = volumeName(directory, options.name);
    // A named volume needs the store even without rollback protection: the store remembers the name.
    const { store, owned } = storeFor(needsTagStore(updatePolicy) || name !== null, options.tagStore);  // a bad URL fails before anything is made
    try {
      yield* Volume.#build(directory, key, { updatePolicy, chunkSize, regions, store, name });
    } finally {
      if (owned && store) yield* closeTagStore(store);
    }
    return yield* Volume.#openWith(directory, { key, tagStore: options.tagStore, name, updatePolicy }, true);
  }

  static *#build(directory: string, key: Uint8Array, options: {
    updatePolicy: UpdatePolicy; chunkSize: number; regions: RegionTable; store: TagStore | null; name: string | null;
  }): Steps<void> {
    const { updatePolicy, chunkSize, regions, store, name } = options;
    // A name that already stands for a volume: that volume was deleted or replaced (EROLLBACK), not made anew.
    if (store && name !== null) yield* checkNameFree(store, name, directory);
    hostFs.mkdirSync(directory, { recursive: true, mode: 0o700 });
    const present = hostFs.readdirSync(directory).filter((name) => name !== STAGING);
    if (present.length > 0) {
      throw shieldError('EEXIST', `cannot create a volume in ${directory}: it is not empty (${present.slice(0, 3).join(', ')}…)`, directory);
    }
    // Everything is built in a staging directory that becomes `.shieldfs` in one rename, after the
    // tag store knows the volume: a crash leaves either no volume or a complete one.
    const staging = join(directory, STAGING);
    hostFs.rmSync(staging, { recursive: true, force: true });
    hostFs.mkdirSync(staging, { mode: 0o700 });
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
      // The commit point of a creation: the store learns the name and the first tag in one step.
      if (store && name !== null) {
        yield* bindNewVolume(store, name, header, needsTagStore(updatePolicy) ? tag : null, directory);
      } else if (store && !(yield* compareAndSetTag(store, header.id, null, tag))) {
        throw shieldError('EEXIST', `tag store ${store.url} already has volume ${header.id}`, directory);
      }
    } catch (error) {
      hostFs.rmSync(staging, { recursive: true, force: true });
      throw error;
    }
    hostFs.renameSync(staging, join(directory, RESERVED_NAME));
    syncPath(directory);
  }

  /**
   * The explicit reset: the tag store forgets which volume `name` (default: the directory's absolute
   * path) stands for, so that a new volume may be created under it. `confirmId` must be the id it
   * stands for now (what the EROLLBACK of a deleted volume names). The old volume's tag stays in the
   * store: an old copy of it is still refused. Resolves to what was forgotten.
   */
  static async reset(directory: string, options: VolumeResetOptions): Promise<{ name: string; id: string; updatePolicy: string; tag: string | null }> {
    const name = volumeName(directory, options.name);
    if (name === null) throw invalidArgument('reset needs the name of the volume');
    const { store, owned } = storeFor(true, options.tagStore);
    try {
      const { binding, tag } = await runAsync(forgetVolumeName(store!, name, options.confirmId));
      return { name, id: binding.id, updatePolicy: binding.updatePolicy, tag };
    } finally {
      if (owned) await store!.close();
    }
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
      checkUpdatePolicy(options.updatePolicy, 'updatePolicy');
      const header = yield* Volume.#readHeader(directory, key, options);
      volume = new Volume(directory, key, header, !!options.readOnly);
      volume.#state.populating = populating;
      yield* volume.#openState(options);
      return volume;
    } catch (error) {
      if (volume) yield* abandon(volume.#state, volume.#lock);
      else wipeKey(key);
      throw error;
    }
  }

  /**
   * The header, or why there is none: a directory without `.shieldfs` whose name the store knows was
   * deleted or replaced (EROLLBACK); a `.shieldfs` without its header is a damaged volume (EINTEGRITY).
   */
  static *#readHeader(directory: string, key: Uint8Array, options: VolumeOpenOptions): Steps<VolumeHeader> {
    const meta = join(directory, RESERVED_NAME);
    try {
      return readVolumeHeader(join(meta, 'volume'), key);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
      if (hostFs.existsSync(meta)) {
        throw shieldError('EINTEGRITY', `the header ${join(meta, 'volume')} of volume ${directory} is missing while the rest of ` +
          `${meta} is there: the volume was damaged. Do not create a new volume here; restore the directory from a copy`, directory);
      }
      const name = Volume.#nameFor(directory, options);
      if (name === null) throw error;
      const { store, owned } = storeFor(true, options.tagStore);
      try {
        throw (yield* missingVolume(store!, name, directory)) ?? error;
      } finally {
        if (owned) yield* closeTagStore(store!);
      }
    }
  }

  /** A volume pinned by its tag (a protected tree) needs no name unless one is given. */
  static #nameFor(directory: string, options: VolumeOpenOptions): string | null {
    return volumeName(directory, options.name === undefined && options.expectedTag !== undefined ? null : options.name);
  }

  *#openState(options: VolumeOpenOptions): Steps<void> {
    const { tagStore, expectedId, expectedTag } = options;
    const state = this.#state;
    if (expectedId !== undefined && expectedId !== state.id) {
      throw shieldError('EINTEGRITY', `${this.directory} holds volume ${state.id}, not the expected ${expectedId}: ` +
        'the directory was replaced by another volume under the same key', this.directory);
    }
    const name = Volume.#nameFor(this.directory, options);
    const { store, owned } = storeFor(needsTagStore(state.header.updatePolicy) || name !== null, tagStore);
    // A volume pinned by its tag is exactly that state, whatever its header says; otherwise the name
    // (or the caller) pins the volume and its policy, never the header alone (volume-identity.ts).
    let pinned: PinnedVolume;
    try {
      pinned = expectedTag !== undefined && name === null
        ? { updatePolicy: state.header.updatePolicy, bindAfterOpen: false }
        : yield* pinVolume(store, name, state.header, this.directory, options.updatePolicy);
    } catch (error) {
      if (owned && store) yield* closeTagStore(store);
      throw error;
    }
    // Without rollback protection a volume commits no tags: the store was needed for its name only.
    state.store = needsTagStore(pinned.updatePolicy) ? store : null;
    state.ownsStore = owned && state.store !== null;
    try {
      yield* this.#openContent(options, name, pinned.bindAfterOpen ? store : null);
    } finally {
      if (owned && store && state.store === null) yield* closeTagStore(store);
    }
  }

  /** After the identity is pinned: lock, crash recovery, manifest vs trusted tag; `adoptIn`: bind the name there once proved. */
  *#openContent({ expectedTag }: VolumeOpenOptions, name: string | null, adoptIn: TagStore | null): Steps<void> {
    const state = this.#state;
    const trusted = state.store ? yield* getTag(state.store, state.id) : null;
    if (state.store && trusted === null) {
      throw shieldError('EROLLBACK', `no trusted tag for volume ${state.id} (${this.directory}) in tag store ${state.store.url}: ` +
        'the volume is unknown to this store; open it with the tag store it was created with', this.directory);
    }
    // The journal is looked at only under the lock: a writer may be in the middle of a commit.
    this.#lock = this.#acquireLock(!this.readOnly);
    let recovered = false;
    if (journalPresent(state.journalPath)) {
      if (this.readOnly) {
        this.#lock?.release();
        this.#lock = this.#acquireLock(true);
      }
      if (journalPresent(state.journalPath)) {
        recoverJournal(state, trusted);
        recovered = true;
      }
      if (this.readOnly) {
        this.#lock?.release();
        this.#lock = this.#acquireLock(false);
      }
    }
    if (!this.readOnly) {
      // Every transaction begins through state.begin(), which gives the journal its context (id ‖ base tag).
      state.journal = new native.NativeJournal(state.journalPath, state.meta, state.key, new Uint8Array(0));
    }
    const manifestPath = join(state.meta, 'manifest');
    try {
      state.manifest = yield* ProtectionFile.open(manifestPath, {
        key: state.key, readOnly: this.readOnly, journal: state.journal, expectedFileId: state.header.manifestFileId,
      });
    } catch (error) {
      throw contentError(error, manifestPath, 'the protection file');
    }
    state.tag = volumeTag(state.key, state.id, state.manifest.tag);
    if (state.store && trusted !== state.tag) {
      throw shieldError('EROLLBACK', `volume ${this.directory} is not at the state the tag store ${state.store.url} trusts ` +
        `(on disk ${state.tag.slice(0, 16)}…, trusted ${trusted!.slice(0, 16)}…): the directory was rolled back or replaced; ` +
        'restore the latest copy of the volume', this.directory);
    }
    if (expectedTag !== undefined && expectedTag !== state.tag) {
      throw shieldError('EROLLBACK', `${this.directory} is at tag ${state.tag.slice(0, 16)}…, not the pinned ${expectedTag.slice(0, 16)}…: ` +
        'the directory was replaced by an older or another copy; restore the copy that was pinned', this.directory);
    }
    yield* state.manifest.load();
    if (adoptIn && name !== null && !this.readOnly) yield* adoptVolume(adoptIn, name, state.header, this.directory);
    if (!this.readOnly) state.objects.ensureFanOut();
    if (!this.readOnly || recovered) state.objects.sweep(this.#referencedObjects());
  }

  // The volume directory itself is what is locked (a lock file could be deleted under its holder).
  #acquireLock(exclusive: boolean): VolumeLock | null {
    const { meta } = this.#state;
    try {
      return VolumeLock.acquire(meta, join(meta, 'lock'), exclusive, this.directory);
    } catch (error) {
      // A reader of a volume on read-only media cannot record itself; the flock itself still works
      // on a read-only file system, so only a failure to open is tolerated, and only for readers.
      const code = (error as NodeJS.ErrnoException).code ?? '';
      if (exclusive || !['EROFS'].includes(code)) throw error;
      return null;
    }
  }

  // Files under .shieldfs that are none of the volume's own: every other byte there is read and
  // authenticated by verify(), so these are what it reports as not part of the volume.
  #unreferencedFiles(): string[] {
    const { meta } = this.#state;
    const own = new Set(['volume', 'manifest', 'journal', 'lock', 'objects']);
    const found: string[] = [];
    const referenced = this.#referencedObjects();
    for (const entry of hostFs.readdirSync(meta, { withFileTypes: true })) {
      if (!own.has(entry.name)) found.push(join(RESERVED_NAME, entry.name));
    }
    const objects = join(meta, 'objects');
    let fans: fs.Dirent[] = [];
    try {
      fans = hostFs.readdirSync(objects, { withFileTypes: true });
    } catch {
      // no objects directory: every file the manifest lists fails on its own
    }
    for (const fan of fans) {
      if (!fan.isDirectory() || !/^[0-9a-f]{2}$/.test(fan.name)) {
        found.push(join(RESERVED_NAME, 'objects', fan.name));
        continue;
      }
      for (const name of hostFs.readdirSync(join(objects, fan.name))) {
        if (!(name.startsWith(fan.name) && referenced.has(name))) found.push(join(RESERVED_NAME, 'objects', fan.name, name));
      }
    }
    return found.sort();
  }

  // Every object file the manifest references (a writable open removes the others: what a crashed
  // writer left).
  #referencedObjects(): Set<string> {
    const referenced = new Set<string>();
    for (const entry of this.#entries()) {
      if (entry.type === 'file') for (const name of ObjectStore.namesOf(entry.objectId, entry.storage)) referenced.add(name);
    }
    return referenced;
  }

  // Every entry of the manifest, the root included.
  *#entries(): Generator<Entry> {
    const pending: Entry[] = [this.#state.manifest.root];
    while (pending.length > 0) {
      const entry = pending.pop()!;
      yield entry;
      if (entry.type === 'directory') for (const child of entry.children!.values()) pending.push(child);
    }
  }

  // ---------------------------------------------------------------------------------------------
  // Facts

  get id(): string {
    return this.#state.id;
  }

  /** The last committed tag (the one the tag store holds). */
  get tag(): string {
    return this.#state.tag;
  }

  get updatePolicy(): UpdatePolicy {
    return this.#state.header.updatePolicy;
  }

  get chunkSize(): number {
    return this.#state.header.chunkSize;
  }

  get regions(): Region[] {
    return [...this.#state.manifest.regions.regions];
  }

  info(): VolumeInfo {
    this.#state.usable();
    let files = 0, directories = 0, bytes = 0;
    for (const entry of this.#entries()) {
      if (entry.type === 'directory') directories++;
      else {
        files++;
        bytes += this.#state.sizeOf(entry);
      }
    }
    return {
      directory: this.directory, id: this.id, tag: this.tag, updatePolicy: this.updatePolicy,
      tagStore: this.#state.store?.url ?? null, chunkSize: this.chunkSize, regions: this.regions,
      files, directories: directories - 1, bytes, commits: Number(this.#state.manifest.counter),
    };
  }

  regionOf(path: string): RegionKind {
    return this.#namespace.regionOf(path);
  }

  // ---------------------------------------------------------------------------------------------
  // Namespace (namespace.ts)

  stat(path: string): VolumeStats {
    return this.#namespace.stat(path);
  }

  /** Sets access and modification times, in nanoseconds since the epoch (kept in the manifest). */
  utimes(path: string, atimeNs: bigint, mtimeNs: bigint): void {
    this.#namespace.utimes(path, atimeNs, mtimeNs);
  }

  /** Sets the permission bits (kept in the manifest; the shield itself does not enforce them). */
  chmod(path: string, mode: number): void {
    this.#namespace.chmod(path, mode);
  }

  exists(path: string): boolean {
    return this.#namespace.exists(path);
  }

  /** 'file', 'directory', or null when nothing is at `path` (no error is made for a miss). */
  typeAt(path: string): 'file' | 'directory' | null {
    return this.#namespace.typeAt(path);
  }

  /** Names in `path`, sorted. */
  readdir(path: string): string[] {
    return this.#namespace.readdirEntries(path).map((e) => e.name);
  }

  readdirEntries(path: string): DirectoryEntry[] {
    return this.#namespace.readdirEntries(path);
  }

  mkdir(path: string, options: { recursive?: boolean; mode?: number } = {}): void {
    this.#namespace.mkdir(path, options);
  }

  rmdir(path: string): void {
    this.#namespace.rmdir(path);
  }

  unlink(path: string): void {
    this.#namespace.unlink(path);
  }

  /** Renames atomically at the next commit; the content is not touched (nor re-encrypted). */
  rename(from: string, to: string): void {
    this.#namespace.rename(from, to);
  }

  // ---------------------------------------------------------------------------------------------
  // Files (volume-files.ts)

  /** Opens a file with node's flags ('r', 'r+', 'w', 'wx', 'a', …, or O_* numbers). */
  async openFile(path: string, flags: string | number = 'r', mode = 0o666): Promise<VolumeFile> {
    return this.#files.openFile(path, flags, mode);
  }

  /** openFile on this thread. */
  openFileSync(path: string, flags: string | number = 'r', mode = 0o666): VolumeFile {
    return this.#files.openFileSync(path, flags, mode);
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

  // ---------------------------------------------------------------------------------------------
  // Commit, verify, close (commit.ts)

  /**
   * Makes every change since the last commit durable and advances the tag in the tag store; resolves
   * to the new tag. With nothing changed it resolves to the current tag and writes nothing.
   */
  async commit(): Promise<string> {
    return runAsync(commitSteps(this.#state));
  }

  /** commit() on this thread (an etcd tag store is then reached through a worker thread). */
  commitSync(): string {
    return runSync(commitSteps(this.#state));
  }

  /** Reads every byte of every file (each verified on the way); reports problems instead of stopping. */
  async verify(onProgress?: (bytesDone: number, bytesTotal: number) => void): Promise<VerifyReport> {
    this.#state.usable();
    const files: [string, Entry][] = [];
    const pending: [string, Entry][] = [[ROOT, this.#state.manifest.root]];
    while (pending.length > 0) {
      const [path, entry] = pending.pop()!;
      if (entry.type === 'file') files.push([path, entry]);
      else for (const child of entry.children!.values()) pending.push([joinVolumePath(path, child.name), child]);
    }
    files.sort((a, b) => (a[0] < b[0] ? -1 : 1));
    const total = files.reduce((sum, [, e]) => sum + this.#state.sizeOf(e), 0);
    const report: VerifyReport = { files: files.length, bytes: 0, problems: [], unreferenced: this.#unreferencedFiles() };
    // The manifest was read whole when the volume opened; what is left are its bytes that no read
    // looks at (holes), which must be as the shield left them. Unflushed changes (EBUSY) are skipped:
    // their bytes on disk are in flux until the commit.
    try {
      this.#state.manifest.verifyUnusedSlotsSync();
    } catch (error) {
      const e = error as NodeJS.ErrnoException;
      if (e.code !== 'EBUSY') report.problems.push({ path: join(RESERVED_NAME, 'manifest'), code: e.code ?? 'EIO', message: e.message });
    }
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
          try {
            file.verifyUnusedSlotsSync();
          } catch (error) {
            if ((error as NodeJS.ErrnoException).code !== 'EBUSY') throw error;
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
    const state = this.#state;
    if (state.closed) return;
    try {
      if (!state.broken && !this.readOnly) {
        if (!keepChanges || state.discardsChanges) yield* discardChanges(state);
        else yield* commitSteps(state);
      }
    } finally {
      yield* abandon(state, this.#lock);
    }
  }
}

function storeFor(needed: boolean, tagStore: string | TagStore | undefined): { store: TagStore | null; owned: boolean } {
  if (!needed) return { store: null, owned: false };
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
