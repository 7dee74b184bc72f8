// The hash list of an authenticated file: its on-disk format, the tag, and reading it back with
// every check. The format is normative (FORMAT.md, "Authenticated content", refers here).
//
// On-disk format (normative; "||" is concatenation, integers are little-endian):
//
//   Data file: exactly the file's `size` bytes of content, nothing else.
//
//   Hash list ("tree file"), exactly 24 + 32 * n bytes where n = ceil(size / chunkSize):
//     offset  0  magic       8 bytes  "SHLDAUT1" (ASCII)
//     offset  8  version     u32      1
//     offset 12  chunkSize   u32      a power of two from 4096 to 1048576, fixed when the file is created
//     offset 16  size        u64      content bytes, at most 2^53 - 1
//     offset 24  leaf[0 … n-1], 32 bytes each:
//       leaf(i) = SHA-256("shieldfs auth leaf v1" || objectId || u64 i || chunk i)
//     where chunk i is content bytes [i * chunkSize, min((i + 1) * chunkSize, size)) (the last chunk
//     is hashed with its real bytes only, never padded), and objectId is the 16 bytes of the file's
//     identity (32 hex characters in the manifest). The labels are their ASCII bytes, no terminator.
//
//   Tag = SHA-256("shieldfs auth tag v1" || objectId || u32 chunkSize || u64 size || leaf[0] || … ||
//   leaf[n-1]), written as 64 lowercase hex characters. The manifest lists it per file.
//
// Checks. Opening reads the whole hash list, refuses any malformation (short header, magic,
// version, chunk size, size above 2^53 - 1, length other than 24 + 32 * n), recomputes the tag and
// compares it with the manifest's; then the data file's length must equal `size`. Any failure,
// including a missing data file or hash list, is EINTEGRITY: the manifest lists the file, so its
// absence is an attack, not ENOENT. Because the index and objectId are in every leaf and the size
// and chunk size in the tag, a chunk moved within or across files, a swapped pair of files, a
// truncation or extension, and an older hash list all fail. A read verifies every chunk it touches
// (in a scratch buffer: unverified bytes never reach the caller) and fails with EINTEGRITY naming
// the chunk; on any failure the caller's target range is zeroed.
//
import { constants as bufferConstants } from 'node:buffer';
import { createHash } from '../file/node-crypto.js';
import type * as fs from 'node:fs';
import { hostFs } from '../file/host-fs.js';
import type { ShieldError } from '../file/errors.js';
import { closeQuietly, fstat, openFd, readFull, type Io } from './authenticated-io.js';

export const MAGIC = Buffer.from('SHLDAUT1', 'latin1');
export const VERSION = 1;
export const HEADER_BYTES = 24;
export const LEAF_BYTES = 32;
export const LEAF_LABEL = Buffer.from('shieldfs auth leaf v1', 'latin1');
export const TAG_LABEL = Buffer.from('shieldfs auth tag v1', 'latin1');
export const MIN_CHUNK = 4096;
export const MAX_CHUNK = 1 << 20;
export const DEFAULT_CHUNK = 4096;
/** Bytes read, hashed or written per step: large enough for few system calls, small enough to bound memory. */
export const BATCH_BYTES = 4 << 20;
export const TWO_32 = 2 ** 32;

export interface HashList {
  chunkSize: number;
  size: number;
  leaves: Buffer;
}

