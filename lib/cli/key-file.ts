// Key files: 32 raw bytes, or 64 hex characters (a trailing newline is fine); reading them is
// lib/file/key-file.ts, shared with the mount configuration. `volume create` and `protect` write a fresh
// one (hex, mode 0600) when the file does not exist yet.
import { closeSync, fsyncSync, openSync, writeSync } from 'node:fs';
import { generateKey, wipeKey } from '../file/keys.js';
import { shieldError } from '../file/fs-errors.js';
import { readKeyFile } from '../file/key-file.js';

export { readKeyFile };

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
