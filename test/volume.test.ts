// The volume as a user drives it: namespace operations, files, commits, policies, regions, locks.
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import { dirname, join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { generateKey } from '../lib/file/keys.js';
import { openTagStore } from '../lib/tag-store/open-tag-store.js';
import { Volume } from '../lib/volume/volume.js';
import { useTempDir } from './support/temp.js';
import { volumeState } from './support/volume-state.js';

const temp = useTempDir('shieldfs-volume-');
let counter = 0;
function fresh(name = 'v') {
  const id = `${name}-${counter++}`;
  return { dir: temp(id), tagStore: `file:${temp(`${id}-tags.json`)}`, key: generateKey() };
}

describe('volume basics', () => {
  it('creates, writes, commits and reopens with the same content and tag', async () => {
    const { dir, tagStore, key } = fresh();
    const v = await Volume.create(dir, { key, tagStore });
    v.mkdir('/models/llm', { recursive: true });
    await v.writeFile('/models/llm/weights.bin', Buffer.alloc(100_000, 7));
    await v.writeFile('/num', '0');
    const tag = await v.commit();
    expect(tag).toMatch(/^[0-9a-f]{64}$/);
    await v.close();

    const again = await Volume.open(dir, { key, tagStore });
    expect(again.tag).toBe(tag);
    expect(await volumeState(again)).toEqual({
      '/models': null, '/models/llm': null,
      '/models/llm/weights.bin': Buffer.alloc(100_000, 7).toString('hex'),
      '/num': Buffer.from('0').toString('hex'),
    });
    expect(again.stat('/num')).toMatchObject({ type: 'file', size: 1, region: 'encrypted' });
    expect(again.info()).toMatchObject({ files: 2, directories: 2, bytes: 100_001, updatePolicy: 'rollback-protected' });
    await again.close();
  });

  it('shows no plaintext names or contents in the volume directory', async () => {
    const { dir, tagStore, key } = fresh();
    const v = await Volume.create(dir, { key, tagStore });
    v.mkdir('/secret-directory-name');
    await v.writeFile('/secret-directory-name/secret-file-name.txt', 'the secret recipe of the sauce');
    await v.close();
    const listing = spawnSync('find', [dir], { encoding: 'utf8' }).stdout;
    expect(listing).not.toMatch(/secret/);
    const grep = spawnSync('grep', ['-r', '-l', 'secret', dir], { encoding: 'utf8' });
    expect(grep.stdout).toBe('');
  });

  it('follows POSIX rename semantics without touching the content', async () => {
    const { dir, tagStore, key } = fresh();
    const v = await Volume.create(dir, { key, tagStore });
    v.mkdir('/a');
    v.mkdir('/b');
    await v.writeFile('/a/x', 'x');
    await v.writeFile('/b/y', 'y');
    await v.commit();
    const objectsBefore = objectFiles(dir);
    v.rename('/a/x', '/b/y');  // replaces y
    expect(v.readdir('/a')).toEqual([]);
    expect((await v.readFile('/b/y')).toString()).toBe('x');
    expect(() => v.rename('/a', '/a/inside')).toThrow(expect.objectContaining({ code: 'EINVAL' }));
    expect(() => v.rename('/b/y', '/a')).toThrow(expect.objectContaining({ code: 'EISDIR' }));
    expect(() => v.rename('/a', '/b/y')).toThrow(expect.objectContaining({ code: 'ENOTDIR' }));
    expect(() => v.rename('/a', '/b')).toThrow(expect.objectContaining({ code: 'ENOTEMPTY' }));
    expect(() => v.rename('/nope', '/b/z')).toThrow(expect.objectContaining({ code: 'ENOENT', syscall: 'rename' }));
    v.rename('/a', '/c');
    await v.commit();
    // x's object was kept (not re-encrypted); y's object was deleted after the commit.
    const objectsAfter = objectFiles(dir);
    expect(objectsAfter.length).toBe(objectsBefore.length - 1);
    expect(objectsBefore).toEqual(expect.arrayContaining(objectsAfter));
    await v.close();
  });

  it('gives node:fs errors for ordinary mistakes and changes nothing', async () => {
    const { dir, tagStore, key } = fresh();
    const v = await Volume.create(dir, { key, tagStore });
    await v.writeFile('/f', 'data');
    const tag = await v.commit();
    expect(() => v.stat('/missing')).toThrow(expect.objectContaining({ code: 'ENOENT', syscall: 'stat', path: '/missing', errno: -2 }));
    expect(() => v.stat('/f/below')).toThrow(expect.objectContaining({ code: 'ENOTDIR' }));
    expect(() => v.mkdir('/f')).toThrow(expect.objectContaining({ code: 'EEXIST' }));
    expect(() => v.mkdir('/a/b')).toThrow(expect.objectContaining({ code: 'ENOENT' }));
    expect(() => v.rmdir('/f')).toThrow(expect.objectContaining({ code: 'ENOTDIR' }));
    expect(() => v.unlink('/')).toThrow(expect.objectContaining({ code: 'EISDIR' }));
    expect(() => v.readdir('/f')).toThrow(expect.objectContaining({ code: 'ENOTDIR' }));
    await expect(v.openFile('/f', 'wx')).rejects.toMatchObject({ code: 'EEXIST' });
    await expect(v.openFile('/', 'r')).rejects.toMatchObject({ code: 'EISDIR' });
    await expect(v.openFile('/nope', 'r')).rejects.toMatchObject({ code: 'ENOENT', syscall: 'open' });
    expect(() => v.mkdir('/.shieldfs')).toThrow(expect.objectContaining({ code: 'EACCES' }));
    expect(await v.commit()).toBe(tag);
    await v.close();
  });

  it('reads and writes at offsets through shared handles, with append mode', async () => {
    const { dir, tagStore, key } = fresh();
    const v = await Volume.create(dir, { key, tagStore, chunkSize: 4096 });
    const a = await v.openFile('/log', 'a+');
    const b = await v.openFile('/log', 'r');
    await a.write(Buffer.from('hello '));
    a.writeSync(Buffer.from('world'));
    const out = Buffer.alloc(11);
    expect(b.readSync(out, 0, 11, 0)).toBe(11);
    expect(out.toString()).toBe('hello world');
    await expect(b.write(Buffer.from('x'))).rejects.toMatchObject({ code: 'EBADF' });
    const c = await v.openFile('/log', 'r+');
    await c.write(Buffer.from('HELLO'), 0, 5, 0);
    await c.write(Buffer.from('!'), 0, 1, 20_000);  // a hole
    expect(c.size).toBe(20_001);
    await Promise.all([a.close(), b.close(), c.close()]);
    await v.commit();
    const data = await v.readFile('/log');
    expect(data.subarray(0, 11).toString()).toBe('HELLO world');
    expect(data.subarray(11, 20_000).every((x) => x === 0)).toBe(true);
    await v.close();
  });

  it('handles opened at the same time share one content (new and existing files)', async () => {
    const { dir, tagStore, key } = fresh();
    const v = await Volume.create(dir, { key, tagStore });
    const [a, b] = await Promise.all([v.openFile('/c', 'w+'), v.openFile('/c', 'w+')]);
    await a.write(Buffer.from('abc'), 0, 3, 0);
    const out = Buffer.alloc(3);
    expect(b.readSync(out, 0, 3, 0)).toBe(3);
    expect(out.toString()).toBe('abc');
    await Promise.all([a.close(), b.close()]);
    await v.commit();
    const readers = await Promise.all([v.openFile('/c', 'r'), v.openFile('/c', 'r'), v.openFile('/c', 'r')]);
    for (const r of readers) {
      const got = Buffer.alloc(3);
      await r.read(got, 0, 3, 0);
      expect(got.toString()).toBe('abc');
    }
    await Promise.all(readers.map((r) => r.close()));
    await v.close();
  });

  it('openFileSync: the same files, sharing and errors as openFile', async () => {
    const { dir, tagStore, key } = fresh();
    const v = await Volume.create(dir, { key, tagStore, regions: [{ path: '/lib', kind: 'authenticated' }] });
    const f = v.openFileSync('/s', 'w');
    f.writeSync(Buffer.from('sync'));
    f.closeSync();
    expect((await v.readFile('/s')).toString()).toBe('sync');
    const reader = v.openFileSync('/s', 'r');
    const appender = v.openFileSync('/s', 'a');
    appender.writeSync(Buffer.from('!'));
    const out = Buffer.alloc(5);
    expect(reader.readSync(out, 0, 5, 0)).toBe(5);
    expect(out.toString()).toBe('sync!');
    reader.closeSync();
    appender.closeSync();
    expect(() => v.openFileSync('/nope')).toThrow(expect.objectContaining({ code: 'ENOENT', syscall: 'open' }));
    expect(() => v.openFileSync('/s', 'wx')).toThrow(expect.objectContaining({ code: 'EEXIST' }));
    v.mkdir('/lib');
    const auth = v.openFileSync('/lib/a.js', 'w');
    auth.writeSync(Buffer.from('authenticated'));
    auth.closeSync();
    const pending = v.openFile('/t', 'w');  // not awaited: the sync open cannot wait for it
    expect(() => v.openFileSync('/t', 'r')).toThrow(expect.objectContaining({ code: 'EBUSY' }));
    (await pending).closeSync();
    await v.close();
    const again = await Volume.open(dir, { key, tagStore, readOnly: true });
    expect((await again.readFile('/s')).toString()).toBe('sync!');
    const check = again.openFileSync('/lib/a.js');
    const got = Buffer.alloc(13);
    check.readSync(got, 0, 13, 0);
    expect(got.toString()).toBe('authenticated');
    check.closeSync();
    await again.close();
  });

  it('refuses a wrong key with EBADKEY and a non-volume with ENOENT', async () => {
    const { dir, tagStore, key } = fresh();
    await (await Volume.create(dir, { key, tagStore })).close();
    await expect(Volume.open(dir, { key: generateKey(), tagStore })).rejects.toMatchObject({ code: 'EBADKEY' });
    await expect(Volume.open(temp('nothing-here'), { key, tagStore })).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('refuses to create a volume in a non-empty directory', async () => {
    const { dir, tagStore, key } = fresh();
    await (await Volume.create(dir, { key, tagStore })).close();
    await expect(Volume.create(dir, { key, tagStore })).rejects.toMatchObject({ code: 'EEXIST' });
  });

  it('a read-only volume refuses changes with EROFS', async () => {
    const { dir, tagStore, key } = fresh();
    const v = await Volume.create(dir, { key, tagStore });
    await v.writeFile('/f', 'x');
    await v.close();
    const r = await Volume.open(dir, { key, tagStore, readOnly: true });
    expect(() => r.mkdir('/d')).toThrow(expect.objectContaining({ code: 'EROFS' }));
    await expect(r.openFile('/f', 'r+')).rejects.toMatchObject({ code: 'EROFS' });
    expect((await r.readFile('/f')).toString()).toBe('x');
    const second = await Volume.open(dir, { key, tagStore, readOnly: true });  // readers share
    await second.close();
    await r.close();
  });

  it('abort() undoes every change since the last commit', async () => {
    const { dir, tagStore, key } = fresh();
    const v = await Volume.create(dir, { key, tagStore });
    await v.writeFile('/keep', 'committed');
    const big = Buffer.alloc(50_000, 1);
    await v.writeFile('/big', big);
    const tag = await v.commit();
    const f = await v.openFile('/big', 'r+');
    await f.write(Buffer.alloc(10_000, 2), 0, 10_000, 5_000);  // in place: journaled
    await f.close();
    v.unlink('/keep');
    await v.writeFile('/new', 'new');
    await v.abort();
    const again = await Volume.open(dir, { key, tagStore });
    expect(again.tag).toBe(tag);
    expect(await volumeState(again)).toEqual({ '/big': big.toString('hex'), '/keep': Buffer.from('committed').toString('hex') });
    await again.close();
  });
});

describe('update policies', () => {
  it('ephemeral: changes are visible while open and discarded at close', async () => {
    const { dir, tagStore, key } = fresh();
    const v = await Volume.create(dir, { key, tagStore, updatePolicy: 'ephemeral' });
    const original = v.tag;
    await v.close();
    const s = await Volume.open(dir, { key, tagStore });
    await s.writeFile('/scratch', 'temporary');
    await s.commit();
    expect((await s.readFile('/scratch')).toString()).toBe('temporary');
    await s.close();
    const again = await Volume.open(dir, { key, tagStore });
    expect(again.tag).toBe(original);
    expect(again.readdir('/')).toEqual([]);
    await again.close();
    expect(objectFiles(dir)).toEqual([]);
  });

  it('no-rollback-protection without a name: needs no tag store, but the policy must be given to open it', async () => {
    const { dir, key } = fresh();
    const unused = temp(`never-used-${counter}/tags.json`);
    const v = await Volume.create(dir, { key, tagStore: `file:${unused}`, updatePolicy: 'no-rollback-protection', name: null });
    await v.writeFile('/a', 'a');
    await v.close();
    const again = await Volume.open(dir, { key, name: null, updatePolicy: 'no-rollback-protection', tagStore: `file:${unused}` });
    expect((await again.readFile('/a')).toString()).toBe('a');
    expect(again.info().tagStore).toBeNull();
    await again.close();
    expect(existsSync(dirname(unused))).toBe(false);
    // The header alone may not switch rollback protection off.
    await expect(Volume.open(dir, { key, name: null })).rejects.toMatchObject({
      code: 'EINTEGRITY', message: expect.stringContaining('says it has no rollback protection, but no update policy was given'),
    });
  });

  it('no-rollback-protection with a name (the default): the tag store remembers the policy, nothing else', async () => {
    const { dir, key, tagStore } = fresh();
    const v = await Volume.create(dir, { key, tagStore, updatePolicy: 'no-rollback-protection' });
    await v.writeFile('/a', 'a');
    await v.close();
    const again = await Volume.open(dir, { key, tagStore });
    expect(again.updatePolicy).toBe('no-rollback-protection');
    expect(again.info().tagStore).toBeNull();
    await again.close();
  });

  it('rollback-protected: a volume the store does not know fails with EROLLBACK', async () => {
    const { dir, tagStore, key } = fresh();
    await (await Volume.create(dir, { key, tagStore })).close();
    await expect(Volume.open(dir, { key, tagStore: `file:${temp('empty-store.json')}` }))
      .rejects.toMatchObject({ code: 'EROLLBACK', message: expect.stringContaining('no trusted tag for volume') });
  });

  it('works with an open TagStore object (memory:)', async () => {
    const { dir, key } = fresh();
    const store = openTagStore(`memory:volume-test-${counter}`);
    const v = await Volume.create(dir, { key, tagStore: store });
    await v.writeFile('/x', '1');
    const tag = await v.commit();
    expect(await store.get(v.id)).toBe(tag);
    await v.close();
  });
});

describe('regions', () => {
  it('authenticated files stay readable on disk; not-protected paths pass through', async () => {
    const { dir, tagStore, key } = fresh();
    const v = await Volume.create(dir, {
      key, tagStore, regions: [{ path: '/lib', kind: 'authenticated' }, { path: '/scratch', kind: 'not-protected' }],
    });
    v.mkdir('/lib');
    await v.writeFile('/lib/runtime.js', 'console.log("open source runtime")');
    v.mkdir('/scratch');
    await v.writeFile('/scratch/tmp.txt', 'plain scratch');
    await v.writeFile('/secret', 'encrypted by default');
    await v.close();
    expect(readFileSync(join(dir, 'scratch', 'tmp.txt'), 'utf8')).toBe('plain scratch');
    const plainObjects = objectFiles(dir).filter((f) => f.endsWith('.data')).map((f) => readFileSync(f, 'utf8'));
    expect(plainObjects).toEqual(['console.log("open source runtime")']);
    const again = await Volume.open(dir, { key, tagStore });
    expect(again.stat('/lib/runtime.js').region).toBe('authenticated');
    expect(again.stat('/scratch/tmp.txt').region).toBe('not-protected');
    expect(again.readdir('/')).toEqual(['lib', 'scratch', 'secret']);
    // An authenticated file is copied on write: the committed copy stays intact until the commit.
    const f = await again.openFile('/lib/runtime.js', 'r+');
    await f.write(Buffer.from('CONSOLE'), 0, 7, 0);
    await f.close();
    await again.commit();
    expect((await again.readFile('/lib/runtime.js')).toString()).toBe('CONSOLE.log("open source runtime")');
    expect(() => again.rename('/lib/runtime.js', '/runtime.js')).toThrow(expect.objectContaining({ code: 'EXDEV' }));
    await again.close();
    expect(objectFiles(dir).filter((f) => f.endsWith('.data'))).toHaveLength(1);
  });

  it('rejects protected regions inside not-protected ones', async () => {
    const { dir, tagStore, key } = fresh();
    await expect(Volume.create(dir, { key, tagStore, regions: [{ path: '/tmp', kind: 'not-protected' }, { path: '/tmp/keep', kind: 'encrypted' }] }))
      .rejects.toMatchObject({ code: 'EINVAL' });
  });
});

describe('locking', () => {
  it('a second writer fails with EBUSY naming the holder; a dead holder is taken over', async () => {
    const { dir, tagStore, key } = fresh();
    await (await Volume.create(dir, { key, tagStore })).close();
    const keyHex = key.toString('hex');
    const holder = `
      const { Volume } = await import(${JSON.stringify(new URL('../dist/volume/volume.js', import.meta.url).href)});
      const v = await Volume.open(${JSON.stringify(dir)}, { key: Buffer.from('${keyHex}', 'hex'), tagStore: ${JSON.stringify(tagStore)} });
      process.stdout.write('locked\\n');
      setInterval(() => {}, 1000);`;
    const { spawn } = await import('node:child_process');
    const child = spawn(process.execPath, ['--input-type=module', '-e', holder], { stdio: ['ignore', 'pipe', 'inherit'] });
    await new Promise<void>((resolve) => child.stdout.once('data', () => resolve()));
    await expect(Volume.open(dir, { key, tagStore })).rejects.toMatchObject({
      code: 'EBUSY', message: expect.stringContaining(`pid ${child.pid}`),
    });
    child.kill('SIGKILL');
    await new Promise((resolve) => child.once('exit', resolve));
    const v = await Volume.open(dir, { key, tagStore });
    await v.close();
  });
});

function objectFiles(dir: string): string[] {
  const root = join(dir, '.shieldfs', 'objects');
  if (!existsSync(root)) return [];
  return readdirSync(root).flatMap((fan) => readdirSync(join(root, fan)).map((name) => join(root, fan, name)))
    .filter((p) => statSync(p).isFile()).sort();
}

