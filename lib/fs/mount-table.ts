// The process-wide picture: which virtual absolute paths are protected storage. Every fs call asks
// the table first; a path outside every mount goes to the real node:fs untouched.
import { isUtf8 } from 'node:buffer';
import { resolve as resolvePath } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Volume } from '../volume/volume.js';
import type { CommitMode } from './mount-config.js';
import { shieldError } from '../file/fs-errors.js';

/** One mount: a volume (read-write or read-only) or a protected tree (read-only, pinned to a tag). */
export class Mount {
  #scheduled: Promise<void> | null = null;   // a grouped commit asked for, not finished
  #barrier: Promise<void> | null = null;     // a grouped commit running: new async I/O waits for it
  #inFlight = new Set<Promise<unknown>>();
  #timer: NodeJS.Timeout | null = null;
  #unusable: Error | null = null;

  constructor(
    readonly path: string,
    readonly volume: Volume,
    readonly kind: 'volume' | 'tree',
    readonly commitMode: CommitMode,
    /** A small number unique to this mount, reported as Stats.dev. */
    readonly dev: number,
  ) {
    if (typeof commitMode === 'object') {
      this.#timer = setInterval(() => this.#commitInBackground(), commitMode.intervalMs);
      this.#timer.unref();
    }
  }

  get readOnly(): boolean {
    return this.volume.readOnly;
  }

  /** Virtual path of a path inside the volume. */
  outside(inner: string): string {
    return inner === '/' ? this.path : this.path + inner;
  }

  /** After a mutating call completes: 'close' mode makes it durable before the call returns. */
  get commitsEachChange(): boolean {
    return this.commitMode === 'close';
  }

  /**
   * Commits on this thread. Commits always run synchronously: nothing else of this process can touch
   * the volume between the flush of its contents and the compare-and-set of its tag.
   */
  commitNow(): void {
    if (this.#unusable) throw this.#unusable;
    if (this.readOnly) return;
    try {
      this.volume.commitSync();
    } catch (error) {
      this.#unusable = error as Error;
      throw error;
    }
  }

  /**
   * Commits for an asynchronous caller. Callers in the same turn of the event loop share one commit
   * (one tag-store round trip for many small writes). The commit ends the volume's undo journal, so
   * no native read or write may be under way on the libuv pool when it runs: from the moment it
   * starts, new asynchronous I/O on this volume waits for it (track), and the I/O already under way
   * finishes first.
   */
  commitGrouped(): Promise<void> {
    this.#scheduled ??= new Promise<void>((resolve, reject) => {
      setImmediate(() => {
        const commit = this.#drainAndCommit();
        this.#barrier = commit.then(() => undefined, () => undefined);
        commit.then(resolve, reject).finally(() => {
          this.#barrier = null;
          this.#scheduled = null;
        });
      });
    });
    return this.#scheduled;
  }

  async #drainAndCommit(): Promise<void> {
    while (this.#inFlight.size > 0) await Promise.allSettled([...this.#inFlight]);
    this.commitNow();
  }

  /** Starts an asynchronous content operation, after a commit that is starting; known to the next one. */
  track<T>(start: () => Promise<T>): Promise<T> {
    const run = () => {
      const operation = start();
      this.#inFlight.add(operation);
      const forget = () => this.#inFlight.delete(operation);
      operation.then(forget, forget);
      return operation;
    };
    return this.#barrier ? this.#barrier.then(run) : run();
  }

  #commitInBackground(): void {
    if (this.#unusable) return;
    this.commitGrouped().catch((error: Error) => {
      process.emitWarning(`shieldfs: the periodic commit of ${this.path} failed: ${error.message}`, { code: 'SHIELDFS_COMMIT' });
    });
  }

  stopTimer(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#timer = null;
  }
}

/** A path inside a mount. */
export interface MountedPath {
  mount: Mount;
  /** The path inside the volume ("/" is the mount point itself). */
  inner: string;
  /** The path as the caller spelled it ('/V1/d/../f/'): node:fs names exactly that in errors. */
  virtual: string;
  /** The absolute, normalized virtual path ('/V1/f'). */
  absolute: string;
  /**
   * Inner paths the spelling requires to be existing directories: a name followed by '.' or '..'
   * (the kernel looks each component up, so 'missing/../f' is ENOENT and 'file/..' ENOTDIR).
   */
  directories?: string[];
  /** Spelled with a trailing slash: the final name must be a directory ('f/' of a file is ENOTDIR). */
  trailingSlash?: boolean;
  /**
   * Given as a Buffer that is not valid UTF-8. A volume keeps names as UTF-8 text, so such a name
   * cannot be stored faithfully; it is refused (EINVAL) rather than decoded with U+FFFD, which would
   * make 'a\xff' and 'a\xfe' the same file.
   */
  notUtf8?: boolean;
}

export class MountTable {
  #mounts: Mount[] = [];
  // Mount paths whose volume another thread holds (a worker thread's view of the main thread's
  // volumes): every call there fails instead of reaching the real directory underneath.
  #held: { path: string; why: string }[] = [];

