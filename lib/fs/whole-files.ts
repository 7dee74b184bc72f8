// Whole-file calls inside a mount (readFile, writeFile, appendFile, copyFile), made of the
// descriptor operations as node makes them of its own: open, read or write until done, close. Each
// runs in both forms (sync-or-async.ts); the differences node's forms have are kept: fs.promises
// writes in 512 KiB chunks and flushes through the handle, the other forms through fs.fsync.
import type * as nodeFs from 'node:fs';
import { constants } from 'node:fs';
import gensync from 'gensync';
import { fsError } from '../file/fs-errors.js';
import type { Steps } from '../file/sync-or-async.js';
import { asSyscall } from './caller-paths.js';
import { isData, toBuffer, writeOptions, type EncodingOption } from './call-arguments.js';
import { DescriptorTable, DirectoryFile } from './descriptors.js';
import type { MountedPath } from './mount-table.js';
import { pathText } from './mount-table.js';
import { checkAborted, fileTooLarge, MAX_READ_LENGTH } from './node-errors.js';
import { nodeCall } from './real-fs.js';

export interface ReadFileOptions { encoding?: EncodingOption; flag?: string | number; signal?: AbortSignal }

/** What these calls use of ShieldOperations (operations.ts). */
export interface FileCalls {
  readonly descriptors: DescriptorTable;
  readonly callerFs: typeof nodeFs | null;
  locate(path: unknown): MountedPath | null;
  open(path: nodeFs.PathLike, flags?: nodeFs.OpenMode, mode?: nodeFs.Mode): Steps<number>;
  close(fd: number): Steps<void>;
  read(fd: number, buffer: NodeJS.ArrayBufferView, offset: number, length: number, position: number | null): Steps<{ bytesRead: number }>;
  write(fd: number, data: NodeJS.ArrayBufferView, offset: number, length: number, position: number | null): Steps<{ bytesWritten: number }>;
  fsync(fd: number): Steps<void>;
  readFile(path: nodeFs.PathLike): Steps<string | Buffer>;
  writeFile(path: nodeFs.PathLike, data: unknown, options?: nodeFs.WriteFileOptions): Steps<void>;
  stat(path: nodeFs.PathLike): Steps<nodeFs.Stats | nodeFs.BigIntStats | undefined>;
  chmod(path: nodeFs.PathLike, mode: nodeFs.Mode): Steps<void>;
}

/** Data only an asynchronous writeFile accepts (streams, async iterables), collected into one buffer. */
const collectChunks = gensync({
  sync: (_data: AsyncIterable<unknown> | Iterable<unknown>, _encoding: BufferEncoding): Buffer => {
    throw Object.assign(new TypeError('The "data" argument must be of type string or an instance of Buffer, TypedArray, or DataView'),
      { code: 'ERR_INVALID_ARG_TYPE' });
  },
  async: async (data: AsyncIterable<unknown> | Iterable<unknown>, encoding: BufferEncoding): Promise<Buffer> => {
    const chunks: Buffer[] = [];
    // A chunk that is not data: Buffer.from's own error, as node's writeFile gives.
    for await (const chunk of data as AsyncIterable<unknown>) chunks.push(isData(chunk) ? toBuffer(chunk, encoding) : Buffer.from(chunk as string));
    return Buffer.concat(chunks);
  },
});

/** fsync as node's writeFile and appendFile call it for `flush`: through the fs object the caller holds. */
const flushThrough = gensync({
  sync: (fs: typeof nodeFs, fd: number) => fs.fsyncSync(fd),
  async: (fs: typeof nodeFs, fd: number) => new Promise<void>((resolve, reject) => fs.fsync(fd, (error) => (error ? reject(error) : resolve()))),
});

/** The asynchronous forms give an aborting signal one turn of the event loop, as node's fstat before the first read does. */
const turn = gensync({
  sync: () => undefined,
  async: () => new Promise<void>((resolve) => setImmediate(resolve)),
});

/** node's kWriteFileMaxChunkSize: fs.promises' writeFile writes this much at a time. */
const WRITE_FILE_CHUNK = 512 * 1024;

