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

let positionChecksLength: boolean | null = null;
let mkdirModeName: string | null = null;

/**
 * A bigint position must be in -1 .. 2^63-1-length, and FileHandle.read checks its position as
 * fs.read does (Node 22 and later; Node 20 allows any int64 and lets FileHandle.read take anything
 * that is not a safe integer as the current position). Asked with readSync(0, …, 2n ** 63n), which
 * every line refuses before reading anything.
 */
export function positionRangeChecksLength(): boolean {
  if (positionChecksLength === null) {
    try {
      nodeFs.readSync(0, Buffer.alloc(1), 0, 1, 2n ** 63n);
      positionChecksLength = false;
    } catch (error) {
      positionChecksLength = /It must be >= -1 &&/.test((error as Error).message);
    }
  }
  return positionChecksLength;
}

/**
 * The name mkdir's mode check gives a `mode` from its options object: 'options.mode' (Node 22 and
 * later) or 'mode'. Asked with a mode that is refused before anything is made.
 */
export function mkdirOptionsModeName(): string {
  if (mkdirModeName === null) {
    try {
      nodeFs.mkdirSync('/proc/self/fd/-1/shieldfs-probe', { mode: 'x' as never });
      mkdirModeName = 'mode';
    } catch (error) {
      mkdirModeName = (error as Error).message.includes("'options.mode'") ? 'options.mode' : 'mode';
    }
  }
  return mkdirModeName;
}

let statChecksOptions: boolean | null = null;

/**
 * fs.stat (the callback form) checks an options object as getOptions does (its `encoding`; Node 24).
 * Asked with stat('/') and a bad encoding: refused at once, or a harmless stat of '/'.
 */
export function statCallbackChecksOptions(): boolean {
  if (statChecksOptions === null) {
    try {
      nodeFs.stat('/', { encoding: 'shieldfs-probe' } as never, () => {});
      statChecksOptions = false;
    } catch {
      statChecksOptions = true;
    }
  }
  return statChecksOptions;
}

/**
 * FileHandle.read truncates its length to an int32 (`length |= 0`) before its checks (Node 24 and
 * later). Not asked of node:fs: that would take a FileHandle, which opens asynchronously.
 */
export const handleReadTruncatesLength = Number(process.versions.node.split('.')[0]) >= 24;
