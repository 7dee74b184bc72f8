// An independent implementation of FORMAT.md (version 1) over node:crypto only. It shares no code
// with the native core: the test suite writes files with one implementation and reads them with the
// other, so a misreading of the format by either shows up as a disagreement.
//
// decodeFile() verifies everything (header, padding, on-disk length, every node, every chunk);
// encodeFile() writes a whole file at once (optionally with holes); ReferenceWriter and
// ReferenceReader stream with bounded memory (appends, positional reads) for large files.
import {
  createCipheriv,
  createDecipheriv,
  createHash,
  createHmac,
  createSecretKey,
  hkdfSync,
  randomFillSync,
  timingSafeEqual,
  type KeyObject,
} from 'node:crypto';
import { closeSync, constants, fstatSync, ftruncateSync, openSync, readSync, writeSync, writevSync } from 'node:fs';

// EMPTY SUBTREES (FORMAT.md, "Merkle tree"): a child hash (or a root, for h ≥ 1) of 32 zero bytes
// stands for a subtree whose chunks are all holes; its nodes are not stored and never read. This
// codec reads a zero slot as an all-zero node without touching the disk (sound: the zero is
// committed by the trusted parent), requires a non-zero slot to match the node's hash (so a written
// all-zero node with its real hash is accepted too), and the writer stores empty subtrees as zero
// hashes.

// ---------------------------------------------------------------------------------------------
// Parameters (FORMAT.md, "Parameters")

export const HEADER_SIZE = 4096;
export const NODE_SIZE = 4096;
export const LEAF_FANOUT = 146;
export const INNER_FANOUT = 128;
export const ENTRY_SIZE = 28;
export const HASH_SIZE = 32;
export const MAX_HEIGHT = 5;
export const MIN_CHUNK_SHIFT = 12;
export const MAX_CHUNK_SHIFT = 20;
/** Largest file: 2^31 chunks, half the 2^32 key budget (FORMAT.md, "Parameters"); cap(5) covers it. */
export const MAX_CHUNKS = 2 ** 31;
const NONCE_SIZE = 12;
const GCM_TAG_SIZE = 16;
const LEAF_USED = LEAF_FANOUT * ENTRY_SIZE; // 4088; the last 8 bytes of a leaf are zero

// Header block (FORMAT.md, "Header block")
const MAGIC = Buffer.from('SHIELDFS', 'ascii');
const VERSION = 1;
/** Offsets of the header fields (FORMAT.md's header table); tests use them to poke fields. */
export const HEADER_FIELDS = {
  magic: 0, // 8 bytes
  version: 8, // u16
  chunkShift: 10, // u8
  height: 11, // u8
  reserved: 12, // 4 zero bytes
  fileId: 16, // 16 bytes
  keyId: 32, // 16 bytes
  checkSalt: 48, // 16 bytes
  keyCheck: 64, // 16 bytes
  sizeNonce: 80, // 16 bytes, fresh for every header written
  sealedSize: 96, // u64: size XOR size_mask
  encryptions: 104, // u64
  generation: 112, // u64
  root: 120, // 32 bytes
  mac: 152, // 32 bytes: HMAC-SHA256(header_key, bytes 0…151)
  end: 184, // bytes [end, 4096) are zero
} as const;
const H = HEADER_FIELDS;

const INFO_CHUNK_KEY = 'shieldfs/v1 chunk key';
const INFO_HEADER_KEY = 'shieldfs/v1 header key';
const INFO_KEY_CHECK = 'shieldfs/v1 key check';
const SIZE_MASK_LABEL = 'shieldfs/v1 size';

const ZERO_HASH = Buffer.alloc(HASH_SIZE);

// ---------------------------------------------------------------------------------------------
// Errors (FORMAT.md, "Errors when opening and reading")

export type ReferenceErrorCode = 'EINTEGRITY' | 'EBADKEY' | 'EROLLBACK';

export interface ReferenceError extends Error {
  code: ReferenceErrorCode;
  path: string;
  chunk?: number;
}

function fail(code: ReferenceErrorCode, path: string, message: string, chunk?: number): never {
  const error = new Error(`${code}: ${message} (${path}${chunk === undefined ? '' : `, chunk ${chunk}`})`) as ReferenceError;
  error.code = code;
  error.path = path;
  if (chunk !== undefined) error.chunk = chunk;
  throw error;
}

// ---------------------------------------------------------------------------------------------
// Geometry (FORMAT.md, "Merkle tree" and "Layout")

/** Chunks a tree of height h covers: cap(0) = 1, cap(h) = F1 · F2^(h-1). */
export function capacity(height: number): number {
  return height === 0 ? 1 : LEAF_FANOUT * INNER_FANOUT ** (height - 1);
}

/** The smallest h with n ≤ cap(h); 0 for an empty file. */
export function treeHeight(chunks: number): number {
  if (chunks <= 1) return 0;
  for (let h = 1; h <= MAX_HEIGHT; h++) if (chunks <= capacity(h)) return h;
  throw new RangeError(`${chunks} chunks exceed cap(${MAX_HEIGHT})`);
}

export function chunkCount(size: number, chunkSize: number): number {
  return Math.ceil(size / chunkSize);
}

/** Subtree sizes T(0…5) and the offsets of FORMAT.md's Layout section for one chunk size. */
export class Layout {
  readonly chunkSize: number;
  /** T(l): size of a full level-l subtree. */
  readonly subtree: readonly number[];

  constructor(chunkSize: number) {
    this.chunkSize = chunkSize;
    const t = [chunkSize, NODE_SIZE + LEAF_FANOUT * chunkSize];
    for (let l = 2; l <= MAX_HEIGHT; l++) t.push(NODE_SIZE + INNER_FANOUT * t[l - 1]!);
    this.subtree = t;
  }

