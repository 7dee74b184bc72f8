// The trusted party that remembers each volume's latest committed tag. Freshness rests on it
// (DESIGN.md §2, promise 3): the host can put back an older copy of a whole volume, and only a record
// kept outside the host's reach says that copy is old.
import gensync from 'gensync';
import { invalidArgument, type ShieldError } from '../file/errors.js';

export interface TagStore {
  /** Canonical URL, for messages. */
  readonly url: string;
  /** The latest committed tag (64 hex) of the volume, or null when the store does not know it. */
  get(volumeId: string): Promise<string | null>;
  /** Atomically: if the stored tag equals `expected` (null = volume unknown), store `next` and return true; else false. */
  compareAndSet(volumeId: string, expected: string | null, next: string): Promise<boolean>;
  close(): Promise<void>;
  // The synchronous twins let a volume commit where no event loop turns: in a process 'exit'
  // handler, and inside fs.closeSync/writeFileSync of the drop-in fs. They block the calling thread.
  /** get() on this thread. */
  getSync(volumeId: string): string | null;
  /** compareAndSet() on this thread. */
  compareAndSetSync(volumeId: string, expected: string | null, next: string): boolean;
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
