// The node:fs-shaped object. Each function is derived from one operation in operations.ts, three
// ways (fs.xxxSync, fs.xxx with a callback, fs.promises.xxx), after one routing decision: a path or
// descriptor inside a mount goes to the operation, anything else to the real node:fs untouched.
import type * as nodeFs from 'node:fs';
import { hostFs } from '../file/host-fs.js';
import type * as nodePromises from 'node:fs/promises';
import { promisify } from 'node:util';
import gensync, { type Handler } from 'gensync';
import { runAsync, runSync, type Steps } from '../file/sync-or-async.js';
import { DescriptorTable } from './descriptors.js';
import { ShieldDir } from './dir.js';
import { holdHandle, releaseHandle, ShieldFileHandle } from './file-handle.js';
import { ShieldOperations, unsupported } from './operations.js';
import { bindRealFs } from './real-fs.js';
import { pathText } from './mount-table.js';
import { copyTree } from './copy-tree.js';
import { asSyscall, isErrno } from './caller-paths.js';
import { fsError } from '../file/fs-errors.js';
import { isArgumentError } from './node-errors.js';
import { ARGUMENT_CHECKS, checkCallback, HANDLE_CHECKS, type Form } from './validate-arguments.js';
import { globBase, globDirectory, globInMounts, globPatterns, type GlobOptions } from './glob.js';

type AnyFunction = (...args: any[]) => any; // eslint-disable-line @typescript-eslint/no-explicit-any
type Route = 'path' | 'fd' | 'pathOrFd' | 'eitherPath' | 'secondPath' | 'fileHandleOrPath';

interface Derivation {
  route: Route;
  /** Builds the operation's steps from node's arguments (callback removed). */
  steps: (ops: ShieldOperations, args: unknown[]) => Steps<unknown>;
  /** What fs.xxxSync returns, from the operation's result (default: the result). */
  syncResult?: (result: any) => unknown; // eslint-disable-line @typescript-eslint/no-explicit-any
  /** The callback's arguments after the error (default: [result], or none for undefined, as node). */
  callbackResult?: (result: any) => unknown[]; // eslint-disable-line @typescript-eslint/no-explicit-any
  /** Which forms node:fs has. */
  forms: { sync?: boolean; callback?: boolean; promise?: boolean };
  /** Where fs.promises' own implementation reports an error differently from the other two forms. */
  promiseError?: (error: unknown) => unknown;
  /** The steps of fs.promises' form, where they differ (default: `steps`). */
  promiseSteps?: (ops: ShieldOperations, args: unknown[]) => Steps<unknown>;
}

const ALL = { sync: true, callback: true, promise: true };
const NO_PROMISE = { sync: true, callback: true };
const op = (name: keyof ShieldOperations) => (ops: ShieldOperations, args: unknown[]) => (ops[name] as AnyFunction)(...args) as Steps<unknown>;

