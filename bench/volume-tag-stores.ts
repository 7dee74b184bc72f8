// Tag stores side by side: the same one-file commit in a 1-file volume, and the raw get /
// compareAndSet of each store. memory: (no durability) shows what the commit costs without a store;
// file: is the embedded store (temp file, fsync, rename, fsync of the directory); etcd:// is a real
// single-member etcd started here (the Debian package etcd-server, as the tests use it), with its
// data directory in the bench directory. Every measurement goes round the stores in turn, so drift
// hits them alike.
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { openTagStore, Volume, type TagStore } from '../lib/index.js';
import { ETCD_INSTALL_HINT, findEtcdBinary, startEtcdServer, type EtcdServer } from '../test/support/etcd-server.js';
import type { Outcome } from './report-format.js';
import { latency, overwriter, type Latency, type VolumeSettings } from './volume-latency.js';

export const TAG_STORES = ['memory:', 'file:', 'etcd://'] as const;
export type TagStoreKind = (typeof TAG_STORES)[number];

export interface TagStoreFigures {
  url: string;
  /** writeFile of the one file of a 1-file volume + commit. */
  overwriteCommit: Latency;
  get: Latency;
  compareAndSet: Latency;
  /** etcd only: the server's version. */
  version?: string;
}

export type TagStoreComparison = Record<TagStoreKind, Outcome<TagStoreFigures>>;

interface Subject {
  kind: TagStoreKind;
  url: string;
  version?: string;
  volume?: Volume;
  overwrite?: () => Promise<void>;
  store?: TagStore;
  id: string;
  current: string;
  samples: { overwriteCommit: number[]; get: number[]; compareAndSet: number[] };
}

export async function tagStoreComparison(dir: string, key: Buffer, settings: VolumeSettings,
                                         progress: (what: string) => void): Promise<TagStoreComparison> {
  const out = {} as TagStoreComparison;
  const subjects: Subject[] = [];
  let etcd: { server: EtcdServer; version: string } | undefined;
  const subject = (kind: TagStoreKind, url: string, version?: string): Subject => ({
    kind, url, ...(version ? { version } : {}), id: randomBytes(16).toString('hex'), current: randomBytes(32).toString('hex'),
    samples: { overwriteCommit: [], get: [], compareAndSet: [] },
  });
  try {
    progress('tag stores: memory:, file:, etcd:// (starting etcd)');
    subjects.push(subject('memory:', 'memory:bench'), subject('file:', `file:${join(dir, 'store-tags.json')}`));
    try {
      etcd = await startEtcd(dir);
      subjects.push(subject('etcd://', etcd.server.url, etcd.version));
    } catch (error) {
      out['etcd://'] = { unavailable: error instanceof Error ? error.message : String(error) };
    }

    // A 1-file volume per store, opened once; a fresh volume id in each store for the raw calls.
    for (const s of [...subjects]) {
      try {
        const path = join(dir, `store-volume-${s.kind.replace(/\W/g, '')}`);
        const created = await Volume.create(path, { key, tagStore: s.url });
        await created.writeFile('/f', 'x');
        await created.close();
        s.volume = await Volume.open(path, { key, tagStore: s.url });
        s.overwrite = overwriter(s.volume, '/f', settings).overwrite;
        s.store = openTagStore(s.url);
        if (!(await s.store.compareAndSet(s.id, null, s.current))) throw new Error(`${s.url}: the first compareAndSet failed`);
      } catch (error) {
        out[s.kind] = { unavailable: error instanceof Error ? error.message : String(error) };
        subjects.splice(subjects.indexOf(s), 1);
      }
    }

    const time = async (op: () => Promise<unknown>, samples: number[] | null) => {
      const start = performance.now();
      await op();
      samples?.push((performance.now() - start) / 1000);
    };
    const get = (s: Subject) => async () => {
      if ((await s.store!.get(s.id)) !== s.current) throw new Error(`${s.url}: get returned another tag`);
    };
    const compareAndSet = (s: Subject) => async () => {
      const next = randomBytes(32).toString('hex');
      if (!(await s.store!.compareAndSet(s.id, s.current, next))) throw new Error(`${s.url}: compareAndSet refused`);
      s.current = next;
    };
    for (let round = -settings.warmupCommits; round < settings.commits; round++) {
      if (round === 0) globalThis.gc?.();
      for (const s of subjects) await time(s.overwrite!, round >= 0 ? s.samples.overwriteCommit : null);
    }
    for (let round = -settings.warmupCommits; round < settings.storeCalls; round++) {
      for (const s of subjects) await time(get(s), round >= 0 ? s.samples.get : null);
      for (const s of subjects) await time(compareAndSet(s), round >= 0 ? s.samples.compareAndSet : null);
    }
    for (const s of subjects) {
      out[s.kind] = {
        url: s.url,
        overwriteCommit: latency(s.samples.overwriteCommit),
        get: latency(s.samples.get),
        compareAndSet: latency(s.samples.compareAndSet),
        ...(s.version ? { version: s.version } : {}),
      };
    }
    return out;
  } finally {
    for (const s of subjects) {
      await s.volume?.close();
      await s.store?.close();
    }
    await etcd?.server.stop();
  }
}

/** A fresh etcd whose data directory is in `dir`. */
async function startEtcd(dir: string): Promise<{ server: EtcdServer; version: string }> {
  const binary = findEtcdBinary();
  if (binary === null) throw new Error(`etcd not installed (${ETCD_INSTALL_HINT})`);
  // The helper puts etcd's data directory in os.tmpdir(): point that at the bench directory, so etcd's
  // WAL fsyncs hit the same file system as the file: store's.
  const saved = process.env.TMPDIR;
  process.env.TMPDIR = dir;
  let server: EtcdServer;
  try {
    server = await startEtcdServer(binary);
  } finally {
    if (saved === undefined) delete process.env.TMPDIR;
    else process.env.TMPDIR = saved;
  }
  try {
    const response = await fetch(`http://${server.endpoint}/version`);
    const { etcdserver } = (await response.json()) as { etcdserver?: string };
    return { server, version: etcdserver ?? 'unknown' };
  } catch (error) {
    await server.stop();
    throw error;
  }
}