  /** c(l, d): offset of child d inside a level-l subtree. */
  childOffset(level: number, digit: number): number {
    return digit === 0 ? 0 : NODE_SIZE + digit * this.subtree[level - 1]!;
  }

  /** start(l, j) = 4096 + Σ_k c(l+1+k, digit_k(j)). */
  subtreeStart(level: number, index: number): number {
    let offset = HEADER_SIZE;
    let rest = index;
    for (let k = 0; rest > 0; k++) {
      offset += this.childOffset(level + 1 + k, rest % INNER_FANOUT);
      rest = Math.floor(rest / INNER_FANOUT);
    }
    return checkSafe(offset);
  }

  /** node(l, j) = start(l, j) + T(l-1), l ≥ 1. */
  nodeOffset(level: number, index: number): number {
    return checkSafe(this.subtreeStart(level, index) + this.subtree[level - 1]!);
  }

  /** chunk(i) = start(1, ⌊i/F1⌋) + c(1, i mod F1). */
  chunkOffset(chunk: number): number {
    return checkSafe(this.subtreeStart(1, Math.floor(chunk / LEAF_FANOUT)) + this.childOffset(1, chunk % LEAF_FANOUT));
  }

  /** max(chunk(n-1) + C, node(l, ⌊(n-1)/cap(l)⌋) + N for 1 ≤ l ≤ h), or 4096 when n = 0. */
  diskLength(chunks: number): number {
    if (chunks === 0) return HEADER_SIZE;
    let length = this.chunkOffset(chunks - 1) + this.chunkSize;
    const height = treeHeight(chunks);
    for (let l = 1; l <= height; l++) {
      length = Math.max(length, this.nodeOffset(l, Math.floor((chunks - 1) / capacity(l))) + NODE_SIZE);
    }
    return length;
  }
}

function checkSafe(value: number): number {
  if (!Number.isSafeInteger(value)) throw new RangeError('offset beyond what the reference codec handles');
  return value;
}

/** FORMAT.md's on-disk length for a plaintext of `size` bytes in chunks of `chunkSize`. */
export function onDiskLength(size: number, chunkSize: number): number {
  return new Layout(chunkSize).diskLength(chunkCount(size, chunkSize));
}

// ---------------------------------------------------------------------------------------------
// Keys and primitives (FORMAT.md, "Keys", "Chunks", "Merkle tree")

interface FileKeys {
  chunkKey: KeyObject;
  headerKey: Buffer;
  keyCheck: Buffer;
}

function hkdf(key: Uint8Array, salt: Buffer, info: string, length: number): Buffer {
  return Buffer.from(hkdfSync('sha256', key, salt, Buffer.from(info, 'ascii'), length));
}

function deriveKeys(key: Uint8Array, fileId: Buffer, keyId: Buffer, checkSalt: Buffer): FileKeys {
  if (!(key instanceof Uint8Array) || key.byteLength !== 32) throw new TypeError('key must be 32 bytes');
  return {
    chunkKey: createSecretKey(hkdf(key, Buffer.concat([fileId, keyId]), INFO_CHUNK_KEY, 32)),
    headerKey: hkdf(key, fileId, INFO_HEADER_KEY, 32),
    keyCheck: hkdf(key, checkSalt, INFO_KEY_CHECK, 16),
  };
}

/**
 * size_mask = the first 8 bytes, read as a little-endian integer, of
 * HMAC-SHA256(header_key, "shieldfs/v1 size" ‖ size_nonce) (FORMAT.md, "Header block").
 */
function sizeMask(headerKey: Buffer, sizeNonce: Buffer): bigint {
  return createHmac('sha256', headerKey).update(Buffer.from(SIZE_MASK_LABEL, 'ascii')).update(sizeNonce).digest().readBigUInt64LE(0);
}

/** Writes a fresh size_nonce and sealed_size = size XOR size_mask into a header block. */
function sealSize(block: Buffer, headerKey: Buffer, size: bigint): void {
  const sizeNonce = randomBuffer(16);
  sizeNonce.copy(block, H.sizeNonce);
  block.writeBigUInt64LE(size ^ sizeMask(headerKey, sizeNonce), H.sealedSize);
}

/** The plaintext size a header block stores (only meaningful once its MAC has verified). */
function unsealSize(block: Buffer, headerKey: Buffer): bigint {
  return block.readBigUInt64LE(H.sealedSize) ^ sizeMask(headerKey, block.subarray(H.sizeNonce, H.sizeNonce + 16));
}

/** Largest plaintext size for a chunk size: MAX_CHUNKS · C (FORMAT.md, "Parameters"). */
export function maxFileSize(chunkSize: number): number {
  return MAX_CHUNKS * chunkSize;
}

function nodeHash(level: number, node: Buffer): Buffer {
  return createHash('sha256').update(Buffer.of(level)).update(node).digest();
}

function chunkAad(fileId: Buffer, chunk: number): Buffer {
  const aad = Buffer.alloc(24);
  fileId.copy(aad, 0);
  aad.writeBigUInt64LE(BigInt(chunk), 16);
  return aad;
}

function isZero(bytes: Uint8Array): boolean {
  for (let i = 0; i < bytes.length; i++) if (bytes[i] !== 0) return false;
  return true;
}

// Random nonces are drawn from the CSPRNG in batches (one call per 1024 nonces).
const noncePool = Buffer.alloc(NONCE_SIZE * 1024);
let noncePoolUsed = noncePool.length;

/** 12 fresh random bytes, never all zero (the hole marker), into entry[0…12). */
function freshNonce(entry: Buffer): void {
  do {
    if (noncePoolUsed === noncePool.length) {
      randomFillSync(noncePool);
      noncePoolUsed = 0;
    }
    noncePool.copy(entry, 0, noncePoolUsed, noncePoolUsed + NONCE_SIZE);
    noncePool.fill(0, noncePoolUsed, noncePoolUsed + NONCE_SIZE); // never hand out a nonce twice
    noncePoolUsed += NONCE_SIZE;
  } while (isZero(entry.subarray(0, NONCE_SIZE)));
}

