// `file:PATH`: the embedded tag store, one JSON file shared by every process of the machine.
//
//   { "format": "shieldfs-tags", "version": 1,
//     "volumes": { "<32 hex volume id>": { "tag": "<64 hex>", "updated": "<ISO time>" } },
//     "names": { "<volume name>": { "id": "<32 hex>", "updatePolicy": "<policy>", "bound": "<ISO time>" } } }
//
// ("names" may be absent: files written before volumes had names have none.)
// The file is only ever replaced whole (temp file, fsync, rename, fsync of the directory), so a
// reader sees the old or the new record, never a torn one, and needs no lock. Writers serialize on
// an flock of PATH.lock and re-read the file under it, so no compare-and-set is lost between
// processes. The file is the trusted record of every volume's freshness: when it is damaged we
// refuse to touch it rather than start over, since starting over would accept any old volume.
import { hostFs } from '../file/host-fs.js';
import { dirname, resolve } from 'node:path';
import { readRegularFile } from '../file/bounded-file.js';
import { removeStaleTemporaries, replaceDurably } from '../file/durable-file.js';
import { native, type NativeLock } from '../file/native.js';
import {
  checkBinding, checkTag, checkVolumeId, checkVolumeName, closedStoreError, isTag, isVolumeBinding, isVolumeId, isVolumeName,
  tagStoreError, type TagStore, type VolumeBinding,
} from './tag-store.js';

const { mkdirSync } = hostFs;

const FORMAT = 'shieldfs-tags';
const VERSION = 1;

interface VolumeRecord {
  tag: string;
  updated: string;
}

interface NameRecord extends VolumeBinding {
  bound: string;
}

interface TagFile {
  format: typeof FORMAT;
  version: typeof VERSION;
  volumes: Record<string, VolumeRecord>;
  names: Record<string, NameRecord>;
}

// The store holds one small record per volume and per name: 64 MiB is hundreds of thousands of
// volumes, and a bound on what is read keeps a planted huge file or device from exhausting memory.
const MAX_STORE_BYTES = 64 << 20;

export interface FileTagStoreOptions {
  /** How long compareAndSet waits for another process's lock before failing with EBUSY. */
  lockTimeoutMs?: number;
}

const DEFAULT_LOCK_TIMEOUT_MS = 10_000;

/** Atomics.wait on a cell nobody notifies is a sleep that needs no event loop. */
const sleepCell = new Int32Array(new SharedArrayBuffer(4));

export class FileTagStore implements TagStore {
  readonly url: string;
  readonly path: string;
  readonly #lockPath: string;
  readonly #lockTimeoutMs: number;
  #closed = false;

  constructor(path: string, options: FileTagStoreOptions = {}) {
    this.path = resolve(path);
    this.url = `file:${this.path}`;
    this.#lockPath = `${this.path}.lock`;
    this.#lockTimeoutMs = options.lockTimeoutMs ?? DEFAULT_LOCK_TIMEOUT_MS;
  }

  async get(volumeId: string): Promise<string | null> {
    return this.getSync(volumeId);
  }

  async compareAndSet(volumeId: string, expected: string | null, next: string): Promise<boolean> {
    this.#checkUpdate(volumeId, expected, next);
    return this.#compareAndSetLocked(this.#tryLock() ?? (await this.#waitForLock()), volumeId, expected, next);
  }

  async close(): Promise<void> {
    this.closeSync();
  }

