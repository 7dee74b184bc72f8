// Layers: tar archives, plain or gzip, read through node-tar with both of their digests checked as the
// bytes go by (the blob's own digest and the digest of the uncompressed tar, the config's diff_id), and
// new layers written the same way. A layer's bytes are never trusted before its digests were checked:
// a layer is read in full and verified before its whiteouts are applied (FORMAT.md, "Container images").
import { createHash, type Hash } from 'node:crypto';
import * as fs from 'node:fs';
import { posix } from 'node:path';
import { Transform, Writable, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip, createGzip } from 'node:zlib';
import { Pack, Parser, Unpack, type ReadEntry } from 'tar';
import { shieldError } from '../file/fs-errors.js';

/** What a layer is expected to be; `where` names it in errors (e.g. `layer 2 (blob sha256:…)`). */
export interface LayerExpectation {
  /** `sha256:…` of the blob as stored, when known (OCI layouts; a legacy docker archive has none). */
  blobDigest?: string;
  /** `sha256:…` of the uncompressed tar, from the image config's rootfs.diff_ids. */
  diffId: string;
  /** The blob is gzip (from its media type), or `sniff` to tell from its first bytes (legacy archives). */
  gzip: boolean | 'sniff';
  where: string;
}

export interface VerifiedLayer {
  blobDigest: string;
  blobSize: number;
  diffId: string;
  gzip: boolean;
  /** No entries: an empty tar (Docker and umoci write such layers; node-tar calls them unrecognized). */
  empty: boolean;
}

/** A layer written by us: a blob in `path`. */
export interface WrittenLayer {
  path: string;
  digest: string;
  size: number;
  diffId: string;
  gzip: boolean;
}

export interface LayerScan extends VerifiedLayer {
  /** Paths (absolute, in the image) that this layer whites out: removed from the layers below. */
  whiteouts: string[];
  /** Directories whose content from the layers below this layer hides (opaque whiteouts). */
  opaqueDirectories: string[];
  /** Entries (whiteouts included) at or under one of the `watched` paths given to scanLayer. */
  watchedEntries: number;
  entries: number;
}

// A gzip bomb would fill the disk while unpacking; real layers are far below this.
export const MAX_LAYER_BYTES = 64 * 2 ** 30;
// More entries than any real layer; bounds the lists kept per layer.
export const MAX_LAYER_ENTRIES = 2_000_000;
const WHITEOUT_PREFIX = '.wh.';
const OPAQUE_WHITEOUT = '.wh..wh..opq';

/** The absolute image path of a tar entry name (`./usr/bin/`, `usr/bin` → `/usr/bin`); null for the root itself. */
export function imagePathOfEntry(name: string): string | null {
  const normalized = posix.normalize('/' + name);
  if (normalized === '/' || normalized === '//') return null;
  return normalized.replace(/\/+$/, '');
}

/** True when `path` is `ancestor` or lies under it (both absolute, normalized). */
export function isWithin(path: string, ancestor: string): boolean {
  return ancestor === '/' || path === ancestor || path.startsWith(ancestor + '/');
}

/**
 * Reads a whole layer, checking its digests, and lists its whiteouts. Entries under the `watched`
 * paths are counted (a layer holding any must be rewritten without them).
 */
export async function scanLayer(blobPath: string, expected: LayerExpectation, watched: readonly string[]): Promise<LayerScan> {
  const whiteouts: string[] = [];
  const opaqueDirectories: string[] = [];
  let watchedEntries = 0;
  let entries = 0;
  const parser = new Parser({
    strict: true,
    onReadEntry: (entry: ReadEntry) => {
      if (++entries > MAX_LAYER_ENTRIES) parser.abort(shieldError('EFBIG', `${expected.where} has more than ${MAX_LAYER_ENTRIES} entries`));
      const path = imagePathOfEntry(entry.path);
      if (path !== null) {
        if (watched.some((w) => isWithin(path, w))) watchedEntries++;
        const name = posix.basename(path);
        if (name === OPAQUE_WHITEOUT) opaqueDirectories.push(posix.dirname(path));
        else if (name.startsWith(WHITEOUT_PREFIX)) whiteouts.push(posix.join(posix.dirname(path), name.slice(WHITEOUT_PREFIX.length)));
      }
      entry.resume();
    },
  });
  const verified = await readLayer(blobPath, expected, parserSink(parser));
  return { ...verified, whiteouts, opaqueDirectories, watchedEntries, entries };
}

