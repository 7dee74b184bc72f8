// The trusted party that remembers each volume's latest committed tag. Freshness rests on it
// (DESIGN.md §2, promise 3): the host can put back an older copy of a whole volume, and only a record
// kept outside the host's reach says that copy is old.
import { homedir } from 'node:os';
import { isAbsolute, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { invalidArgument, type ShieldError } from './errors.js';
import { EtcdTagStore } from './etcd-tag-store.js';
import { FileTagStore } from './file-tag-store.js';
import { MemoryTagStore } from './memory-tag-store.js';

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

/** Where tags live unless told otherwise: SHIELD_TAG_STORE, else a file in the user's home. */
export function defaultTagStoreUrl(): string {
  const configured = process.env.SHIELD_TAG_STORE;
  return configured ? configured : `file:${homedir()}/.shieldfs/tags.json`;
}

// Stores that live in layers above this one (the policy service's `cas:` store, lib/cas) register
// their scheme here, so this layer never imports them.
const registeredSchemes = new Map<string, (url: string) => TagStore>();

/** Makes openTagStore() open URLs of `scheme` (lowercase, without the colon) with `factory`. */
export function registerTagStoreScheme(scheme: string, factory: (url: string) => TagStore): void {
  if (['file', 'memory', 'etcd'].includes(scheme)) throw invalidArgument(`tag store scheme "${scheme}:" is built in`);
  registeredSchemes.set(scheme, factory);
}

const SUPPORTED = 'file:PATH (or a bare path), etcd://HOST:PORT[,HOST:PORT...][/PREFIX], memory:[NAME] (tests)';

/**
 * Opens the store a URL names. Nothing is contacted yet: an unreachable store is reported by the
 * first get() or compareAndSet(), with the URL in the message.
 */
export function openTagStore(url: string = defaultTagStoreUrl()): TagStore {
  if (typeof url !== 'string' || url === '') throw invalidArgument(`tag store URL must be a non-empty string; supported: ${SUPPORTED}`);
  const scheme = /^([a-zA-Z][a-zA-Z0-9+.-]*):/.exec(url)?.[1]?.toLowerCase();
  switch (scheme) {
    case undefined:
      return new FileTagStore(filePath(url, url));
    case 'file':
      return new FileTagStore(filePath(url.slice('file:'.length), url));
    case 'memory':
      return new MemoryTagStore(url.slice('memory:'.length) || 'default');
    case 'etcd': {
      const { hosts, prefix } = etcdLocation(url);
      return new EtcdTagStore(hosts, prefix);
    }
    default: {
      const factory = scheme === undefined ? undefined : registeredSchemes.get(scheme);
      if (factory) return factory(url);
      throw invalidArgument(`tag store URL ${JSON.stringify(url)} has an unknown scheme "${scheme}:"; supported: ${SUPPORTED}`);
    }
  }
}

function filePath(spec: string, url: string): string {
  // `file:///abs` is the standard file URL; `file:rel`, `file:/abs` and `file:~/x` are shorthands.
  if (spec.startsWith('//')) {
    try {
      return fileURLToPath(`file:${spec}`);
    } catch (error) {
      throw invalidArgument(`tag store URL ${JSON.stringify(url)}: ${(error as Error).message}`);
    }
  }
  if (spec === '') throw invalidArgument(`tag store URL ${JSON.stringify(url)} names no file`);
  if (spec === '~') return homedir();
  if (spec.startsWith('~/')) return resolve(homedir(), spec.slice(2));
  return isAbsolute(spec) ? resolve(spec) : resolve(process.cwd(), spec);
}

const DEFAULT_ETCD_PREFIX = 'shieldfs/tags/';
const ENDPOINT = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/;

function etcdLocation(url: string): { hosts: string[]; prefix: string } {
  if (!url.toLowerCase().startsWith('etcd://')) {
    throw invalidArgument(`tag store URL ${JSON.stringify(url)}: expected etcd://HOST:PORT[,HOST:PORT...][/PREFIX]`);
  }
  const rest = url.slice('etcd://'.length);
  const slash = rest.indexOf('/');
  const authority = slash < 0 ? rest : rest.slice(0, slash);
  const path = slash < 0 ? '' : rest.slice(slash + 1);
  const hosts = authority.split(',');
  for (const host of hosts) {
    const match = ENDPOINT.exec(host);
    const port = Number(match?.[2]);
    if (!match || port < 1 || port > 65535) {
      throw invalidArgument(`tag store URL ${JSON.stringify(url)}: "${host}" is not HOST:PORT; expected etcd://HOST:PORT[,HOST:PORT...][/PREFIX]`);
    }
  }
  // The prefix ends in "/" so that one volume's key is never a prefix of another application's keys.
  const prefix = path === '' ? DEFAULT_ETCD_PREFIX : path.endsWith('/') ? path : `${path}/`;
  return { hosts, prefix };
}

const VOLUME_ID = /^[0-9a-f]{32}$/;
const TAG = /^[0-9a-f]{64}$/;

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
