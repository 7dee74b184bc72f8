// How the kernel reads a spelling inside a mount, and small checks the operations share: the
// components before '.' or '..', a trailing slash, names that are not UTF-8, a directory opened
// read-only, a tree removed entry by entry.
import { fsError } from '../file/fs-errors.js';
import type { parseOpenFlags } from '../volume/open-flags.js';
import { joinVolumePath } from '../volume/volume-path.js';
import { relabel } from './caller-paths.js';
import type { Mount, MountedPath } from './mount-table.js';

/** EINVAL for a name that is not valid UTF-8 (MountedPath.notUtf8), saying why. */
export function notUtf8Name(at: MountedPath, syscall: string): Error {
  const error = fsError('EINVAL', syscall, at.virtual);
  error.message += ': a name inside a protected mount must be valid UTF-8';
  return error;
}

export function removeTree(volume: Mount['volume'], inner: string): void {
  for (const entry of volume.readdirEntries(inner)) {
    const child = joinVolumePath(inner, entry.name);
    if (entry.type === 'directory') removeTree(volume, child);
    else volume.unlink(child);
  }
  volume.rmdir(inner);
}

// The kernel looks up every component of a spelling: a name before '.' or '..' must be a
// directory, and with a trailing slash the final name too when it exists.
export function checkSpelling(at: MountedPath, syscall: string, final: boolean): void {
  const typeOf = (inner: string): string | null => {
    try {
      return at.mount.volume.stat(inner).type;
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') return null;
      if (code === 'ENOTDIR') return 'file';
      throw relabel(error, at, syscall);
    }
  };
  for (const inner of at.directories ?? []) {
    const type = typeOf(inner);
    if (type !== 'directory') throw fsError(type === null ? 'ENOENT' : 'ENOTDIR', syscall, at.virtual);
  }
  if (at.trailingSlash && final) {
    const type = typeOf(at.inner);
    if (type !== null && type !== 'directory') throw fsError('ENOTDIR', syscall, at.virtual);
  }
}

// open(dir, O_RDONLY) succeeds on Linux; any write access or O_CREAT on a directory is EISDIR.
export function opensAsDirectory(error: unknown, at: MountedPath, flags: ReturnType<typeof parseOpenFlags>): boolean {
  if ((error as NodeJS.ErrnoException).code !== 'EISDIR' || flags.write || flags.create) return false;
  return attempt(() => at.mount.volume.stat(at.inner).type === 'directory', false);
}

export function attempt<T>(action: () => T, fallback: T): T {
  try {
    return action();
  } catch {
    return fallback;
  }
}