/**
 * Unpacks a layer into `rootfs` as a container runtime would: first what its whiteouts remove from the
 * layers below (`scan`, from scanLayer of the same blob), then its entries (see unpackEntries).
 */
export async function extractLayer(blobPath: string, expected: LayerExpectation, scan: LayerScan, rootfs: string): Promise<void> {
  for (const directory of scan.opaqueDirectories) {
    const target = insideRootfs(rootfs, directory);
    for (const name of safeReaddir(target)) fs.rmSync(posix.join(target, name), { recursive: true, force: true });
  }
  for (const path of scan.whiteouts) fs.rmSync(insideRootfs(rootfs, path), { recursive: true, force: true });
  await unpackEntries(blobPath, expected, rootfs, (path) => !posix.basename(path).startsWith(WHITEOUT_PREFIX));
}

/**
 * Unpacks a layer into `rootfs` as a container runtime would, in one pass that also checks its digests
 * and lists its whiteouts (the result is scanLayer's). Whiteouts apply to the layers below only (OCI
 * image spec: a whiteout never hides an entry of its own layer), so they are applied after this
 * layer's entries are written, sparing what this layer made. If the digests do not match, the caller
 * throws `rootfs` away (it is a private temporary directory): nothing is used before the check.
 */
export async function applyLayer(blobPath: string, expected: LayerExpectation, rootfs: string, watched: readonly string[], signal?: AbortSignal): Promise<LayerScan> {
  const whiteouts: string[] = [];
  const opaqueDirectories: string[] = [];
  let watchedEntries = 0;
  const { verified, made, entries } = await unpackEntries(blobPath, expected, rootfs, (path) => {
    if (watched.some((w) => isWithin(path, w))) watchedEntries++;
    const base = posix.basename(path);
    if (base === OPAQUE_WHITEOUT) {
      opaqueDirectories.push(posix.dirname(path));
      return false;
    }
    if (base.startsWith(WHITEOUT_PREFIX)) {
      whiteouts.push(posix.join(posix.dirname(path), base.slice(WHITEOUT_PREFIX.length)));
      return false;
    }
    return true;
  }, signal);
  for (const directory of opaqueDirectories) pruneBelow(rootfs, directory, made);
  for (const path of whiteouts) if (!made.has(path)) fs.rmSync(insideRootfs(rootfs, path), { recursive: true, force: true });
  return { ...verified, whiteouts, opaqueDirectories, watchedEntries, entries };
}

