// Opening the files of a volume: a VolumeFile handle over the entry's content (a ShieldedFile in an
// encrypted region, an AuthenticatedFile in an authenticated one, a PlainFile where nothing is
// protected). Handles of one file share its content; this class is their FileHost, deciding what
// happens before a write (begin the transaction, copy an authenticated content on its first write)
// and after the last close (record the flushed tag and size, keep the content idle for a next read).
import { atVolumePath, fsError, shieldError } from '../file/fs-errors.js';
import { ShieldedFile } from '../file/shielded-file.js';
import { AuthenticatedFile } from './authenticated-file.js';
import type { FileContent } from './file-content.js';
import type { VolumeNamespace } from './namespace.js';
import { parseOpenFlags, type OpenFlags } from './open-flags.js';
import { PlainFile } from './plain-file.js';
import { randomId, type Entry, type Storage } from './protection-file.js';
import { baseName, ROOT } from './volume-path.js';
import { nowNs, type VolumeState } from './volume-state.js';
import { VolumeFile, type FileHost, type OpenContent } from './volume-file.js';
import type { VolumeStats } from './volume-types.js';

/** An entry that has no object yet (a file created in this transaction before its content exists). */
const NO_OBJECT = '0'.repeat(32);

interface OpenedContent {
  content: FileContent;
  fresh: boolean;  // a new object: the file was created, or truncated by O_TRUNC
}

export class VolumeFiles implements FileHost {
  constructor(private readonly state: VolumeState, private readonly namespace: VolumeNamespace) {}

  async openFile(path: string, flags: string | number, mode: number): Promise<VolumeFile> {
    const request = this.#openRequest(path, flags);
    if (request.passThrough) {
      return this.#plainHandle(await PlainFile.open(request.passThrough, request.flags.numeric, mode), path, request.flags);
    }
    const { entry, created } = this.#resolveForOpen(request.p, path, request.flags, mode);
    const contents = this.state.contents;
    if (request.flags.truncate) contents.evictIdle(entry);
    // Handles of one file share its content, also when they are opened at the same time. (No await
    // unless someone is opening it: the check and the `opening` entry must be one step.)
    const pending = contents.has(entry) ? undefined : contents.opening.get(entry);
    const shared = pending ? await pending : contents.get(entry);
    if (shared) return this.#joinShared(shared, entry, path, request.flags, false);
    const opening = this.#openContent(entry, created, request.flags.truncate, path, false)
      .then(({ content, fresh }) => contents.share(entry, content, fresh));
    contents.opening.set(entry, opening);
    try {
      return this.#firstHandle(await opening, created, path, request.flags);
    } finally {
      contents.opening.delete(entry);
    }
  }

  openFileSync(path: string, flags: string | number, mode: number): VolumeFile {
    const request = this.#openRequest(path, flags);
    if (request.passThrough) return this.#plainHandle(PlainFile.openSync(request.passThrough, request.flags.numeric, mode), path, request.flags);
    const { entry, created } = this.#resolveForOpen(request.p, path, request.flags, mode);
    const contents = this.state.contents;
    if (request.flags.truncate) contents.evictIdle(entry);
    const shared = contents.get(entry);
    if (shared) return this.#joinShared(shared, entry, path, request.flags, true) as VolumeFile;
    if (contents.opening.has(entry)) {
      throw shieldError('EBUSY', `${path} is being opened asynchronously; await that open before opening it synchronously`, path);
    }
    const { content, fresh } = this.#openContent(entry, created, request.flags.truncate, path, true);
    return this.#firstHandle(contents.share(entry, content, fresh), created, path, request.flags);
  }

