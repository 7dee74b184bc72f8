// The one implementation of every fs call on a mounted path or descriptor. Each operation is written
// once, as steps (sync-or-async.ts); surface.ts derives fs.xxxSync (run on this thread), fs.xxx
// (callback) and fs.promises.xxx (Promise) from it. Read top-down: a call arrives with node's
// arguments, finds its mount, and becomes Volume / VolumeFile calls; errors are relabelled with the
// path the caller used.
import { randomBytes } from '../file/node-crypto.js';
import type * as nodeFs from 'node:fs';
import { constants } from 'node:fs';
import { join as joinPath } from 'node:path';
import gensync from 'gensync';
import { fsError, shieldError } from '../file/fs-errors.js';
import { parseOpenFlags } from '../volume/open-flags.js';
import type { Steps } from '../file/sync-or-async.js';
import { joinVolumePath, pathComponents } from '../volume/volume-path.js';
import { DescriptorTable, DirectoryFile, type DescriptorFile, type OpenDescriptor } from './descriptors.js';
import { exceedsPathMax, Mount, MountTable, pathText, type MountedPath } from './mount-table.js';
import { asSyscall, call, isErrno, relabelled } from './caller-paths.js';
import { encoded, fileOffset, readArguments, type Data, type EncodingOption } from './call-arguments.js';
import { fileMode, invalidArgType, openFlags, systemError } from './node-errors.js';
import { statSyncIgnoresNotADirectory } from './node-behaviour.js';
import { timeToNs, toDirent, toStats } from './stats.js';
import { nodeCall, truncateByDescriptor, warnMkdtempTemplate, warnRecursiveRmdir } from './real-fs.js';
import { copyWholeFile, readWholeFile, writeWholeFile, type ReadFileOptions } from './whole-files.js';
import { attempt, checkSpelling, notUtf8Name, opensAsDirectory, removeTree } from './path-checks.js';

interface ListOptions { encoding?: EncodingOption; withFileTypes?: boolean; recursive?: boolean }
interface ReadResult<B> { bytesRead: number; buffer: B }
interface WriteResult<B> { bytesWritten: number; buffer: B }

// Steps whose two forms differ: the content I/O (a native call on this thread, or on the libuv pool
// and known to the mount's next grouped commit) and the commit itself.
const openFile = gensync({
  sync: (mount: Mount, inner: string, flags: string | number, mode: number) => mount.volume.openFileSync(inner, flags, mode),
  async: (mount: Mount, inner: string, flags: string | number, mode: number) => mount.track(() => mount.volume.openFile(inner, flags, mode)),
});
const readFile = gensync({
  sync: (d: OpenDescriptor, buffer: NodeJS.ArrayBufferView, offset: number, length: number, position: number) =>
    d.file.readSync(buffer, offset, length, position),
  async: (d: OpenDescriptor, buffer: NodeJS.ArrayBufferView, offset: number, length: number, position: number) =>
    d.mount.track(() => d.file.read(buffer, offset, length, position)),
});
const writeFile = gensync({
  sync: (d: OpenDescriptor, buffer: NodeJS.ArrayBufferView, offset: number, length: number, position: number) =>
    d.file.writeSync(buffer, offset, length, position),
  async: (d: OpenDescriptor, buffer: NodeJS.ArrayBufferView, offset: number, length: number, position: number) =>
    d.mount.track(() => d.file.write(buffer, offset, length, position)),
});
const truncateFile = gensync({
  sync: (d: OpenDescriptor, length: number) => d.file.truncateSync(length),
  async: (d: OpenDescriptor, length: number) => d.mount.track(() => d.file.truncate(length)),
});
// Closing is synchronous in both forms: once close() is called the file may be opened again at
// once (node allows that), and a close still finishing on the libuv pool would make that open
// fail. What a close does on this thread is small: the chunks were encrypted by the writes; it
// seals the last Merkle nodes.
const closeFile = gensync({
  sync: (file: DescriptorFile) => file.closeSync(),
});
/**
 * Whether the operation runs asynchronously (callback and promise forms). For the few details in
 * which node's own sync and async implementations differ (an errno of cp, the path of opendir).
 */