// node-tar's Unpack writes the entries `wanted` keeps, inside `rootfs` only: absolute and `..` entry
// paths are made relative, and an entry under a symlink replaces the symlink rather than writing
// through it (as overlayfs shows an upper directory over a lower symlink). Symlinks are made here
// instead, after the layer, with their target exactly as the image has it (an absolute target means
// the image's root; node-tar would rewrite it relative): nothing on this host follows them, since
// paths in the image are resolved by resolveInRootfs and protectTree refuses links out of a tree.
// Devices and FIFOs are not made (nothing here needs them; they stay in the layer as they were).
// Node-tar's notices (a stripped `/`) are not errors; anything else it reports is.
async function unpackEntries(blobPath: string, expected: LayerExpectation, rootfs: string, wanted: (imagePath: string) => boolean, signal?: AbortSignal):
Promise<{ verified: VerifiedLayer; made: Set<string>; entries: number }> {
  const made = new Set<string>();
  const symlinks = new Map<string, string>();
  let entries = 0;
  let failure: Error | null = null;
  let badArchive: Error | null = null;
  const unpack: Unpack = new Unpack({
    cwd: rootfs,
    strict: false,
    unlink: true,
    preserveOwner: process.getuid?.() === 0,
    processUmask: 0,
    onwarn: (code: string, message: string | Error) => {
      if (code === 'TAR_ENTRY_INFO') return;
      const failed = shieldError('EINVAL', `${expected.where}: not a readable tar archive (${code}: ${message instanceof Error ? message.message : message}): the image is damaged; save or copy it again`);
      // Known only at the end: an empty layer is "unrecognized" to node-tar, and fine.
      if (code === 'TAR_BAD_ARCHIVE') badArchive ??= failed;
      else {
        failure ??= failed;
        unpack.abort(failure);
      }
    },
    filter: (name, entry) => {
      const path = imagePathOfEntry(name);
      if (path === null) return true;
      if (++entries > MAX_LAYER_ENTRIES) {
        failure ??= shieldError('EFBIG', `${expected.where} has more than ${MAX_LAYER_ENTRIES} entries`);
        unpack.abort(failure);
        return false;
      }
      if (!wanted(path)) return false;
      const type = (entry as ReadEntry).type;
      if (type === 'CharacterDevice' || type === 'BlockDevice' || type === 'FIFO') return false;
      for (let at = path; at !== '/' && !made.has(at); at = posix.dirname(at)) made.add(at);
      // A later entry at or under a symlink's path wins over it (the layer's last word).
      for (let at = path; at !== '/'; at = posix.dirname(at)) symlinks.delete(at);
      if (type === 'SymbolicLink') {
        symlinks.set(path, (entry as ReadEntry).linkpath ?? '');
        return false;
      }
      return true;
    },
  });
  const verified = await readLayer(blobPath, expected, parserSink(unpack, 'close'), signal);
  if (failure) throw failure;
  if (badArchive && !verified.empty) throw badArchive;
  for (const [path, target] of symlinks) makeSymlink(rootfs, path, target);
  return { verified, made, entries };
}

// Makes `path` (an image path) a symlink to `target` inside `rootfs`, replacing what is there; a parent
// that is not a directory (a symlink, a file) is replaced by one, never followed.
function makeSymlink(rootfs: string, path: string, target: string): void {
  const parts = path.split('/').filter((p) => p !== '' && p !== '.' && p !== '..');
  let at = rootfs;
  for (const part of parts.slice(0, -1)) {
    at = posix.join(at, part);
    const stats = lstatOrNull(at);
    if (stats?.isDirectory()) continue;
    if (stats) fs.rmSync(at, { force: true });
    fs.mkdirSync(at, { mode: 0o755 });
  }
  const host = posix.join(at, parts[parts.length - 1]!);
  fs.rmSync(host, { recursive: true, force: true });
  fs.symlinkSync(target, host);
}

function lstatOrNull(path: string): fs.Stats | null {
  try {
    return fs.lstatSync(path);
  } catch {
    return null;
  }
}

// An opaque directory hides everything the layers below put in it: remove what this layer did not make.
function pruneBelow(rootfs: string, directory: string, made: ReadonlySet<string>): void {
  const host = insideRootfs(rootfs, directory);
  for (const name of safeReaddir(host)) {
    const path = posix.join(directory, name);
    const child = posix.join(host, name);
    if (!made.has(path)) fs.rmSync(child, { recursive: true, force: true });
    else if (fs.lstatSync(child).isDirectory()) pruneBelow(rootfs, path, made);
  }
}

/** Writes the layer again without the entries `drop` says (a new gzip blob; digests checked on the way in). */
export async function rewriteLayer(blobPath: string, expected: LayerExpectation, drop: (imagePath: string) => boolean, outPath: string, signal?: AbortSignal): Promise<WrittenLayer> {
  // preservePaths: entries are written back exactly as read (an absolute symlink target stays
  // absolute); nothing is written to this host's files from them.
  const pack = new Pack({ portable: false, noDirRecurse: true, preservePaths: true });
  const parser = new Parser({
    strict: true,
    onReadEntry: (entry: ReadEntry) => {
      const path = imagePathOfEntry(entry.path);
      if (path !== null && drop(path)) {
        entry.resume();
        return;
      }
      // A hard link kept outside the dropped paths to a file inside them would point at nothing (and
      // the file's content would have to stay): refused, rather than leaving the plaintext behind.
      const target = entry.type === 'Link' && entry.linkpath ? imagePathOfEntry(entry.linkpath) : null;
      if (target !== null && drop(target)) {
        parser.abort(shieldError('ENOTSUP', `${expected.where}: ${path} is a hard link to ${target}, which is being protected: ` +
          'make it a copy or a symlink in the image, or protect its directory too'));
        return;
      }
      pack.add(entry);
    },
  });
  const written = writeLayerBlob(pack as unknown as Readable, outPath, true, signal);
  written.catch(() => {});  // awaited below; a failure of the reading side is the one reported
  await readLayer(blobPath, expected, parserSink(parser), signal);
  pack.end();
  return await written;
}

