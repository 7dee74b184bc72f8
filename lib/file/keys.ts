// Key material on the JavaScript side lives in libsodium's guarded memory (sodium_malloc: locked,
// surrounded by guard pages, wiped on free).
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { invalidArgument } from './errors.js';

interface Sodium {
  sodium_malloc(size: number): Buffer;
  sodium_memcmp(a: Uint8Array, b: Uint8Array): boolean;
  randombytes_buf(buffer: Buffer): void;
  sodium_memzero(buffer: Buffer): void;
}

const sodium = loadSodium();

// sodium-native's index.js is its binary and nothing else, found by require-addon, whose resolver
// (a dozen modules) costs a process more start-up time than libsodium itself. So the binary is
// required directly when it is the one require-addon would load: the first of the prebuilds it
// tries for this machine (prebuilds/<platform>-<arch>[-musl]/sodium-native@<version>.node, then
// …/sodium-native.node). Anything else (a build from source, another layout) goes through
// sodium-native.
function loadSodium(): Sodium {
  const require = createRequire(import.meta.url);
  try {
    const packageFile = require.resolve('sodium-native/package.json');
    const { name, version } = require(packageFile) as { name?: unknown; version?: unknown };
    const musl = process.platform === 'linux' && existsSync('/etc/alpine-release');
    const prebuilds = join(dirname(packageFile), 'prebuilds', `${process.platform}-${process.arch}${musl ? '-musl' : ''}`);
    for (const file of [`${String(name)}@${String(version)}.node`, `${String(name)}.node`]) {
      if (name === 'sodium-native' && typeof version === 'string' && existsSync(join(prebuilds, file))) {
        return require(join(prebuilds, file)) as Sodium;
      }
    }
  } catch {
    // sodium-native says why below
  }
  return require('sodium-native') as Sodium;
}

export const KEY_BYTES = 32;

/**
 * Whether two byte strings are equal, in time that depends on their length only (libsodium's
 * sodium_memcmp, as node:crypto's timingSafeEqual; without loading node:crypto: node-crypto.ts).
 * Strings of different lengths are unequal (lengths are not secret).
 */
export function equalInConstantTime(a: Uint8Array, b: Uint8Array): boolean {
  return a.byteLength === b.byteLength && sodium.sodium_memcmp(a, b);
}

/** 32 fresh random bytes in secure memory. */
export function generateKey(): Buffer {
  const key = sodium.sodium_malloc(KEY_BYTES);
  sodium.randombytes_buf(key);
  return key;
}

/** A 32-byte key from raw bytes or 64 hex characters, copied into secure memory. */
export function importKey(material: Uint8Array | string): Buffer {
  const parsed = typeof material === 'string' ? parseHexKey(material.trim()) : null;
  const bytes = parsed ?? (material as Uint8Array);
  try {
    if (bytes.byteLength !== KEY_BYTES) throw invalidArgument(`a key is ${KEY_BYTES} bytes, got ${bytes.byteLength}`);
    const key = sodium.sodium_malloc(KEY_BYTES);
    key.set(bytes);
    return key;
  } finally {
    if (parsed) sodium.sodium_memzero(parsed);  // our temporary copy; the caller's bytes are theirs
  }
}

/** Overwrites a key with zeros once it is no longer needed. */
export function wipeKey(key: Buffer): void {
  sodium.sodium_memzero(key);
}

function parseHexKey(hex: string): Buffer {
  if (!/^[0-9a-fA-F]{64}$/.test(hex)) throw invalidArgument('a hex key is 64 hex characters');
  return Buffer.from(hex, 'hex');
}

export function checkKey(key: unknown): Uint8Array {
  if (!(key instanceof Uint8Array) || key.byteLength !== KEY_BYTES) {
    throw invalidArgument(`key must be a ${KEY_BYTES}-byte Buffer or Uint8Array (see generateKey())`);
  }
  return key;
}
