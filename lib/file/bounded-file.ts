// Reading the small files that configure the shield (key files, the configuration, the `file:` tag
// store) from a disk the host controls. The host may put anything at such a path: a FIFO, whose
// plain open blocks until someone writes; a device such as /dev/zero, whose read never ends; or a
// file of gigabytes. So: open without blocking, accept only a regular file, read no more than a
// limit the caller chose for that kind of file, and say clearly what was found instead.
import { type Stats } from 'node:fs';
import { hostFs } from './host-fs.js';
import { shieldError } from './fs-errors.js';

const { closeSync, constants, fstatSync, openSync, readSync } = hostFs;

export interface BoundedReadOptions {
  /** What the file is, for messages ("key file", "tag store", "shieldfs configuration"). */
  what: string;
  /** The largest size accepted, in bytes. */
  maxBytes: number;
}

/** An opened regular file: its descriptor and its status, for callers that check more (key file modes). */
export interface OpenedRegularFile {
  fd: number;
  stat: Stats;
}

/**
 * Opens `path` read-only without blocking and checks that it is a regular file of at most `maxBytes`.
 * Errors of open(2) itself (ENOENT, EACCES, …) are thrown as node:fs throws them; the caller words them.
 */
export function openRegularFile(path: string, { what, maxBytes }: BoundedReadOptions): OpenedRegularFile {
  const fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOCTTY);
  try {
    const stat = fstatSync(fd);
    // As node:fs says it for a directory read as a file.
    if (stat.isDirectory()) throw Object.assign(new Error(`EISDIR: illegal operation on a directory, read '${path}'`), { code: 'EISDIR', syscall: 'read', path });
    if (!stat.isFile()) {
      throw shieldError('EINVAL', `${what} ${path} is ${kindOf(stat)}, not a regular file; ` +
        `point the shield at the real ${what}`, path);
    }
    if (stat.size > maxBytes) {
      throw shieldError('EFBIG', `${what} ${path} is ${stat.size} bytes, more than the ${maxBytes} a ${what} may have; ` +
        `check that the path names the ${what} and not some other file`, path);
    }
    return { fd, stat };
  } catch (error) {
    closeSync(fd);
    throw error;
  }
}

/** The whole content of a regular file of at most `maxBytes` (see openRegularFile). */
export function readRegularFile(path: string, options: BoundedReadOptions): Buffer {
  const { fd, stat } = openRegularFile(path, options);
  try {
    return readOpened(fd, stat.size, path, options);
  } finally {
    closeSync(fd);
  }
}

/** Reads an opened file to its end, but never past `maxBytes`, even if it grows meanwhile. */
export function readOpened(fd: number, sizeHint: number, path: string, { what, maxBytes }: BoundedReadOptions): Buffer {
  // One byte of room past the size seen tells a file that grew from one that ends there.
  let bytes = Buffer.alloc(Math.min(sizeHint, maxBytes) + 1);
  let got = 0;
  for (;;) {
    if (got === bytes.length) {
      if (got > maxBytes) {
        bytes.fill(0);
        throw shieldError('EFBIG', `${what} ${path} grew past ${maxBytes} bytes while it was read`, path);
      }
      const larger = Buffer.alloc(Math.min(bytes.length * 2, maxBytes + 1));
      bytes.copy(larger, 0, 0, got);
      bytes.fill(0);
      bytes = larger;
    }
    const n = readSync(fd, bytes, got, bytes.length - got, got);
    if (n === 0) return bytes.subarray(0, got);
    got += n;
  }
}

function kindOf(stat: Stats): string {
  if (stat.isFIFO()) return 'a FIFO';
  if (stat.isCharacterDevice()) return 'a character device';
  if (stat.isBlockDevice()) return 'a block device';
  if (stat.isSocket()) return 'a socket';
  if (stat.isDirectory()) return 'a directory';
  return 'not a regular file';
}