const DERIVATIONS: Record<string, Derivation> = {
  access: { route: 'path', steps: op('access'), forms: ALL },
  appendFile: {
    route: 'fileHandleOrPath', steps: op('appendFile'), forms: ALL,
    promiseSteps: (ops, [path, data, options]) => ops.appendFile(path as number, data, options as nodeFs.WriteFileOptions, 'promises'),
  },
  chmod: { route: 'path', steps: op('chmod'), forms: ALL },
  chown: { route: 'path', steps: op('chown'), forms: ALL },
  close: { route: 'fd', steps: op('close'), forms: NO_PROMISE },
  copyFile: { route: 'eitherPath', steps: op('copyFile'), forms: ALL },
  cp: {
    route: 'eitherPath', steps: (ops, [from, to, options]) => copyTree(ops, from, to, options as nodeFs.CopyOptions), forms: ALL,
    callbackResult: () => [undefined],  // node's cp calls back (null, undefined)
  },
  exists: { route: 'path', steps: op('exists'), forms: NO_PROMISE },
  fchmod: { route: 'fd', steps: op('fchmod'), forms: NO_PROMISE },
  fchown: { route: 'fd', steps: op('fchown'), forms: NO_PROMISE },
  fdatasync: { route: 'fd', steps: op('fsync'), forms: NO_PROMISE },
  fstat: { route: 'fd', steps: op('fstat'), forms: NO_PROMISE },
  fsync: { route: 'fd', steps: op('fsync'), forms: NO_PROMISE },
  ftruncate: { route: 'fd', steps: op('ftruncate'), forms: NO_PROMISE },
  futimes: { route: 'fd', steps: op('futimes'), forms: NO_PROMISE },
  lchown: { route: 'path', steps: op('chown'), forms: ALL },
  lstat: { route: 'path', steps: op('lstat'), forms: ALL },
  lutimes: { route: 'path', steps: op('utimes'), forms: ALL },
  mkdir: { route: 'path', steps: op('mkdir'), forms: ALL },
  mkdtemp: { route: 'path', steps: op('mkdtemp'), forms: ALL },
  open: { route: 'path', steps: op('open'), forms: NO_PROMISE },
  read: {
    route: 'fd', steps: op('read'), forms: NO_PROMISE,
    syncResult: (r: { bytesRead: number }) => r.bytesRead, callbackResult: (r: { bytesRead: number; buffer: unknown }) => [r.bytesRead, r.buffer],
  },
  readdir: { route: 'path', steps: op('readdir'), forms: ALL },
  readFile: { route: 'fileHandleOrPath', steps: op('readFile'), forms: ALL },
  readlink: { route: 'path', steps: op('readlink'), forms: ALL },
  readv: {
    route: 'fd', steps: op('readv'), forms: NO_PROMISE,
    syncResult: (r: { bytesRead: number }) => r.bytesRead, callbackResult: (r: { bytesRead: number; buffers: unknown }) => [r.bytesRead, r.buffers],
  },
  // fs.promises.realpath is realpath(3), as .native (set up below); the other two are node's own walk.
  realpath: { route: 'path', steps: op('realpath'), forms: NO_PROMISE },
  rename: { route: 'eitherPath', steps: op('rename'), forms: ALL },
  rm: { route: 'path', steps: op('rm'), forms: ALL },
  rmdir: {
    route: 'path', steps: op('rmdir'), forms: ALL,
    // fs.promises.rmdir with `recursive` looks the path up with stat, the other forms with lstat.
    promiseError: (error) => (isErrno(error) && (error as NodeJS.ErrnoException).syscall === 'lstat'
      ? asSyscall(error, 'stat', (error as NodeJS.ErrnoException).path) : error),
  },
  stat: { route: 'path', steps: op('stat'), forms: ALL },
  statfs: { route: 'path', steps: op('statfs'), forms: ALL },
  truncate: { route: 'pathOrFd', steps: op('truncate'), forms: ALL },
  unlink: { route: 'path', steps: op('unlink'), forms: ALL },
  utimes: { route: 'path', steps: op('utimes'), forms: ALL },
  write: {
    route: 'fd', steps: op('write'), forms: NO_PROMISE,
    syncResult: (r: { bytesWritten: number }) => r.bytesWritten,
    callbackResult: (r: { bytesWritten: number; buffer: unknown }) => [r.bytesWritten, r.buffer],
  },
  writeFile: {
    route: 'fileHandleOrPath', steps: op('writeFile'), forms: ALL,
    promiseSteps: (ops, [path, data, options]) => ops.writeFile(path as number, data, options as nodeFs.WriteFileOptions, 'w', 'promises'),
  },
  // No links in a volume: ENOTSUP, after the errors the kernel gives first (operations.ts).
  link: { route: 'eitherPath', steps: op('link'), forms: ALL },
  symlink: { route: 'secondPath', steps: op('symlink'), forms: ALL },
  writev: {
    route: 'fd', steps: op('writev'), forms: NO_PROMISE,
    syncResult: (r: { bytesWritten: number }) => r.bytesWritten,
    callbackResult: (r: { bytesWritten: number; buffers: unknown }) => [r.bytesWritten, r.buffers],
  },
};

export interface ShieldFsSurface {
  fs: typeof nodeFs;
  promises: typeof nodePromises;
}

/**
 * Builds the fs object for a mount table. `real` is node:fs as it was before any shield (captured,
 * so patching node:fs in place later never makes the shield call itself).
 */
