// fs.cp for copies that start or end inside a mount, following node's own cp (lib/internal/fs/cp):
// the same checks in the same order, the same SystemErrors, the same filter, force, errorOnExist,
// preserveTimestamps and modes. Each side is read and written through the shield's operations or
// the real node:fs, so either side may be real or protected. One implementation for cpSync, cp and
// fs.promises.cp: where node's sync and async versions differ (one errno), isAsync() says which.
import type * as nodeFs from 'node:fs';
import { constants } from 'node:os';
import { dirname, join, resolve, sep } from 'node:path';
import gensync from 'gensync';
import type { Steps } from '../file/sync-or-async.js';
import { pathText } from './mount-table.js';
import { invalidArgType, systemError } from './node-errors.js';
import { cpSyncChecksNatively, nativeCpError } from './node-behaviour.js';
import { isAsync, type ShieldOperations } from './operations.js';
import { nodeCall } from './real-fs.js';

const { EEXIST, EINVAL, EISDIR, ENOTDIR } = constants.errno;

interface CopyOptions {
  dereference: boolean;
  errorOnExist: boolean;
  filter?: (source: string, destination: string) => boolean | Promise<boolean>;
  force: boolean;
  mode: number;
  preserveTimestamps: boolean;
  recursive: boolean;
}

/** A filter's answer: awaited by the asynchronous forms; cpSync needs a boolean (as node). */
const filterAnswer = gensync({
  sync: (answer: unknown): boolean => {
    if (answer instanceof Promise) {
      throw Object.assign(new TypeError(`Expected a boolean to be returned from the "filter" function, but got an instance of Promise.`),
        { code: 'ERR_INVALID_RETURN_VALUE' });
    }
    return !!answer;
  },
  async: async (answer: unknown): Promise<boolean> => !!(await answer),
});

export function* copyTree(ops: ShieldOperations, source: unknown, destination: unknown, options?: nodeFs.CopyOptions): Steps<void> {
  const opts = copyOptions(options);
  const src = pathText(source) ?? '', dest = pathText(destination) ?? '';
  let checked;
  if (!(yield* isAsync()) && cpSyncChecksNatively()) {
    if (opts.filter && !(yield* filterAnswer(opts.filter(src, dest)))) return;
    yield* checkPathsNatively(ops, src, dest, opts);
    checked = yield* checkPaths(ops, src, dest, { ...opts, filter: undefined });
  } else {
    checked = yield* checkPaths(ops, src, dest, opts);
  }
  if (!checked) return;
  if (!(yield* exists(ops, dirname(dest)))) yield* on(ops, 'mkdir', dirname(dest), { recursive: true });
  yield* copyEntry(ops, checked.destStat, src, dest, opts);
}

function copyOptions(options: nodeFs.CopyOptions | undefined): CopyOptions {
  if (options !== undefined && (options === null || typeof options !== 'object')) throw invalidArgType('options', 'of type object', options);
  return {
    dereference: false, errorOnExist: false, force: true, mode: 0, preserveTimestamps: false, recursive: false,
    ...(options as Partial<CopyOptions>),
  };
}

