// Opens the tag store a URL names (`file:`, `etcd://`, `memory:`): the one place that knows every
// implementation, kept apart from the interface (tag-store.ts) so that no implementation imports its
// own factory.
import { homedir } from 'node:os';
import { isAbsolute, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { invalidArgument } from '../file/errors.js';
import { EtcdTagStore } from './etcd-tag-store.js';
import { FileTagStore } from './file-tag-store.js';
import { MemoryTagStore } from './memory-tag-store.js';
import type { TagStore } from './tag-store.js';

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
