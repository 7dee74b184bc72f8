// The trusted party that remembers each volume's latest committed tag. Freshness rests on it
// (DESIGN.md §2, promise 3): the host can put back an older copy of a whole volume, and only a record
// kept outside the host's reach says that copy is old.
import gensync from 'gensync';
import { invalidArgument, type ShieldError } from '../file/errors.js';

/**
 * Which volume a name stands for, as the trusted side remembers it. A mount or a command names its
 * volume; the directory on the host only shows which volume it holds now. Binding the name when the
 * volume is created, and never again without an explicit reset, is what turns "the directory was
 * emptied" or "another volume under the same key was put there" from a fresh start into an error.
 */
export interface VolumeBinding {
  /** The volume id (32 hex) the name stands for. */
  id: string;
  /** The volume's update policy as created (the volume layer checks the value; the store only keeps it). */
  updatePolicy: string;
}

export interface TagStore {
  /** Canonical URL, for messages. */
  readonly url: string;
  /** The latest committed tag (64 hex) of the volume, or null when the store does not know it. */
  get(volumeId: string): Promise<string | null>;
  /** Atomically: if the stored tag equals `expected` (null = volume unknown), store `next` and return true; else false. */
  compareAndSet(volumeId: string, expected: string | null, next: string): Promise<boolean>;
  /** The volume `name` stands for, or null when no volume was ever created (or adopted) under it. */
  getBinding(name: string): Promise<VolumeBinding | null>;
  /**
   * Atomically: if `name` stands for no volume and, when `firstTag` is given, the store holds no tag
   * of `binding.id`, remember both (the name's binding, and `firstTag` as the volume's tag) and return
   * true; else change nothing and return false. A volume's creation is exactly one such call.
   */
  bind(name: string, binding: VolumeBinding, firstTag: string | null): Promise<boolean>;
  /**
   * Atomically: if `name` stands for volume `expectedId`, forget the binding and return true; else
   * false. The volume's tag stays (an old copy of it is still refused). Only an explicit reset calls it.
   */
  unbind(name: string, expectedId: string): Promise<boolean>;
  close(): Promise<void>;
  // The synchronous twins let a volume commit where no event loop turns: in a process 'exit'
  // handler, and inside fs.closeSync/writeFileSync of the drop-in fs. They block the calling thread.
  /** get() on this thread. */
  getSync(volumeId: string): string | null;
  /** compareAndSet() on this thread. */
  compareAndSetSync(volumeId: string, expected: string | null, next: string): boolean;
  /** getBinding() on this thread. */
  getBindingSync(name: string): VolumeBinding | null;
  /** bind() on this thread. */
  bindSync(name: string, binding: VolumeBinding, firstTag: string | null): boolean;
  /** unbind() on this thread. */
  unbindSync(name: string, expectedId: string): boolean;
  /** close() on this thread. */
  closeSync(): void;
}

const VOLUME_ID = /^[0-9a-f]{32}$/;
const TAG = /^[0-9a-f]{64}$/;

// The steps of a store, for operations written once for both ways (file/sync-or-async.ts).
export const getTag = gensync({
  sync: (store: TagStore, volumeId: string) => store.getSync(volumeId),
  async: (store: TagStore, volumeId: string) => store.get(volumeId),
});

export const compareAndSetTag = gensync({
  sync: (store: TagStore, volumeId: string, expected: string | null, next: string) => store.compareAndSetSync(volumeId, expected, next),
  async: (store: TagStore, volumeId: string, expected: string | null, next: string) => store.compareAndSet(volumeId, expected, next),
});

export const getBinding = gensync({
  sync: (store: TagStore, name: string) => store.getBindingSync(name),
  async: (store: TagStore, name: string) => store.getBinding(name),
});

export const bindVolume = gensync({
  sync: (store: TagStore, name: string, binding: VolumeBinding, firstTag: string | null) => store.bindSync(name, binding, firstTag),
  async: (store: TagStore, name: string, binding: VolumeBinding, firstTag: string | null) => store.bind(name, binding, firstTag),
});

export const unbindVolume = gensync({
  sync: (store: TagStore, name: string, expectedId: string) => store.unbindSync(name, expectedId),
  async: (store: TagStore, name: string, expectedId: string) => store.unbind(name, expectedId),
});

export const closeTagStore = gensync({
  sync: (store: TagStore) => store.closeSync(),
  async: (store: TagStore) => store.close(),
});

export function isVolumeId(value: unknown): value is string {
  return typeof value === 'string' && VOLUME_ID.test(value);
}

export function isTag(value: unknown): value is string {
  return typeof value === 'string' && TAG.test(value);
}

export function checkVolumeId(volumeId: unknown): asserts volumeId is string {
  if (!isVolumeId(volumeId)) {
    throw invalidArgument(`volume id must be 32 lowercase hex digits, got ${describe(volumeId)}`);
  }
}

export function checkTag(tag: unknown, name: string): asserts tag is string {
  if (!isTag(tag)) throw invalidArgument(`${name} must be a tag of 64 lowercase hex digits, got ${describe(tag)}`);
}

// A name is the trusted side's key for a volume: any text an operator would write (a path, a
// service's volume name), bounded so that a store record stays small, without control characters
// so that it prints safely in messages and logs.
const MAX_NAME_LENGTH = 1024;
const POLICY = /^[a-z][a-z-]{0,63}$/;

export function isVolumeName(value: unknown): value is string {
  return typeof value === 'string' && value.length > 0 && value.length <= MAX_NAME_LENGTH && !/[\u0000-\u001f\u007f]/.test(value);
}

export function checkVolumeName(name: unknown): asserts name is string {
  if (!isVolumeName(name)) {
    throw invalidArgument(`volume name must be 1 to ${MAX_NAME_LENGTH} characters without control characters, got ${describe(name)}`);
  }
}

export function isVolumeBinding(value: unknown): value is VolumeBinding {
  if (typeof value !== 'object' || value === null) return false;
  const { id, updatePolicy } = value as Record<string, unknown>;
  return isVolumeId(id) && typeof updatePolicy === 'string' && POLICY.test(updatePolicy);
}

export function checkBinding(binding: unknown): asserts binding is VolumeBinding {
  if (!isVolumeBinding(binding)) throw invalidArgument('binding must be { id: <32 hex>, updatePolicy: <policy name> }');
}

function describe(value: unknown): string {
  if (typeof value !== 'string') return value === null ? 'null' : typeof value;
  return value.length > 80 ? `a string of ${value.length} characters` : JSON.stringify(value);
}

/**
 * An error of a store that could not answer: `code` is the Node-style code of the underlying
 * failure (ECONNREFUSED, ETIMEDOUT, EACCES, ...) when there is one, so callers can tell an
 * unreachable store from an attack.
 */
export function tagStoreError(code: string, message: string, cause?: unknown): ShieldError {
  const error = new Error(`${code}: ${message}`, cause === undefined ? undefined : { cause }) as ShieldError;
  error.code = code;
  return error;
}

export function closedStoreError(url: string): ShieldError {
  return tagStoreError('EBADF', `tag store ${url} is closed`);
}
