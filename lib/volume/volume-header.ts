// The volume header `.shieldfs/volume`: the few facts needed before anything else can be opened
// (identity, update policy, chunk size, which file is the manifest) and a key check. It is JSON so
// an operator can read it; a keyed MAC makes it tamper-evident (FORMAT.md, "Volume header").
import { hostFs } from '../file/host-fs.js';
import { dirname } from 'node:path';
import { randomBytes } from '../file/node-crypto.js';
import { equalInConstantTime } from '../file/keys.js';
import { replaceDurably } from '../file/durable-file.js';
import { native } from '../file/native.js';
import { shieldError } from '../file/fs-errors.js';

const { closeSync, constants, fstatSync, openSync, readSync } = hostFs;

export const UPDATE_POLICIES = ['rollback-protected', 'ephemeral', 'no-rollback-protection'] as const;
export type UpdatePolicy = (typeof UPDATE_POLICIES)[number];

export interface VolumeHeader {
  id: string;              // 32 hex: the volume's identity in the tag store
  updatePolicy: UpdatePolicy;
  chunkSize: number;       // of the files the volume creates
  manifestFileId: string;  // the protection file's fileId: another volume's manifest is refused
  created: string;         // ISO time, informational
}

const FORMAT_NAME = 'shieldfs-volume';
const VERSION = 1;
const MAX_HEADER_BYTES = 64 * 1024;
const KEY_CHECK_LABEL = 'shieldfs volume key check v1';
const HEADER_MAC_LABEL = 'shieldfs volume header v1';

export function writeVolumeHeader(path: string, key: Uint8Array, header: VolumeHeader): void {
  const keySalt = randomBytes(16).toString('hex');
  const body = { ...canonicalBody(header), keySalt };
  const keyCheck = digestHex(key, KEY_CHECK_LABEL, Buffer.from(keySalt, 'hex'));
  const mac = digestHex(key, HEADER_MAC_LABEL, Buffer.from(JSON.stringify({ ...body, keyCheck })));
  const text = JSON.stringify({ ...body, keyCheck, mac }, null, 2) + '\n';
  replaceDurably(path, text);
}

export function readVolumeHeader(path: string, key: Uint8Array): VolumeHeader {
  const text = readSmallRegularFile(path).toString('utf8');
  let parsed: Record<string, unknown>;
  try {
    parsed = JSON.parse(text) as Record<string, unknown>;
  } catch {
    throw damaged(path, 'it is not JSON');
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed) || parsed.format !== FORMAT_NAME) {
    throw damaged(path, 'no shieldfs-volume format tag');
  }
  // Like an unknown version of a shielded file (FORMAT.md): the MAC cannot be checked, so the host
  // may have written it; EINTEGRITY, with the version named for the honest case of a newer shieldfs.
  if (parsed.version !== VERSION) {
    throw damaged(path, `unknown version ${JSON.stringify(parsed.version) ?? 'undefined'}; this shieldfs reads version ${VERSION}`);
  }
  const header = checkFields(parsed, path);
  // The key check has a salt of its own, so damage to any other field is EINTEGRITY, never EBADKEY.
  const keySalt = parsed.keySalt as string;
  const keyCheck = digestHex(key, KEY_CHECK_LABEL, Buffer.from(keySalt, 'hex'));
  if (typeof parsed.keyCheck !== 'string' || !equalHex(parsed.keyCheck, keyCheck)) {
    throw shieldError('EBADKEY', `the key does not open volume ${dirname(dirname(path))} (key check failed); ` +
      'use the key file the volume was created with', path);
  }
  const mac = digestHex(key, HEADER_MAC_LABEL, Buffer.from(JSON.stringify({ ...canonicalBody(header), keySalt, keyCheck })));
  if (typeof parsed.mac !== 'string' || !equalHex(parsed.mac, mac)) throw damaged(path, 'its MAC does not match');
  return header;
}