  getSync(volumeId: string): string | null {
    checkVolumeId(volumeId);
    if (this.#closed) throw closedStoreError(this.url);
    return this.#parse(this.#read()).volumes[volumeId]?.tag ?? null;
  }

  compareAndSetSync(volumeId: string, expected: string | null, next: string): boolean {
    this.#checkUpdate(volumeId, expected, next);
    return this.#compareAndSetLocked(this.#tryLock() ?? this.#waitForLockSync(), volumeId, expected, next);
  }

  async getBinding(name: string): Promise<VolumeBinding | null> {
    return this.getBindingSync(name);
  }

  async bind(name: string, binding: VolumeBinding, firstTag: string | null): Promise<boolean> {
    this.#checkBind(name, binding, firstTag);
    return this.#updateLocked(this.#tryLock() ?? (await this.#waitForLock()), (record) => bindIn(record, name, binding, firstTag));
  }

  async unbind(name: string, expectedId: string): Promise<boolean> {
    this.#checkUnbind(name, expectedId);
    return this.#updateLocked(this.#tryLock() ?? (await this.#waitForLock()), (record) => unbindIn(record, name, expectedId));
  }

  getBindingSync(name: string): VolumeBinding | null {
    checkVolumeName(name);
    if (this.#closed) throw closedStoreError(this.url);
    const found = this.#parse(this.#read()).names[name];
    return found ? { id: found.id, updatePolicy: found.updatePolicy } : null;
  }

  bindSync(name: string, binding: VolumeBinding, firstTag: string | null): boolean {
    this.#checkBind(name, binding, firstTag);
    return this.#updateLocked(this.#tryLock() ?? this.#waitForLockSync(), (record) => bindIn(record, name, binding, firstTag));
  }

  unbindSync(name: string, expectedId: string): boolean {
    this.#checkUnbind(name, expectedId);
    return this.#updateLocked(this.#tryLock() ?? this.#waitForLockSync(), (record) => unbindIn(record, name, expectedId));
  }

  #checkBind(name: string, binding: VolumeBinding, firstTag: string | null): void {
    checkVolumeName(name);
    checkBinding(binding);
    if (firstTag !== null) checkTag(firstTag, 'first tag');
    if (this.#closed) throw closedStoreError(this.url);
    this.#createDirectory();
  }

  #checkUnbind(name: string, expectedId: string): void {
    checkVolumeName(name);
    checkVolumeId(expectedId);
    if (this.#closed) throw closedStoreError(this.url);
    this.#createDirectory();
  }

  /** Reads, changes and replaces the record under the writers' lock; `change` says whether it changed anything. */
  #updateLocked(lock: NativeLock, change: (record: TagFile) => boolean): boolean {
    try {
      const record = this.#parse(this.#read());
      if (!change(record)) return false;
      this.#replace(`${JSON.stringify(record, null, 2)}\n`);
      return true;
    } finally {
      lock.release();
    }
  }

  closeSync(): void {
    this.#closed = true;
  }

  #checkUpdate(volumeId: string, expected: string | null, next: string): void {
    checkVolumeId(volumeId);
    if (expected !== null) checkTag(expected, 'expected tag');
    checkTag(next, 'next tag');
    if (this.#closed) throw closedStoreError(this.url);
    this.#createDirectory();
  }

  /**
   * From taking the lock to releasing it nothing awaits: the flock keeps other processes out, and
   * not yielding to the event loop keeps this process's other calls out (they would only find the
   * lock busy and back off).
   */
  #compareAndSetLocked(lock: NativeLock, volumeId: string, expected: string | null, next: string): boolean {
    return this.#updateLocked(lock, (record) => {
      if ((record.volumes[volumeId]?.tag ?? null) !== expected) return false;
      record.volumes[volumeId] = { tag: next, updated: new Date().toISOString() };
      return true;
    });
  }

  #createDirectory(): void {
    try {
      mkdirSync(dirname(this.path), { recursive: true, mode: 0o700 });
    } catch (error) {
      throw this.#ioError(`create the directory ${dirname(this.path)} of`, error);
    }
  }

  /** Waits with a short backoff while another process holds the writers' lock. */
  async #waitForLock(): Promise<NativeLock> {
    for (const delayMs of this.#lockRetryDelays()) {
      await new Promise((resolve) => setTimeout(resolve, delayMs));  // not node:timers/promises: loading it at start-up costs more
      const lock = this.#tryLock();
      if (lock) return lock;
    }
    throw this.#lockBusy();
  }

  /** #waitForLock() for callers that have no event loop to wait on: the thread sleeps instead. */
  #waitForLockSync(): NativeLock {
    for (const delayMs of this.#lockRetryDelays()) {
      Atomics.wait(sleepCell, 0, 0, delayMs);
      const lock = this.#tryLock();
      if (lock) return lock;
    }
    throw this.#lockBusy();
  }

  /** The pauses between attempts to take the lock, until the lock timeout has passed. */
  *#lockRetryDelays(): Generator<number> {
    const deadline = Date.now() + this.#lockTimeoutMs;
    for (let delayMs = 1; Date.now() < deadline; delayMs = Math.min(delayMs * 2, 50)) {
      // Jitter keeps waiting processes from retrying in lockstep.
      yield delayMs * (0.5 + Math.random());
    }
  }

  #lockBusy() {
    return tagStoreError('EBUSY', `tag store ${this.url}: another process has held ${this.#lockPath} for more ` +
      `than ${this.#lockTimeoutMs} ms; find it (fuser ${this.#lockPath}) and try again once it is done`);
  }

  /** The lock, or null while someone else holds it. */
  #tryLock(): NativeLock | null {
    try {
      return native.lockFile(this.#lockPath, true);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'EBUSY') return null;
      throw this.#ioError(`lock ${this.#lockPath} of`, error);
    }
  }

  /** The file's text, or null when there is none. Needs no lock: the file is only replaced whole. */
  #read(): string | null {
    let bytes: Buffer;
    try {
      bytes = readRegularFile(this.path, { what: 'tag store', maxBytes: MAX_STORE_BYTES });
    } catch (error) {
      return this.#absentOrFail(error);
    }
    return bytes.toString('utf8');
  }

  /** A missing file is a store that knows no volume yet; any other read failure is an error. */
  #absentOrFail(error: unknown): null {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return null;
    // Something other than the store's file in its place (a FIFO, a device, a huge file) is damage.
    if (code === 'EINVAL' || code === 'EFBIG') throw this.#damaged((error as Error).message.replace(/^E[A-Z]+: /, ''));
    throw this.#ioError('read', error);
  }

  /** The store's record; a missing file is an empty store, anything unexpected is damage. */
  #parse(text: string | null): TagFile {
    const volumes: Record<string, VolumeRecord> = Object.create(null);
    const names: Record<string, NameRecord> = Object.create(null);
    if (text === null) return { format: FORMAT, version: VERSION, volumes, names };
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (error) {
      throw this.#damaged(`it is not JSON (${(error as Error).message})`);
    }
    if (!isObject(parsed) || parsed.format !== FORMAT) throw this.#damaged(`it is not a "${FORMAT}" file`);
    if (parsed.version !== VERSION) {
      throw this.#damaged(`it has version ${JSON.stringify(parsed.version)}, this shieldfs reads version ${VERSION}`);
    }
    if (!isObject(parsed.volumes)) throw this.#damaged('"volumes" is not an object');
    for (const [volumeId, entry] of Object.entries(parsed.volumes)) {
      if (!isVolumeId(volumeId)) throw this.#damaged(`${JSON.stringify(volumeId)} is not a volume id`);
      if (!isObject(entry) || !isTag(entry.tag) || typeof entry.updated !== 'string') {
        throw this.#damaged(`the entry of volume ${volumeId} is not { "tag": <64 hex>, "updated": <time> }`);
      }
      volumes[volumeId] = { tag: entry.tag, updated: entry.updated };
    }
    if (parsed.names !== undefined) {
      if (!isObject(parsed.names)) throw this.#damaged('"names" is not an object');
      for (const [name, entry] of Object.entries(parsed.names)) {
        if (!isVolumeName(name)) throw this.#damaged(`${JSON.stringify(String(name).slice(0, 80))} is not a volume name`);
        if (!isVolumeBinding(entry) || typeof (entry as { bound?: unknown }).bound !== 'string') {
          throw this.#damaged(`the entry of name ${JSON.stringify(name)} is not { "id": <32 hex>, "updatePolicy": <policy>, "bound": <time> }`);
        }
        names[name] = { id: entry.id, updatePolicy: entry.updatePolicy, bound: (entry as NameRecord).bound };
      }
    }
    return { format: FORMAT, version: VERSION, volumes, names };
  }

  /** Replaces the file durably (durable-file.ts); called under the writers' lock. */
  #replace(content: string): void {
    removeStaleTemporaries(this.path);
    try {
      replaceDurably(this.path, content);
    } catch (error) {
      throw this.#ioError('write', error);
    }
  }

  #damaged(why: string) {
    const error = tagStoreError('EINVAL', `tag store ${this.url} is damaged: ${why}. This file is the trusted ` +
      'record of every volume\'s latest tag: do not delete or overwrite it; restore it from a backup or repair it by hand');
    error.path = this.path;
    return error;
  }

  #ioError(action: string, cause: unknown) {
    const code = (cause as NodeJS.ErrnoException).code ?? 'EIO';
    const error = tagStoreError(code, `could not ${action} tag store ${this.url}: ${(cause as Error).message}; ` +
      'check that the path is right and that this user may read and write it', cause);
    error.path = this.path;
    return error;
  }
}

function bindIn(record: TagFile, name: string, binding: VolumeBinding, firstTag: string | null): boolean {
  if (record.names[name] !== undefined || (firstTag !== null && record.volumes[binding.id] !== undefined)) return false;
  const now = new Date().toISOString();
  record.names[name] = { id: binding.id, updatePolicy: binding.updatePolicy, bound: now };
  if (firstTag !== null) record.volumes[binding.id] = { tag: firstTag, updated: now };
  return true;
}

function unbindIn(record: TagFile, name: string, expectedId: string): boolean {
  if (record.names[name]?.id !== expectedId) return false;
  delete record.names[name];
  return true;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
