// Tag stores: one contract, checked against every backend (memory, file, a real etcd), plus what
// each backend promises on its own (the file store's atomic replace and locking, etcd's failover and
// fast failure when unreachable).
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { createServer, type Socket } from 'node:net';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { Etcd3 } from 'etcd3';
import { FileTagStore } from '../lib/tag-store/file-tag-store.js';
import { native } from '../lib/file/native.js';
import { defaultTagStoreUrl, openTagStore } from '../lib/tag-store/open-tag-store.js';
import type { TagStore } from '../lib/tag-store/tag-store.js';
import { ETCD_INSTALL_HINT, findEtcdBinary, startEtcdServer, unusedPort, type EtcdServer } from './support/etcd-server.js';
import { useTempDir } from './support/temp.js';

const temp = useTempDir('shieldfs-tags-');
const tagStoreModule = fileURLToPath(new URL('../lib/tag-store/open-tag-store.ts', import.meta.url));
const nativeModule = fileURLToPath(new URL('../lib/file/native.ts', import.meta.url));
const distTagStoreModule = new URL('../dist/tag-store/open-tag-store.js', import.meta.url).href;

const newVolumeId = () => randomBytes(16).toString('hex');
/** The tag that encodes counter value n, so concurrent incrementers can read back the count. */
const tagOf = (n: number) => n.toString(16).padStart(64, '0');
const randomTag = () => randomBytes(32).toString('hex');

function expectCode(code: string) {
  return expect.objectContaining({ code });
}

const escapeRegExp = (text: string) => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

type CallMode = 'async' | 'sync';

/**
 * A store's calls as promises: the async methods themselves, or their synchronous twins, so that one
 * contract checks both. A sync twin must answer on the spot: returning a promise fails the test.
 */
function callsOf(store: TagStore, mode: CallMode): Pick<TagStore, 'url' | 'get' | 'compareAndSet' | 'close' | 'getBinding' | 'bind' | 'unbind'> {
  if (mode === 'async') return store;
  const answered = <T>(call: () => T): Promise<T> => {
    try {
      const value = call();
      expect(value).not.toBeInstanceOf(Promise);
      return Promise.resolve(value);
    } catch (error) {
      return Promise.reject(error);
    }
  };
  return {
    url: store.url,
    get: (volumeId) => answered(() => store.getSync(volumeId)),
    compareAndSet: (volumeId, expected, next) => answered(() => store.compareAndSetSync(volumeId, expected, next)),
    close: () => answered(() => store.closeSync()),
    getBinding: (name) => answered(() => store.getBindingSync(name)),
    bind: (name, binding, firstTag) => answered(() => store.bindSync(name, binding, firstTag)),
    unbind: (name, expectedId) => answered(() => store.unbindSync(name, expectedId)),
  };
}

/**
 * The behaviour every tag store promises, through the async methods and through their synchronous
 * twins. `url()` is read when a test runs (etcd starts in beforeAll).
 */
function contract(url: () => string) {
  for (const mode of ['async', 'sync'] as const) describe(`${mode} calls`, () => contractOf(mode, url));

  const stores: TagStore[] = [];
  const open = () => {
    const store = openTagStore(url());
    stores.push(store);
    return store;
  };
  afterAll(async () => {
    await Promise.all(stores.map((store) => store.close()));
  });

  it('sees the same tags through sync and async calls, interleaved on one store and across stores', async () => {
    const store = open();
    const volume = newVolumeId();
    const tags = Array.from({ length: 6 }, randomTag);
    expect(store.compareAndSetSync(volume, null, tags[0]!)).toBe(true);
    expect(await store.get(volume)).toBe(tags[0]);
    expect(await store.compareAndSet(volume, tags[0]!, tags[1]!)).toBe(true);
    expect(store.getSync(volume)).toBe(tags[1]);
    expect(store.compareAndSetSync(volume, tags[0]!, tags[2]!)).toBe(false);
    expect(await store.compareAndSet(volume, tags[0]!, tags[2]!)).toBe(false);
    expect(store.compareAndSetSync(volume, tags[1]!, tags[2]!)).toBe(true);
    const other = open();
    expect(other.getSync(volume)).toBe(tags[2]);
    expect(await other.compareAndSet(volume, tags[2]!, tags[3]!)).toBe(true);
    expect(store.getSync(volume)).toBe(tags[3]);
    expect(other.compareAndSetSync(volume, tags[3]!, tags[4]!)).toBe(true);
    expect(await store.get(volume)).toBe(tags[4]);
  });

  it('refuses both kinds of call once closed either way', async () => {
    for (const closeBy of ['close', 'closeSync'] as const) {
      const store = open();
      expect(store.getSync(newVolumeId())).toBeNull(); // the sync path has started whatever it needs
      if (closeBy === 'close') await store.close();
      else expect(store.closeSync()).toBeUndefined();
      const closed = new RegExp(`^EBADF: tag store ${escapeRegExp(store.url)} is closed`);
      expect(() => store.getSync(newVolumeId()), closeBy).toThrow(closed);
      expect(() => store.compareAndSetSync(newVolumeId(), null, randomTag()), closeBy).toThrow(closed);
      await expect(store.get(newVolumeId()), closeBy).rejects.toThrow(closed);
      await expect(store.compareAndSet(newVolumeId(), null, randomTag()), closeBy).rejects.toThrow(closed);
      // Closing twice, either way, is harmless.
      store.closeSync();
      await store.close();
    }
  });
}