export function createSurface(ops: ShieldOperations, real: typeof nodeFs = hostFs): ShieldFsSurface {
  const realFs = { ...real, promises: { ...real.promises } } as typeof nodeFs;
  bindRealFs(realFs);
  const fs: Record<string, unknown> = { ...realFs };
  ops.callerFs ??= fs as unknown as typeof nodeFs;
  const realCallbacks = realFs as unknown as Record<string, AnyFunction>;
  const realPromises = realFs.promises as unknown as Record<string, AnyFunction>;

  const handleFd = (value: unknown): unknown => (value instanceof ShieldFileHandle ? value.fd : value);
  const ours = (route: Route, args: unknown[]): boolean => {
    switch (route) {
      case 'path': return ops.locate(args[0]) !== null;
      case 'fd': return DescriptorTable.owns(args[0]);
      case 'pathOrFd':
      case 'fileHandleOrPath': return DescriptorTable.owns(handleFd(args[0])) || ops.locate(args[0]) !== null;
      case 'eitherPath': return ops.locate(args[0]) !== null || ops.locate(args[1]) !== null;
      case 'secondPath': return ops.locate(args[1]) !== null;
    }
  };

  const promises: Record<string, unknown> = { ...realFs.promises };

  for (const [name, derivation] of Object.entries(DERIVATIONS)) {
    const { route, steps, forms } = derivation;
    const syncResult = derivation.syncResult ?? ((r: unknown) => r);
    const callbackResult = derivation.callbackResult ?? ((r: unknown) => (r === undefined ? [] : [r]));
    if (forms.sync) {
      const realSync = realCallbacks[`${name}Sync`]!;
      fs[`${name}Sync`] = named(`${name}Sync`, (...args: unknown[]) => {
        if (!ours(route, args)) return realSync(...args);
        checkArguments(name, 'sync', args);
        return syncResult(runSync(steps(ops, args)));
      });
    }
    if (forms.callback) {
      const realCallback = realCallbacks[name]!;
      const isExists = name === 'exists';
      fs[name] = named(name, (...args: unknown[]) => {
        const callback = args[args.length - 1];
        // Without a callback, node's own validation gives the error (close alone may omit it).
        if (typeof callback !== 'function' && name !== 'close') return realCallback(...args);
        const given = typeof callback === 'function' ? args.slice(0, -1) : args;
        if (!ours(route, given)) return realCallback(...args);
        if (name === 'close' && args.length > 1 && callback !== undefined) checkCallback(callback);
        checkArguments(name, 'callback', given);
        runCallback(steps(ops, given), (error, result) => {
          if (typeof callback !== 'function') return;
          if (isExists) callback(error ? false : result);
          else if (error) callback(error);
          else callback(null, ...callbackResult(result));
        });
        return undefined;
      });
    }
    if (forms.promise) {
      const realPromise = realPromises[name]!;
      const promiseError = derivation.promiseError;
      const promiseSteps = derivation.promiseSteps ?? steps;
      promises[name] = named(name, (...args: unknown[]) => {
        if (!ours(route, args)) return realPromise(...args);
        try {
          // A FileHandle in place of the path: the handle's own checks (readFile, writeFile, appendFile).
          if (args[0] instanceof ShieldFileHandle) HANDLE_CHECKS[name]?.(args.slice(1), 'handle');
          else checkArguments(name, 'promise', args);
        } catch (error) {
          return Promise.reject(error);
        }
        const running = runAsync(promiseSteps(ops, [handleFd(args[0]), ...args.slice(1)]));
        return promiseError ? running.catch((error: unknown) => { throw promiseError(error); }) : running;
      });
    }
  }

  // fs.promises.open gives a FileHandle; opendir gives a Dir.
  promises.open = named('open', async (...args: unknown[]) => {
    if (!ours('path', args)) return realPromises.open!(...args);
    checkArguments('open', 'promise', args);
    return new ShieldFileHandle(await runAsync(ops.open(...(args as Parameters<ShieldOperations['open']>))), fs as unknown as typeof nodeFs, ops);
  });
  const dirOf = (path: nodeFs.PathLike, entries: nodeFs.Dirent[]) => new ShieldDir(pathText(path) ?? String(path), entries);
  const opendirSteps = (args: unknown[]) => ops.opendir(args[0] as nodeFs.PathLike, args[1] as nodeFs.OpenDirOptions | undefined);
  fs.opendirSync = named('opendirSync', (...args: unknown[]) => {
    if (!ours('path', args)) return realCallbacks.opendirSync!(...args);
    checkArguments('opendir', 'sync', args);
    return dirOf(args[0] as nodeFs.PathLike, runSync(opendirSteps(args)));
  });
  fs.opendir = named('opendir', (...args: unknown[]) => {
    const callback = args[args.length - 1];
    if (typeof callback !== 'function' || !ours('path', args)) return realCallbacks.opendir!(...args);
    checkArguments('opendir', 'callback', args.slice(0, -1));
    runCallback(opendirSteps(args.slice(0, -1)), (error, entries) => (error ? callback(error) : callback(null, dirOf(args[0] as nodeFs.PathLike, entries!))));
    return undefined;
  });
  promises.opendir = named('opendir', async (...args: unknown[]) => {
    if (!ours('path', args)) return realPromises.opendir!(...args);
    checkArguments('opendir', 'promise', args);
    return dirOf(args[0] as nodeFs.PathLike, await runAsync(opendirSteps(args)));
  });

  // realpath(3): realpath.native, realpathSync.native (node's module loader uses it) and
  // fs.promises.realpath, which node implements with it too.
  const realNative = realFs.realpath.native as unknown as AnyFunction;
  const realNativeSync = realFs.realpathSync.native as unknown as AnyFunction;
  (fs.realpathSync as { native?: unknown }).native = named('native', (...args: unknown[]) => {
    if (!ours('path', args)) return realNativeSync(...args);
    checkArguments('realpath', 'sync', args);
    return runSync(ops.realpathNative(...(args as [nodeFs.PathLike])));
  });
  (fs.realpath as { native?: unknown }).native = named('native', (...args: unknown[]) => {
    const callback = args[args.length - 1];
    if (typeof callback !== 'function' || !ours('path', args)) return realNative(...args);
    checkArguments('realpath', 'callback', args.slice(0, -1));
    runCallback(ops.realpathNative(...(args.slice(0, -1) as [nodeFs.PathLike])), (error, result) => (error ? callback(error) : callback(null, result)));
    return undefined;
  });
  promises.realpath = named('realpath', async (...args: unknown[]) => {
    if (!ours('path', args)) return realPromises.realpath!(...args);
    checkArguments('realpath', 'promise', args);
    return runAsync(ops.realpathNative(...(args as [nodeFs.PathLike])));
  });

  // Streams: node's own ReadStream/WriteStream, doing their I/O through this object.
  // Regular functions, not arrows: `new fs.createReadStream(…)` works with node's (it returns the stream).
  // `options.fs` given: node's stream uses it, as with node:fs. A FileHandle as `fd`: the stream
  // reads and writes through it and closes it (a later handle.close() is a no-op), as node's does.
  // Without options.fs, a stream's fs is the object the caller holds (node:fs under the register),
  // looked up at each call as node's streams do: a function replaced there is the one used.
  const streamSettings = (options: unknown) => {
    const settings = streamOptions(options);
    const handle = settings.fd instanceof ShieldFileHandle ? settings.fd : null;
    if (!handle) return { ...settings, fs: settings.fs ?? ops.callerFs ?? fs };
    if (settings.fs) throw Object.assign(new Error('The FileHandle with fs method is not implemented'), { code: 'ERR_METHOD_NOT_IMPLEMENTED' });
    return { ...settings, fd: handle.fd, fs: handleOperations(handle, settings.autoClose !== false), handle };
  };
  const openStream = (kind: 'ReadStream' | 'WriteStream', path: unknown, options: unknown) => {
    const Stream = realFs[kind] as unknown as new (path: unknown, options: unknown) => nodeFs.ReadStream;
    // Options that are neither a string nor an object: node's stream refuses them itself.
    if (options != null && typeof options !== 'object' && typeof options !== 'string') return new Stream(path, options);
    const { handle, ...settings } = streamSettings(options) as ReturnType<typeof streamSettings> & { handle?: ShieldFileHandle };
    const stream = new Stream(path, settings);
    // Held once the stream exists (options it refused leave the handle as it was).
    if (handle && (settings as { autoClose?: unknown }).autoClose !== false) handle[holdHandle]();
    if (handle) handle.once('close', () => stream.close());
    return stream;
  };
  const streamIsOurs = (path: unknown, options: unknown): boolean => {
    const fd = (options as { fd?: unknown } | null | undefined)?.fd;
    return ours('path', [path]) || DescriptorTable.owns(fd instanceof ShieldFileHandle ? fd.fd : fd);
  };
  fs.createReadStream = named('createReadStream', function createReadStream(path: unknown, options?: unknown) {
    if (!streamIsOurs(path, options)) return realFs.createReadStream(path as nodeFs.PathLike, options as never);
    return openStream('ReadStream', path, options);
  });
  fs.createWriteStream = named('createWriteStream', function createWriteStream(path: unknown, options?: unknown) {
    if (!streamIsOurs(path, options)) return realFs.createWriteStream(path as nodeFs.PathLike, options as never);
    return openStream('WriteStream', path, options);
  });

  // glob (Node 22 and later): patterns that start inside a mount are listed through the shield;
  // the others go to Node's glob (glob.ts).
  if (typeof realCallbacks.globSync === 'function') {
    const inMounts = (patterns: string[], options: unknown) => {
      const cwd = globDirectory(options as GlobOptions | undefined);
      return patterns.filter((pattern) => ops.locate(globBase(pattern, cwd)) !== null);
    };
    const touchesMount = (pattern: unknown, options: unknown): boolean => {
      try {
        return inMounts(globPatterns(pattern), options).length > 0;
      } catch {
        return false;  // node's glob reports the bad argument
      }
    };
    const onDisk = (pattern: unknown, options: unknown) => {
      const mounted = new Set(inMounts(globPatterns(pattern), options));
      return globPatterns(pattern).filter((p) => !mounted.has(p));
    };
    const steps = (pattern: unknown, options: unknown) => globInMounts(ops, globPatterns(pattern), options as GlobOptions | undefined);
    fs.globSync = named('globSync', (pattern: unknown, options?: unknown) => {
      if (!touchesMount(pattern, options)) return realCallbacks.globSync!(pattern, options);
      const disk = onDisk(pattern, options);
      return [...(disk.length > 0 ? realCallbacks.globSync!(disk, options) as unknown[] : []), ...runSync(steps(pattern, options))];
    });
    fs.glob = named('glob', (...args: unknown[]) => {
      const [pattern] = args;
      const options = typeof args[1] === 'function' ? undefined : args[1];
      const callback = args[args.length - 1];
      if (typeof callback !== 'function' || !touchesMount(pattern, options)) return realCallbacks.glob!(...args);
      // The part on the disk as Node's globSync lists it: one answer, called back on a later tick.
      let disk: unknown[];
      try {
        const patterns = onDisk(pattern, options);
        disk = patterns.length > 0 ? realCallbacks.globSync!(patterns, options) as unknown[] : [];
      } catch (error) {
        process.nextTick(() => callback(error));
        return undefined;
      }
      runCallback(steps(pattern, options), (error, found) => (error ? callback(error) : callback(null, [...disk, ...found!])));
      return undefined;
    });
    promises.glob = named('glob', (pattern: unknown, options?: unknown) => {
      if (!touchesMount(pattern, options)) return realPromises.glob!(pattern, options);
      const disk = onDisk(pattern, options);
      return (async function* glob() {
        if (disk.length > 0) yield* realPromises.glob!(disk, options) as AsyncIterable<unknown>;
        yield* await runAsync(steps(pattern, options));
      })();
    });
  }

  // mkdtempDisposableSync and fs.promises.mkdtempDisposable (Node 24): a temporary directory that
  // removes itself, in the shape node gives (path, remove, and the dispose symbol).
  if (typeof realCallbacks.mkdtempDisposableSync === 'function') {
    fs.mkdtempDisposableSync = named('mkdtempDisposableSync', (prefix: unknown, options?: unknown) => {
      if (!ours('path', [prefix])) return realCallbacks.mkdtempDisposableSync!(prefix, options);
      const path = runSync(ops.mkdtemp(prefix as string, options as BufferEncoding | undefined));
      const remove = () => { runSync(ops.rm(path as string, { recursive: true, force: true })); };
      return Object.defineProperty({ path, remove }, Symbol.dispose, { value: named('[Symbol.dispose]', remove), enumerable: false });
    });
  }
  if (typeof realPromises.mkdtempDisposable === 'function') {
    promises.mkdtempDisposable = named('mkdtempDisposable', async (prefix: unknown, options?: unknown) => {
      if (!ours('path', [prefix])) return realPromises.mkdtempDisposable!(prefix, options);
      const path = await runAsync(ops.mkdtemp(prefix as string, options as BufferEncoding | undefined));
      const remove = async () => { await runAsync(ops.rm(path as string, { recursive: true, force: true })); };
      const disposable = Object.create(null) as Record<string | symbol, unknown>;
      Object.assign(disposable, { path, remove });
      Object.defineProperty(disposable, Symbol.asyncDispose, { value: named('[Symbol.asyncDispose]', remove), enumerable: false });
      return disposable;
    });
  }

  // What a protected mount cannot do fails with ENOTSUP, saying why (README, "Not supported").
  // `listener`: the function argument is a listener, not a callback: the refusal is thrown.
  // Node's argument checks come first (ARGUMENT_CHECKS), then, for watch, the missing path's ENOENT.
  const refuse = (name: string, route: Route, why: string, promise = true, listener = false) => {
    if (typeof realCallbacks[name] !== 'function') return;  // not on this platform (lchmod)
    const realSync = realCallbacks[`${name}Sync`];
    const realCallback = realCallbacks[name]!;
    const failure = (args: unknown[]) => {
      checkArguments(name, 'callback', args);
      const path = pathText(route === 'secondPath' ? args[1] : args[0]) ?? '';
      if (name === 'watch' && !runSync(ops.exists(args[0] as nodeFs.PathLike))) return Object.assign(fsError('ENOENT', 'watch', path), { filename: path });
      return unsupported(name, path, why);
    };
    if (realSync) fs[`${name}Sync`] = named(`${name}Sync`, (...args: unknown[]) => { if (ours(route, args)) throw failure(args); return realSync(...args); });
    fs[name] = named(name, (...args: unknown[]) => {
      const callback = args[args.length - 1];
      if (!ours(route, args)) return realCallback(...args);
      if (typeof callback !== 'function' || listener) throw failure(args);
      process.nextTick(() => callback(failure(args)));
      return undefined;
    });
    if (promise && realPromises[name]) {
      promises[name] = named(name, async (...args: unknown[]) => (ours(route, args) ? Promise.reject(failure(args)) : realPromises[name]!(...args)));
    }
  };
  refuse('watch', 'path', 'protected paths cannot be watched (changes come only from this process)', false, true);
  // fs.promises.watch returns an async iterable at once (it is not an async function); inside a
  // mount, iterating it fails.
  if (typeof realPromises.watch === 'function') {
    promises.watch = named('watch', (...args: unknown[]) => {
      if (!ours('path', args)) return realPromises.watch!(...args);
      const failure = unsupported('watch', pathText(args[0]) ?? '', 'protected paths cannot be watched (changes come only from this process)');
      return (async function* watch() {
        throw failure;
      })();
    });
  }
  refuse('watchFile', 'path', 'protected paths cannot be watched (changes come only from this process)', false, true);
  refuse('unwatchFile', 'path', 'protected paths cannot be watched', false, true);
  refuse('lchmod', 'path', 'lchmod is not available on this platform');
  refuse('openAsBlob', 'path', 'read the file with readFile and make a Blob of it', false);

  keepPromisifyBehaviour(fs, realFs as unknown as Record<string, unknown>);
  fs.promises = promises;
  return { fs: fs as unknown as typeof nodeFs, promises: promises as unknown as typeof nodePromises };
}