export const isAsync = gensync({
  sync: () => false,
  async: async () => true,
});
const commitMount = gensync({
  sync: (mount: Mount) => mount.commitNow(),
  async: (mount: Mount) => mount.commitGrouped(),
});
export class ShieldOperations {
  /**
   * The fs object callers hold: node:fs itself once the register patched it, else the surface.
   * node:fs calls some of its own functions through its module object (writeFile's `flush` calls
   * fs.fsync, a stream's default fs is the module), so what a program replaces there is used.
   */
  callerFs: typeof nodeFs | null = null;

  constructor(readonly table: MountTable, readonly descriptors: DescriptorTable) {}

  /** The mounted path, or null when `path` is outside every mount (the caller then uses node:fs). */
  locate(path: unknown): MountedPath | null {
    return this.table.resolve(path);
  }

  /**
   * The mounted path, its spelling checked as the kernel would walk it: a name before '.' or '..'
   * must be a directory, and so must the final name when spelled with a trailing slash (unless
   * `final` is false: mkdir and creating opens decide that themselves).
   */
  #at(path: unknown, syscall: string, final = true): MountedPath {
    const located = this.table.resolve(path);
    if (!located) throw fsError('EXDEV', syscall, pathText(path) ?? String(path));
    if (located.notUtf8) throw notUtf8Name(located, syscall);
    if (exceedsPathMax(located.virtual)) throw fsError('ENAMETOOLONG', syscall, located.virtual);
    if (located.directories || located.trailingSlash) checkSpelling(located, syscall, final);
    return located;
  }

  // ---------------------------------------------------------------------------------------------
  // Descriptors

  *open(path: nodeFs.PathLike, flags?: nodeFs.OpenMode, mode?: nodeFs.Mode): Steps<number> {
    const given = openFlags(flags);
    const createMode = fileMode(mode, 'mode', 0o666);
    const parsed = parseOpenFlags(given);
    const at = this.#at(path, 'open', !parsed.create);
    // open("name/", O_CREAT) is EISDIR on Linux whatever the name is (EEXIST first with O_EXCL).
    if (at.trailingSlash && parsed.create) {
      throw fsError(parsed.exclusive && at.mount.volume.exists(at.inner) ? 'EEXIST' : 'EISDIR', 'open', at.virtual);
    }
    let file: DescriptorFile;
    try {
      file = yield* relabelled(openFile(at.mount, at.inner, given, createMode), at);
    } catch (error) {
      // A directory opened for reading only is a descriptor too (fstat works, read is EISDIR).
      if (!opensAsDirectory(error, at, parsed)) throw error;
      file = new DirectoryFile(at.mount, at.inner);
    }
    const descriptor = this.descriptors.add(at.mount, file, at.virtual, parsed);
    // A file made or emptied by this open is a change even if nothing is ever written to it.
    descriptor.changed = parsed.create || parsed.truncate;
    return descriptor.fd;
  }

  *close(fd: number): Steps<void> {
    const descriptor = this.descriptors.take(fd, 'close');
    yield* relabelled(closeFile(descriptor.file), descriptor);
    if (descriptor.changed && descriptor.mount.commitsEachChange) yield* commitMount(descriptor.mount);
  }

  *read<B extends NodeJS.ArrayBufferView>(fd: number, bufferOrOptions?: B | nodeFs.ReadAsyncOptions<B>,
    offsetOrOptions?: number | nodeFs.ReadAsyncOptions<B> | null, length?: number | null, position?: nodeFs.ReadPosition | null): Steps<ReadResult<B>> {
    const { buffer, offset, length: count, position: at } = readArguments(bufferOrOptions, offsetOrOptions, length, position);
    const descriptor = this.descriptors.get(fd, 'read');
    if (count === 0) return { bytesRead: 0, buffer: buffer as B };
    const from = at ?? descriptor.position;
    // Reads at the current position take their range when they are called, as read(2) advances the
    // kernel's offset: concurrent ones on one descriptor read one after the other, not the same bytes.
    const reserved = from + count;
    if (at === null) descriptor.position = reserved;
    const got = yield* relabelled(readFile(descriptor, buffer, offset, count, from), descriptor);
    if (at === null && got < count && descriptor.position === reserved) descriptor.position = from + got;
    return { bytesRead: got, buffer: buffer as B };
  }

  *write<B extends Data>(fd: number, data: B, offsetOrPosition?: number | null | nodeFs.WriteOptions,
    lengthOrEncoding?: number | BufferEncoding | null, position?: number | null): Steps<WriteResult<B>> {
    const descriptor = this.descriptors.get(fd, 'write');
    let bytes: NodeJS.ArrayBufferView, offset = 0, length: number, at: number | null;
    if (typeof data === 'string') {
      bytes = Buffer.from(data, (typeof lengthOrEncoding === 'string' ? lengthOrEncoding : 'utf8') as BufferEncoding);
      length = bytes.byteLength;
      at = fileOffset(offsetOrPosition);
    } else {
      bytes = data as NodeJS.ArrayBufferView;
      const options = offsetOrPosition !== null && typeof offsetOrPosition === 'object' ? offsetOrPosition : null;
      offset = options ? options.offset ?? 0 : (offsetOrPosition as number | null | undefined) ?? 0;
      length = options ? options.length ?? bytes.byteLength - offset : typeof lengthOrEncoding === 'number' ? lengthOrEncoding : bytes.byteLength - offset;
      // -1 or any other negative, a fraction, a non-number: the current position, as libuv's write.
      at = fileOffset(options ? options.position : position);
    }
    const from = descriptor.flags.append ? descriptor.file.size : at ?? descriptor.position;
    // A write at the current position takes its range when it is called, as write(2) advances the
    // kernel's offset: concurrent writes on one descriptor land one after the other, in call order.
    if (at === null && !descriptor.flags.append) descriptor.position = from + length;
    const written = yield* this.#writeAll(descriptor, bytes, offset, length, from);
    // O_APPEND: the write landed at the end as it was when it ran (appends take turns); write()
    // leaves the offset there, pwrite() leaves it alone.
    if (at === null && descriptor.flags.append) descriptor.position = descriptor.file.size;
    return { bytesWritten: written, buffer: data };
  }

  *#writeAll(descriptor: OpenDescriptor, bytes: NodeJS.ArrayBufferView, offset: number, length: number, position: number): Steps<number> {
    descriptor.changed = true;
    if (length === 0) return 0;
    return yield* relabelled(writeFile(descriptor, bytes, offset, length, position), descriptor);
  }

  *readv<B extends NodeJS.ArrayBufferView[]>(fd: number, buffers: B, position?: number | null): Steps<ReadResult<B> & { buffers: B }> {
    let total = 0;
    const descriptor = this.descriptors.get(fd, 'read');
    const start = typeof position === 'number' ? position : descriptor.position;
    // At the current position: the whole range is taken now, as for read (concurrent calls).
    const reserved = start + buffers.reduce((sum, buffer) => sum + buffer.byteLength, 0);
    if (typeof position !== 'number') descriptor.position = reserved;
    for (const buffer of buffers) {
      const { bytesRead } = yield* this.read(fd, buffer, 0, buffer.byteLength, start + total);
      total += bytesRead;
      if (bytesRead < buffer.byteLength) break;
    }
    if (typeof position !== 'number' && descriptor.position === reserved) descriptor.position = start + total;
    return { bytesRead: total, buffer: buffers, buffers };
  }

  *writev<B extends NodeJS.ArrayBufferView[]>(fd: number, buffers: B, position?: number | null): Steps<WriteResult<B> & { buffers: B }> {
    const joined = Buffer.concat(buffers.map((b) => new Uint8Array(b.buffer, b.byteOffset, b.byteLength)));
    const { bytesWritten } = yield* this.write(fd, joined, 0, joined.length, typeof position === 'number' ? position : null);
    return { bytesWritten, buffer: buffers, buffers };
  }

  *fstat(fd: number, options?: nodeFs.StatOptions): Steps<nodeFs.Stats | nodeFs.BigIntStats> {
    const descriptor = this.descriptors.get(fd, 'fstat');
    return toStats(descriptor.file.stat(), descriptor.mount.dev, options?.bigint);
  }

  *ftruncate(fd: number, length?: number | null): Steps<void> {
    const descriptor = this.descriptors.get(fd, 'ftruncate');
    if (!descriptor.flags.write) throw fsError('EINVAL', 'ftruncate');
    descriptor.changed = true;
    yield* relabelled(truncateFile(descriptor, Math.max(0, length ?? 0)), descriptor);
  }

  /** fsync and fdatasync: a commit point in every commit mode. */
  *fsync(fd: number): Steps<void> {
    yield* commitMount(this.descriptors.get(fd, 'fsync').mount);
  }

  *futimes(fd: number, atime: nodeFs.TimeLike, mtime: nodeFs.TimeLike): Steps<void> {
    const descriptor = this.descriptors.get(fd, 'futime');
    descriptor.file.utimes(timeToNs(atime), timeToNs(mtime));
    descriptor.changed = true;
  }

  *fchmod(fd: number, mode: nodeFs.Mode): Steps<void> {
    const bits = fileMode(mode, 'mode', 0);
    const descriptor = this.descriptors.get(fd, 'fchmod');
    descriptor.file.chmod(bits);
    descriptor.changed = true;
  }

  /** Ownership is not part of a volume: every entry belongs to the process. */
  *fchown(fd: number): Steps<void> {
    this.descriptors.get(fd, 'fchown');
  }

  // ---------------------------------------------------------------------------------------------
  // Whole files

  *readFile(path: nodeFs.PathOrFileDescriptor, options?: ReadFileOptions | BufferEncoding | null): Steps<string | Buffer> {
    return yield* readWholeFile(this, path, options);
  }

  /** `form` 'promises': node's fs.promises and FileHandle implementation (whole-files.ts). */
  *writeFile(path: nodeFs.PathOrFileDescriptor, data: unknown, options?: nodeFs.WriteFileOptions, defaultFlag = 'w',
    form: 'fs' | 'promises' = 'fs'): Steps<void> {
    yield* writeWholeFile(this, path, data, options, defaultFlag, form);
  }

  *appendFile(path: nodeFs.PathOrFileDescriptor, data: unknown, options?: nodeFs.WriteFileOptions, form: 'fs' | 'promises' = 'fs'): Steps<void> {
    yield* writeWholeFile(this, path, data, options, 'a', form);
  }

  *truncate(path: nodeFs.PathLike, length?: number | null): Steps<void> {
    if (DescriptorTable.owns(path)) {
      // As node: DEP0081 where node takes a descriptor, its refusal where it does not.
      const refusal = truncateByDescriptor(path);
      if (refusal) throw refusal;
      return yield* this.ftruncate(path, length);
    }
    const fd = yield* this.open(path, 'r+');
    try {
      yield* this.ftruncate(fd, length);
    } finally {
      yield* this.close(fd);
    }
  }

  *copyFile(source: nodeFs.PathLike, destination: nodeFs.PathLike, mode?: number): Steps<void> {
    yield* copyWholeFile(this, source, destination, mode);
  }

  // ---------------------------------------------------------------------------------------------
  // Names

  *stat(path: nodeFs.PathLike, options?: nodeFs.StatSyncOptions): Steps<nodeFs.Stats | nodeFs.BigIntStats | undefined> {
    return this.#stat(path, options, 'stat');
  }

  /** Nothing in a volume is a link: lstat is stat, with its own syscall name in errors. */
  *lstat(path: nodeFs.PathLike, options?: nodeFs.StatSyncOptions): Steps<nodeFs.Stats | nodeFs.BigIntStats | undefined> {
    return this.#stat(path, options, 'lstat');
  }

  #stat(path: nodeFs.PathLike, options: nodeFs.StatSyncOptions | undefined, syscall: string): nodeFs.Stats | nodeFs.BigIntStats | undefined {
    try {
      const at = this.#at(path, syscall);
      return toStats(call(() => at.mount.volume.stat(at.inner), at, syscall), at.mount.dev, options?.bigint);
    } catch (error) {
      // A missing entry; and a file used as a directory (ENOTDIR) where the running Node's
      // statSync says undefined for it too (lstat throws it on every line).
      const code = (error as NodeJS.ErrnoException).code;
      if (options?.throwIfNoEntry === false &&
        (code === 'ENOENT' || (code === 'ENOTDIR' && syscall === 'stat' && statSyncIgnoresNotADirectory()))) return undefined;
      throw error;
    }
  }

  *exists(path: nodeFs.PathLike): Steps<boolean> {
    return attempt(() => {
      const at = this.#at(path, 'access');
      return at.mount.volume.exists(at.inner);
    }, false);
  }

  *access(path: nodeFs.PathLike, mode?: number): Steps<void> {
    const at = this.#at(path, 'access');
    const stats = call(() => at.mount.volume.stat(at.inner), at, 'access');
    const wanted = mode ?? constants.F_OK;
    if ((wanted & constants.W_OK) && at.mount.readOnly) throw fsError('EROFS', 'access', at.virtual);
    if ((wanted & constants.X_OK) && (stats.mode & 0o111) === 0) throw fsError('EACCES', 'access', at.virtual);
  }

  *readdir(path: nodeFs.PathLike, options?: ListOptions | BufferEncoding | null): Steps<(string | Buffer | nodeFs.Dirent)[]> {
    const at = this.#at(path, 'scandir');
    return this.#list(at, typeof options === 'string' ? { encoding: options } : options ?? {}, 'scandir');
  }

  /** The entries of a Dir (read at once: a volume's directory is in memory). */
  *opendir(path: nodeFs.PathLike, options?: nodeFs.OpenDirOptions): Steps<nodeFs.Dirent[]> {
    try {
      const at = this.#at(path, 'opendir');
      return this.#list(at, { withFileTypes: true, recursive: options?.recursive, encoding: options?.encoding }, 'opendir') as nodeFs.Dirent[];
    } catch (error) {
      // node's opendirSync names no path in its errors; the asynchronous forms do.
      if (!isErrno(error)) throw error;
      const path = (yield* isAsync()) ? (error as NodeJS.ErrnoException).path : undefined;
      throw fsError((error as NodeJS.ErrnoException).code!, 'opendir', path);
    }
  }

  // Names as node lists them: `encoding` applied to each, Dirents whose parentPath is the directory
  // as the caller spelled it (and that joined with the subdirectory below it, when recursive).
  #list(at: MountedPath, { encoding, withFileTypes, recursive }: ListOptions, syscall: string): (string | Buffer | nodeFs.Dirent)[] {
    const encode = (name: string): string | Buffer => encoding === 'buffer' ? Buffer.from(name)
      : encoding && encoding !== 'utf8' && encoding !== 'utf-8' ? Buffer.from(name).toString(encoding) : name;
    const results: (string | Buffer | nodeFs.Dirent)[] = [];
    const pending: [string, string][] = [[at.inner, '']];
    while (pending.length > 0) {
      const [inner, relative] = pending.shift()!;
      const entries = call(() => at.mount.volume.readdirEntries(inner), at, syscall, relative ? joinPath(at.virtual, relative) : at.virtual);
      const parentPath = relative ? joinPath(at.virtual, relative) : at.virtual;
      for (const entry of entries) {
        const name = relative ? `${relative}/${entry.name}` : entry.name;
        if (withFileTypes) results.push(toDirent(encode(entry.name), entry.type, parentPath));
        else results.push(encode(name));
        if (recursive && entry.type === 'directory') pending.push([joinVolumePath(inner, entry.name), name]);
      }
    }
    return results;
  }

  *mkdir(path: nodeFs.PathLike, options?: nodeFs.Mode | nodeFs.MakeDirectoryOptions | null): Steps<string | undefined> {
    // As node: a number or string is the mode, an object holds both, anything else means neither.
    const { recursive, mode } = typeof options === 'object' && options !== null ? options
      : { recursive: false, mode: typeof options === 'number' || typeof options === 'string' ? options : undefined };
    const bits = mode === undefined ? undefined : fileMode(mode, 'mode', 0o777);
    let firstCreated: string | undefined;
    if (recursive) {
      // As node's mkdirp, which makes each parent it is refused for: a name spelled before '..'
      // ('missing/..') is made too, before the directories after it.
      const located = this.locate(path);
      const spelled = located && !located.notUtf8 ? located.directories ?? [] : [];
      for (const inner of [...spelled, located?.inner ?? '/']) {
        const parts = inner.split('/').filter(Boolean);
        for (let i = 1; i <= parts.length && firstCreated === undefined; i++) {
          const prefix = '/' + parts.slice(0, i).join('/');
          if (!located!.mount.volume.exists(prefix)) firstCreated = located!.mount.outside(prefix);
        }
      }
      for (const inner of spelled) {
        if (!located!.mount.volume.exists(inner)) call(() => located!.mount.volume.mkdir(inner, { recursive, mode: bits }), located!, 'mkdir');
      }
    }
    const at = this.#at(path, 'mkdir', false);
    call(() => at.mount.volume.mkdir(at.inner, { recursive, mode: bits }), at, 'mkdir');
    yield* this.#changed(at.mount);
    return firstCreated;
  }

  *mkdtemp(given: string | Buffer | URL, options?: { encoding?: EncodingOption } | BufferEncoding | null): Steps<string | Buffer> {
    // A file: URL or a Buffer names the prefix as node:fs takes it.
    const prefix = pathText(given) ?? String(given);
    if (prefix.endsWith('X')) warnMkdtempTemplate();
    for (;;) {
      const candidate = prefix + randomBytes(6).toString('base64url').replace(/[-_]/g, 'x').slice(0, 6);
      try {
        const at = this.#at(candidate, 'mkdtemp');
        if (at.mount.volume.exists(at.inner)) continue;
        at.mount.volume.mkdir(at.inner, { mode: 0o700 });
        yield* this.#changed(at.mount);
      } catch (error) {
        // node names the template it was given: the prefix and 'XXXXXX'.
        throw asSyscall(error, 'mkdtemp', `${prefix}XXXXXX`);
      }
      const encoding = typeof options === 'string' ? options : options?.encoding;
      return encoding === 'buffer' ? Buffer.from(candidate) : candidate;
    }
  }

  /**
   * As node: `recursive` (deprecated, DEP0147) removes a directory tree; anything else (a file) is
   * left to the plain rmdir, which fails with ENOTDIR and keeps it. A missing path is lstat's ENOENT.
   */
  *rmdir(path: nodeFs.PathLike, options?: nodeFs.RmDirOptions): Steps<void> {
    const recursive = options?.recursive;
    if (recursive !== undefined && typeof recursive !== 'boolean') throw invalidArgType('options.recursive', 'of type boolean', recursive);
    if (recursive) {
      warnRecursiveRmdir();
      const at = this.#at(path, 'lstat');
      if (call(() => at.mount.volume.stat(at.inner), at, 'lstat').type === 'directory') {
        call(() => removeTree(at.mount.volume, at.inner), at, 'rm');
        yield* this.#changed(at.mount);
        return;
      }
    }
    const at = this.#at(path, 'rmdir');
    call(() => at.mount.volume.rmdir(at.inner), at, 'rmdir');
    yield* this.#changed(at.mount);
  }

  /** As node's rm: an lstat first (its errors say 'lstat'), then the removal. */
  *rm(path: nodeFs.PathLike, options?: nodeFs.RmOptions): Steps<void> {
    let at: MountedPath, stats;
    try {
      at = this.#at(path, 'lstat');
      stats = call(() => at.mount.volume.stat(at.inner), at, 'lstat');
    } catch (error) {
      if (options?.force && (error as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw error;
    }
    const volume = at.mount.volume;
    if (stats.type === 'directory') {
      if (!options?.recursive) {
        throw systemError('ERR_FS_EISDIR', 'Path is a directory', { code: 'EISDIR', message: 'is a directory', syscall: 'rm', path: at.virtual });
      }
      call(() => removeTree(volume, at.inner), at, 'rm');
    } else {
      call(() => volume.unlink(at.inner), at, 'rm');
    }
    yield* this.#changed(at.mount);
  }

  *unlink(path: nodeFs.PathLike): Steps<void> {
    const at = this.#at(path, 'unlink');
    call(() => at.mount.volume.unlink(at.inner), at, 'unlink');
    yield* this.#changed(at.mount);
  }

  *rename(oldPath: nodeFs.PathLike, newPath: nodeFs.PathLike): Steps<void> {
    const from = this.locate(oldPath), to = this.locate(newPath);
    if (!from || !to || from.mount !== to.mount) {
      throw fsError('EXDEV', 'rename', pathText(oldPath) ?? '', pathText(newPath) ?? '');
    }
    try {
      this.#at(oldPath, 'rename');
      this.#at(newPath, 'rename', false);
      from.mount.volume.rename(from.inner, to.inner);
    } catch (error) {
      // rename's errors always name both paths, as the caller spelled them.
      throw asSyscall(error, 'rename', from.virtual, to.virtual);
    }
    yield* this.#changed(from.mount);
  }

  *utimes(path: nodeFs.PathLike, atime: nodeFs.TimeLike, mtime: nodeFs.TimeLike): Steps<void> {
    const at = this.#at(path, 'utime');
    call(() => at.mount.volume.utimes(at.inner, timeToNs(atime), timeToNs(mtime)), at, 'utime');
    yield* this.#changed(at.mount);
  }

  *chmod(path: nodeFs.PathLike, mode: nodeFs.Mode): Steps<void> {
    const bits = fileMode(mode, 'mode', 0);
    const at = this.#at(path, 'chmod');
    call(() => at.mount.volume.chmod(at.inner, bits), at, 'chmod');
    yield* this.#changed(at.mount);
  }

  /** Ownership is not part of a volume: every entry belongs to the process. The path must exist. */
  *chown(path: nodeFs.PathLike): Steps<void> {
    const at = this.#at(path, 'chown');
    call(() => at.mount.volume.stat(at.inner), at, 'chown');
  }

  /**
   * fs.realpath and fs.realpathSync (node's JavaScript realpath): the path is resolved as text first
   * ('missing/..' is fine), then each component is looked up; the first that fails is named, with
   * syscall 'lstat'.
   */
  *realpath(path: nodeFs.PathLike, options?: { encoding?: EncodingOption } | BufferEncoding | null): Steps<string | Buffer> {
    const at = this.table.resolve(path);
    if (!at) throw fsError('EXDEV', 'lstat', pathText(path) ?? String(path));
    if (at.notUtf8) throw notUtf8Name(at, 'lstat');
    let walked = '/';
    for (const name of pathComponents(at.inner)) {
      walked = joinVolumePath(walked, name);
      try {
        at.mount.volume.stat(walked);
      } catch (error) {
        throw asSyscall(error, 'lstat', at.mount.outside(walked));
      }
    }
    return encoded(at.absolute, options);
  }

  /** realpath.native, realpathSync.native and fs.promises.realpath: realpath(3), syscall 'realpath'. */
  *realpathNative(path: nodeFs.PathLike, options?: { encoding?: EncodingOption } | BufferEncoding | null): Steps<string | Buffer> {
    const at = this.#at(path, 'realpath');
    call(() => at.mount.volume.stat(at.inner), at, 'realpath');
    return encoded(at.absolute, options);
  }

  /**
   * link and symlink: a volume holds no links (ENOTSUP, saying why), after the checks the kernel
   * makes first, with node's messages ("link 'a' -> 'b'"): link's existing name must exist, the new
   * name's directory must exist and the new name must not. A side outside the mounts is not checked.
   */
  *link(existing: nodeFs.PathLike, newPath: nodeFs.PathLike): Steps<never> {
    const names = [pathText(existing) ?? String(existing), pathText(newPath) ?? String(newPath)] as const;
    try {
      if (this.locate(existing)) {
        const at = this.#at(existing, 'link');
        call(() => at.mount.volume.stat(at.inner), at, 'link');
      }
      this.#checkNewName(newPath);
    } catch (error) {
      throw asSyscall(error, 'link', ...names);
    }
    throw unsupported('link', names[0], 'hard links cannot be created inside a protected mount');
  }

  *symlink(target: nodeFs.PathLike, path: nodeFs.PathLike): Steps<never> {
    const names = [pathText(target) ?? String(target), pathText(path) ?? String(path)] as const;
    try {
      this.#checkNewName(path);
    } catch (error) {
      throw asSyscall(error, 'symlink', ...names);
    }
    throw unsupported('symlink', names[1], 'symbolic links cannot be created inside a protected mount');
  }

  /** A name a call would create: its directory exists (ENOENT, ENOTDIR) and it does not (EEXIST). */
  #checkNewName(path: nodeFs.PathLike): void {
    if (!this.locate(path)) return;
    const at = this.#at(path, 'link', false);
    const parent = at.inner.slice(0, at.inner.lastIndexOf('/')) || '/';
    const type = call(() => at.mount.volume.stat(parent), at, 'link').type;
    if (type !== 'directory') throw fsError('ENOTDIR', 'link', at.virtual);
    if (at.mount.volume.exists(at.inner)) throw fsError('EEXIST', 'link', at.virtual);
  }

  /** Nothing in a volume is a symbolic link: an existing path is EINVAL, as readlink of a regular file. */
  *readlink(path: nodeFs.PathLike): Steps<string> {
    const at = this.#at(path, 'readlink');
    call(() => at.mount.volume.stat(at.inner), at, 'readlink');
    throw fsError('EINVAL', 'readlink', at.virtual);
  }

  *statfs(path: nodeFs.PathLike, options?: nodeFs.StatFsOptions): Steps<nodeFs.StatsFs | nodeFs.BigIntStatsFs> {
    const at = this.#at(path, 'statfs');
    call(() => at.mount.volume.stat(at.inner), at, 'statfs');
    return (yield* nodeCall('statfs', at.mount.volume.directory, options)) as nodeFs.StatsFs;
  }

  /** After a call that changed a volume: in 'close' mode it is committed before the call returns. */
  *#changed(mount: Mount): Steps<void> {
    if (mount.commitsEachChange) yield* commitMount(mount);
  }
}

/** Calls that cannot be honoured inside a mount, with what to do instead. */
export function unsupported(syscall: string, path: string, why: string): Error {
  return shieldError('ENOTSUP', `${syscall} '${path}': ${why}`, path);
}
