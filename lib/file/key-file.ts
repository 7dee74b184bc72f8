// Volume keys as users hand them over: a key file (32 raw bytes, or 64 hex characters with an optional
// trailing newline, as `shield volume create` writes it) or 64 hex characters given directly (a mount
// configuration's `key`, or the environment variable its `keyEnv` names). Shared by the CLI and the
// mount configuration so that both accept exactly the same keys. Messages never show key material.
import { readFileSync } from 'node:fs';
import { importKey } from './keys.js';
import { shieldError } from './fs-errors.js';

const HEX_KEY = /^[0-9a-fA-F]{64}$/;

/** The key in a key file, in secure memory. ENOENT/EACCES/… name the file; anything else in it is EINVAL. */
export function readKeyFile(path: string): Buffer {
  let bytes: Buffer;
  try {
    bytes = readFileSync(path);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? 'EIO';
    throw shieldError(code, `cannot read key file ${path} (${code}); give the file written by \`shield volume create\``, path);
  }
  try {
    if (bytes.length === 32) return importKey(bytes);
    const text = bytes.toString('latin1').trim();
    if (HEX_KEY.test(text)) return importKey(text);
    throw shieldError('EINVAL', `key file ${path} holds ${bytes.length} bytes: a key file is 32 raw bytes or 64 hex characters`, path);
  } finally {
    bytes.fill(0);
  }
}

/** A key given as text (64 hex characters, surrounding whitespace ignored); `what` says where it came from. */
export function keyFromHex(text: string, what: string): Buffer {
  const trimmed = text.trim();
  if (!HEX_KEY.test(trimmed)) {
    throw shieldError('EINVAL', `${what} is not a key: expected 64 hex characters, got ${trimmed.length} characters`);
  }
  return importKey(trimmed);
}

/** True for 64 hex characters (surrounding whitespace ignored), without importing the key. */
export function isHexKey(text: string): boolean {
  return HEX_KEY.test(text.trim());
}