  get mounts(): readonly Mount[] {
    return this.#mounts;
  }

  add(mount: Mount): void {
    for (const other of this.#mounts) {
      if (within(mount.path, other.path) || within(other.path, mount.path)) {
        throw shieldError('EINVAL', `mount ${mount.path} overlaps mount ${other.path}`, mount.path);
      }
    }
    this.#mounts.push(mount);
  }

  hold(path: string, why: string): void {
    this.#held.push({ path, why });
  }

  // Volumes another process held when this one started (a forked child of the process that holds
  // them): opened when a path inside is first used, so a process that never uses them just works.
  #deferred: { path: string; open: () => Mount }[] = [];

  /** A mount opened by `open` the first time a path inside `path` is resolved (again after a failure). */
  defer(path: string, open: () => Mount): void {
    this.#deferred.push({ path, open });
  }

  remove(mount: Mount): void {
    this.#mounts = this.#mounts.filter((m) => m !== mount);
  }

  /** The mount a path (string, Buffer or file: URL; relative to the working directory) lies in, or null. */
  resolve(path: unknown): MountedPath | null {
    if (this.#mounts.length === 0 && this.#held.length === 0 && this.#deferred.length === 0) return null;
    const text = pathText(path);
    // A name with a null byte is no name: node:fs refuses it with its own error, before any I/O.
    if (text === null || text.includes('\u0000')) return null;
    const plain = text.startsWith('/') && !/(^|\/)\.\.?(\/|$)|\/\//.test(text);
    const absolute = plain ? stripTrailingSlash(text) : resolveFromWorkingDirectory(text);
    // No working directory any more (removed): a relative path cannot name a mount; node:fs says what it says.
    if (absolute === null) return null;
    const deferred = this.#deferred.find((entry) => within(absolute, entry.path));
    if (deferred) {
      this.add(deferred.open());  // throws (EBUSY) while the other process still holds it
      this.#deferred = this.#deferred.filter((entry) => entry !== deferred);
    }
    for (const mount of this.#mounts) {
      let inner: string;
      if (absolute === mount.path) inner = '/';
      else if (absolute.startsWith(mount.path) && absolute.charCodeAt(mount.path.length) === 47 /* / */) inner = absolute.slice(mount.path.length);
      else continue;
      const located: MountedPath = { mount, inner, virtual: text, absolute };
      if (path instanceof Uint8Array && !isUtf8(path)) located.notUtf8 = true;
      if (text.length > 1 && text.endsWith('/')) located.trailingSlash = true;
      if (!plain) {
        const directories = spelledDirectories(text).filter((p) => p.startsWith(mount.path + '/')).map((p) => p.slice(mount.path.length));
        if (directories.length > 0) located.directories = directories;
      }
      return located;
    }
    for (const held of this.#held) {
      if (within(absolute, held.path)) throw shieldError('EBUSY', `${absolute}: ${held.why}`, absolute);
    }
    return null;
  }
}

function resolveFromWorkingDirectory(text: string): string | null {
  try {
    return resolvePath(text);
  } catch {
    return null;  // uv_cwd: the working directory was removed
  }
}

function within(path: string, ancestor: string): boolean {
  return path === ancestor || path.startsWith(ancestor + '/');
}

// The absolute paths a spelling looks up as directories before '.' or '..' ('/V1/a/../b': '/V1/a').
function spelledDirectories(text: string): string[] {
  const stack: string[] = [];
  const found: string[] = [];
  const parts = (text.startsWith('/') ? text : `${process.cwd()}/${text}`).split('/');
  for (const part of parts) {
    if (part === '') continue;
    if (part === '.' || part === '..') {
      if (stack.length > 0) found.push('/' + stack.join('/'));
      if (part === '..') stack.pop();
    } else {
      stack.push(part);
    }
  }
  return found;
}

function stripTrailingSlash(path: string): string {
  return path.length > 1 && path.endsWith('/') ? path.slice(0, -1) : path;
}

// Linux's PATH_MAX counts the terminating NUL: a path of 4096 bytes or more is ENAMETOOLONG before the
// kernel looks at any name in it. A mounted path never reaches the kernel, so the shield says it.
const PATH_MAX = 4096;

/** True when node:fs would fail with ENAMETOOLONG for this spelling, whatever is on the disk. */
export function exceedsPathMax(spelled: string): boolean {
  return spelled.length >= PATH_MAX / 4 && Buffer.byteLength(spelled) >= PATH_MAX;
}

/** The path as text, or null for what is not a path (a descriptor, a FileHandle, garbage node will reject). */
export function pathText(path: unknown): string | null {
  if (typeof path === 'string') return path;
  // Any Uint8Array is a path to node:fs (a Buffer is one), as its bytes in UTF-8.
  if (path instanceof Uint8Array) return Buffer.from(path.buffer, path.byteOffset, path.byteLength).toString();
  if (path instanceof URL) return path.protocol === 'file:' ? fileURLToPath(path) : null;
  return null;
}
