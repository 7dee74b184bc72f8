// Small files replaced so that a crash leaves the old or the new content, both durable, never a torn
// one: write a temporary file beside it, fsync, rename over it, fsync the directory. Each durable
// step is a crash point of the tests (SHIELDFS_CRASH_AT), counted with the native core's.
import { hostFs } from './host-fs.js';
import { randomBytes } from './node-crypto.js';
import { basename, dirname, join } from 'node:path';
import { fsError } from './fs-errors.js';
import { native } from './native.js';

const { closeSync, fsyncSync, openSync, readdirSync, renameSync, unlinkSync, writeSync } = hostFs;

/** Replaces `path` with `content` (mode 0600). Throws the underlying fs error. */
export function replaceDurably(path: string, content: string | Uint8Array): void {
  const directory = dirname(path);
  const temp = join(directory, `${temporaryPrefix(path)}${process.pid}.${randomBytes(6).toString('hex')}.tmp`);
  try {
    const fd = openSync(temp, 'wx', 0o600);
    try {
      const bytes = typeof content === 'string' ? Buffer.from(content, 'utf8') : content;
      for (let written = 0; written < bytes.length;) {
        native.crashPoint('write');
        written += writeSync(fd, bytes, written);
      }
      native.crashPoint('fdatasync');
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    native.crashPoint('rename');
    renameSync(temp, path);
  } catch (error) {
    try {
      unlinkSync(temp);
    } catch {
      // never created, or already renamed
    }
    throw error;
  }
  // Without this the rename itself may not survive a crash, and the old content would come back.
  native.crashPoint('fdatasync');
  syncPath(directory);
}

/**
 * Deletes the temporary files replaceDurably() left beside `path` when a process died between
 * writing one and renaming it. Only call this while no one else can be replacing `path` (under its
 * lock): best effort, a leftover costs disk space, never correctness.
 */
export function removeStaleTemporaries(path: string): void {
  const prefix = temporaryPrefix(path);
  try {
    for (const name of readdirSync(dirname(path))) {
      if (name.startsWith(prefix) && name.endsWith('.tmp')) unlinkSync(join(dirname(path), name));
    }
  } catch {
    // as documented
  }
}

/** fsync of a file or directory by name. */
export function syncPath(path: string): void {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (error) {
    throw fsError((error as NodeJS.ErrnoException).code ?? 'EIO', 'open', path);
  }
  try {
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
}

function temporaryPrefix(path: string): string {
  return `.${basename(path)}.`;
}