/**
 * Writes a tar stream (node-tar's Pack, or any readable of tar bytes) as a layer blob: gzip, or the
 * plain tar when `gzip` is false (ciphertext does not compress: gzip would only cost time).
 */
export async function writeLayerBlob(tarStream: Readable, outPath: string, gzip = true, signal?: AbortSignal): Promise<WrittenLayer> {
  const diff = new HashingTransform();
  const blob = new HashingTransform();
  const options = signal ? { signal } : {};
  if (gzip) await pipeline(tarStream, diff, createGzip({ level: 6 }), blob, fs.createWriteStream(outPath, { mode: 0o644 }), options);
  else await pipeline(tarStream, diff, blob, fs.createWriteStream(outPath, { mode: 0o644 }), options);
  return { path: outPath, digest: blob.digest(), size: blob.bytes, diffId: diff.digest(), gzip };
}

// ---------------------------------------------------------------------------------------------

async function readLayer(blobPath: string, expected: LayerExpectation, sink: Writable, signal?: AbortSignal): Promise<VerifiedLayer> {
  const gzip = expected.gzip === 'sniff' ? startsWithGzipMagic(blobPath) : expected.gzip;
  const blob = new HashingTransform();
  const diff = new HashingTransform(MAX_LAYER_BYTES, expected.where);
  const stages: (NodeJS.ReadableStream | NodeJS.WritableStream)[] = [fs.createReadStream(blobPath), blob];
  if (gzip) stages.push(createGunzip());
  stages.push(diff, sink);
  try {
    await (pipeline as (...args: unknown[]) => Promise<void>)(...stages, signal ? { signal } : {});
  } catch (error) {
    if (signal?.aborted) throw signal.reason ?? error;
    if ((error as { tarCode?: string }).tarCode === 'TAR_BAD_ARCHIVE' && diff.finished && diff.allZero) {
      checkDigests(blob, diff, expected);
      return { blobDigest: blob.digest(), blobSize: blob.bytes, diffId: diff.digest(), gzip, empty: true };
    }
    // A digest mismatch explains a broken gzip or tar better than the parser's own complaint: when the
    // blob's digest is known, the rest of the file is hashed to tell.
    checkDigests(blob, diff, expected);
    if (expected.blobDigest !== undefined && !blob.finished) {
      const whole = await fileDigest(blobPath);
      if (whole !== expected.blobDigest) {
        throw shieldError('EINTEGRITY', `${expected.where}: the blob's content has digest ${whole}, not ${expected.blobDigest}: the image is damaged or was changed`);
      }
    }
    const e = error as NodeJS.ErrnoException;
    if (e.code && /^E[A-Z]+$/.test(e.code) && e.message.includes(expected.where)) throw error;
    throw shieldError(e.code === 'EFBIG' ? 'EFBIG' : 'EINVAL', `${expected.where}: not a readable ${gzip ? 'gzip ' : ''}tar archive (${e.message}): the image is damaged; save or copy it again`);
  }
  checkDigests(blob, diff, expected);
  return { blobDigest: blob.digest(), blobSize: blob.bytes, diffId: diff.digest(), gzip, empty: diff.allZero };
}

function checkDigests(blob: HashingTransform, diff: HashingTransform, expected: LayerExpectation): void {
  if (!blob.finished) return;
  if (expected.blobDigest !== undefined && blob.digest() !== expected.blobDigest) {
    throw shieldError('EINTEGRITY', `${expected.where}: the blob's content has digest ${blob.digest()}, not ${expected.blobDigest}: the image is damaged or was changed`);
  }
  if (diff.finished && diff.digest() !== expected.diffId) {
    throw shieldError('EINTEGRITY', `${expected.where}: the uncompressed layer has digest ${diff.digest()}, not the configuration's diff_id ${expected.diffId}: the image is damaged or was changed`);
  }
}

