// Where node:fs itself behaves differently from one Node line to the next, the shield does what the
// running Node does. Each difference is asked of the real node:fs once, the first time it matters,
// with a call that touches nothing (no file is created, nothing is written), rather than guessed
// from a version number: a backport to an older line is then followed too.
import * as nodeFs from 'node:fs';

let statSyncMissingDirectory: boolean | null = null;
let nativeCpSyncChecks: boolean | null = null;

/**
 * statSync(path, { throwIfNoEntry: false }) returns undefined when a component of the path is not a
 * directory (ENOTDIR), not only when the entry is missing (Node 22 and later; Node 20 throws ENOTDIR).
 * lstatSync still throws ENOTDIR on every line.
 */
export function statSyncIgnoresNotADirectory(): boolean {
  if (statSyncMissingDirectory === null) {
    try {
      statSyncMissingDirectory = nodeFs.statSync('/dev/null/x', { throwIfNoEntry: false }) === undefined;
    } catch {
      statSyncMissingDirectory = false;
    }
  }
  return statSyncMissingDirectory;
}

/**
 * cpSync checks its two top-level paths in C++ (Node 22 and later): the refusals (same path, into
 * itself, a directory without `recursive`, directory onto file and back) are plain Errors with an
 * ERR_FS_CP_* code and a message naming the paths, not SystemErrors with errno, syscall and path.
 * Asked with cpSync('/', '/'), which fails its first check before anything is copied.
 */
export function cpSyncChecksNatively(): boolean {
  if (nativeCpSyncChecks === null) {
    try {
      nodeFs.cpSync('/', '/');
      nativeCpSyncChecks = false;
    } catch (error) {
      nativeCpSyncChecks = (error as Error).name !== 'SystemError';
    }
  }
  return nativeCpSyncChecks;
}

/** The plain Error node's C++ cpSync checks throw. */
export function nativeCpError(code: string, message: string): Error {
  return Object.assign(new Error(message), { code });
}