export function* readHashList(dataPath: string, treePath: string, expectedSize: number | undefined): Io<HashList> {
  const fd = yield* openExisting(dataPath, treePath, hostFs.constants.O_RDONLY | hostFs.constants.O_NONBLOCK);
  const malformed = (what: string) =>
    integrityError(
      `EINTEGRITY: hash list '${treePath}' of '${dataPath}' is not a valid shieldfs authenticated hash list (${what}); ` +
        'it was altered or replaced outside the shield: restore the volume from a backup',
      'open',
      dataPath,
    );
  try {
    const stat = yield* fstat(fd);
    if (!stat.isFile()) throw notRegular(dataPath, treePath);
    if (stat.size < HEADER_BYTES) throw malformed(`${stat.size} bytes, shorter than its ${HEADER_BYTES}-byte header`);
    const header = Buffer.alloc(HEADER_BYTES);
    if ((yield* readFull(fd, header, 0, HEADER_BYTES, 0)) !== HEADER_BYTES) throw malformed('shorter than its header');
    if (!header.subarray(0, 8).equals(MAGIC)) throw malformed('bad magic');
    const version = header.readUInt32LE(8);
    if (version !== VERSION) throw malformed(`version ${version}, expected ${VERSION}`);
    const chunkSize = header.readUInt32LE(12);
    if (!validChunkSize(chunkSize)) throw malformed(`chunk size ${chunkSize}`);
    const high = header.readUInt32LE(20);
    if (high >= 2 ** 21) throw malformed('size above 2^53 - 1');
    const size = high * TWO_32 + header.readUInt32LE(16);
    // The manifest knows the size: a hash list for another one is refused before it is read.
    if (expectedSize !== undefined && size !== expectedSize) throw malformed(`size ${size}, but the manifest lists ${expectedSize}`);
    const count = Math.ceil(size / chunkSize);
    const expected = HEADER_BYTES + count * LEAF_BYTES;
    if (stat.size !== expected) {
      throw malformed(`${stat.size} bytes, but ${count} leaves for size ${size} need ${expected}`);
    }
    if (count * LEAF_BYTES > bufferConstants.MAX_LENGTH) {
      throw fileError('EFBIG', `EFBIG: the hash list of '${dataPath}' is larger than a Buffer can hold`, 'open', dataPath, -27);
    }
    const leaves = Buffer.allocUnsafe(count * LEAF_BYTES);
    if ((yield* readFull(fd, leaves, 0, leaves.length, HEADER_BYTES)) !== leaves.length) throw malformed('shrank while being read');
    return { chunkSize, size, leaves };
  } finally {
    yield* closeQuietly(fd);
  }
}

/** Opens a file the manifest lists: its absence is an attack (EINTEGRITY), not ENOENT. */
export function* openExisting(dataPath: string, path: string, flags: number): Io<number> {
  try {
    return yield* openFd(path, flags, 0);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT' || code === 'ENOTDIR') {
      const which = path === dataPath ? '' : ` (its hash list '${path}' is gone)`;
      throw integrityError(
        `EINTEGRITY: '${dataPath}' is listed in the manifest but missing${which}; it was deleted or moved outside ` +
          'the shield: restore it from a backup',
        'open',
        dataPath,
      );
    }
    if (code === 'EISDIR') throw notRegular(dataPath, path);
    throw error;
  }
}

export function notRegular(dataPath: string, path: string): ShieldError {
  const what = path === dataPath ? `'${path}'` : `hash list '${path}' of '${dataPath}'`;
  return integrityError(
    `EINTEGRITY: ${what} is not a regular file (a directory, FIFO, socket or device took its place)`,
    'open',
    dataPath,
  );
}

export function u64(value: number): Buffer {
  const out = Buffer.allocUnsafe(8);
  out.writeUInt32LE(value % TWO_32, 0);
  out.writeUInt32LE(Math.floor(value / TWO_32), 4);
  return out;
}

export function encodeHeader(chunkSize: number, size: number): Buffer {
  const header = Buffer.alloc(HEADER_BYTES);
  MAGIC.copy(header, 0);
  header.writeUInt32LE(VERSION, 8);
  header.writeUInt32LE(chunkSize, 12);
  u64(size).copy(header, 16);
  return header;
}

export function computeTag(objectId: Buffer, chunkSize: number, size: number, leaves: Buffer): string {
  const chunkSizeBytes = Buffer.allocUnsafe(4);
  chunkSizeBytes.writeUInt32LE(chunkSize);
  return createHash('sha256')
    .update(TAG_LABEL)
    .update(objectId)
    .update(chunkSizeBytes)
    .update(u64(size))
    .update(leaves.subarray(0, Math.ceil(size / chunkSize) * LEAF_BYTES))
    .digest('hex');
}

export function validChunkSize(size: number): boolean {
  return size >= MIN_CHUNK && size <= MAX_CHUNK && (size & (size - 1)) === 0;
}

export function fileError(code: string, message: string, syscall: string, path: string, errno?: number): ShieldError {
  const error = new Error(message) as ShieldError;
  error.code = code;
  if (errno !== undefined) error.errno = errno;
  error.syscall = syscall;
  error.path = path;
  return error;
}

export function integrityError(message: string, syscall: string, path: string): ShieldError {
  return fileError('EINTEGRITY', message, syscall, path);
}