function sealChunk(chunkKey: KeyObject, fileId: Buffer, chunk: number, plaintext: Buffer): { ciphertext: Buffer; entry: Buffer } {
  const entry = Buffer.alloc(ENTRY_SIZE);
  freshNonce(entry);
  const cipher = createCipheriv('aes-256-gcm', chunkKey, entry.subarray(0, NONCE_SIZE));
  cipher.setAAD(chunkAad(fileId, chunk));
  const body = cipher.update(plaintext);
  const last = cipher.final();
  const ciphertext = last.length === 0 ? body : Buffer.concat([body, last]);
  cipher.getAuthTag().copy(entry, NONCE_SIZE);
  return { ciphertext, entry };
}

function readFully(fd: number, buffer: Buffer, position: number): number {
  let done = 0;
  while (done < buffer.length) {
    const got = readSync(fd, buffer, done, buffer.length - done, position + done);
    if (got === 0) break;
    done += got;
  }
  return done;
}

function checkChunkSize(chunkSize: number): number {
  if (!Number.isSafeInteger(chunkSize) || chunkSize < 1 << MIN_CHUNK_SHIFT || chunkSize > 1 << MAX_CHUNK_SHIFT || (chunkSize & (chunkSize - 1)) !== 0) {
    throw new RangeError(`chunk size must be a power of two from 4096 to 1048576, got ${chunkSize}`);
  }
  return chunkSize;
}

// ---------------------------------------------------------------------------------------------
// Reading: header verification, lazily verified tree, chunk decryption

interface Header {
  chunkShift: number;
  chunkSize: number;
  height: number;
  fileId: Buffer;
  keyId: Buffer;
  size: number;
  chunks: number;
  encryptions: number;
  generation: number;
  root: Buffer;
  mac: Buffer;
}

function readU64(block: Buffer, offset: number, path: string, what: string): number {
  const value = block.readBigUInt64LE(offset);
  if (value > BigInt(Number.MAX_SAFE_INTEGER)) fail('EINTEGRITY', path, `${what} ${value} beyond what the reference codec handles`);
  return Number(value);
}

export interface VerifyOptions {
  /** The tag the file must have: an authentic header with another tag is EROLLBACK. */
  expectedTag?: string;
  /** The file_id the file must have (32 hex characters): another file is EINTEGRITY. */
  expectedFileId?: string;
}

/**
 * Opens and checks the header in FORMAT.md's order ("Errors when opening and reading"):
 *   1. structure, visible without the key: length ≥ 4096, magic, version, chunk_shift, height ≤ 5,
 *      reserved and padding bytes zero (EINTEGRITY);
 *   2. the key check (EBADKEY), before the MAC;
 *   3. the MAC (EINTEGRITY); only then is the size unsealed, and the checks that need it follow:
 *      size ≤ 2^31 chunks, height = the height the size implies, unused root bytes zero;
 *   4. the on-disk length; expectedFileId (EINTEGRITY);
 *   5. expectedTag (EROLLBACK), for an authentic, well-formed header only.
 * Returns the trusted header.
 */
