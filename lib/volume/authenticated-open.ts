// Opening an authenticated file: the options checked before anything is touched, then either a new
// empty file (data file and hash list created together, durably, or neither) or an existing one
// whose hash list must give the tag the manifest lists and whose data file must have its size.
import { timingSafeEqual } from '../file/node-crypto.js';
import type * as fs from 'node:fs';
import { hostFs } from '../file/host-fs.js';
import { dirname } from 'node:path';
import { invalidArgument } from '../file/errors.js';
import { checkInteger } from '../file/io-arguments.js';
import { closeFd, closeQuietly, fstat, openFd, syncDirectory, unlinkQuietly, writeAll, type Io } from './authenticated-io.js';
import {
  computeTag, DEFAULT_CHUNK, encodeHeader, HEADER_BYTES, integrityError, notRegular, openExisting, readHashList, validChunkSize,
} from './hash-list.js';

export interface AuthenticatedOpenOptions {
  /** The file's identity (32 hex characters), bound into every hash. */
  objectId: string;
  /** Create a new empty file; the data file and hash list must both not exist (EEXIST). Default false. */
  create?: boolean;
  /** Refuse writes. Default false. */
  readOnly?: boolean;
  /** Required unless `create`: the tag the manifest lists for the file. */
  expectedTag?: string;
  /** Content bytes per chunk for a new file: a power of two from 4096 to 1048576. Default 4096. */
  chunkSize?: number;
  /** The size the manifest lists, when it knows it: a hash list declaring another size is refused before it is read. */
  expectedSize?: number;
}

export interface FileState {
  dataPath: string;
  treePath: string;
  fd: number;
  objectId: Buffer;
  chunkSize: number;
  size: number;
  leaves: Buffer;
  readOnly: boolean;
  tag: string;
}

export interface CheckedOpenOptions {
  objectId: Buffer;
  create: boolean;
  readOnly: boolean;
  expectedTag: Buffer | undefined;
  expectedSize: number | undefined;
  chunkSize: number | undefined;
}

export function* openSteps(dataPath: string, treePath: string, options: CheckedOpenOptions): Io<FileState> {
  const { O_RDONLY, O_RDWR, O_WRONLY, O_CREAT, O_EXCL, O_NONBLOCK } = hostFs.constants;
  if (options.create) {
    const chunkSize = options.chunkSize ?? DEFAULT_CHUNK;
    // Failures here (EEXIST, ENOENT for a missing directory, EACCES) are ordinary fs errors.
    const fd = yield* openFd(dataPath, O_RDWR | O_CREAT | O_EXCL, 0o600);
    let treeCreated = false;
    try {
      const treeFd = yield* openFd(treePath, O_WRONLY | O_CREAT | O_EXCL, 0o600);
      treeCreated = true;
      try {
        yield* writeAll(treeFd, encodeHeader(chunkSize, 0), 0, HEADER_BYTES, 0);
        yield { kind: 'fdatasync', fd: treeFd };
      } finally {
        yield* closeFd(treeFd);
      }
      yield* syncDirectory(dirname(dataPath));
      if (dirname(treePath) !== dirname(dataPath)) yield* syncDirectory(dirname(treePath));
    } catch (error) {
      // No half-made pair left behind to fail the next create.
      yield* closeQuietly(fd);
      yield* unlinkQuietly(dataPath);
      if (treeCreated) yield* unlinkQuietly(treePath);
      throw error;
    }
    const leaves = Buffer.alloc(0);
    const tag = computeTag(options.objectId, chunkSize, 0, leaves);
    return { dataPath, treePath, fd, objectId: options.objectId, chunkSize, size: 0, leaves, readOnly: false, tag };
  }

  const tree = yield* readHashList(dataPath, treePath, options.expectedSize);
  const tag = computeTag(options.objectId, tree.chunkSize, tree.size, tree.leaves);
  if (!timingSafeEqual(Buffer.from(tag, 'hex'), options.expectedTag!)) {
    throw integrityError(
      `EINTEGRITY: '${dataPath}' does not have the tag its manifest lists (its hash list '${treePath}' gives ` +
        `${tag.slice(0, 16)}…, expected ${options.expectedTag!.toString('hex', 0, 8)}…): the file or its hash list was ` +
        'altered or replaced outside the shield (or is an older version); restore the volume from a backup',
      'open',
      dataPath,
    );
  }
  if (options.chunkSize !== undefined && options.chunkSize !== tree.chunkSize) {
    const error = invalidArgument(`'${dataPath}' has chunk size ${tree.chunkSize}, not the requested ${options.chunkSize}`);
    error.path = dataPath;
    throw error;
  }
  const fd = yield* openExisting(dataPath, dataPath, (options.readOnly ? O_RDONLY : O_RDWR) | O_NONBLOCK);
  try {
    const stat = yield* fstat(fd);
    if (!stat.isFile()) throw notRegular(dataPath, dataPath);
    if (stat.size !== tree.size) {
      throw integrityError(
        `EINTEGRITY: '${dataPath}' is ${stat.size} bytes on disk but its authenticated size is ${tree.size} ` +
          `(${stat.size < tree.size ? 'truncated' : 'extended'}); the file was modified outside the shield: restore it from a backup`,
        'open',
        dataPath,
      );
    }
  } catch (error) {
    yield* closeQuietly(fd);
    throw error;
  }
  const { chunkSize, size, leaves } = tree;
  return { dataPath, treePath, fd, objectId: options.objectId, chunkSize, size, leaves, readOnly: options.readOnly, tag };
}

export function openArguments(dataPath: unknown, treePath: unknown, options: AuthenticatedOpenOptions): CheckedOpenOptions {
  if (typeof dataPath !== 'string' || dataPath.length === 0) throw invalidArgument('dataPath must be a non-empty string');
  if (typeof treePath !== 'string' || treePath.length === 0) throw invalidArgument('treePath must be a non-empty string');
  if (dataPath === treePath) throw invalidArgument('dataPath and treePath must differ');
  if (typeof options !== 'object' || options === null) throw invalidArgument('options with an objectId are required');
  if (typeof options.objectId !== 'string' || !/^[0-9a-f]{32}$/i.test(options.objectId)) {
    throw invalidArgument('objectId must be 32 hex characters');
  }
  const create = !!options.create;
  const readOnly = !!options.readOnly;
  let expectedTag: Buffer | undefined;
  if (options.expectedTag !== undefined) {
    if (typeof options.expectedTag !== 'string' || !/^[0-9a-f]{64}$/i.test(options.expectedTag)) {
      throw invalidArgument('expectedTag must be 64 hex characters (a tag returned by flush() or close())');
    }
    expectedTag = Buffer.from(options.expectedTag, 'hex');
  }
  if (create && readOnly) throw invalidArgument('create and readOnly exclude each other');
  // A file expected to be a particular one is never created in its place.
  if (create && expectedTag) throw invalidArgument('create and expectedTag exclude each other');
  if (!create && !expectedTag) throw invalidArgument('expectedTag (the tag the manifest lists) is required to open an existing file');
  let chunkSize: number | undefined;
  if (options.chunkSize !== undefined) {
    chunkSize = checkInteger(options.chunkSize, 'chunkSize');
    if (!validChunkSize(chunkSize)) {
      throw invalidArgument(`chunkSize must be a power of two from 4096 to 1048576, got ${chunkSize}`);
    }
  }
  const expectedSize = options.expectedSize === undefined ? undefined : checkInteger(options.expectedSize, 'expectedSize');
  return { objectId: Buffer.from(options.objectId, 'hex'), create, readOnly, expectedTag, expectedSize, chunkSize };
}