type Done = (error: unknown, ...results: unknown[]) => void;

/**
 * A stream's fs over a FileHandle, as node's (FileHandleOperations): its I/O through the handle's
 * own methods (a method replaced on the handle is used). `hold`: the stream holds the handle
 * (openStream takes the hold) until it closes.
 */
function handleOperations(handle: ShieldFileHandle, hold: boolean) {
  const settle = <R>(promise: Promise<R>, done: Done, ok: (result: R) => unknown[], failed: unknown[]) => {
    promise.then((result) => done(null, ...ok(result)), (error: unknown) => done(error, ...failed));
  };
  type IO = { bytesRead?: number; bytesWritten?: number; buffer?: unknown; buffers?: unknown };
  return {
    open: () => {
      throw Object.assign(new Error('The open() method is not implemented'), { code: 'ERR_METHOD_NOT_IMPLEMENTED' });
    },
    close: (_fd: number, done: Done) => {
      if (hold) {
        hold = false;
        handle[releaseHandle]();
      }
      settle(handle.close(), done, () => [], []);
    },
    read: (_fd: number, buffer: NodeJS.ArrayBufferView, offset: number, length: number, position: number | null, done: Done) =>
      settle<IO>(handle.read(buffer, offset, length, position), done, (r) => [r.bytesRead, r.buffer], [0, buffer]),
    write: (_fd: number, buffer: NodeJS.ArrayBufferView, offset: number, length: number, position: number | null, done: Done) =>
      settle<IO>(handle.write(buffer, offset, length, position), done, (r) => [r.bytesWritten, r.buffer], [0, buffer]),
    writev: (_fd: number, buffers: NodeJS.ArrayBufferView[], position: number | null, done: Done) =>
      settle<IO>(handle.writev(buffers, position), done, (r) => [r.bytesWritten, r.buffers], [0, buffers]),
    fsync: (_fd: number, done: Done) => settle(handle.sync(), done, () => [], []),
  };
}