function verifyHeader(fd: number, path: string, key: Uint8Array, options: VerifyOptions = {}): { header: Header; keys: FileKeys } {
  const { expectedTag, expectedFileId } = options;
  if (expectedTag !== undefined && !/^[0-9a-fA-F]{64}$/.test(expectedTag)) throw new TypeError('expectedTag must be 64 hex characters');
  if (expectedFileId !== undefined && !/^[0-9a-fA-F]{32}$/.test(expectedFileId)) throw new TypeError('expectedFileId must be 32 hex characters');
  const stat = fstatSync(fd);
  if (stat.isDirectory()) throw Object.assign(new Error(`EISDIR: illegal operation on a directory (${path})`), { code: 'EISDIR', path });
  // A FIFO, socket or device in the file's place (FORMAT.md, "Errors when opening and reading").
  if (!stat.isFile()) fail('EINTEGRITY', path, 'not a regular file');
  const diskLength = stat.size;
  if (diskLength < HEADER_SIZE) fail('EINTEGRITY', path, `file is ${diskLength} bytes, shorter than the header`);
  const block = Buffer.alloc(HEADER_SIZE);
  if (readFully(fd, block, 0) !== HEADER_SIZE) fail('EINTEGRITY', path, 'short header read');

  // 1. Structure: magic, version, chunk_shift, height ≤ H_MAX, reserved and padding.
  if (!block.subarray(H.magic, H.magic + 8).equals(MAGIC)) fail('EINTEGRITY', path, 'bad magic');
  const version = block.readUInt16LE(H.version);
  if (version !== VERSION) fail('EINTEGRITY', path, `unknown version ${version}`);
  const chunkShift = block.readUInt8(H.chunkShift);
  if (chunkShift < MIN_CHUNK_SHIFT || chunkShift > MAX_CHUNK_SHIFT) fail('EINTEGRITY', path, `bad chunk_shift ${chunkShift}`);
  const chunkSize = 2 ** chunkShift;
  const height = block.readUInt8(H.height);
  if (height > MAX_HEIGHT) fail('EINTEGRITY', path, `height ${height} > ${MAX_HEIGHT}`);
  if (!isZero(block.subarray(H.reserved, H.reserved + 4))) fail('EINTEGRITY', path, 'non-zero reserved bytes');
  if (!isZero(block.subarray(H.end))) fail('EINTEGRITY', path, 'non-zero header padding');

  // 2. Key check before the MAC.
  const fileId = Buffer.from(block.subarray(H.fileId, H.fileId + 16));
  const keyId = Buffer.from(block.subarray(H.keyId, H.keyId + 16));
  const checkSalt = Buffer.from(block.subarray(H.checkSalt, H.checkSalt + 16));
  const keys = deriveKeys(key, fileId, keyId, checkSalt);
  if (!timingSafeEqual(keys.keyCheck, block.subarray(H.keyCheck, H.keyCheck + 16))) fail('EBADKEY', path, 'wrong key');

  // 3. The MAC, then what needs the (now authentic) size.
  const mac = Buffer.from(block.subarray(H.mac, H.mac + 32));
  const expectedMac = createHmac('sha256', keys.headerKey).update(block.subarray(0, H.mac)).digest();
  if (!timingSafeEqual(mac, expectedMac)) fail('EINTEGRITY', path, 'header MAC mismatch');
  const sealed = unsealSize(block, keys.headerKey);
  if (sealed > BigInt(maxFileSize(chunkSize))) fail('EINTEGRITY', path, `size ${sealed} beyond ${MAX_CHUNKS} chunks`);
  const size = Number(sealed); // ≤ 2^51: a safe integer
  const chunks = chunkCount(size, chunkSize);
  if (height !== treeHeight(chunks)) fail('EINTEGRITY', path, `height ${height} does not match size ${size}`);
  const root = Buffer.from(block.subarray(H.root, H.root + 32));
  const rootUsed = chunks === 0 ? 0 : height === 0 ? ENTRY_SIZE : HASH_SIZE;
  if (!isZero(root.subarray(rootUsed))) fail('EINTEGRITY', path, chunks === 0 ? 'root of an empty file is not zero' : 'non-zero root padding');

  // 4. On-disk length, identity.
  const layout = new Layout(chunkSize);
  const wantLength = layout.diskLength(chunks);
  if (diskLength !== wantLength) {
    fail('EINTEGRITY', path, `on-disk length ${diskLength}, format says ${wantLength} (${diskLength < wantLength ? 'truncated' : 'extended'})`);
  }
  if (expectedFileId !== undefined && !timingSafeEqual(Buffer.from(expectedFileId, 'hex'), fileId)) {
    fail('EINTEGRITY', path, `file_id ${fileId.toString('hex')} is not the expected ${expectedFileId.toLowerCase()} (another file)`);
  }

  // 5. Rollback.
  if (expectedTag !== undefined && !timingSafeEqual(Buffer.from(expectedTag, 'hex'), mac)) fail('EROLLBACK', path, 'tag differs from the expected tag');

  return {
    header: {
      chunkShift,
      chunkSize,
      height,
      fileId,
      keyId,
      size,
      chunks,
      encryptions: readU64(block, H.encryptions, path, 'encryptions'),
      generation: readU64(block, H.generation, path, 'generation'),
      root,
      mac,
    },
    keys,
  };
}

const DEFAULT_CACHE_NODES = 64;

/** A verified view of one file: nodes are checked top-down on first use and kept in a bounded LRU. */
class VerifiedFile {
  readonly fd: number;
  readonly path: string;
  readonly header: Header;
  readonly layout: Layout;
  readonly #keys: FileKeys;
  readonly #cache = new Map<string, Buffer>();
  readonly #cacheNodes: number;
  /** Counts node reads from disk (tests use it to check laziness). */
  nodeReads = 0;

  constructor(path: string, key: Uint8Array, options: VerifyOptions = {}, cacheNodes = DEFAULT_CACHE_NODES) {
    this.path = path;
    this.#cacheNodes = Math.max(cacheNodes, MAX_HEIGHT + 1);
    // O_NONBLOCK: a FIFO in the file's place must not block the open (it is refused as not regular).
    this.fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
    try {
      const { header, keys } = verifyHeader(this.fd, path, key, options);
      this.header = header;
      this.#keys = keys;
      this.layout = new Layout(header.chunkSize);
    } catch (error) {
      closeSync(this.fd);
      throw error;
    }
  }

  get tag(): string {
    return this.header.mac.toString('hex');
  }

  /** Node (level, index), read from disk and verified against its trusted parent slot. */
  node(level: number, index: number): Buffer {
    const id = `${level}:${index}`;
    const cached = this.#cache.get(id);
    if (cached !== undefined) {
      this.#cache.delete(id);
      this.#cache.set(id, cached);
      return cached;
    }
    const { height, chunks } = this.header;
    const firstChunk = index * capacity(level);
    if (level < 1 || level > height || firstChunk >= chunks) throw new RangeError(`no node (${level}, ${index})`);
    const expected =
      level === height ? this.header.root : this.node(level + 1, Math.floor(index / INNER_FANOUT)).subarray((index % INNER_FANOUT) * HASH_SIZE, (index % INNER_FANOUT + 1) * HASH_SIZE);
    const bytes = Buffer.alloc(NODE_SIZE);
    if (isZero(expected)) {
      // An all-zero slot (or root) stands for a subtree of holes: its nodes are all zero and are
      // not read (they may be absent or stale on disk). See EMPTY SUBTREES at the top of the file.
    } else {
      this.nodeReads++;
      if (readFully(this.fd, bytes, this.layout.nodeOffset(level, index)) !== NODE_SIZE) {
        fail('EINTEGRITY', this.path, `node (${level}, ${index}) is short`, firstChunk);
      }
      if (!nodeHash(level, bytes).equals(expected)) fail('EINTEGRITY', this.path, `node (${level}, ${index}) hash mismatch`, firstChunk);
    }
    // Padding rules: the 8 bytes after a leaf's entries, and every entry or child past the end.
    if (level === 1) {
      if (!isZero(bytes.subarray(LEAF_USED))) fail('EINTEGRITY', this.path, `non-zero padding in leaf ${index}`, firstChunk);
      const used = Math.min(LEAF_FANOUT, chunks - firstChunk);
      if (!isZero(bytes.subarray(used * ENTRY_SIZE, LEAF_USED))) fail('EINTEGRITY', this.path, `entries past the end in leaf ${index}`, firstChunk);
    } else {
      const used = Math.min(INNER_FANOUT, Math.ceil((chunks - firstChunk) / capacity(level - 1)));
      if (!isZero(bytes.subarray(used * HASH_SIZE))) fail('EINTEGRITY', this.path, `children past the end in node (${level}, ${index})`, firstChunk);
    }
    this.#cache.set(id, bytes);
    while (this.#cache.size > this.#cacheNodes) {
      const oldest = this.#cache.keys().next().value as string;
      this.#cache.delete(oldest);
    }
    return bytes;
  }

