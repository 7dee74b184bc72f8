// The namespace of a volume: paths to manifest entries, and the operations on names (stat, readdir,
// mkdir, rmdir, unlink, rename, utimes, chmod), answered from the manifest in memory. A change marks
// the records it touches; the commit (commit.ts) writes them. Paths in a not-protected region pass
// through to the real directory. Errors are node:fs's own, with the caller's path.
import type * as fs from 'node:fs';
import { hostFs } from '../file/host-fs.js';
import { fsError } from '../file/fs-errors.js';
import type { Entry, EntryType } from './protection-file.js';
import type { RegionKind } from './regions.js';
import { baseName, isWithin, joinVolumePath, normalizeVolumePath, parentOf, pathComponents, ROOT } from './volume-path.js';
import { isAttached, nowNs, type VolumeState } from './volume-state.js';
import type { DirectoryEntry, VolumeStats } from './volume-types.js';

export class VolumeNamespace {
  constructor(private readonly state: VolumeState) {}

  get #regions() {
    return this.state.manifest.regions;
  }

  regionOf(path: string): RegionKind {
    return this.#regions.kindOf(normalizeVolumePath(path, 'region'));
  }

  stat(path: string): VolumeStats {
    const p = this.state.path(path, 'stat');
    const region = this.#regions.kindOf(p);
    if (region === 'not-protected') {
      const s = hostFs.statSync(this.state.realPath(p), { bigint: true });
      return {
        type: s.isDirectory() ? 'directory' : 'file', mode: Number(s.mode), size: Number(s.size), mtimeNs: s.mtimeNs,
        ctimeNs: s.ctimeNs, birthtimeNs: s.birthtimeNs, atimeNs: s.atimeNs, region, ino: 0, nlink: Number(s.nlink),
      };
    }
    return this.statsOf(this.lookup(p, 'stat'), region);
  }

  statsOf(entry: Entry, region: RegionKind): VolumeStats {
    return {
      type: entry.type, mode: entry.mode | (entry.type === 'file' ? hostFs.constants.S_IFREG : hostFs.constants.S_IFDIR),
      size: entry.type === 'file' ? this.state.sizeOf(entry) : 0, mtimeNs: entry.mtimeNs, ctimeNs: entry.ctimeNs,
      birthtimeNs: entry.birthtimeNs, atimeNs: entry.atimeNs, region: entry.type === 'file' ? entry.storage : region,
      ino: entry.slot + 1,
      nlink: entry.type === 'directory' ? 2 : isAttached(entry) ? 1 : 0,
      ...(entry.type === 'file' ? { tag: entry.tag } : {}),
    };
  }

  utimes(path: string, atimeNs: bigint, mtimeNs: bigint): void {
    const p = this.state.writablePath(path, 'utime');
    if (this.#regions.kindOf(p) === 'not-protected') {
      return hostFs.utimesSync(this.state.realPath(p), nsToSeconds(atimeNs), nsToSeconds(mtimeNs));
    }
    this.setTimes(this.lookup(p, 'utime'), atimeNs, mtimeNs);
  }

  chmod(path: string, mode: number): void {
    const p = this.state.writablePath(path, 'chmod');
    if (this.#regions.kindOf(p) === 'not-protected') return hostFs.chmodSync(this.state.realPath(p), mode);
    this.setMode(this.lookup(p, 'chmod'), mode);
  }

  setTimes(entry: Entry, atimeNs: bigint, mtimeNs: bigint): void {
    this.state.begin();
    entry.atimeNs = atimeNs;
    entry.mtimeNs = mtimeNs;
    entry.ctimeNs = nowNs();
    this.state.manifest.markDirty(entry);
  }

  setMode(entry: Entry, mode: number): void {
    this.state.begin();
    entry.mode = mode & 0o7777;
    entry.ctimeNs = nowNs();
    this.state.manifest.markDirty(entry);
  }

  /**
   * What is at `path` ('file', 'directory') or null, without making an error for a miss: module
   * resolution asks about many names that are not there, and an Error with its stack costs more
   * than the lookup itself.
   */
  typeAt(path: string): EntryType | null {
    const p = this.state.path(path, 'stat');
    if (this.#regions.kindOf(p) === 'not-protected') return this.exists(p) ? this.stat(p).type : null;
    let entry = this.state.manifest.root;
    for (const name of pathComponents(p)) {
      if (entry.type !== 'directory') return null;
      const child = entry.children!.get(name);
      if (!child) return null;
      entry = child;
    }
    return entry.type;
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

  readdirEntries(path: string): DirectoryEntry[] {
    const p = this.state.path(path, 'scandir');
    if (this.#regions.kindOf(p) === 'not-protected') {
      return hostFs.readdirSync(this.state.realPath(p), { withFileTypes: true })
        .map((d) => ({ name: d.name, type: (d.isDirectory() ? 'directory' : 'file') as EntryType }))
        .sort(byName);
    }
    const directory = this.lookup(p, 'scandir');
    if (directory.type !== 'directory') throw fsError('ENOTDIR', 'scandir', path);
    const entries: DirectoryEntry[] = [...directory.children!.values()].map((e) => ({ name: e.name, type: e.type }));
    for (const name of this.#regions.passThroughNamesIn(p)) {
      try {
        if (hostFs.statSync(this.state.realPath(joinVolumePath(p, name))).isDirectory()) entries.push({ name, type: 'directory' });
      } catch {
        // a not-protected region whose directory does not exist (yet)
      }
    }
    return entries.sort(byName);
  }

  mkdir(path: string, options: { recursive?: boolean; mode?: number } = {}): void {
    const p = this.state.writablePath(path, 'mkdir');
    const mode = (options.mode ?? 0o777) & 0o7777 & ~process.umask();
    if (this.#regions.kindOf(p) === 'not-protected') {
      hostFs.mkdirSync(this.state.realPath(p), { recursive: options.recursive, mode });
      return;
    }
    if (options.recursive) {
      let at = ROOT;
      for (const name of pathComponents(p)) {
        at = joinVolumePath(at, name);
        const existing = this.find(at);
        // A file as the last name already exists (EEXIST); on the way it is not a directory.
        if (existing?.type === 'file') throw fsError(at === p ? 'EEXIST' : 'ENOTDIR', 'mkdir', path);
        if (!existing) this.#mkdirOne(at, mode, path);
      }
      return;
    }
    if (this.find(p)) throw fsError('EEXIST', 'mkdir', path);
    this.#mkdirOne(p, mode, path);
  }

  #mkdirOne(p: string, mode: number, asked: string): void {
    const parent = this.parentDirectory(p, 'mkdir', asked);
    this.state.begin();
    const entry = this.state.manifest.allocate('directory', 'encrypted', baseName(p), parent, mode, nowNs());
    parent.children!.set(entry.name, entry);
    this.touch(parent);
  }

  rmdir(path: string): void {
    const p = this.state.writablePath(path, 'rmdir');
    if (this.#regions.kindOf(p) === 'not-protected') return hostFs.rmdirSync(this.state.realPath(p));
    if (p === ROOT) throw fsError('EBUSY', 'rmdir', path);
    const entry = this.lookup(p, 'rmdir');
    if (entry.type !== 'directory') throw fsError('ENOTDIR', 'rmdir', path);
    if (entry.children!.size > 0 || this.#regions.passThroughNamesIn(p).length > 0) throw fsError('ENOTEMPTY', 'rmdir', path);
    this.state.begin();
    this.#detach(entry);
  }

  unlink(path: string): void {
    const p = this.state.writablePath(path, 'unlink');
    if (this.#regions.kindOf(p) === 'not-protected') return hostFs.unlinkSync(this.state.realPath(p));
    const entry = this.lookup(p, 'unlink');
    if (entry.type === 'directory') throw fsError('EISDIR', 'unlink', path);
    this.state.begin();
    this.#detach(entry);
  }

  rename(from: string, to: string): void {
    const source = this.state.writablePath(from, 'rename');
    const target = this.state.writablePath(to, 'rename');
    const sourceKind = this.#regions.kindOf(source), targetKind = this.#regions.kindOf(target);
    if (sourceKind === 'not-protected' && targetKind === 'not-protected') {
      return hostFs.renameSync(this.state.realPath(source), this.state.realPath(target));
    }
    const entry = this.lookup(source, 'rename', from, to);
    // Moving between regions would change how the bytes are protected: that is a copy, not a rename.
    if (sourceKind !== targetKind || (entry.type === 'file' && entry.storage !== targetKind)) throw fsError('EXDEV', 'rename', from, to);
    if (source === target) return;
    if (entry.type === 'directory' && isWithin(target, source)) throw fsError('EINVAL', 'rename', from, to);
    const parent = this.parentDirectory(target, 'rename', from, to);
    const replaced = parent.children!.get(baseName(target));
    if (replaced) {
      if (replaced.type === 'directory' && entry.type !== 'directory') throw fsError('EISDIR', 'rename', from, to);
      if (replaced.type !== 'directory' && entry.type === 'directory') throw fsError('ENOTDIR', 'rename', from, to);
      if (replaced.type === 'directory' && replaced.children!.size > 0) throw fsError('ENOTEMPTY', 'rename', from, to);
    }
    this.state.begin();
    if (replaced) this.#detach(replaced);
    entry.parent!.children!.delete(entry.name);
    this.touch(entry.parent!);
    entry.name = baseName(target);
    entry.parent = parent;
    parent.children!.set(entry.name, entry);
    entry.ctimeNs = nowNs();
    this.touch(parent);
    this.state.manifest.markDirty(entry);
  }

  /** The entry at a normalized path, or null; ENOTDIR when a file is on the way. */
  find(p: string, syscall = 'stat', asked = p): Entry | null {
    let entry = this.state.manifest.root;
    for (const name of pathComponents(p)) {
      if (entry.type !== 'directory') throw fsError('ENOTDIR', syscall, asked);
      const child = entry.children!.get(name);
      if (!child) return null;
      entry = child;
    }
    return entry;
  }

  lookup(p: string, syscall: string, asked = p, dest?: string): Entry {
    const entry = this.find(p, syscall, asked);
    if (!entry) throw fsError('ENOENT', syscall, asked, dest);
    return entry;
  }

  /** The protected directory a new name at `p` goes into. */
  parentDirectory(p: string, syscall: string, asked: string, dest?: string): Entry {
    const parentPath = parentOf(p);
    const parent = this.find(parentPath, syscall, dest ?? asked);
    if (!parent) throw fsError('ENOENT', syscall, asked, dest);
    if (parent.type !== 'directory') throw fsError('ENOTDIR', syscall, asked, dest);
    if (this.#regions.kindOf(parentPath) === 'not-protected') throw fsError('EXDEV', syscall, asked, dest);
    return parent;
  }

  /** A directory's times after a name in it changed. */
  touch(directory: Entry): void {
    directory.mtimeNs = directory.ctimeNs = nowNs();
    this.state.manifest.markDirty(directory);
  }

  // Removes a name; a file's objects become garbage once the commit stands (an open handle keeps
  // reading its content until it closes).
  #detach(entry: Entry): void {
    this.state.contents.evictIdle(entry);
    const parent = entry.parent!;
    parent.children!.delete(entry.name);
    this.touch(parent);
    if (entry.type === 'file') this.state.garbage.push(...this.state.objects.filesOf(entry.objectId, entry.storage));
    this.state.manifest.release(entry);
  }
}

function nsToSeconds(ns: bigint): number {
  return Number(ns) / 1e9;
}

function byName(a: DirectoryEntry, b: DirectoryEntry): number {
  return a.name < b.name ? -1 : a.name > b.name ? 1 : 0;
}