/**
 * util.promisify of a wrapper behaves as of node's function: node's fs.read, write, readv and writev
 * carry the names of their callback's results (an internal symbol: { bytesRead, buffer }), and
 * fs.exists a promisify.custom. Symbol-keyed properties are copied from node's function; exists'
 * custom form is the shield's own, so a promisified exists sees the mounts too.
 */
function keepPromisifyBehaviour(fs: Record<string, unknown>, real: Record<string, unknown>): void {
  for (const [name, value] of Object.entries(fs)) {
    const original = real[name];
    if (typeof value !== 'function' || typeof original !== 'function' || value === original) continue;
    for (const symbol of Object.getOwnPropertySymbols(original)) {
      if (symbol === promisify.custom || Object.prototype.hasOwnProperty.call(value, symbol)) continue;
      Object.defineProperty(value, symbol, Object.getOwnPropertyDescriptor(original, symbol)!);
    }
  }
  const exists = fs.exists as AnyFunction & { [promisify.custom]?: unknown };
  if (typeof exists === 'function' && (real.exists as { [promisify.custom]?: unknown })[promisify.custom]) {
    Object.defineProperty(exists, promisify.custom, {
      value: named('exists', (path: unknown) => new Promise((resolve) => exists(path, resolve))),
      configurable: true, writable: true,
    });
  }
}