// node-tar's parsers are event emitters with write/end, not Node writables: this adapts one, with
// backpressure, and finishes when the parser has handled everything (`close` for Unpack: its files
// are written then).
// A truncated or garbled archive is a warning in node-tar, an error in strict mode: it arrives here.
function parserSink(parser: Parser, doneEvent: 'end' | 'close' = 'end'): Writable {
  let failure: Error | null = null;
  // A write waiting for 'drain' when the parser fails (an abort emits no drain) is released with the error.
  let waiting: ((error?: Error | null) => void) | null = null;
  parser.on('error', (error: Error) => {
    failure ??= error;
    const callback = waiting;
    waiting = null;
    callback?.(failure);
  });
  return new Writable({
    write(chunk: Buffer, _encoding, callback) {
      if (failure) return callback(failure);
      if (parser.write(chunk) || failure) return callback(failure);
      waiting = callback;
      parser.once('drain', () => {
        if (waiting !== callback) return;
        waiting = null;
        callback(failure);
      });
    },
    final(callback) {
      if (failure) return callback(failure);
      let called = false;
      const finish = (error: Error | null) => {
        if (!called) {
          called = true;
          callback(error);
        }
      };
      parser.once(doneEvent, () => finish(failure));
      parser.once('error', (error: Error) => finish(error));
      parser.end();
    },
  });
}

class HashingTransform extends Transform {
  private readonly hash: Hash = createHash('sha256');
  private result: string | null = null;
  bytes = 0;
  /** Every byte so far was zero (an empty layer: no bytes, or only a tar's end-of-archive blocks). */
  allZero = true;

  constructor(private readonly limit = Number.MAX_SAFE_INTEGER, private readonly where = '') {
    super();
  }

  get finished(): boolean {
    return this.result !== null;
  }

  digest(): string {
    if (this.result === null) throw new Error('digest read before the stream ended');
    return this.result;
  }

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null, data?: Buffer) => void): void {
    this.bytes += chunk.length;
    if (this.bytes > this.limit) {
      callback(shieldError('EFBIG', `${this.where}: more than ${this.limit} bytes uncompressed: refused (a compression bomb?)`));
      return;
    }
    if (this.allZero && chunk.some((b) => b !== 0)) this.allZero = false;
    this.hash.update(chunk);
    callback(null, chunk);
  }

  override _flush(callback: (error?: Error | null) => void): void {
    this.result = 'sha256:' + this.hash.digest('hex');
    callback();
  }
}

async function fileDigest(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of fs.createReadStream(path)) hash.update(chunk as Buffer);
  return 'sha256:' + hash.digest('hex');
}

function startsWithGzipMagic(path: string): boolean {
  const fd = fs.openSync(path, 'r');
  try {
    const head = Buffer.alloc(2);
    return fs.readSync(fd, head, 0, 2, 0) === 2 && head[0] === 0x1f && head[1] === 0x8b;
  } finally {
    fs.closeSync(fd);
  }
}

/** The host path of an image path inside `rootfs`; refuses a path through a symlink (it could lead outside). */
function insideRootfs(rootfs: string, imagePath: string): string {
  const parts = imagePath.split('/').filter((p) => p !== '' && p !== '.');
  if (parts.includes('..')) throw shieldError('EINVAL', `whiteout ${imagePath} leaves the image's root`);
  let at = rootfs;
  for (const part of parts.slice(0, -1)) {
    at = posix.join(at, part);
    let stats: fs.Stats;
    try {
      stats = fs.lstatSync(at);
    } catch {
      return posix.join(rootfs, ...parts);  // missing: nothing to remove there
    }
    // A whiteout through a symlink would remove the link's target, possibly outside the root: as
    // runtimes do, it applies to the path itself only, so there is nothing to remove under a link.
    if (stats.isSymbolicLink()) return posix.join(rootfs, '.shieldfs-no-such-path');
  }
  return posix.join(rootfs, ...parts);
}

function safeReaddir(path: string): string[] {
  try {
    if (fs.lstatSync(path).isSymbolicLink()) return [];
    return fs.readdirSync(path);
  } catch {
    return [];
  }
}
