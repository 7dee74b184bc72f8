// The cryptography of attested release (PROTOCOL.md, "Release"): nonces, the report data that binds a
// request to its evidence, and the response sealed to the instance's ephemeral key.
//
//   report data = SHA-512("shieldfs-release-v1\0" ‖ nonce ‖ instance X25519 public key ‖ SHA-256(canonical claims))
//   shared      = X25519(service ephemeral, instance ephemeral)
//   key         = HKDF-SHA256(shared, salt = nonce, info = "shieldfs-release-v1 key" ‖ instance pub ‖ service pub)
//   response    = AES-256-GCM(key, random 96-bit IV, AAD = "shieldfs-release-v1" ‖ nonce ‖ instance pub ‖ service pub)
//   signature   = ECDSA-P256-SHA256 by the service's identity key over AAD ‖ IV ‖ ciphertext
//
// Each response key is derived from a fresh service key pair and used for one encryption, so the
// random IV can never repeat under it.
import {
  createCipheriv, createDecipheriv, createHash, createHmac, createPublicKey, diffieHellman, generateKeyPairSync,
  hkdfSync, randomBytes, sign, verify, type KeyObject,
} from 'node:crypto';
import { refusal, casError } from './errors.js';
import { canonicalJson, equalBytes } from './crypto.js';

const LABEL = 'shieldfs-release-v1';
export const NONCE_BYTES = 40;
export const NONCE_LIFETIME_MS = 60_000;
const NONCE_RANDOM = 16, NONCE_EXPIRY = 8, NONCE_MAC = 16;

// ---------------------------------------------------------------------------------------------
// Nonces: random ‖ expiry (ms, big-endian) ‖ HMAC. The service needs no write to hand one out; it
// records a nonce as used in the same transaction as the release that uses it (single use).

export function issueNonce(nonceKey: Uint8Array, now: number): Buffer {
  const body = Buffer.alloc(NONCE_RANDOM + NONCE_EXPIRY);
  randomBytes(NONCE_RANDOM).copy(body, 0);
  body.writeBigUInt64BE(BigInt(now + NONCE_LIFETIME_MS), NONCE_RANDOM);
  const mac = createHmac('sha256', nonceKey).update(body).digest().subarray(0, NONCE_MAC);
  return Buffer.concat([body, mac]);
}

/** Checks a nonce's MAC and expiry; returns the name under which its use is recorded. */
export function checkNonce(nonceKey: Uint8Array, nonce: Uint8Array, now: number): { usedRecord: string; expires: number } {
  if (nonce.length !== NONCE_BYTES) throw refusal('EATTEST', `the nonce is ${nonce.length} bytes, not ${NONCE_BYTES}: ask the service for a fresh one`);
  const body = Buffer.from(nonce.subarray(0, NONCE_RANDOM + NONCE_EXPIRY));
  const mac = createHmac('sha256', nonceKey).update(body).digest().subarray(0, NONCE_MAC);
  if (!equalBytes(mac, nonce.subarray(NONCE_RANDOM + NONCE_EXPIRY))) throw refusal('EATTEST', 'the nonce was not issued by this service: ask it for a fresh one');
  const expires = Number(body.readBigUInt64BE(NONCE_RANDOM));
  if (expires <= now) throw refusal('EATTEST', `the nonce expired ${Math.round((now - expires) / 1000)} s ago: evidence must be made with a fresh nonce (a replay?)`);
  return { usedRecord: `nonce-used/${expires.toString(16).padStart(12, '0')}/${body.subarray(0, NONCE_RANDOM).toString('hex')}`, expires };
}

// ---------------------------------------------------------------------------------------------
// Report data

/** What the instance asks for, bound into its evidence. */
export interface ReleaseClaims {
  session: string;
  service: string;
  /** The command and arguments given on the host, if any (the service refuses one that differs from the policy's). */
  hostCommand: string[] | null;
}

export function reportDataFor(nonce: Uint8Array, instancePublicKey: Uint8Array, claims: ReleaseClaims): Buffer {
  const claimsDigest = createHash('sha256').update(canonicalJson(claims)).digest();
  return createHash('sha512').update(`${LABEL}\0`).update(nonce).update(instancePublicKey).update(claimsDigest).digest();
}

// ---------------------------------------------------------------------------------------------
// Ephemeral keys and the sealed response

export interface EphemeralKeyPair {
  privateKey: KeyObject;
  /** Raw 32-byte X25519 public key. */
  publicKey: Buffer;
}