function contractOf(mode: CallMode, url: () => string) {
  const stores: TagStore[] = [];
  const open = () => {
    const store = openTagStore(url());
    stores.push(store);
    return callsOf(store, mode);
  };
  afterAll(async () => {
    await Promise.all(stores.map((store) => store.close()));
  });

  it('does not know a volume it was never told about', async () => {
    expect(await open().get(newVolumeId())).toBeNull();
  });

  it('binds a volume name once, together with the first tag, and forgets it only for the id it stands for', async () => {
    const store = open();
    const name = `/srv/volume-${newVolumeId()}`;
    const [first, second] = [newVolumeId(), newVolumeId()];
    const tag = randomTag();
    expect(await store.getBinding(name)).toBeNull();
    expect(await store.bind(name, { id: first, updatePolicy: 'rollback-protected' }, tag)).toBe(true);
    expect(await store.getBinding(name)).toEqual({ id: first, updatePolicy: 'rollback-protected' });
    expect(await store.get(first)).toBe(tag);
    // A second creation under the name changes nothing, and neither does one whose id already has a tag.
    expect(await store.bind(name, { id: second, updatePolicy: 'no-rollback-protection' }, randomTag())).toBe(false);
    expect(await store.bind(`${name}-other`, { id: first, updatePolicy: 'rollback-protected' }, randomTag())).toBe(false);
    expect(await store.getBinding(`${name}-other`)).toBeNull();
    expect(await store.get(second)).toBeNull();
    expect(await open().getBinding(name)).toEqual({ id: first, updatePolicy: 'rollback-protected' });
    // Without a first tag (a volume without rollback protection, or one adopted): only the name.
    expect(await store.bind(`${name}-plain`, { id: second, updatePolicy: 'no-rollback-protection' }, null)).toBe(true);
    expect(await store.get(second)).toBeNull();
    expect(await store.unbind(name, second)).toBe(false);
    expect(await store.getBinding(name)).toEqual({ id: first, updatePolicy: 'rollback-protected' });
    expect(await store.unbind(name, first)).toBe(true);
    expect(await store.getBinding(name)).toBeNull();
    expect(await store.get(first)).toBe(tag);  // the old volume's tag stays: an old copy is still refused
    expect(await store.unbind(name, first)).toBe(false);
  });

  it('rejects malformed names and bindings with EINVAL', async () => {
    const store = open();
    for (const name of ['', 'a\nb', 'x'.repeat(1025)]) await expect(store.getBinding(name)).rejects.toThrow(/^EINVAL: volume name/);
    await expect(store.bind('/v', { id: 'nope', updatePolicy: 'rollback-protected' }, null)).rejects.toThrow(/^EINVAL: binding/);
    await expect(store.bind('/v', { id: newVolumeId(), updatePolicy: 'rollback-protected' }, 'short')).rejects.toThrow(/^EINVAL: first tag/);
  });

  it('sets the first tag only when the volume is unknown', async () => {
    const store = open();
    const volume = newVolumeId();
    const [first, second] = [randomTag(), randomTag()];
    expect(await store.compareAndSet(volume, null, first)).toBe(true);
    expect(await store.get(volume)).toBe(first);
    expect(await store.compareAndSet(volume, null, second)).toBe(false);
    expect(await store.get(volume)).toBe(first);
  });

  it('refuses a compare-and-set from a tag that is not the stored one', async () => {
    const store = open();
    const volume = newVolumeId();
    const stored = randomTag();
    await store.compareAndSet(volume, null, stored);
    expect(await store.compareAndSet(volume, randomTag(), randomTag())).toBe(false);
    expect(await store.get(volume)).toBe(stored);
  });

  it('follows a chain of commits, and a reopened store sees the last one', async () => {
    const store = open();
    const volume = newVolumeId();
    let current: string | null = null;
    for (let step = 0; step < 10; step++) {
      const next = randomTag();
      expect(await store.compareAndSet(volume, current, next)).toBe(true);
      current = next;
    }
    expect(await store.get(volume)).toBe(current);
    expect(await open().get(volume)).toBe(current);
  });

  it('keeps volumes apart', async () => {
    const store = open();
    const [a, b] = [newVolumeId(), newVolumeId()];
    const tagA = randomTag();
    await store.compareAndSet(a, null, tagA);
    expect(await store.get(b)).toBeNull();
    expect(await store.compareAndSet(b, null, randomTag())).toBe(true);
    expect(await store.get(a)).toBe(tagA);
  });

  it('lets exactly one of many concurrent compare-and-sets win each round', async () => {
    const store = open();
    const other = open();
    const volume = newVolumeId();
    let current: string | null = null;
    for (let round = 0; round < 5; round++) {
      const candidates = Array.from({ length: 8 }, randomTag);
      const outcomes = await Promise.all(candidates.map((next, i) =>
        (i % 2 ? other : store).compareAndSet(volume, current, next)));
      expect(outcomes.filter(Boolean)).toHaveLength(1);
      const winner = candidates[outcomes.indexOf(true)]!;
      expect(await store.get(volume)).toBe(winner);
      current = winner;
    }
  });

  it('rejects malformed volume ids and tags with EINVAL', async () => {
    const store = open();
    const volume = newVolumeId();
    for (const badId of ['', 'abc', volume.toUpperCase(), `${volume}0`, 'g'.repeat(32), 42, null]) {
      await expect(store.get(badId as string)).rejects.toThrow(/EINVAL: volume id must be 32 lowercase hex digits/);
      await expect(store.compareAndSet(badId as string, null, randomTag())).rejects.toEqual(expectCode('EINVAL'));
    }
    for (const badTag of ['', randomTag().toUpperCase(), randomTag().slice(1), `${randomTag()}00`, 7, undefined]) {
      await expect(store.compareAndSet(volume, null, badTag as string)).rejects.toThrow(/EINVAL: next tag must be a tag of 64/);
      await expect(store.compareAndSet(volume, badTag as string, randomTag())).rejects.toThrow(/EINVAL: expected tag/);
    }
    expect(await store.get(volume)).toBeNull();
  });

  it('refuses to work once closed', async () => {
    const store = open();
    await store.close();
    await expect(store.get(newVolumeId())).rejects.toEqual(expectCode('EBADF'));
    await expect(store.compareAndSet(newVolumeId(), null, randomTag())).rejects.toEqual(expectCode('EBADF'));
  });
}