// The filter, then both stats (a missing source is lstat's ENOENT), then what may not be copied.
function* checkPaths(ops: ShieldOperations, src: string, dest: string, opts: CopyOptions): Steps<{ destStat: nodeFs.BigIntStats | null } | null> {
  if (opts.filter && !(yield* filterAnswer(opts.filter(src, dest)))) return null;
  const statName = opts.dereference ? 'stat' : 'lstat';
  const srcStat = (yield* on(ops, statName, src, { bigint: true })) as nodeFs.BigIntStats;
  let destStat: nodeFs.BigIntStats | null = null;
  try {
    destStat = (yield* on(ops, statName, dest, { bigint: true })) as nodeFs.BigIntStats;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
  }
  if (destStat) {
    if (destStat.ino && destStat.dev && destStat.ino === srcStat.ino && destStat.dev === srcStat.dev) {
      throw systemError('ERR_FS_CP_EINVAL', 'Invalid src or dest',
        { code: 'EINVAL', message: 'src and dest cannot be the same', syscall: 'cp', path: dest, errno: EINVAL });
    }
    if (srcStat.isDirectory() && !destStat.isDirectory()) {
      throw systemError('ERR_FS_CP_DIR_TO_NON_DIR', 'Cannot overwrite directory with non-directory',
        { code: 'EISDIR', message: `cannot overwrite directory ${src} with non-directory ${dest}`, syscall: 'cp', path: dest, errno: EISDIR });
    }
    if (!srcStat.isDirectory() && destStat.isDirectory()) {
      throw systemError('ERR_FS_CP_NON_DIR_TO_DIR', 'Cannot overwrite non-directory with directory',
        { code: 'ENOTDIR', message: `cannot overwrite non-directory ${src} with directory ${dest}`, syscall: 'cp', path: dest, errno: ENOTDIR });
    }
  }
  if (srcStat.isDirectory() && isSubdirectory(src, dest)) {
    throw systemError('ERR_FS_CP_EINVAL', 'Invalid src or dest',
      { code: 'EINVAL', message: `cannot copy ${src} to a subdirectory of self ${dest}`, syscall: 'cp', path: dest, errno: EINVAL });
  }
  return { destStat };
}

// cpSync's top-level checks as Node 22 and later make them in C++ (src/node_file.cc,
// CpSyncCheckPaths): the same order, plain Errors whose messages name the paths as given, the source
// with a trailing slash where node appends one. A missing source is left to the lstat that follows.
function* checkPathsNatively(ops: ShieldOperations, src: string, dest: string, opts: CopyOptions): Steps<void> {
  const statName = opts.dereference ? 'stat' : 'lstat';
  let srcStat: nodeFs.BigIntStats, destStat: nodeFs.BigIntStats | null = null;
  try {
    srcStat = (yield* on(ops, statName, src, { bigint: true })) as nodeFs.BigIntStats;
  } catch {
    return;
  }
  try {
    destStat = (yield* on(ops, statName, dest, { bigint: true })) as nodeFs.BigIntStats;
  } catch {
    destStat = null;
  }
  const srcIsDirectory = srcStat.isDirectory();
  if (destStat) {
    if (destStat.ino === srcStat.ino && destStat.dev === srcStat.dev) throw nativeCpError('ERR_FS_CP_EINVAL', `src and dest cannot be the same ${dest}`);
    if (srcIsDirectory && !destStat.isDirectory()) {
      throw nativeCpError('ERR_FS_CP_DIR_TO_NON_DIR', `Cannot overwrite non-directory ${dest} with directory ${src}`);
    }
    if (!srcIsDirectory && destStat.isDirectory()) {
      throw nativeCpError('ERR_FS_CP_NON_DIR_TO_DIR', `Cannot overwrite directory ${dest} with non-directory ${src}`);
    }
  }
  const srcWithSlash = src.endsWith(sep) ? src : src + sep;
  if (srcIsDirectory && dest.startsWith(srcWithSlash)) {
    throw nativeCpError('ERR_FS_CP_EINVAL', `Cannot copy ${srcWithSlash} to a subdirectory of self ${dest}`);
  }
  if (srcIsDirectory && !opts.recursive) {
    throw nativeCpError('ERR_FS_EISDIR', `Recursive option not enabled, cannot copy a directory: ${srcWithSlash}`);
  }
}

function isSubdirectory(src: string, dest: string): boolean {
  const srcParts = resolve(src).split(sep).filter(Boolean);
  const destParts = resolve(dest).split(sep).filter(Boolean);
  return srcParts.every((part, i) => destParts[i] === part);
}

// A directory being copied: its names, the next one to copy, and the mode to give the copy once
// everything in it is there (null when the destination existed before).
interface DirectoryInCopy {
  src: string;
  dest: string;
  names: string[];
  next: number;
  modeAfter: number | null;
}