  /** The 28-byte entry of chunk i (nonce ‖ tag; all zero for a hole). */
  entry(chunk: number): Buffer {
    if (this.header.height === 0) return this.header.root.subarray(0, ENTRY_SIZE);
    const k = chunk % LEAF_FANOUT;
    return this.node(1, Math.floor(chunk / LEAF_FANOUT)).subarray(k * ENTRY_SIZE, (k + 1) * ENTRY_SIZE);
  }

  /** Decrypts chunk i's ciphertext (C bytes) into out[outOffset…], checking the tail past `size`. */
  openChunk(chunk: number, entry: Buffer, ciphertext: Buffer | null, out: Buffer, outOffset: number): void {
    const { chunkSize, size } = this.header;
    if (isZero(entry)) {
      out.fill(0, outOffset, outOffset + chunkSize);
      return;
    }
    const nonce = entry.subarray(0, NONCE_SIZE);
    if (isZero(nonce)) fail('EINTEGRITY', this.path, 'all-zero nonce with a non-zero tag', chunk);
    if (ciphertext === null || ciphertext.length !== chunkSize) fail('EINTEGRITY', this.path, 'chunk slot short', chunk);
    const decipher = createDecipheriv('aes-256-gcm', this.#keys.chunkKey, nonce);
    decipher.setAAD(chunkAad(this.header.fileId, chunk));
    decipher.setAuthTag(entry.subarray(NONCE_SIZE, NONCE_SIZE + GCM_TAG_SIZE));
    const target = out.subarray(outOffset, outOffset + chunkSize);
    try {
      decipher.update(ciphertext).copy(target);
      decipher.final();
    } catch {
      target.fill(0);
      fail('EINTEGRITY', this.path, 'chunk fails authentication', chunk);
    }
    const tailStart = size - chunk * chunkSize;
    if (tailStart < chunkSize && !isZero(target.subarray(tailStart))) {
      target.fill(0);
      fail('EINTEGRITY', this.path, 'non-zero plaintext past the end of the file', chunk);
    }
  }

  /**
   * Plaintext of chunks [first, last] into a fresh buffer of (last-first+1)·C bytes. Runs of
   * non-hole chunks are read with one positional read each (the nodes interleaved in the run are
   * read along and skipped).
   */
  readChunks(first: number, last: number): Buffer {
    const { chunkSize } = this.header;
    const out = Buffer.allocUnsafe((last - first + 1) * chunkSize);
    let i = first;
    while (i <= last) {
      const entry = this.entry(i);
      if (isZero(entry)) {
        this.openChunk(i, entry, null, out, (i - first) * chunkSize);
        i++;
        continue;
      }
      // Extend the run while the following chunks are not holes and the span stays modest.
      let end = i;
      const runStart = this.layout.chunkOffset(i);
      while (end < last && !isZero(this.entry(end + 1)) && this.layout.chunkOffset(end + 1) - runStart < 16 * 1024 * 1024) end++;
      const spanEnd = this.layout.chunkOffset(end) + chunkSize;
      const span = Buffer.allocUnsafe(spanEnd - runStart);
      const got = readFully(this.fd, span, runStart);
      for (let c = i; c <= end; c++) {
        const at = this.layout.chunkOffset(c) - runStart;
        const ciphertext = at + chunkSize <= got ? span.subarray(at, at + chunkSize) : null;
        this.openChunk(c, this.entry(c), ciphertext, out, (c - first) * chunkSize);
      }
      i = end + 1;
    }
    return out;
  }

  close(): void {
    closeSync(this.fd);
    this.#cache.clear();
  }
}

// ---------------------------------------------------------------------------------------------
// Public reading API

export interface DecodedFile {
  plaintext: Buffer;
  tag: string;
  fileId: Buffer;
  keyId: Buffer;
  chunkSize: number;
  size: number;
  height: number;
  generation: number;
  encryptions: number;
}

/**
 * Decodes a whole file, verifying everything: header structure, key check, MAC, the unsealed size
 * and what depends on it, on-disk length, expected file id and tag, every node hash and padding,
 * every chunk tag, and the zero tail of the last chunk.
 */
export function decodeFile(path: string, key: Uint8Array, options: VerifyOptions = {}): DecodedFile {
  const file = new VerifiedFile(path, key, options);
  try {
    const { header } = file;
    const plaintext = Buffer.alloc(header.size);
    const batch = Math.max(1, Math.floor((4 * 1024 * 1024) / header.chunkSize));
    for (let first = 0; first < header.chunks; first += batch) {
      const last = Math.min(header.chunks, first + batch) - 1;
      const data = file.readChunks(first, last);
      data.copy(plaintext, first * header.chunkSize, 0, Math.min(data.length, header.size - first * header.chunkSize));
    }
    // Every node was verified above: every leaf holds at least one chunk below n (whose entry was
    // looked up), and every inner node is an ancestor of such a leaf.
    return {
      plaintext,
      tag: file.tag,
      fileId: header.fileId,
      keyId: header.keyId,
      chunkSize: header.chunkSize,
      size: header.size,
      height: header.height,
      generation: header.generation,
      encryptions: header.encryptions,
    };
  } finally {
    file.close();
  }
}

/** Positional reads with lazy, cached verification (bounded memory for large files). */
export class ReferenceReader {
  readonly #file: VerifiedFile;
  #lastChunk = -1;
  #lastPlain: Buffer | null = null;