/**
 * Runs `processes` child processes that each commit `increments` counter increments to one volume,
 * all starting at the same moment and retrying on conflict. A lost update shows as a final count
 * below the total.
 */
async function incrementConcurrently(url: string, processes: number, increments: number) {
  const volume = newVolumeId();
  const incrementers = Array.from({ length: processes }, () => startIncrementer(url, volume, increments));
  await Promise.all(incrementers.map((incrementer) => incrementer.ready));
  for (const incrementer of incrementers) incrementer.go();
  const reports = await Promise.all(incrementers.map((incrementer) => incrementer.report));
  const store = openTagStore(url);
  const final = await store.get(volume);
  await store.close();
  return {
    count: final === null ? 0 : parseInt(final, 16),
    conflicts: reports.reduce((sum, report) => sum + report.conflicts, 0),
  };
}

const INCREMENTER = `
  const { openTagStore } = await import(process.argv[1]);
  const [url, volume, increments] = [process.argv[2], process.argv[3], Number(process.argv[4])];
  const store = openTagStore(url);
  console.log('ready');
  await new Promise((resolve) => process.stdin.once('data', resolve));
  process.stdin.destroy();
  let done = 0, conflicts = 0;
  while (done < increments) {
    const current = await store.get(volume);
    const next = ((current === null ? 0 : parseInt(current, 16)) + 1).toString(16).padStart(64, '0');
    if (await store.compareAndSet(volume, current, next)) done++; else conflicts++;
  }
  await store.close();
  console.log(JSON.stringify({ done, conflicts }));`;