/**
 * Copies `src` (checked) and, for a directory, everything under it, depth first in node's order. The
 * directories under way are kept in a list rather than on the call stack: a tree may be as deep as
 * PATH_MAX allows (2 000 levels), and a nested generator per level would overflow the stack.
 */
function* copyEntry(ops: ShieldOperations, destStat: nodeFs.BigIntStats | null, src: string, dest: string, opts: CopyOptions): Steps<void> {
  const open: DirectoryInCopy[] = [];
  let pending: { destStat: nodeFs.BigIntStats | null; src: string; dest: string } | null = { destStat, src, dest };
  for (;;) {
    if (pending) {
      const directory = yield* copyOne(ops, pending.destStat, pending.src, pending.dest, opts);
      pending = null;
      if (directory) open.push(directory);
    }
    const current = open.at(-1);
    if (!current) return;
    if (current.next < current.names.length) {
      const name = current.names[current.next++]!;
      const srcItem = join(current.src, name), destItem = join(current.dest, name);
      const checked = yield* checkPaths(ops, srcItem, destItem, opts);
      if (checked) pending = { destStat: checked.destStat, src: srcItem, dest: destItem };
    } else {
      open.pop();
      if (current.modeAfter !== null) yield* on(ops, 'chmod', current.dest, current.modeAfter);
    }
  }
}

/** Copies a file, or makes a directory's copy and returns what is left to copy in it. */
function* copyOne(ops: ShieldOperations, destStat: nodeFs.BigIntStats | null, src: string, dest: string, opts: CopyOptions): Steps<DirectoryInCopy | null> {
  const srcStat = (yield* on(ops, opts.dereference ? 'stat' : 'lstat', src)) as nodeFs.Stats;
  if (srcStat.isDirectory()) {
    if (!opts.recursive) {
      // node's cpSync says EINVAL here and its asynchronous cp EISDIR.
      throw systemError('ERR_FS_EISDIR', 'Path is a directory', {
        code: 'EISDIR', message: `Recursive option is required to copy a directory: ${src}`, syscall: 'cp', path: src,
        errno: (yield* isAsync()) ? EISDIR : EINVAL,
      });
    }
    if (!destStat) yield* on(ops, 'mkdir', dest);
    const names = (yield* on(ops, 'readdir', src)) as string[];
    return { src, dest, names, next: 0, modeAfter: destStat ? null : Number(srcStat.mode) };
  }
  if (destStat) {
    if (opts.force) {
      yield* on(ops, (yield* isAsync()) ? 'rm' : 'unlink', dest);
    } else {
      if (opts.errorOnExist) {
        throw systemError('ERR_FS_CP_EEXIST', 'Target already exists',
          { code: 'EEXIST', message: `${dest} already exists`, syscall: 'cp', path: dest, errno: EEXIST });
      }
      return null;
    }
  }
  yield* ops.copyFile(src, dest, opts.mode);
  const mode = Number(srcStat.mode);
  if (opts.preserveTimestamps) {
    // The destination must be writable for its times to be set.
    if ((mode & 0o200) === 0) yield* on(ops, 'chmod', dest, mode | 0o200);
    const updated = (yield* on(ops, 'stat', src)) as nodeFs.Stats;
    yield* on(ops, 'utimes', dest, updated.atime, updated.mtime);
  }
  yield* on(ops, 'chmod', dest, mode);
  return null;
}

// One fs call on whichever side the path is: a mount's operation, or the real node:fs.
function* on(ops: ShieldOperations, name: 'stat' | 'lstat' | 'mkdir' | 'chmod' | 'utimes' | 'unlink' | 'rm' | 'readdir', path: string, ...args: unknown[]): Steps<unknown> {
  if (ops.locate(path)) return yield* (ops[name] as (...a: unknown[]) => Steps<unknown>).call(ops, path, ...args);
  return yield* nodeCall(name, path, ...args);
}

function* exists(ops: ShieldOperations, path: string): Steps<boolean> {
  try {
    yield* on(ops, 'stat', path);
    return true;
  } catch {
    return false;
  }
}
