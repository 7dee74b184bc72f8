// The few primitives the policy service builds on, all from node:crypto: fingerprints of public keys,
// constant-time comparison, records sealed at rest, canonical JSON. Nothing here invents a cipher.
import { createHash, createHmac, hkdfSync, randomBytes, timingSafeEqual, createCipheriv, createDecipheriv, type KeyObject } from 'node:crypto';
import { casError } from './errors.js';

/** SHA-256 of the key's SubjectPublicKeyInfo (DER), 64 lowercase hex: how keys are named everywhere. */
export function fingerprintOf(publicKey: KeyObject): string {
  return createHash('sha256').update(publicKey.export({ type: 'spki', format: 'der' })).digest('hex');
}

export const FINGERPRINT = /^[0-9a-f]{64}$/;

export function isFingerprint(value: unknown): value is string {
  return typeof value === 'string' && FINGERPRINT.test(value);
}

/** Equal strings of hex (fingerprints, MACs) compared without an early exit. */
export function equalHex(a: string, b: string): boolean {
  const left = Buffer.from(a, 'utf8'), right = Buffer.from(b, 'utf8');
  if (left.length !== right.length) return false;
  return timingSafeEqual(left, right);
}

export function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}

export function sha256Hex(...parts: (string | Uint8Array)[]): string {
  const hash = createHash('sha256');
  for (const part of parts) hash.update(part);
  return hash.digest('hex');
}

/**
 * JSON with object keys sorted (by UTF-16 code units, as Array.prototype.sort does) and no
 * whitespace: one text for one value, whatever order the fields were written in. Only strings,
 * integers, booleans, null, arrays and plain objects occur in what we hash.
 */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value === 'boolean' || typeof value === 'string') return JSON.stringify(value);
  if (typeof value === 'number') {
    if (!Number.isSafeInteger(value)) throw new TypeError(`canonical JSON holds only safe integers, got ${value}`);
    return String(value);
  }
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>).filter(([, v]) => v !== undefined);
    entries.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`;
  }
  throw new TypeError(`canonical JSON cannot hold ${typeof value}`);
}

// ---------------------------------------------------------------------------------------------
// Records at rest

const SEALED_VERSION = 1;
const SALT_BYTES = 16, IV_BYTES = 12, TAG_BYTES = 16;
const RECORD_KEY_INFO = Buffer.from('shieldfs-cas-record-v1');
const INDEX_KEY_INFO = Buffer.from('shieldfs-cas-index-v1');
const NONCE_KEY_INFO = Buffer.from('shieldfs-cas-nonce-v1');

/**
 * Seals and opens the store's records under the master key. Every record gets its own AES-256-GCM key,
 * derived with HKDF-SHA256 from the master key and a fresh 16-byte salt, so a (key, IV) pair is used
 * once and there is no per-key message budget to track; the record's name is the associated data, so
 * the host cannot move a sealed value to another name.
 */
export class RecordSealer {
  readonly #master: Buffer;
  readonly #indexKey: Buffer;
  /** The key of the service's stateless nonces (release.ts). */
  readonly nonceKey: Buffer;

  constructor(masterKey: Uint8Array) {
    if (masterKey.length !== 32) throw casError('EINVAL', `the master key must be 32 bytes, got ${masterKey.length}`, 500);
    this.#master = Buffer.from(masterKey);
    this.#indexKey = Buffer.from(hkdfSync('sha256', this.#master, Buffer.alloc(0), INDEX_KEY_INFO, 32));
    this.nonceKey = Buffer.from(hkdfSync('sha256', this.#master, Buffer.alloc(0), NONCE_KEY_INFO, 32));
  }

  seal(name: string, plaintext: Uint8Array): Buffer {
    const salt = randomBytes(SALT_BYTES), iv = randomBytes(IV_BYTES);
    const key = Buffer.from(hkdfSync('sha256', this.#master, salt, RECORD_KEY_INFO, 32));
    try {
      const cipher = createCipheriv('aes-256-gcm', key, iv);
      cipher.setAAD(Buffer.from(name, 'utf8'));
      const body = Buffer.concat([cipher.update(plaintext), cipher.final()]);
      return Buffer.concat([Buffer.from([SEALED_VERSION]), salt, iv, body, cipher.getAuthTag()]);
    } finally {
      key.fill(0);
    }
  }

  open(name: string, sealed: Uint8Array): Buffer {
    const bytes = Buffer.from(sealed.buffer, sealed.byteOffset, sealed.byteLength);
    if (bytes.length < 1 + SALT_BYTES + IV_BYTES + TAG_BYTES || bytes[0] !== SEALED_VERSION) {
      throw casError('EINTEGRITY', `store record ${name} is not a sealed record of this service (damaged or planted)`, 500);
    }
    const salt = bytes.subarray(1, 1 + SALT_BYTES), iv = bytes.subarray(1 + SALT_BYTES, 1 + SALT_BYTES + IV_BYTES);
    const body = bytes.subarray(1 + SALT_BYTES + IV_BYTES, bytes.length - TAG_BYTES), tag = bytes.subarray(bytes.length - TAG_BYTES);
    const key = Buffer.from(hkdfSync('sha256', this.#master, salt, RECORD_KEY_INFO, 32));
    try {
      const decipher = createDecipheriv('aes-256-gcm', key, iv);
      decipher.setAAD(Buffer.from(name, 'utf8'));
      decipher.setAuthTag(tag);
      return Buffer.concat([decipher.update(body), decipher.final()]);
    } catch {
      throw casError('EBADKEY', `store record ${name} does not open under this master key: the wrong --master-key-file, or the record was altered`, 500);
    } finally {
      key.fill(0);
    }
  }

  /** A store key for names the host should not read (session names): kind/HMAC(name). */
  indexName(kind: string, ...parts: string[]): string {
    return `${kind}/${createHmac('sha256', this.#indexKey).update(parts.join('\0')).digest('hex').slice(0, 40)}`;
  }

  wipe(): void {
    this.#master.fill(0);
    this.#indexKey.fill(0);
    this.nonceKey.fill(0);
  }
}