  constructor(path: string, key: Uint8Array, options: VerifyOptions & { cacheNodes?: number } = {}) {
    const { cacheNodes, ...verify } = options;
    this.#file = new VerifiedFile(path, key, verify, cacheNodes);
  }

  get size(): number {
    return this.#file.header.size;
  }

  get tag(): string {
    return this.#file.tag;
  }

  get chunkSize(): number {
    return this.#file.header.chunkSize;
  }

  get height(): number {
    return this.#file.header.height;
  }

  /** Whether chunk i is a hole (its entry is all zero). */
  isHole(chunk: number): boolean {
    if (!Number.isSafeInteger(chunk) || chunk < 0 || chunk >= this.#file.header.chunks) throw new RangeError(`no chunk ${chunk}`);
    return isZero(this.#file.entry(chunk));
  }

  /** Node reads from disk so far. */
  get nodeReads(): number {
    return this.#file.nodeReads;
  }

  /** Up to `length` bytes at `position` (fewer at the end of the file, none past it). */
  read(position: number, length: number): Buffer {
    const { size, chunkSize } = this.#file.header;
    if (!Number.isSafeInteger(position) || position < 0 || !Number.isSafeInteger(length) || length < 0) {
      throw new RangeError('position and length must be non-negative integers');
    }
    const end = Math.min(size, position + length);
    if (end <= position) return Buffer.alloc(0);
    const first = Math.floor(position / chunkSize);
    const last = Math.floor((end - 1) / chunkSize);
    if (first === last && first === this.#lastChunk && this.#lastPlain !== null) {
      return Buffer.from(this.#lastPlain.subarray(position - first * chunkSize, end - first * chunkSize));
    }
    const data = this.#file.readChunks(first, last);
    // Keep the last chunk for small sequential reads within it.
    this.#lastChunk = last;
    this.#lastPlain = Buffer.from(data.subarray((last - first) * chunkSize));
    return data.subarray(position - first * chunkSize, end - first * chunkSize);
  }

  close(): void {
    this.#file.close();
    this.#lastPlain = null;
  }
}

// ---------------------------------------------------------------------------------------------
// Writing

interface PendingNode {
  index: number;
  bytes: Buffer;
  count: number;
  /** Whether any child is not a hole / not an empty subtree. */
  used: boolean;
}

/**
 * Builds a file sequentially: chunk i is sealed and written at chunk(i); a node is written and
 * hashed into its parent as soon as its last child is known, so only one pending node per level
 * is kept in memory. Contiguous writes are coalesced into one writev.
 */
class SequentialBuilder {
  readonly fd: number;
  readonly layout: Layout;
  readonly fileId = randomBuffer(16);
  readonly keyId = randomBuffer(16);
  readonly checkSalt = randomBuffer(16);
  readonly #keys: FileKeys;
  readonly #pending: PendingNode[] = []; // index = level (1 … h+1)
  chunks = 0;
  encryptions = 0;
  #run: { offset: number; length: number; buffers: Buffer[] } | null = null;

  constructor(path: string, key: Uint8Array, chunkSize: number) {
    this.layout = new Layout(checkChunkSize(chunkSize));
    this.#keys = deriveKeys(key, this.fileId, this.keyId, this.checkSalt);
    this.fd = openSync(path, 'w');
  }

  /** Appends chunk n: `plaintext` (exactly C bytes, zero past the end of the file) or null for a hole. */
  addChunk(plaintext: Buffer | null): void {
    const i = this.chunks;
    if (i >= MAX_CHUNKS) throw new RangeError(`file too large: at most ${MAX_CHUNKS} chunks`);
    let entry: Buffer;
    if (plaintext === null) {
      entry = Buffer.alloc(ENTRY_SIZE);
    } else {
      if (plaintext.length !== this.layout.chunkSize) throw new Error('internal: chunk plaintext must be C bytes');
      const sealed = sealChunk(this.#keys.chunkKey, this.fileId, i, plaintext);
      this.#write(this.layout.chunkOffset(i), sealed.ciphertext);
      this.encryptions++;
      entry = sealed.entry;
    }
    this.chunks++;
    this.#addChild(1, Math.floor(i / LEAF_FANOUT), i % LEAF_FANOUT, entry);
  }

  #addChild(level: number, index: number, slot: number, child: Buffer): void {
    let node = this.#pending[level];
    if (node === undefined) {
      node = { index, bytes: Buffer.alloc(NODE_SIZE), count: 0, used: false };
      this.#pending[level] = node;
    }
    if (node.index !== index || node.count !== slot) throw new Error('internal: children out of order');
    child.copy(node.bytes, slot * child.length);
    node.count++;
    if (!isZero(child)) node.used = true;
    if (node.count === (level === 1 ? LEAF_FANOUT : INNER_FANOUT)) this.#completeNode(level);
  }

  #completeNode(level: number): void {
    const node = this.#pending[level]!;
    let hash: Buffer = ZERO_HASH;
    if (node.used) {
      const bytes = Buffer.from(node.bytes);
      this.#write(this.layout.nodeOffset(level, node.index), bytes);
      hash = nodeHash(level, bytes);
    } // else: a subtree of holes is stored as a zero hash in its parent, its node is not written
    const index = node.index;
    node.index++;
    node.bytes.fill(0);
    node.count = 0;
    node.used = false;
    this.#addChild(level + 1, Math.floor(index / INNER_FANOUT), index % INNER_FANOUT, hash);
  }

  #write(offset: number, bytes: Buffer): void {
    const run = this.#run;
    if (run !== null && run.offset + run.length === offset && run.length + bytes.length <= 8 * 1024 * 1024) {
      run.buffers.push(bytes);
      run.length += bytes.length;
      return;
    }
    this.#flushRun();
    this.#run = { offset, length: bytes.length, buffers: [bytes] };
  }

  #flushRun(): void {
    const run = this.#run;
    if (run === null) return;
    this.#run = null;
    let written = 0;
    let buffers = run.buffers;
    while (written < run.length) {
      const n = writevSync(this.fd, buffers, run.offset + written);
      written += n;
      if (written < run.length) buffers = [Buffer.concat(run.buffers).subarray(written)];
    }
  }

