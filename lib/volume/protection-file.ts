// The protection file (`.shieldfs/manifest`): the volume's manifest. It is itself a ShieldedFile, so
// it is encrypted, integrity-checked and updated in place chunk by chunk: a commit rewrites only the
// records that changed (plus their Merkle path), never the whole manifest. Layout in FORMAT.md,
// "Protection file": a 64 KiB section (counter, regions), then one fixed-size record per slot.
import { randomBytes } from '../file/node-crypto.js';
import { shieldError } from '../file/fs-errors.js';
import type { ShieldedFile } from '../file/shielded-file.js';
import { openShieldedFile, type Steps } from '../file/sync-or-async.js';
import { closeContent, flushContent, readContent, writeContent } from './file-content.js';
import type { NativeJournal } from '../file/native.js';
import { RegionTable, type Region } from './regions.js';
import { NAME_MAX, RESERVED_NAME } from './volume-path.js';

export type EntryType = 'file' | 'directory';
export type Storage = 'encrypted' | 'authenticated';

export interface Entry {
  slot: number;
  type: EntryType;
  storage: Storage;
  name: string;
  parent: Entry | null;  // null only for the root
  mode: number;          // permission bits
  size: number;
  mtimeNs: bigint;
  ctimeNs: bigint;
  birthtimeNs: bigint;
  atimeNs: bigint;
  objectId: string;      // 32 hex: the on-disk name of the content (changes on copy-on-write)
  fileId: string;        // 32 hex: the content's identity, bound into its cryptography
  tag: string;           // 64 hex: the content's tag at the last flush the manifest recorded
  children: Map<string, Entry> | null;  // directories only
}

const MAGIC = Buffer.from('SHLDMAN1');
const VERSION = 1;
export const SECTION_BYTES = 64 * 1024;
export const RECORD_BYTES = 384;
const NAME_OFFSET = 128;
const MAX_REGIONS_JSON = SECTION_BYTES - 28;
const TYPE_CODES: Record<number, EntryType | null> = { 0: null, 1: 'file', 2: 'directory' };
const STORAGE_CODES: Storage[] = ['encrypted', 'authenticated'];
const ZERO_ID = '0'.repeat(32);
const ZERO_TAG = '0'.repeat(64);

export interface ProtectionFileOptions {
  key: Uint8Array;
  readOnly?: boolean;
  journal?: NativeJournal;
  expectedFileId?: string;
}

export class ProtectionFile {
  readonly #file: ShieldedFile;
  readonly #dirty = new Set<number>();
  readonly #free: number[] = [];
  readonly #slots: (Entry | null)[] = [];
  #counter = 0n;
  #regions: RegionTable = new RegionTable([]);
  #root: Entry | null = null;

  private constructor(file: ShieldedFile) {
    this.#file = file;
  }

// Its operations are steps (sync-or-async.ts): the volume runs them on this thread or asynchronously.

  /** A new manifest holding only the root directory; flushed (durable) before it returns. */
  static *create(path: string, options: ProtectionFileOptions & { regions: readonly Region[]; now: bigint; rootMode: number }): Steps<ProtectionFile> {
    const regionsJson = Buffer.from(JSON.stringify(options.regions));
    if (regionsJson.length > MAX_REGIONS_JSON) throw shieldError('EINVAL', `too many regions (${regionsJson.length} bytes of JSON; at most ${MAX_REGIONS_JSON})`);
    const file = yield* openShieldedFile(path, { key: options.key, create: true, journal: options.journal });
    const manifest = new ProtectionFile(file);
    manifest.#regions = new RegionTable(options.regions);
    const section = Buffer.alloc(28 + regionsJson.length);
    MAGIC.copy(section, 0);
    section.writeUInt32LE(VERSION, 8);
    section.writeUInt32LE(RECORD_BYTES, 12);
    section.writeBigUInt64LE(0n, 16);
    section.writeUInt32LE(regionsJson.length, 24);
    regionsJson.copy(section, 28);
    yield* writeContent(file, section, 0, section.length, 0);
    const root = newEntry(0, 'directory', 'encrypted', '', null, options.rootMode, options.now);
    manifest.#root = root;
    manifest.#slots.push(root);
    manifest.#dirty.add(0);
    yield* manifest.writeChanges();
    return manifest;
  }

  /** Opens the manifest: O(1), only its header is read and authenticated. Call load() for the entries. */
  static *open(path: string, options: ProtectionFileOptions): Steps<ProtectionFile> {
    const file = yield* openShieldedFile(path, {
      key: options.key, readOnly: options.readOnly, journal: options.journal, expectedFileId: options.expectedFileId,
    });
    return new ProtectionFile(file);
  }

  get tag(): string {
    return this.#file.tag;
  }

  get fileId(): string {
    return this.#file.fileId;
  }

  get counter(): bigint {
    return this.#counter;
  }