export function* readWholeFile(ops: FileCalls, path: nodeFs.PathOrFileDescriptor, options?: ReadFileOptions | BufferEncoding | null): Steps<string | Buffer> {
  const { encoding, flag, signal } = typeof options === 'string' ? { encoding: options, flag: 'r', signal: undefined }
    : { encoding: options?.encoding, flag: options?.flag ?? 'r', signal: options?.signal };
  checkAborted(signal);
  const fd = DescriptorTable.owns(path) ? path : yield* ops.open(path as nodeFs.PathLike, flag);
  try {
    if (signal) yield* turn();
    const descriptor = ops.descriptors.get(fd, 'read');
    if (descriptor.file instanceof DirectoryFile) throw fsError('EISDIR', 'read');  // not a stat per read
    if (!descriptor.flags.read) throw fsError('EBADF', 'read');  // opened with a write-only flag
    // As node: a file larger than one buffer may hold is refused before anything is read.
    if (descriptor.file.size > MAX_READ_LENGTH) throw fileTooLarge(descriptor.file.size);
    // The size is exact (only this process changes a mounted volume, and its other handles share
    // this content), so one read of that many bytes is the whole file, as node reads a regular file.
    const size = Math.max(0, descriptor.file.size - descriptor.position);
    const content = Buffer.allocUnsafe(size);
    let filled = 0;
    while (filled < size) {
      checkAborted(signal);
      const { bytesRead } = yield* ops.read(fd, content, filled, size - filled, null);
      if (bytesRead === 0) break;
      filled += bytesRead;
    }
    const bytes = filled === size ? content : content.subarray(0, filled);
    return encoding && encoding !== 'buffer' ? bytes.toString(encoding) : bytes;
  } finally {
    if (fd !== path) yield* ops.close(fd);
  }
}

/**
 * `form` 'promises' (fs.promises and FileHandle, node's own implementation of them): `flush: true`
 * syncs through the handle, not through the caller's fs.fsync / fsyncSync, and the data is
 * written in chunks (the signal checked before each).
 */
export function* writeWholeFile(ops: FileCalls, path: nodeFs.PathOrFileDescriptor, data: unknown, options: nodeFs.WriteFileOptions | undefined,
  defaultFlag: string, form: 'fs' | 'promises'): Steps<void> {
  const { encoding, flag, signal, flush } = writeOptions(options, defaultFlag);
  const bytes = isData(data) ? toBuffer(data, encoding) : yield* collectChunks(data as Iterable<unknown>, encoding);
  // An aborted signal: nothing is opened, created or written (node checks before the open and
  // before each write).
  checkAborted(signal);
  // The mode only matters (and is only checked) when writeFile opens the file itself.
  const fd = DescriptorTable.owns(path) ? path
    : yield* ops.open(path as nodeFs.PathLike, flag, typeof options === 'object' && options !== null ? options.mode : undefined);
  try {
    const descriptor = ops.descriptors.get(fd, 'write');
    let done = 0;
    do {
      checkAborted(signal);
      // fs.promises writes 512 KiB at a time, so that an abort meanwhile stops it between two.
      const length = form === 'promises' ? Math.min(WRITE_FILE_CHUNK, bytes.length - done) : bytes.length - done;
      const { bytesWritten } = yield* ops.write(fd, bytes, done, length, null);
      done += bytesWritten;
    } while (done < bytes.length);
    descriptor.changed = true;
    if (flush) yield* (form === 'fs' && ops.callerFs ? flushThrough(ops.callerFs, fd) : ops.fsync(fd));
  } finally {
    if (fd !== path) yield* ops.close(fd);
  }
}

/**
 * copyfile(3) as libuv does it: the content, then the source's permission bits set exactly on the
 * destination (new or overwritten). Either side may be outside the mounts. Every failure is
 * reported as node reports it: syscall 'copyfile', the source as path and the destination as dest.
 */
export function* copyWholeFile(ops: FileCalls, source: nodeFs.PathLike, destination: nodeFs.PathLike, mode?: number): Steps<void> {
  const exclusive = ((mode ?? 0) & constants.COPYFILE_EXCL) !== 0;
  const from = ops.locate(source), to = ops.locate(destination);
  try {
    const content = (from ? yield* ops.readFile(source) : yield* nodeCall('readFile', source)) as Buffer;
    const sourceStats = (from ? yield* ops.stat(source) : yield* nodeCall('stat', source)) as nodeFs.Stats;
    const bits = sourceStats.mode & 0o7777;
    const options = { flag: exclusive ? 'wx' : 'w', mode: bits };
    if (to) {
      yield* ops.writeFile(destination, content, options);
      // The umask applied at creation, an existing destination kept its bits: set the source's
      // (a change, so a commit of its own in 'close' mode: only when they differ).
      if ((((yield* ops.stat(destination)) as nodeFs.Stats).mode & 0o7777) !== bits) yield* ops.chmod(destination, bits);
    } else {
      yield* nodeCall('writeFile', destination, content, options);
      yield* nodeCall('chmod', destination, bits);
    }
  } catch (error) {
    throw asSyscall(error, 'copyfile', pathText(source) ?? '', pathText(destination) ?? '');
  }
}