export function ephemeralKeyPair(): EphemeralKeyPair {
  const { privateKey, publicKey } = generateKeyPairSync('x25519');
  return { privateKey, publicKey: rawX25519(publicKey) };
}

function rawX25519(publicKey: KeyObject): Buffer {
  return Buffer.from(publicKey.export({ format: 'jwk' }).x!, 'base64url');
}

export function x25519PublicKey(raw: Uint8Array): KeyObject {
  if (raw.length !== 32) throw refusal('EATTEST', `the instance public key is ${raw.length} bytes, not a 32-byte X25519 key`);
  return createPublicKey({ key: { kty: 'OKP', crv: 'X25519', x: Buffer.from(raw).toString('base64url') }, format: 'jwk' });
}

export interface SealedResponse {
  servicePublicKey: string;  // base64
  iv: string;
  ciphertext: string;
  signature: string;
}

function context(nonce: Uint8Array, instancePublic: Uint8Array, servicePublic: Uint8Array): Buffer {
  return Buffer.concat([Buffer.from(LABEL), nonce, instancePublic, servicePublic]);
}

function responseKey(shared: Buffer, nonce: Uint8Array, instancePublic: Uint8Array, servicePublic: Uint8Array): Buffer {
  return Buffer.from(hkdfSync('sha256', shared, nonce, Buffer.concat([Buffer.from(`${LABEL} key`), instancePublic, servicePublic]), 32));
}

/** The service side: encrypts `plaintext` to the instance's key and signs it with the service's identity key. */
export function sealResponse(plaintext: Uint8Array, nonce: Uint8Array, instancePublic: Uint8Array, signingKey: KeyObject): SealedResponse {
  const ours = ephemeralKeyPair();
  const shared = diffieHellman({ privateKey: ours.privateKey, publicKey: x25519PublicKey(instancePublic) });
  const key = responseKey(shared, nonce, instancePublic, ours.publicKey);
  shared.fill(0);
  try {
    const iv = randomBytes(12);
    const aad = context(nonce, instancePublic, ours.publicKey);
    const cipher = createCipheriv('aes-256-gcm', key, iv);
    cipher.setAAD(aad);
    const ciphertext = Buffer.concat([cipher.update(plaintext), cipher.final(), cipher.getAuthTag()]);
    const signature = sign('sha256', Buffer.concat([aad, iv, ciphertext]), signingKey);
    return { servicePublicKey: ours.publicKey.toString('base64'), iv: iv.toString('base64'), ciphertext: ciphertext.toString('base64'), signature: signature.toString('base64') };
  } finally {
    key.fill(0);
  }
}

/** The instance side: checks the service's signature, then decrypts. Any change is EATTEST. */
export function openResponse(response: SealedResponse, nonce: Uint8Array, ours: EphemeralKeyPair, servicePublicKey: KeyObject): Buffer {
  const field = (name: keyof SealedResponse, max: number): Buffer => {
    const value = response?.[name];
    if (typeof value !== 'string' || value.length > max) throw casError('EATTEST', `the release response has no valid ${name}`, 502);
    return Buffer.from(value, 'base64');
  };
  const theirs = field('servicePublicKey', 64), iv = field('iv', 32), ciphertext = field('ciphertext', 4 << 20), signature = field('signature', 256);
  if (theirs.length !== 32 || iv.length !== 12 || ciphertext.length < 16) throw casError('EATTEST', 'the release response is malformed (key, IV or ciphertext of the wrong size)', 502);
  const aad = context(nonce, ours.publicKey, theirs);
  if (!verify('sha256', Buffer.concat([aad, iv, ciphertext]), servicePublicKey, signature)) {
    throw casError('EATTEST', 'the release response is not signed by the pinned policy service: it was altered on the way; nothing was started', 502);
  }
  const shared = diffieHellman({ privateKey: ours.privateKey, publicKey: x25519PublicKey(theirs) });
  const key = responseKey(shared, nonce, ours.publicKey, theirs);
  shared.fill(0);
  try {
    const decipher = createDecipheriv('aes-256-gcm', key, iv);
    decipher.setAAD(aad);
    decipher.setAuthTag(ciphertext.subarray(ciphertext.length - 16));
    return Buffer.concat([decipher.update(ciphertext.subarray(0, ciphertext.length - 16)), decipher.final()]);
  } catch {
    throw casError('EATTEST', 'the release response does not decrypt under this instance\'s key: it was altered or made for another instance', 502);
  } finally {
    key.fill(0);
  }
}