function startIncrementer(url: string, volume: string, increments: number) {
  const child = spawn(process.execPath,
    ['--import', 'tsx', '--input-type=module', '-e', INCREMENTER, tagStoreModule, url, volume, String(increments)],
    { stdio: ['pipe', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8');
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (text: string) => { stderr += text; });
  const exited = new Promise<string>((resolveExit, reject) => child.once('exit', (code) => {
    if (code === 0) resolveExit(stdout);
    else reject(new Error(`incrementer exited with ${code}:\n${stderr}`));
  }));
  const ready = new Promise<void>((resolveReady, reject) => {
    child.stdout.on('data', (text: string) => {
      stdout += text;
      if (stdout.startsWith('ready\n')) resolveReady();
    });
    exited.then(() => reject(new Error('incrementer exited before it was ready')), reject);
  });
  const report = exited.then((output) => JSON.parse(output.slice('ready\n'.length)) as { done: number; conflicts: number });
  return { ready, report, go: () => child.stdin.write('go\n') };
}

/** Runs node with `args`; a child still running after 30 s is killed and reported as hung. */
async function runNode(args: string[]) {
  const child = spawn(process.execPath, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  let [stdout, stderr, hung] = ['', '', false];
  child.stdout.setEncoding('utf8').on('data', (text: string) => { stdout += text; });
  child.stderr.setEncoding('utf8').on('data', (text: string) => { stderr += text; });
  const killer = setTimeout(() => {
    hung = true;
    child.kill('SIGKILL');
  }, 30_000);
  const exitCode = await new Promise<number | null>((resolveExit) => child.once('exit', resolveExit));
  clearTimeout(killer);
  return { exitCode, stdout, stderr, hung };
}

const LOCK_HOLDER = `
  const { native } = await import(process.argv[1]);
  const lock = native.lockFile(process.argv[2], true);
  console.log('locked');
  await new Promise((resolve) => process.stdin.once('data', resolve));
  process.stdin.destroy();
  setTimeout(() => lock.release(), 300);`;

/** A child process that holds the file store's writers' lock until told to let go 300 ms later. */
function holdLockInAnotherProcess(lockPath: string) {
  const child = spawn(process.execPath,
    ['--import', 'tsx', '--input-type=module', '-e', LOCK_HOLDER, nativeModule, lockPath],
    { stdio: ['pipe', 'pipe', 'inherit'] });
  const exited = new Promise<void>((resolveExit, reject) => child.once('exit', (code) => {
    if (code === 0) resolveExit();
    else reject(new Error(`lock holder exited with ${code}`));
  }));
  const locked = new Promise<void>((resolveLocked, reject) => {
    child.stdout.setEncoding('utf8').once('data', (text: string) => {
      if (text === 'locked\n') resolveLocked();
      else reject(new Error(`lock holder said ${JSON.stringify(text)}`));
    });
    exited.then(() => reject(new Error('lock holder exited before it held the lock')), reject);
  });
  let releasing = false;
  const releaseSoon = () => {
    if (!releasing) child.stdin.end('release\n');
    releasing = true;
  };
  /** Lets go, if the test has not yet, and waits for the child to end. */
  const finish = () => {
    releaseSoon();
    return exited;
  };
  return { locked, releaseSoon, finish };
}

describe('memory tag store', () => {
  contract(() => 'memory:contract');

  it('shares tags between stores of the same name only', async () => {
    const volume = newVolumeId();
    const tag = randomTag();
    await openTagStore('memory:shared').compareAndSet(volume, null, tag);
    expect(await openTagStore('memory:shared').get(volume)).toBe(tag);
    expect(await openTagStore('memory:another').get(volume)).toBeNull();
  });
});

describe('file tag store', () => {
  contract(() => `file:${temp('contract/tags.json')}`);

  it('writes the documented format, 0600 in a 0700 directory, and leaves no temporary files', async () => {
    const path = temp('format/sub/tags.json');
    const store = openTagStore(`file:${path}`);
    const volume = newVolumeId();
    let current: string | null = null;
    for (let step = 0; step < 5; step++) {
      const next = randomTag();
      await store.compareAndSet(volume, current, next);
      current = next;
    }
    const record = JSON.parse(readFileSync(path, 'utf8'));
    expect(record).toEqual({
      format: 'shieldfs-tags',
      version: 1,
      volumes: { [volume]: { tag: current, updated: expect.stringMatching(/^\d{4}-\d\d-\d\dT.*Z$/) } },
      names: {},
    });
    expect(statSync(path).mode & 0o777).toBe(0o600);
    expect(statSync(temp('format/sub')).mode & 0o777).toBe(0o700);
    expect(readdirSync(temp('format/sub')).sort()).toEqual(['tags.json', 'tags.json.lock']);
  });

  it('refuses a damaged store file and never overwrites it', async () => {
    const damages = [
      'not json {',
      '[]',
      JSON.stringify({ format: 'something-else', version: 1, volumes: {} }),
      JSON.stringify({ format: 'shieldfs-tags', version: 2, volumes: {} }),
      JSON.stringify({ format: 'shieldfs-tags', version: 1, volumes: [] }),
      JSON.stringify({ format: 'shieldfs-tags', version: 1, volumes: { nothex: { tag: tagOf(1), updated: 'x' } } }),
      JSON.stringify({ format: 'shieldfs-tags', version: 1, volumes: { [newVolumeId()]: { tag: 'short', updated: 'x' } } }),
      JSON.stringify({ format: 'shieldfs-tags', version: 1, volumes: { [newVolumeId()]: { tag: tagOf(1) } } }),
    ];
    for (const [i, damage] of damages.entries()) {
      const path = temp(`damaged-${i}.json`);
      writeFileSync(path, damage);
      const store = openTagStore(`file:${path}`);
      await expect(store.get(newVolumeId())).rejects.toThrow(/EINVAL: tag store file:.* is damaged: .*trusted record.*do not delete or overwrite it/);
      await expect(store.compareAndSet(newVolumeId(), null, randomTag())).rejects.toEqual(expect.objectContaining({ code: 'EINVAL', path }));
      expect(readFileSync(path, 'utf8')).toBe(damage);
    }
  });

  it('reports a store path it cannot read with the underlying code', async () => {
    const directory = temp('a-directory');
    mkdirSync(directory);
    const store = openTagStore(`file:${directory}`);
    await expect(store.get(newVolumeId())).rejects.toThrow(/^EISDIR: could not read tag store file:.*a-directory/);
  });

  it('waits for a lock another holder keeps, then fails with EBUSY naming the store', async () => {
    const path = temp('held/tags.json');
    mkdirSync(temp('held'));
    const held = native.lockFile(`${path}.lock`, true);
    try {
      const store = new FileTagStore(path, { lockTimeoutMs: 300 });
      await expect(store.compareAndSet(newVolumeId(), null, randomTag()))
        .rejects.toThrow(new RegExp(`^EBUSY: tag store file:${path}: another process has held ${path}\\.lock`));
      // Readers never wait for writers.
      expect(await store.get(newVolumeId())).toBeNull();
    } finally {
      held.release();
    }
    expect(await new FileTagStore(path).compareAndSet(newVolumeId(), null, randomTag())).toBe(true);
  });

  it('waits without an event loop for a lock another process holds, with the async wait\'s timeout and error', async () => {
    const path = temp('held-elsewhere/tags.json');
    mkdirSync(temp('held-elsewhere'));
    const holder = holdLockInAnotherProcess(`${path}.lock`);
    try {
      await holder.locked;
      const impatient = new FileTagStore(path, { lockTimeoutMs: 300 });
      const volume = newVolumeId();
      let syncError: unknown;
      try {
        impatient.compareAndSetSync(volume, null, randomTag());
      } catch (error) {
        syncError = error;
      }
      const asyncError = await impatient.compareAndSet(volume, null, randomTag()).catch((error: unknown) => error);
      expect(syncError).toEqual(expect.objectContaining({
        code: 'EBUSY',
        message: expect.stringMatching(new RegExp(`^EBUSY: tag store file:${path}: another process has held ${path}\\.lock for more than 300 ms`)),
      }));
      expect((syncError as Error).message).toBe((asyncError as Error).message);
      expect(impatient.getSync(volume)).toBeNull(); // readers never wait for writers

      // The holder lets go a moment after this call starts waiting: the call then gets the lock.
      holder.releaseSoon();
      const patient = new FileTagStore(path);
      const tag = randomTag();
      expect(patient.compareAndSetSync(volume, null, tag)).toBe(true);
      expect(patient.getSync(volume)).toBe(tag);
    } finally {
      await holder.finish();
    }
  });

  it('loses no update when several processes increment one volume at once', async () => {
    const path = temp('processes/tags.json');
    const { count, conflicts } = await incrementConcurrently(`file:${path}`, 4, 25);
    expect(count).toBe(100);
    console.log(`file store: 4 processes × 25 increments, ${conflicts} conflicts retried`);
    expect(readdirSync(temp('processes')).sort()).toEqual(['tags.json', 'tags.json.lock']);
  });
});

describe('tag store URLs', () => {
  it('opens memory stores, with or without a name', () => {
    expect(openTagStore('memory:').url).toBe('memory:default');
    expect(openTagStore('memory:tests').url).toBe('memory:tests');
  });

  it('resolves file paths: absolute, relative to cwd, ~, file:// URLs and bare paths', () => {
    expect(openTagStore('file:/var/lib/tags.json').url).toBe('file:/var/lib/tags.json');
    expect(openTagStore('file:state/tags.json').url).toBe(`file:${resolve('state/tags.json')}`);
    expect(openTagStore('file:~/tags.json').url).toBe(`file:${join(homedir(), 'tags.json')}`);
    expect(openTagStore('file:///var/lib/my%20tags.json').url).toBe('file:/var/lib/my tags.json');
    expect(openTagStore('/var/lib/tags.json').url).toBe('file:/var/lib/tags.json');
    expect(openTagStore('tags.json').url).toBe(`file:${resolve('tags.json')}`);
    expect(openTagStore('~/x/tags.json').url).toBe(`file:${join(homedir(), 'x/tags.json')}`);
    expect(() => openTagStore('file:')).toThrow(/EINVAL: .*names no file/);
  });

  it('parses etcd endpoints and the key prefix', () => {
    expect(openTagStore('etcd://127.0.0.1:2379').url).toBe('etcd://127.0.0.1:2379/shieldfs/tags/');
    expect(openTagStore('etcd://a.example:2379,b.example:2379,[::1]:2379/app/volumes').url)
      .toBe('etcd://a.example:2379,b.example:2379,[::1]:2379/app/volumes/');
    expect(openTagStore('ETCD://h:1/p/').url).toBe('etcd://h:1/p/');
    for (const bad of ['etcd://', 'etcd://host', 'etcd://host:0', 'etcd://host:65536', 'etcd://h:1,,h:2', 'etcd:h:1']) {
      expect(() => openTagStore(bad), bad).toThrow(/EINVAL: .*etcd:\/\/HOST:PORT/);
    }
  });

  it('names the supported schemes when given another one', () => {
    expect(() => openTagStore('redis://localhost:6379')).toThrow(
      /EINVAL: .*unknown scheme "redis:"; supported: file:PATH .*etcd:\/\/HOST:PORT.*memory:/);
    expect(() => openTagStore('')).toThrow(/EINVAL/);
  });

  it('defaults to SHIELD_TAG_STORE, else a file in the home directory', () => {
    vi.stubEnv('SHIELD_TAG_STORE', '');
    try {
      expect(defaultTagStoreUrl()).toBe(`file:${homedir()}/.shieldfs/tags.json`);
      expect(openTagStore().url).toBe(`file:${homedir()}/.shieldfs/tags.json`);
      vi.stubEnv('SHIELD_TAG_STORE', 'memory:from-env');
      expect(defaultTagStoreUrl()).toBe('memory:from-env');
      expect(openTagStore().url).toBe('memory:from-env');
      expect(openTagStore(undefined).url).toBe('memory:from-env');
    } finally {
      vi.unstubAllEnvs();
    }
  });
});

const etcdBinary = findEtcdBinary();
const etcdRequired = process.env.SHIELDFS_REQUIRE_ETCD === '1';
const etcdMissing = etcdBinary === null && !etcdRequired;
if (etcdMissing) console.warn(`etcd tag store tests skipped: no etcd binary on PATH; ${ETCD_INSTALL_HINT}`);

describe.skipIf(etcdMissing)(`etcd tag store${etcdMissing ? ` (skipped: no etcd on PATH; ${ETCD_INSTALL_HINT})` : ''}`, () => {
  let server: EtcdServer | undefined;
  beforeAll(async () => {
    if (etcdBinary === null) {
      throw new Error(`SHIELDFS_REQUIRE_ETCD=1 but there is no etcd binary on PATH: ${ETCD_INSTALL_HINT}`);
    }
    server = await startEtcdServer(etcdBinary);
  });
  afterAll(async () => {
    await server?.stop();
  });
  const running = () => {
    if (!server) throw new Error('etcd did not start');
    return server;
  };

  contract(() => running().url);

  it('keeps each tag under PREFIX + volume id, apart from other prefixes, and checks what it reads', async () => {
    const volume = newVolumeId();
    const [tagA, tagB] = [randomTag(), randomTag()];
    const a = openTagStore(`${running().url}/team-a`);
    const b = openTagStore(`${running().url}/team-b/`);
    const raw = new Etcd3({ hosts: `http://${running().endpoint}` });
    try {
      expect(await a.compareAndSet(volume, null, tagA)).toBe(true);
      expect(await b.get(volume)).toBeNull();
      expect(await b.compareAndSet(volume, null, tagB)).toBe(true);
      expect(await raw.get(`team-a/${volume}`).string()).toBe(tagA);
      expect(await raw.get(`team-b/${volume}`).string()).toBe(tagB);
      await raw.put(`team-a/${volume}`).value('not a tag');
      await expect(a.get(volume)).rejects.toThrow(/^EINVAL: tag store etcd:.*team-a.* holds "not a tag", not a tag/);
    } finally {
      await Promise.all([a.close(), b.close()]);
      raw.close();
    }
  });

  it('keeps a volume name under PREFIX + "names/" + name, bound with the first tag in one transaction', async () => {
    const [volume, squatter] = [newVolumeId(), newVolumeId()];
    const store = openTagStore(`${running().url}/team-n`);
    const raw = new Etcd3({ hosts: `http://${running().endpoint}` });
    try {
      // The tag key taken already: the transaction binds nothing, not even the name.
      await raw.put(`team-n/${squatter}`).value(randomTag());
      expect(await store.bind('/srv/a', { id: squatter, updatePolicy: 'rollback-protected' }, randomTag())).toBe(false);
      expect(await raw.get('team-n/names//srv/a').string()).toBeNull();
      const tag = randomTag();
      expect(store.bindSync('/srv/a', { id: volume, updatePolicy: 'ephemeral' }, tag)).toBe(true);
      expect(JSON.parse((await raw.get('team-n/names//srv/a').string())!)).toEqual({ id: volume, updatePolicy: 'ephemeral' });
      expect(await raw.get(`team-n/${volume}`).string()).toBe(tag);
      await raw.put('team-n/names//srv/b').value('{"id":"not hex"}');
      await expect(store.getBinding('/srv/b')).rejects.toThrow(/^EINVAL: tag store etcd:.*names\/\/srv\/b.* not a volume binding/);
    } finally {
      await store.close();
      raw.close();
    }
  });

  it('fails over from an endpoint nobody listens on to one that works', async () => {
    const dead = await unusedPort();
    const store = openTagStore(`etcd://127.0.0.1:${dead},${running().endpoint}`);
    try {
      const volume = newVolumeId();
      let current: string | null = null;
      for (let step = 0; step < 10; step++) {
        const next = randomTag();
        expect(await store.compareAndSet(volume, current, next)).toBe(true);
        expect(await store.get(volume)).toBe(next);
        current = next;
      }
    } finally {
      await store.close();
    }
  });

  it('loses no update when several processes increment one volume at once', async () => {
    const { count, conflicts } = await incrementConcurrently(running().url, 4, 25);
    expect(count).toBe(100);
    console.log(`etcd store: 4 processes × 25 increments, ${conflicts} conflicts retried`);
  });

  it('lets a process whose only activity was a sync call exit on its own', async () => {
    const volume = newVolumeId();
    const tag = randomTag();
    const child = await runNode(['--import', 'tsx', '--input-type=module', '-e', `
      const { openTagStore } = await import(process.argv[1]);
      const store = openTagStore(process.argv[2]);
      console.log(store.compareAndSetSync(process.argv[3], null, process.argv[4]));`,
    tagStoreModule, running().url, volume, tag]);
    expect(child).toEqual({ exitCode: 0, stdout: 'true\n', stderr: '', hung: false });
    const store = openTagStore(running().url);
    expect(store.getSync(volume)).toBe(tag);
    store.closeSync();
  });

  // The compiled package, as applications load it: its worker is dist/tag-store/etcd-sync-worker.js.
  it('commits from a process \'exit\' handler, where no event loop turns', async () => {
    const volume = newVolumeId();
    const tag = randomTag();
    const child = await runNode(['--input-type=module', '-e', `
      const { openTagStore } = await import(process.argv[1]);
      const store = openTagStore(process.argv[2]);
      process.on('exit', () => {
        console.log(store.compareAndSetSync(process.argv[3], null, process.argv[4]), store.getSync(process.argv[3]));
        store.closeSync();
      });`,
    distTagStoreModule, running().url, volume, tag]);
    expect(child).toEqual({ exitCode: 0, stdout: `true ${tag}\n`, stderr: '', hung: false });
    const store = openTagStore(running().url);
    expect(await store.get(volume)).toBe(tag);
    await store.close();
  });
});

// These need no etcd server: they are about what happens when there is none.
describe('etcd tag store without a reachable etcd', () => {
  // The timeouts are the point: without a deadline these calls would wait for minutes.
  it('fails at once with ECONNREFUSED and says which store and what to do', { timeout: 5_000 }, async () => {
    const port = await unusedPort();
    const store = openTagStore(`etcd://127.0.0.1:${port}`);
    try {
      await expect(store.get(newVolumeId())).rejects.toThrow(new RegExp(
        `^ECONNREFUSED: tag store etcd://127\\.0\\.0\\.1:${port}/shieldfs/tags/: could not read the tag of volume .*` +
        `Check that etcd is running and reachable at 127\\.0\\.0\\.1:${port}`));
      await expect(store.compareAndSet(newVolumeId(), null, randomTag())).rejects.toEqual(
        expect.objectContaining({ code: 'ECONNREFUSED', message: expect.stringMatching(/could not update the tag/) }));
    } finally {
      await store.close();
    }
  });

  it('fails sync calls at once with ECONNREFUSED, with the message of the async calls', { timeout: 5_000 }, async () => {
    const port = await unusedPort();
    const store = openTagStore(`etcd://127.0.0.1:${port}`);
    try {
      const volume = newVolumeId();
      const next = randomTag();
      for (const [syncCall, asyncCall] of [
        [() => store.getSync(volume), () => store.get(volume)],
        [() => store.compareAndSetSync(volume, null, next), () => store.compareAndSet(volume, null, next)],
      ] as const) {
        const asyncError = await asyncCall().catch((error: unknown) => error);
        expect(asyncError).toEqual(expectCode('ECONNREFUSED'));
        expect(syncCall).toThrow(expect.objectContaining({ code: 'ECONNREFUSED', message: (asyncError as Error).message }));
      }
    } finally {
      store.closeSync();
    }
  });

  // A blocked thread cannot be interrupted by the test's timeout, so the bound is checked here.
  it('gives up a sync call within the same bound on an endpoint that never answers', async () => {
    await withSilentEndpoint(async (store) => {
      const started = Date.now();
      expect(() => store.compareAndSetSync(newVolumeId(), null, randomTag())).toThrow(expect.objectContaining({
        code: 'ETIMEDOUT', message: expect.stringMatching(/^ETIMEDOUT: tag store etcd:.*could not update the tag .*no answer within/),
      }));
      expect(Date.now() - started).toBeLessThan(10_000);
    });
  });

  it('gives up within seconds on an endpoint that accepts connections but never answers', { timeout: 10_000 }, async () => {
    await withSilentEndpoint(async (store) => {
      await expect(store.get(newVolumeId())).rejects.toEqual(expect.objectContaining({
        code: 'ETIMEDOUT', message: expect.stringMatching(/^ETIMEDOUT: tag store etcd:.*no answer within/),
      }));
    });
  });
});

/** An etcd store whose endpoint accepts connections and never answers, closed afterwards. */
async function withSilentEndpoint(use: (store: TagStore) => Promise<void>): Promise<void> {
  const sockets: Socket[] = [];
  const silent = createServer((socket) => sockets.push(socket));
  await new Promise<void>((listening) => silent.listen(0, '127.0.0.1', listening));
  const { port } = silent.address() as { port: number };
  const store = openTagStore(`etcd://127.0.0.1:${port}`);
  try {
    await use(store);
  } finally {
    await store.close();
    for (const socket of sockets) socket.destroy();
    silent.close();
  }
}
