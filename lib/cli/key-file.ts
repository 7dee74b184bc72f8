// Key files: 32 raw bytes, or 64 hex characters (a trailing newline is fine). `volume create`
// writes a fresh one (hex, mode 0600) when the file does not exist yet.
import { closeSync, fsyncSync, openSync, readFileSync, writeSync } from 'node:fs';
import { generateKey, importKey, wipeKey } from '../keys.js';
import { shieldError } from '../fs-errors.js';

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
    if (/^[0-9a-fA-F]{64}$/.test(text)) return importKey(text);
    throw shieldError('EINVAL', `key file ${path} holds ${bytes.length} bytes: a key file is 32 raw bytes or 64 hex characters`, path);
  } finally {
    bytes.fill(0);
  }
}

/** Reads the key file, or creates it with a fresh random key when it does not exist. */
export function readOrCreateKeyFile(path: string): { key: Buffer; created: boolean } {
  let fd: number;
  try {
    fd = openSync(path, 'wx', 0o600);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') return { key: readKeyFile(path), created: false };
    const code = (error as NodeJS.ErrnoException).code ?? 'EIO';
    throw shieldError(code, `cannot create key file ${path} (${code})`, path);
  }
  const key = generateKey();
  const hex = Buffer.from(key.toString('hex') + '\n');
  try {
    writeSync(fd, hex);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
    hex.fill(0);
  }
  return { key, created: true };
}

export { wipeKey };