const drive = gensync(function* (steps: Handler<unknown>): Handler<unknown> {
  return yield* steps;
});

/**
 * Runs an operation for a callback form: `done` is called on a later tick, never synchronously.
 * An argument error (ERR_INVALID_ARG_TYPE, ERR_OUT_OF_RANGE, …), found before the operation's first
 * asynchronous step, is thrown to the caller at once, as node:fs throws it.
 */
function runCallback<R>(steps: Steps<R>, done: (error: unknown, result?: R) => void): void {
  let early = true, thrown: { error: unknown } | null = null;
  drive.errback(steps, (error: unknown, result?: unknown) => {
    if (early && error && isArgumentError(error)) {
      thrown = { error };
      return;
    }
    process.nextTick(() => done(error ?? null, result as R));
  });
  early = false;
  if (thrown) throw (thrown as { error: unknown }).error;
}

/** Node's argument checks for a call inside a mount (validate-arguments.ts), before the operation. */
function checkArguments(name: string, form: Form, args: unknown[]): void {
  ARGUMENT_CHECKS[name]?.(args, form);
}

function named<F extends AnyFunction>(name: string, fn: F): F {
  Object.defineProperty(fn, 'name', { value: name });
  return fn;
}

function streamOptions(options: unknown): { fd?: unknown; fs?: unknown; [key: string]: unknown } {
  if (typeof options === 'string') return { encoding: options };
  return { ...(options as Record<string, unknown> | undefined) };
}