  get regions(): RegionTable {
    return this.#regions;
  }

  get root(): Entry {
    if (!this.#root) throw new Error('shieldfs: protection file not loaded');
    return this.#root;
  }

  get recordCount(): number {
    return this.#slots.length;
  }

  /** For verify: the manifest's bytes on disk that reading its records never looks at (ShieldedFile.verifyUnusedSlotsSync). */
  verifyUnusedSlotsSync(): void {
    this.#file.verifyUnusedSlotsSync();
  }

  /** Reads and checks every record (each byte is verified by the ShieldedFile on the way). */
  *load(): Steps<Entry> {
    const size = this.#file.size;
    const path = this.#file.path;
    if (size < SECTION_BYTES + RECORD_BYTES || (size - SECTION_BYTES) % RECORD_BYTES !== 0) {
      throw inconsistent(path, `its size ${size} is not a section plus whole records`);
    }
    const bytes = Buffer.allocUnsafe(size);
    const got = yield* readContent(this.#file, bytes, 0, size, 0);
    if (got !== size) throw inconsistent(path, 'it is shorter than its size');
    if (!bytes.subarray(0, 8).equals(MAGIC) || bytes.readUInt32LE(8) !== VERSION || bytes.readUInt32LE(12) !== RECORD_BYTES) {
      throw inconsistent(path, 'unknown section header');
    }
    this.#counter = bytes.readBigUInt64LE(16);
    const regionsLength = bytes.readUInt32LE(24);
    if (regionsLength > MAX_REGIONS_JSON) throw inconsistent(path, 'regions too long');
    try {
      this.#regions = new RegionTable(JSON.parse(bytes.toString('utf8', 28, 28 + regionsLength)) as Region[]);
    } catch {
      throw inconsistent(path, 'unreadable regions');
    }
    const count = (size - SECTION_BYTES) / RECORD_BYTES;
    const parents: number[] = new Array(count);
    for (let slot = 0; slot < count; slot++) {
      const entry = decodeRecord(bytes, SECTION_BYTES + slot * RECORD_BYTES, slot, path, parents);
      this.#slots.push(entry);
      if (!entry) this.#free.push(slot);
    }
    this.#link(parents, path);
    return this.root;
  }

  // Parents are slot numbers on disk; here they become a tree, checked to be one: a directory root
  // at slot 0, every entry under a directory, unique names, no cycles, nothing unreachable.
  #link(parents: number[], path: string): void {
    const root = this.#slots[0];
    if (!root || root.type !== 'directory' || root.name !== '' || parents[0] !== 0) throw inconsistent(path, 'bad root record');
    this.#root = root;
    for (let slot = 1; slot < this.#slots.length; slot++) {
      const entry = this.#slots[slot];
      if (!entry) continue;
      const parent = this.#slots[parents[slot]!];
      if (!parent || parent.type !== 'directory' || entry.name === '') throw inconsistent(path, `record ${slot} has no directory as parent`);
      if (parent === root && entry.name === RESERVED_NAME) throw inconsistent(path, `record ${slot} uses the reserved name`);
      if (parent.children!.has(entry.name)) throw inconsistent(path, `record ${slot} repeats the name of a sibling`);
      parent.children!.set(entry.name, entry);
      entry.parent = parent;
    }
    let reachable = 0;
    const pending: Entry[] = [root];
    while (pending.length > 0) {
      const directory = pending.pop()!;
      reachable++;
      for (const child of directory.children?.values() ?? []) {
        if (child.type === 'directory') pending.push(child);
        else reachable++;
      }
    }
    const used = this.#slots.length - this.#free.length;
    if (reachable !== used) throw inconsistent(path, 'records form a cycle');
  }

  /** A fresh entry in a free slot (not yet linked into its parent: the caller does that). */
  allocate(type: EntryType, storage: Storage, name: string, parent: Entry, mode: number, now: bigint): Entry {
    const slot = this.#free.pop() ?? this.#slots.length;
    const entry = newEntry(slot, type, storage, name, parent, mode, now);
    this.#slots[slot] = entry;
    this.#dirty.add(slot);
    return entry;
  }

  release(entry: Entry): void {
    this.#slots[entry.slot] = null;
    this.#free.push(entry.slot);
    this.#dirty.add(entry.slot);
  }

  markDirty(entry: Entry): void {
    this.#dirty.add(entry.slot);
  }

  get changed(): boolean {
    return this.#dirty.size > 0;
  }

  /** Writes every changed record and a new counter, then flushes: resolves to the manifest's new tag. */
  *writeChanges(): Steps<string> {
    const slots = [...this.#dirty].sort((a, b) => a - b);
    for (let first = 0; first < slots.length;) {
      let last = first;
      while (last + 1 < slots.length && slots[last + 1] === slots[last]! + 1) last++;
      const run = Buffer.alloc((last - first + 1) * RECORD_BYTES);
      for (let i = first; i <= last; i++) encodeRecord(this.#slots[slots[i]!] ?? null, run, (i - first) * RECORD_BYTES);
      yield* writeContent(this.#file, run, 0, run.length, SECTION_BYTES + slots[first]! * RECORD_BYTES);
      first = last + 1;
    }
    const counter = Buffer.alloc(8);
    counter.writeBigUInt64LE(this.#counter + 1n);
    yield* writeContent(this.#file, counter, 0, 8, 16);
    const tag = yield* flushContent(this.#file);
    this.#counter++;
    this.#dirty.clear();
    return tag;
  }

  *close(): Steps<void> {
    yield* closeContent(this.#file);
  }
}

function newEntry(slot: number, type: EntryType, storage: Storage, name: string, parent: Entry | null, mode: number, now: bigint): Entry {
  return {
    slot, type, storage, name, parent, mode, size: 0, mtimeNs: now, ctimeNs: now, birthtimeNs: now, atimeNs: now,
    objectId: ZERO_ID, fileId: ZERO_ID, tag: ZERO_TAG, children: type === 'directory' ? new Map() : null,
  };
}

// Record: type u8 | storage u8 | name length u16 | parent slot u32 | mode u32 | reserved u32 |
// size u64 | mtime, ctime, birthtime, atime ns i64 (before 1970: negative) | objectId 16 | fileId 16 | tag 32 | reserved
// to 128 | name (UTF-8, ≤ 255 bytes) | zeros to 384.
function encodeRecord(entry: Entry | null, out: Buffer, at: number): void {
  if (!entry) return;  // a free slot is all zeros
  const name = Buffer.from(entry.name);
  out.writeUInt8(entry.type === 'file' ? 1 : 2, at);
  out.writeUInt8(STORAGE_CODES.indexOf(entry.storage), at + 1);
  out.writeUInt16LE(name.length, at + 2);
  out.writeUInt32LE(entry.parent?.slot ?? 0, at + 4);
  out.writeUInt32LE(entry.mode, at + 8);
  out.writeBigUInt64LE(BigInt(entry.size), at + 16);
  out.writeBigInt64LE(entry.mtimeNs, at + 24);
  out.writeBigInt64LE(entry.ctimeNs, at + 32);
  out.writeBigInt64LE(entry.birthtimeNs, at + 40);
  out.writeBigInt64LE(entry.atimeNs, at + 48);
  out.write(entry.objectId, at + 56, 'hex');
  out.write(entry.fileId, at + 72, 'hex');
  out.write(entry.tag, at + 88, 'hex');
  name.copy(out, at + NAME_OFFSET);
}

function decodeRecord(bytes: Buffer, at: number, slot: number, path: string, parents: number[]): Entry | null {
  const type = TYPE_CODES[bytes[at]!];
  if (type === undefined) throw inconsistent(path, `record ${slot} has an unknown type`);
  if (type === null) {
    if (slot === 0) throw inconsistent(path, 'the root record is free');
    return null;
  }
  const storage = STORAGE_CODES[bytes[at + 1]!];
  const nameLength = bytes.readUInt16LE(at + 2);
  const parent = bytes.readUInt32LE(at + 4);
  const size = bytes.readBigUInt64LE(at + 16);
  if (!storage || nameLength > NAME_MAX || size > BigInt(Number.MAX_SAFE_INTEGER) || (slot > 0 && nameLength === 0)) {
    throw inconsistent(path, `record ${slot} is malformed`);
  }
  const name = bytes.toString('utf8', at + NAME_OFFSET, at + NAME_OFFSET + nameLength);
  if (name.includes('/') || name.includes('\0') || name === '.' || name === '..' || Buffer.byteLength(name) !== nameLength) {
    throw inconsistent(path, `record ${slot} has an impossible name`);
  }
  parents[slot] = parent;
  return {
    slot, type, storage, name, parent: null,
    mode: bytes.readUInt32LE(at + 8) & 0o7777,
    size: Number(size),
    mtimeNs: bytes.readBigInt64LE(at + 24),
    ctimeNs: bytes.readBigInt64LE(at + 32),
    birthtimeNs: bytes.readBigInt64LE(at + 40),
    atimeNs: bytes.readBigInt64LE(at + 48),
    objectId: bytes.toString('hex', at + 56, at + 72),
    fileId: bytes.toString('hex', at + 72, at + 88),
    tag: bytes.toString('hex', at + 88, at + 120),
    children: type === 'directory' ? new Map() : null,
  };
}

function inconsistent(path: string, why: string) {
  return shieldError('EINTEGRITY', `protection file ${path} is authentic but inconsistent (${why}); ` +
    'it was written by a faulty or hostile key holder: restore the volume from a trusted copy', path);
}

/** 16 random bytes as 32 hex characters: object names and identities. */
export function randomId(): string {
  return randomBytes(16).toString('hex');
}