  #openRequest(path: string, flags: string | number): { flags: OpenFlags; p: string; passThrough: string | null } {
    const parsed = parseOpenFlags(flags);
    const p = this.state.path(path, 'open');
    if (this.state.manifest.regions.kindOf(p) !== 'not-protected') return { flags: parsed, p, passThrough: null };
    if (parsed.write) this.state.writable('open', path);
    return { flags: parsed, p, passThrough: this.state.realPath(p) };
  }

  #plainHandle(content: PlainFile, path: string, flags: OpenFlags): VolumeFile {
    return this.#handle({ entry: null, content, handles: 0, dirty: false, copied: true }, path, flags);
  }

  #firstHandle(open: OpenContent, created: boolean, path: string, flags: OpenFlags): VolumeFile {
    if (created || flags.truncate) this.afterWrite(open);
    return this.#handle(open, path, flags);
  }

  // Another handle of an open file; O_TRUNC truncates the shared content.
  #joinShared(open: OpenContent, entry: Entry, path: string, flags: OpenFlags, sync: boolean): VolumeFile | Promise<VolumeFile> {
    const handle = this.#handle(open, path, flags);
    if (!flags.truncate || this.state.sizeOf(entry) === 0) return handle;
    if (sync) {
      handle.truncateSync(0);
      return handle;
    }
    return handle.truncate(0).then(() => handle);
  }

  #resolveForOpen(p: string, asked: string, flags: OpenFlags, mode: number): { entry: Entry; created: boolean } {
    const existing = this.namespace.find(p, 'open', asked);
    if (existing) {
      if (flags.create && flags.exclusive) throw fsError('EEXIST', 'open', asked);
      if (existing.type === 'directory') throw fsError('EISDIR', 'open', asked);
      if (flags.write || flags.truncate) this.state.writable('open', asked);
      return { entry: existing, created: false };
    }
    if (!flags.create) throw fsError('ENOENT', 'open', asked);
    this.state.writable('open', asked);
    const parent = this.namespace.parentDirectory(p, 'open', asked);
    this.state.begin();
    const storage: Storage = this.state.manifest.regions.kindOf(p) === 'authenticated' ? 'authenticated' : 'encrypted';
    const entry = this.state.manifest.allocate('file', storage, baseName(p), parent, mode & 0o7777 & ~process.umask(), nowNs());
    parent.children!.set(entry.name, entry);
    this.namespace.touch(parent);
    return { entry, created: true };
  }

  // Opens the entry's content, on this thread (`sync`) or as a Promise. A new file, or an existing
  // one opened with O_TRUNC, gets a fresh object: nothing committed is overwritten, so that costs no
  // journal at all.
  #openContent(entry: Entry, create: boolean, truncate: boolean, asked: string, sync: true): OpenedContent;
  #openContent(entry: Entry, create: boolean, truncate: boolean, asked: string, sync: false): Promise<OpenedContent>;
  #openContent(entry: Entry, create: boolean, truncate: boolean, asked: string, sync: boolean): OpenedContent | Promise<OpenedContent> {
    const { state } = this;
    const fresh = create || (truncate && entry.size > 0);
    if (fresh) {
      state.begin();
      this.#replaceObject(entry);
    }
    const path = state.objects.contentPath(entry.objectId, entry.storage);
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
        const args = [path, state.objects.treePath(entry.objectId), {
          objectId: entry.fileId, create: fresh, readOnly: state.readOnly, chunkSize: state.header.chunkSize,
          ...(fresh ? {} : { expectedTag: entry.tag, expectedSize: entry.size }),
        }] as const;
        return sync ? adopt(AuthenticatedFile.openSync(...args)) : AuthenticatedFile.open(...args).then(adopt, fail);
      }
      const options = {
        key: state.key, create: fresh, readOnly: state.readOnly, journal: state.journal, chunkSize: state.header.chunkSize,
        ...(fresh ? {} : { expectedTag: entry.tag, expectedFileId: entry.fileId }),
      };
      return sync ? adopt(ShieldedFile.openSync(path, options)) : ShieldedFile.open(path, options).then(adopt, fail);
    } catch (error) {
      return fail(error);
    }
  }

  // Points the entry at a new, empty object; the old one is garbage once the commit stands.
  #replaceObject(entry: Entry): void {
    const { state } = this;
    if (entry.objectId !== NO_OBJECT) state.garbage.push(...state.objects.filesOf(entry.objectId, entry.storage));
    entry.objectId = randomId();
    if (entry.storage === 'authenticated') entry.fileId = randomId();
    entry.size = 0;
    state.created.push(...state.objects.filesOf(entry.objectId, entry.storage));
    state.manifest.markDirty(entry);
  }

  #handle(open: OpenContent, path: string, flags: OpenFlags): VolumeFile {
    this.state.contents.addHandle(open);
    return new VolumeFile(this, open, path, flags);
  }

  // ---------------------------------------------------------------------------------------------
  // FileHost: what the volume does around a handle's writes and closes.

  beforeWrite(open: OpenContent, path: string): void {
    if (!open.entry) return;
    this.state.writable('write', path);
    this.state.begin();
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
    this.state.manifest.markDirty(open.entry);
  }

  statOf(open: OpenContent): VolumeStats {
    this.state.usable();
    if (!open.entry) return this.namespace.stat(this.#plainPath(open) || ROOT);
    return this.namespace.statsOf(open.entry, open.entry.storage);
  }

  setTimesOf(open: OpenContent, path: string, atimeNs: bigint, mtimeNs: bigint): void {
    this.state.writable('futime', path);
    if (!open.entry) return this.namespace.utimes(this.#plainPath(open), atimeNs, mtimeNs);
    this.namespace.setTimes(open.entry, atimeNs, mtimeNs);
  }

  setModeOf(open: OpenContent, path: string, mode: number): void {
    this.state.writable('fchmod', path);
    if (!open.entry) return this.namespace.chmod(this.#plainPath(open), mode);
    this.namespace.setMode(open.entry, mode);
  }

  // The volume path of a not-protected file's handle.
  #plainPath(open: OpenContent): string {
    return (open.content as PlainFile).path.slice(this.state.directory.length);
  }

  release(open: OpenContent): void {
    if (--open.handles > 0) return;
    const { contents } = this.state;
    if (contents.keepsIdle(open)) {
      if (open.dirty) contents.record(open, open.content.flushSync());
      contents.makeIdle(open);
      return;
    }
    contents.forget(open);
    contents.record(open, open.content.closeSync());
  }

  async releaseAsync(open: OpenContent): Promise<void> {
    if (--open.handles > 0) return;
    const { contents } = this.state;
    if (contents.keepsIdle(open)) {
      if (open.dirty) contents.record(open, await open.content.flush());
      if (open.handles === 0) contents.makeIdle(open);  // unless reopened while flushing
      return;
    }
    contents.forget(open);
    contents.record(open, await open.content.close());
  }

  // Authenticated content is plaintext with a hash list and has no journal, so its first write in a
  // transaction goes to a copy: the committed object stays intact until the commit stands. The copy
  // is made through the open, verified content (never by copying whatever the path points to now),
  // made durable, and must come out with the same tag before the entry points at it.
  #copyAuthenticated(open: OpenContent, asked: string): FileContent {
    const { state } = this;
    const entry = open.entry!;
    const source = open.content as AuthenticatedFile;
    const objectId = randomId();
    const [data, tree] = state.objects.filesOf(objectId, 'authenticated') as [string, string];
    state.created.push(data, tree);
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
      state.objects.remove([data, tree]);
      throw atVolumePath(error, asked);
    }
    source.closeSync();
    state.garbage.push(...state.objects.filesOf(entry.objectId, 'authenticated'));
    entry.objectId = objectId;
    state.manifest.markDirty(entry);
    return copy;
  }
}

// Content the manifest lists is the volume's: if it is gone, or something else is in its place, that
// is an attack on completeness, not ENOENT. A failed key check of content is damage too: the volume
// header already proved the key.
export function contentError(error: unknown, path: string, what: string): unknown {
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