// The host may put anything in the header's place: a FIFO (an open that blocks forever), a device
// (/dev/zero: a read that never ends) or a huge file. Open without blocking, accept only a regular
// file of plausible size, and read no more than that.
function readSmallRegularFile(path: string): Buffer {
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
      throw shieldError('ENOENT', `'${dirname(dirname(path))}' is not a shieldfs volume (no ${path}); ` +
        'create one with `shield volume create`', dirname(dirname(path)));
    }
    if ((error as NodeJS.ErrnoException).code === 'EISDIR') throw damaged(path, 'it is a directory');
    throw error;
  }
  try {
    const stat = fstatSync(fd);
    if (!stat.isFile()) throw damaged(path, 'it is not a regular file');
    if (stat.size > MAX_HEADER_BYTES) throw damaged(path, 'it is too large');
    const bytes = Buffer.alloc(stat.size);
    let got = 0;
    while (got < bytes.length) {
      const n = readSync(fd, bytes, got, bytes.length - got, got);
      if (n === 0) break;
      got += n;
    }
    return bytes.subarray(0, got);
  } finally {
    closeSync(fd);
  }
}

function checkFields(parsed: Record<string, unknown>, path: string): VolumeHeader {
  const { id, updatePolicy, chunkSize, manifestFileId, created } = parsed;
  if (typeof id !== 'string' || !/^[0-9a-f]{32}$/.test(id)) throw damaged(path, 'bad id');
  if (!UPDATE_POLICIES.includes(updatePolicy as UpdatePolicy)) throw damaged(path, 'bad updatePolicy');
  if (typeof chunkSize !== 'number' || !Number.isInteger(chunkSize) || chunkSize < 4096 || chunkSize > 1 << 20 ||
      (chunkSize & (chunkSize - 1)) !== 0) throw damaged(path, 'bad chunkSize');
  if (typeof manifestFileId !== 'string' || !/^[0-9a-f]{32}$/.test(manifestFileId)) throw damaged(path, 'bad manifestFileId');
  if (typeof created !== 'string' || created.length > 64) throw damaged(path, 'bad created');
  // A missing or malformed key check is damage; only a well-formed one that differs means another key.
  if (typeof parsed.keySalt !== 'string' || !/^[0-9a-f]{32}$/.test(parsed.keySalt)) throw damaged(path, 'bad keySalt');
  if (typeof parsed.keyCheck !== 'string' || !/^[0-9a-f]{64}$/.test(parsed.keyCheck)) throw damaged(path, 'bad keyCheck');
  // Checked here, before any comparison: a MAC of another length or alphabet is damage, and the
  // constant-time compare below then always sees two digests of 32 bytes.
  if (typeof parsed.mac !== 'string' || !/^[0-9a-f]{64}$/.test(parsed.mac)) throw damaged(path, 'bad mac: expected 64 lowercase hex digits');
  return { id, updatePolicy: updatePolicy as UpdatePolicy, chunkSize, manifestFileId, created };
}

function canonicalBody(header: VolumeHeader) {
  return {
    format: FORMAT_NAME, version: VERSION, id: header.id, updatePolicy: header.updatePolicy,
    chunkSize: header.chunkSize, manifestFileId: header.manifestFileId, created: header.created,
  };
}

function damaged(path: string, why: string) {
  return shieldError('EINTEGRITY', `volume header ${path} was altered or damaged (${why}); ` +
    'restore the volume directory from a trusted copy', path);
}

function digestHex(key: Uint8Array, label: string, message: Uint8Array): string {
  return native.keyedDigest(key, label, message).toString('hex');
}

/** Two digests given as 64 hex digits each (both checked by the caller), compared in constant time. */
function equalHex(a: string, b: string): boolean {
  const [x, y] = [Buffer.from(a, 'hex'), Buffer.from(b, 'hex')];
  return x.length === 32 && y.length === 32 && equalInConstantTime(x, y);
}
