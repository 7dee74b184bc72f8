// shieldfs/fs: node:fs as the process sees it through the shield. With a process-wide shield
// (installed by shieldfs/register), every call goes to it; without one, to node:fs unchanged. Each
// export forwards at call time, so importing this module before the shield is installed is fine.
import * as nodeFs from 'node:fs';
import { processShield } from './fs/process-shield.js';

type Fs = typeof nodeFs;

function current(): Fs {
  return processShield()?.fs ?? nodeFs;
}

function forward<K extends keyof Fs>(name: K): Fs[K] {
  const target = nodeFs[name];
  if (typeof target !== 'function') return target;
  const forwarding = function (this: unknown, ...args: unknown[]) {
    return (current()[name] as (...a: unknown[]) => unknown).apply(this, args);
  };
  Object.defineProperty(forwarding, 'name', { value: name });
  // realpath.native and realpathSync.native, which some callers use directly.
  if ('native' in target) Object.defineProperty(forwarding, 'native', { get: () => (current()[name] as { native: unknown }).native });
  return forwarding as Fs[K];
}

// Members newer Node lines added, absent from Node 20's types: typed by the consumer's @types/node
// (never where it has no such member), and undefined at run time where the running Node lacks them.
type Newer<K extends string> = Fs extends Record<K, infer T> ? T : never;

function forwardNewer<K extends string>(name: K): Newer<K> {
  const target = (nodeFs as Record<string, unknown>)[name];
  if (typeof target !== 'function') return target as Newer<K>;
  return forward(name as unknown as keyof Fs) as unknown as Newer<K>;
}

export const { constants, Dirent, Stats, StatsFs, ReadStream, WriteStream, Dir } = nodeFs;

export const appendFile = forward('appendFile');
export const appendFileSync = forward('appendFileSync');
export const access = forward('access');
export const accessSync = forward('accessSync');
export const chown = forward('chown');
export const chownSync = forward('chownSync');
export const chmod = forward('chmod');
export const chmodSync = forward('chmodSync');
export const close = forward('close');
export const closeSync = forward('closeSync');
export const copyFile = forward('copyFile');
export const copyFileSync = forward('copyFileSync');
export const cp = forward('cp');
export const cpSync = forward('cpSync');
export const createReadStream = forward('createReadStream');
export const createWriteStream = forward('createWriteStream');
export const exists = forward('exists');
export const existsSync = forward('existsSync');
export const fchown = forward('fchown');
export const fchownSync = forward('fchownSync');
export const fchmod = forward('fchmod');
export const fchmodSync = forward('fchmodSync');
export const fdatasync = forward('fdatasync');
export const fdatasyncSync = forward('fdatasyncSync');
export const fstat = forward('fstat');
export const fstatSync = forward('fstatSync');
export const fsync = forward('fsync');
export const fsyncSync = forward('fsyncSync');
export const ftruncate = forward('ftruncate');
export const ftruncateSync = forward('ftruncateSync');
export const futimes = forward('futimes');
export const futimesSync = forward('futimesSync');
export const lchown = forward('lchown');
export const lchownSync = forward('lchownSync');
export const lchmod = forward('lchmod');
export const lchmodSync = forward('lchmodSync');
export const link = forward('link');
export const linkSync = forward('linkSync');
export const lstat = forward('lstat');
export const lstatSync = forward('lstatSync');
export const lutimes = forward('lutimes');
export const lutimesSync = forward('lutimesSync');
export const mkdir = forward('mkdir');
export const mkdirSync = forward('mkdirSync');
export const mkdtemp = forward('mkdtemp');
export const mkdtempSync = forward('mkdtempSync');
export const open = forward('open');
export const openSync = forward('openSync');
export const openAsBlob = forward('openAsBlob');
export const readdir = forward('readdir');
export const readdirSync = forward('readdirSync');
export const read = forward('read');
export const readSync = forward('readSync');
export const readv = forward('readv');
export const readvSync = forward('readvSync');
export const readFile = forward('readFile');
export const readFileSync = forward('readFileSync');
export const readlink = forward('readlink');
export const readlinkSync = forward('readlinkSync');
export const realpath = forward('realpath');
export const realpathSync = forward('realpathSync');
export const rename = forward('rename');
export const renameSync = forward('renameSync');
export const rm = forward('rm');
export const rmSync = forward('rmSync');
export const rmdir = forward('rmdir');
export const rmdirSync = forward('rmdirSync');
export const stat = forward('stat');
export const statfs = forward('statfs');
export const statSync = forward('statSync');
export const statfsSync = forward('statfsSync');
export const symlink = forward('symlink');
export const symlinkSync = forward('symlinkSync');
export const truncate = forward('truncate');
export const truncateSync = forward('truncateSync');
export const unwatchFile = forward('unwatchFile');
export const unlink = forward('unlink');
export const unlinkSync = forward('unlinkSync');
export const utimes = forward('utimes');
export const utimesSync = forward('utimesSync');
export const watch = forward('watch');
export const watchFile = forward('watchFile');
export const writeFile = forward('writeFile');
export const writeFileSync = forward('writeFileSync');
export const write = forward('write');
export const writeSync = forward('writeSync');
export const writev = forward('writev');
export const writevSync = forward('writevSync');
export const opendir = forward('opendir');
export const opendirSync = forward('opendirSync');
export const glob = forwardNewer('glob');
export const globSync = forwardNewer('globSync');
export const mkdtempDisposableSync = forwardNewer('mkdtempDisposableSync');
export const Utf8Stream = (nodeFs as Record<string, unknown>).Utf8Stream as Newer<'Utf8Stream'>;

/** fs.promises of the shield (or node's), forwarding at call time like the functions above. */
export const promises = new Proxy(nodeFs.promises, {
  get: (target, name) => Reflect.get(current().promises, name) ?? Reflect.get(target, name),
});

const fs = {
  constants, Dirent, Stats, StatsFs, ReadStream, WriteStream, Dir, promises,

  appendFile, appendFileSync, access, accessSync, chown, chownSync, chmod, chmodSync,
  close, closeSync, copyFile, copyFileSync, cp, cpSync, createReadStream, createWriteStream,
  exists, existsSync, fchown, fchownSync, fchmod, fchmodSync, fdatasync, fdatasyncSync,
  fstat, fstatSync, fsync, fsyncSync, ftruncate, ftruncateSync, futimes, futimesSync,
  lchown, lchownSync, lchmod, lchmodSync, link, linkSync, lstat, lstatSync,
  lutimes, lutimesSync, mkdir, mkdirSync, mkdtemp, mkdtempSync, open, openSync,
  openAsBlob, readdir, readdirSync, read, readSync, readv, readvSync, readFile,
  readFileSync, readlink, readlinkSync, realpath, realpathSync, rename, renameSync, rm,
  rmSync, rmdir, rmdirSync, stat, statfs, statSync, statfsSync, symlink,
  symlinkSync, truncate, truncateSync, unwatchFile, unlink, unlinkSync, utimes, utimesSync,
  watch, watchFile, writeFile, writeFileSync, write, writeSync, writev, writevSync,
  opendir, opendirSync, glob, globSync, mkdtempDisposableSync, Utf8Stream,
};

// Type-level conformance with node:fs, checked by tsc: every member, with node's own types.
export default fs satisfies Fs;