  /** Writes the remaining nodes, sets the length, writes the header; returns the tag. */
  finish(size: number, generation = 1): string {
    try {
      const n = this.chunks;
      if (chunkCount(size, this.layout.chunkSize) !== n) throw new Error('internal: size does not match the chunks');
      const height = treeHeight(n);
      let root: Buffer;
      if (n === 0) {
        root = Buffer.alloc(32);
      } else if (height === 0) {
        root = Buffer.concat([this.#pending[1]!.bytes.subarray(0, ENTRY_SIZE), Buffer.alloc(32 - ENTRY_SIZE)]);
      } else {
        for (let l = 1; l <= height; l++) {
          const node = this.#pending[l];
          if (node !== undefined && node.count > 0) this.#completeNode(l);
        }
        root = Buffer.from(this.#pending[height + 1]!.bytes.subarray(0, HASH_SIZE));
      }
      this.#flushRun();
      ftruncateSync(this.fd, this.layout.diskLength(n));

      const block = Buffer.alloc(HEADER_SIZE);
      MAGIC.copy(block, H.magic);
      block.writeUInt16LE(VERSION, H.version);
      block.writeUInt8(Math.log2(this.layout.chunkSize), H.chunkShift);
      block.writeUInt8(height, H.height);
      this.fileId.copy(block, H.fileId);
      this.keyId.copy(block, H.keyId);
      this.checkSalt.copy(block, H.checkSalt);
      this.#keys.keyCheck.copy(block, H.keyCheck);
      sealSize(block, this.#keys.headerKey, BigInt(size));
      block.writeBigUInt64LE(BigInt(this.encryptions), H.encryptions);
      block.writeBigUInt64LE(BigInt(generation), H.generation);
      root.copy(block, H.root);
      const mac = createHmac('sha256', this.#keys.headerKey).update(block.subarray(0, H.mac)).digest();
      mac.copy(block, H.mac);
      writeSync(this.fd, block, 0, HEADER_SIZE, 0);
      return mac.toString('hex');
    } finally {
      closeSync(this.fd);
    }
  }

  abort(): void {
    closeSync(this.fd);
  }
}

function randomBuffer(length: number): Buffer {
  return randomFillSync(Buffer.alloc(length));
}

/**
 * Writes `plaintext` as a complete new file and returns its tag. Chunks listed in `holes` are left
 * as holes (their plaintext must be all zero) and their slots are not written.
 */
export function encodeFile(path: string, key: Uint8Array, plaintext: Buffer, options: { chunkSize?: number; holes?: number[] } = {}): string {
  const chunkSize = checkChunkSize(options.chunkSize ?? 4096);
  const n = chunkCount(plaintext.length, chunkSize);
  const holes = new Set(options.holes ?? []);
  for (const hole of holes) {
    if (!Number.isSafeInteger(hole) || hole < 0 || hole >= n) throw new RangeError(`hole ${hole} is not a chunk of the file`);
    if (!isZero(plaintext.subarray(hole * chunkSize, (hole + 1) * chunkSize))) throw new RangeError(`hole ${hole} has non-zero plaintext`);
  }
  const builder = new SequentialBuilder(path, key, chunkSize);
  try {
    const chunk = Buffer.alloc(chunkSize);
    for (let i = 0; i < n; i++) {
      if (holes.has(i)) {
        builder.addChunk(null);
        continue;
      }
      const start = i * chunkSize;
      const end = Math.min(plaintext.length, start + chunkSize);
      if (end - start === chunkSize) {
        builder.addChunk(plaintext.subarray(start, end));
      } else {
        chunk.fill(0);
        plaintext.copy(chunk, 0, start, end);
        builder.addChunk(chunk);
      }
    }
  } catch (error) {
    builder.abort();
    throw error;
  }
  return builder.finish(plaintext.length, plaintext.length === 0 ? 0 : 1);
}

/** Streams a new file from sequential appends of any length with bounded memory. */
export class ReferenceWriter {
  readonly #builder: SequentialBuilder;
  readonly #chunkSize: number;
  readonly #partial: Buffer;
  #partialLength = 0;
  #size = 0;
  #closed = false;

  constructor(path: string, key: Uint8Array, options: { chunkSize?: number } = {}) {
    this.#chunkSize = checkChunkSize(options.chunkSize ?? 4096);
    this.#builder = new SequentialBuilder(path, key, this.#chunkSize);
    this.#partial = Buffer.alloc(this.#chunkSize);
  }

  get size(): number {
    return this.#size;
  }

  append(data: Buffer): void {
    if (this.#closed) throw new Error('ReferenceWriter is closed');
    const c = this.#chunkSize;
    let at = 0;
    if (this.#partialLength > 0) {
      const take = Math.min(c - this.#partialLength, data.length);
      data.copy(this.#partial, this.#partialLength, 0, take);
      this.#partialLength += take;
      at = take;
      if (this.#partialLength === c) {
        this.#builder.addChunk(this.#partial);
        this.#partialLength = 0;
      }
    }
    while (data.length - at >= c) {
      this.#builder.addChunk(data.subarray(at, at + c));
      at += c;
    }
    if (at < data.length) {
      data.copy(this.#partial, 0, at);
      this.#partialLength = data.length - at;
    }
    this.#size += data.length;
  }

  close(): string {
    if (this.#closed) throw new Error('ReferenceWriter is closed');
    this.#closed = true;
    if (this.#partialLength > 0) {
      this.#partial.fill(0, this.#partialLength);
      this.#builder.addChunk(this.#partial);
      this.#partialLength = 0;
    }
    return this.#builder.finish(this.#size, this.#size === 0 ? 0 : 1);
  }
}

// ---------------------------------------------------------------------------------------------
// Forging tools for tests: they make deliberately malformed files *authentic* (correct node
// hashes and header MAC), so a test can check that a reader rejects a malformed file for its
// structure and not merely because a hash or the MAC no longer matches.

interface RawHeader {
  block: Buffer;
  layout: Layout;
  height: number;
  fileId: Buffer;
  keys: FileKeys;
  /** The size as unsealed with the key (garbage if the header is not authentic). */
  size: bigint;
}

/** The header as it is on disk, with the keys derived from it; nothing is verified. */
function rawHeader(fd: number, key: Uint8Array): RawHeader {
  const block = Buffer.alloc(HEADER_SIZE);
  readFully(fd, block, 0);
  const fileId = Buffer.from(block.subarray(H.fileId, H.fileId + 16));
  const keyId = Buffer.from(block.subarray(H.keyId, H.keyId + 16));
  const checkSalt = Buffer.from(block.subarray(H.checkSalt, H.checkSalt + 16));
  const keys = deriveKeys(key, fileId, keyId, checkSalt);
  return {
    block,
    layout: new Layout(2 ** block.readUInt8(H.chunkShift)),
    height: block.readUInt8(H.height),
    fileId,
    keys,
    size: unsealSize(block, keys.headerKey),
  };
}

/**
 * Recomputes every node hash bottom-up (parent slots and `root`, as the header's `height` and
 * (unsealed) `size` describe the tree) and the header MAC of the file as it is on disk; returns the
 * new tag. With `size`, that size is sealed into the header first (under a fresh size_nonce), so a
 * test can forge an authentic header with any size. Only nodes that lie inside the file are
 * rehashed (a size past the largest file, or a height past H_MAX, gets only the MAC). The key check
 * is not touched, and bytes [184, 4096) of the header and node padding are left as they are.
 */
export function reauthenticate(path: string, key: Uint8Array, options: { size?: number | bigint } = {}): string {
  const fd = openSync(path, 'r+');
  try {
    const { block, layout, height, keys, size: storedSize } = rawHeader(fd, key);
    let size = storedSize;
    if (options.size !== undefined) {
      size = BigInt(options.size);
      if (size < 0n || size >= 2n ** 64n) throw new RangeError('size must be a u64');
      sealSize(block, keys.headerKey, size);
    }
    const chunks = size <= BigInt(maxFileSize(layout.chunkSize)) && height <= MAX_HEIGHT ? chunkCount(Number(size), layout.chunkSize) : 0;
    // Only nodes inside the file are rehashed (a forged size or height may describe a tree the file
    // does not hold; nothing past its end is read or written). Node offsets grow with the index.
    const diskLength = fstatSync(fd).size;
    const inFile = (level: number, index: number) => layout.nodeOffset(level, index) + NODE_SIZE <= diskLength;
    const node = Buffer.alloc(NODE_SIZE);
    for (let l = 1; l <= height && chunks > 0; l++) {
      const last = Math.floor((chunks - 1) / capacity(l));
      for (let j = 0; j <= last && inFile(l, j); j++) {
        readFully(fd, node, layout.nodeOffset(l, j));
        const hash = nodeHash(l, node);
        if (l === height) {
          hash.copy(block, H.root);
        } else if (inFile(l + 1, Math.floor(j / INNER_FANOUT))) {
          const slot = Buffer.from(hash);
          writeSync(fd, slot, 0, HASH_SIZE, layout.nodeOffset(l + 1, Math.floor(j / INNER_FANOUT)) + (j % INNER_FANOUT) * HASH_SIZE);
        }
      }
    }
    const mac = createHmac('sha256', keys.headerKey).update(block.subarray(0, H.mac)).digest();
    mac.copy(block, H.mac);
    writeSync(fd, block, 0, H.end, 0);
    return mac.toString('hex');
  } finally {
    closeSync(fd);
  }
}

/**
 * Replaces chunk i: seals `plaintext` (exactly C bytes, any content) under the file's chunk key
 * into its slot and stores its entry, or stores `entry` as given (28 bytes) without touching the
 * slot. Call reauthenticate() afterwards.
 */
export function forgeChunk(path: string, key: Uint8Array, chunk: number, change: { plaintext?: Buffer; entry?: Buffer }): void {
  const fd = openSync(path, 'r+');
  try {
    const { block, layout, height, fileId, keys } = rawHeader(fd, key);
    let entry = change.entry;
    if (change.plaintext !== undefined) {
      const sealed = sealChunk(keys.chunkKey, fileId, chunk, change.plaintext);
      writeSync(fd, sealed.ciphertext, 0, sealed.ciphertext.length, layout.chunkOffset(chunk));
      entry = sealed.entry;
    }
    if (entry === undefined || entry.length !== ENTRY_SIZE) throw new TypeError('forgeChunk needs a plaintext or a 28-byte entry');
    if (height === 0) {
      entry.copy(block, H.root);
      writeSync(fd, block, 0, H.end, 0);
    } else {
      const at = layout.nodeOffset(1, Math.floor(chunk / LEAF_FANOUT)) + (chunk % LEAF_FANOUT) * ENTRY_SIZE;
      writeSync(fd, entry, 0, ENTRY_SIZE, at);
    }
  } finally {
    closeSync(fd);
  }
}
