// What the drop-in fs adds on top of plain compatibility (that is test/fs-compat.test.ts): routing,
// descriptors, commit points and modes, shield errors through fs calls, trees, ENOTSUP.
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as realFs from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, test } from 'vitest';
import { mount, type MountSpec, type Shield } from '../lib/index.js';
import { Volume } from '../lib/volume/volume.js';
import { flipByteInLargestObject } from './support/tamper-objects.js';
import { useTempDir } from './support/temp.js';

const temp = useTempDir('shieldfs-fs-surface-');
let counter = 0;
const opened: Shield[] = [];
afterEach(async () => {
  for (const shield of opened.splice(0)) await shield.unmount().catch(() => {});
});

async function mounted(extra: Partial<MountSpec> = {}): Promise<{ shield: Shield; fs: typeof realFs; directory: string; key: string; store: string }> {
  const directory = temp(`volume-${++counter}`);
  const key = randomBytes(32).toString('hex');
  const store = `memory:fs-surface-${counter}`;
  const shield = await mount([{ path: '/V1', volume: directory, key, tagStore: store, create: true, ...extra }]);
  opened.push(shield);
  return { shield, fs: shield.fs, directory, key, store };
}

const commits = (shield: Shield) => shield.mounts[0]!.volume.info().commits;

describe('routing', () => {
  test('paths outside the mounts reach the real file system untouched', async () => {
    const { fs } = await mounted();
    const outside = temp('outside.txt');
    fs.writeFileSync(outside, 'plain');
    expect(realFs.readFileSync(outside, 'utf8')).toBe('plain');
    expect(fs.readdirSync(temp(''))).toContain('outside.txt');
    // /V1x is not inside /V1
    expect(() => fs.statSync('/V1x')).toThrow(expect.objectContaining({ code: 'ENOENT', path: '/V1x' }));
  });

  test('relative paths, URLs and Buffers name mounted paths too', async () => {
    const { fs } = await mounted();
    fs.writeFileSync(new URL('file:///V1/u.txt'), 'url');
    expect(fs.readFileSync(Buffer.from('/V1/u.txt'), 'utf8')).toBe('url');
    fs.mkdirSync('/V1/x');
    expect(fs.readFileSync('/V1/./x/../u.txt', 'utf8')).toBe('url');  // the kernel's walk: x must exist
  });

  test('descriptors of mounted files never collide with real ones and are EBADF once closed', async () => {
    const { fs } = await mounted();
    const mountedFd = fs.openSync('/V1/a', 'w');
    const realFd = fs.openSync(temp('real'), 'w');
    expect(mountedFd).toBeGreaterThanOrEqual(2 ** 30);
    expect(realFd).toBeLessThan(2 ** 20);
    fs.writeSync(mountedFd, 'x');
    fs.writeSync(realFd, 'y');
    fs.closeSync(mountedFd);
    fs.closeSync(realFd);
    expect(() => fs.writeSync(mountedFd, 'z')).toThrow(expect.objectContaining({ code: 'EBADF' }));
    expect(fs.readFileSync('/V1/a', 'utf8')).toBe('x');
  });

  test('errors name the path the caller used, like node:fs', async () => {
    const { fs } = await mounted();
    const error = (() => {
      try {
        fs.readdirSync('/V1/missing/dir');
      } catch (e) {
        return e as NodeJS.ErrnoException;
      }
    })()!;
    expect(error).toMatchObject({ code: 'ENOENT', syscall: 'scandir', path: '/V1/missing/dir', errno: -2 });
    expect(error.message).toBe("ENOENT: no such file or directory, scandir '/V1/missing/dir'");
    await expect(fs.promises.rename('/V1/nope', '/V1/other')).rejects.toMatchObject({
      code: 'ENOENT', syscall: 'rename', path: '/V1/nope', dest: '/V1/other',
    });
  });

  test('a rename between a mount and the real file system is EXDEV (so fs-extra and mv copy instead)', async () => {
    const { fs } = await mounted();
    fs.writeFileSync('/V1/f', 'data');
    expect(() => fs.renameSync('/V1/f', temp('moved'))).toThrow(expect.objectContaining({ code: 'EXDEV' }));
    fs.copyFileSync('/V1/f', temp('copied'));
    expect(realFs.readFileSync(temp('copied'), 'utf8')).toBe('data');
    fs.copyFileSync(temp('copied'), '/V1/back');
    expect(fs.readFileSync('/V1/back', 'utf8')).toBe('data');
  });
});

describe('commit points', () => {
  test("'close' (default): a write followed by close is committed before close returns", async () => {
    const { shield, fs } = await mounted();
    const before = commits(shield);
    const fd = fs.openSync('/V1/num', 'w');
    fs.writeSync(fd, '41');
    expect(commits(shield)).toBe(before);
    fs.closeSync(fd);
    expect(commits(shield)).toBe(before + 1);
    fs.mkdirSync('/V1/d');
    expect(commits(shield)).toBe(before + 2);
    // Reading commits nothing.
    fs.readFileSync('/V1/num');
    fs.statSync('/V1/d');
    expect(commits(shield)).toBe(before + 2);
  });

  test("'close': concurrent asynchronous writes share commits (grouped per turn of the event loop)", async () => {
    const { shield, fs } = await mounted();
    const before = commits(shield);
    await Promise.all(Array.from({ length: 50 }, (_, i) => fs.promises.writeFile(`/V1/f${i}`, `content ${i}`)));
    const used = commits(shield) - before;
    expect(used).toBeGreaterThanOrEqual(1);
    expect(used).toBeLessThan(10);
    for (let i = 0; i < 50; i++) expect(fs.readFileSync(`/V1/f${i}`, 'utf8')).toBe(`content ${i}`);
  });

  test('the callback of a close fires after the commit', async () => {
    const { shield, fs } = await mounted();
    const before = commits(shield);
    const fd = await new Promise<number>((resolve, reject) => fs.open('/V1/cb', 'w', (e, fd) => (e ? reject(e) : resolve(fd))));
    await new Promise<void>((resolve, reject) => fs.write(fd, 'x', (e) => (e ? reject(e) : resolve())));
    const seen = await new Promise<number>((resolve, reject) => fs.close(fd, (e) => (e ? reject(e) : resolve(commits(shield)))));
    expect(seen).toBe(before + 1);
  });

  test("'sync': only fsync, fdatasync, FileHandle.sync and unmount commit", async () => {
    const { shield, fs, directory, key, store } = await mounted({ commit: 'sync' });
    const before = commits(shield);
    fs.writeFileSync('/V1/a', 'one');
    fs.mkdirSync('/V1/d');
    expect(commits(shield)).toBe(before);
    const fd = fs.openSync('/V1/b', 'w');
    fs.writeSync(fd, 'two');
    fs.fsyncSync(fd);
    expect(commits(shield)).toBe(before + 1);
    fs.fdatasyncSync(fd);  // nothing new: no new commit
    fs.closeSync(fd);
    const handle = await fs.promises.open('/V1/c', 'w');
    await handle.writeFile('three');
    await handle.sync();
    await handle.close();
    expect(commits(shield)).toBe(before + 2);
    await shield.unmount();
    const volume = await Volume.open(directory, { key: Buffer.from(key, 'hex'), tagStore: store, readOnly: true });
    expect((await volume.readFile('/c')).toString()).toBe('three');
    await volume.close();
  });

  test('{ intervalMs }: changes are committed in the background', async () => {
    const { shield, fs } = await mounted({ commit: { intervalMs: 20 } });
    const before = commits(shield);
    fs.writeFileSync('/V1/a', 'one');
    expect(commits(shield)).toBe(before);
    await new Promise((resolve) => setTimeout(resolve, 150));
    expect(commits(shield)).toBeGreaterThan(before);
  });

  test('unmount commits, and a process that exits without unmounting commits at exit', async () => {
    const directory = temp('exit-volume');
    const key = randomBytes(32).toString('hex');
    const tags = temp('exit-tags.json');
    const script = `
      import { mount } from ${JSON.stringify(new URL('../dist/index.js', import.meta.url).href)};
      import { installProcessShield } from ${JSON.stringify(new URL('../dist/fs/process-shield.js', import.meta.url).href)};
      const shield = await mount([{ path: '/V1', volume: ${JSON.stringify(directory)}, key: '${key}', tagStore: 'file:${tags}', create: true, commit: 'sync' }]);
      installProcessShield(shield);
      const fs = await import('node:fs');
      fs.writeFileSync('/V1/at-exit', 'kept');
      process.exit(0);`;
    const result = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8' });
    expect(result.stderr).toBe('');
    expect(result.status).toBe(0);
    const volume = await Volume.open(directory, { key: Buffer.from(key, 'hex'), tagStore: `file:${tags}`, readOnly: true });
    expect((await volume.readFile('/at-exit')).toString()).toBe('kept');
    await volume.close();
  });
});

describe('shield errors through fs calls', () => {
  test('a tampered object gives EINTEGRITY from readFileSync, readFile and a stream, with the path', async () => {
    const { fs, directory } = await mounted();
    fs.writeFileSync('/V1/model.bin', randomBytes(20000));
    flipByteInLargestObject(directory);
    expect(() => fs.readFileSync('/V1/model.bin')).toThrow(expect.objectContaining({ code: 'EINTEGRITY', path: '/V1/model.bin' }));
    await expect(fs.promises.readFile('/V1/model.bin')).rejects.toMatchObject({ code: 'EINTEGRITY' });
    const streamed = new Promise((resolve) => fs.createReadStream('/V1/model.bin').on('error', resolve).resume());
    expect(await streamed).toMatchObject({ code: 'EINTEGRITY' });
  });

  test('a volume restored to an older state does not mount: EROLLBACK', async () => {
    const { shield, fs, directory, key, store } = await mounted();
    fs.writeFileSync('/V1/num', '1');
    const old = temp(`old-${counter}`);
    realFs.cpSync(directory, old, { recursive: true });
    fs.writeFileSync('/V1/num', '2');
    await shield.unmount();
    realFs.rmSync(directory, { recursive: true });
    realFs.cpSync(old, directory, { recursive: true });
    await expect(mount([{ path: '/V1', volume: directory, key, tagStore: store }])).rejects.toMatchObject({ code: 'EROLLBACK' });
  });

  test('the wrong key does not mount: EBADKEY', async () => {
    const { shield, directory, store } = await mounted();
    await shield.unmount();
    await expect(mount([{ path: '/V1', volume: directory, key: randomBytes(32).toString('hex'), tagStore: store }]))
      .rejects.toMatchObject({ code: 'EBADKEY' });
  });
});

describe('trees and read-only mounts', () => {
  test('a tree mount is read-only (EROFS) and pinned to its tag (EROLLBACK otherwise)', async () => {
    const directory = temp('tree');
    const key = randomBytes(32);
    const volume = await Volume.create(directory, { key, updatePolicy: 'no-rollback-protection' });
    await volume.writeFile('/index.js', 'module.exports = 42;\n');
    const tag = await volume.commit();
    await volume.close();
    const shield = await mount([{ path: '/app', tree: directory, key: key.toString('hex'), tag }]);
    opened.push(shield);
    expect(shield.fs.readFileSync('/app/index.js', 'utf8')).toBe('module.exports = 42;\n');
    expect(() => shield.fs.writeFileSync('/app/index.js', 'x')).toThrow(expect.objectContaining({ code: 'EROFS' }));
    expect(() => shield.fs.accessSync('/app/index.js', realFs.constants.W_OK)).toThrow(expect.objectContaining({ code: 'EROFS' }));
    await expect(mount([{ path: '/app', tree: directory, key: key.toString('hex'), tag: 'ab'.repeat(32) }]))
      .rejects.toMatchObject({ code: 'EROLLBACK' });
  });
});

describe('what a protected mount does not support fails with ENOTSUP', () => {
  test.each([
    ['symlinkSync', (fs: typeof realFs) => fs.symlinkSync('/etc/passwd', '/V1/link')],
    ['linkSync', (fs: typeof realFs) => fs.linkSync('/V1/f', '/V1/g')],
    ['watch', (fs: typeof realFs) => fs.watch('/V1')],
    ['watchFile', (fs: typeof realFs) => fs.watchFile('/V1/f', () => {})],
  ])('%s', async (_name, call) => {
    const { fs } = await mounted();
    fs.writeFileSync('/V1/f', 'x');
    expect(() => call(fs)).toThrow(expect.objectContaining({ code: 'ENOTSUP' }));
  });

  test('promise and callback forms too', async () => {
    const { fs } = await mounted();
    await expect(fs.promises.symlink('/etc/passwd', '/V1/link')).rejects.toMatchObject({ code: 'ENOTSUP' });
    fs.writeFileSync('/V1/a', 'x');  // a missing source is ENOENT first, as the kernel's link(2)
    const error = await new Promise((resolve) => fs.link('/V1/a', '/V1/b', resolve));
    expect(error).toMatchObject({ code: 'ENOTSUP' });
  });
});

test('shieldfs/fs forwards to node:fs when no process-wide shield is installed', async () => {
  const module = await import('../lib/shieldfs-fs.js');
  const path = temp('forwarded.txt');
  module.writeFileSync(path, 'plain');
  expect(module.default.readFileSync(path, 'utf8')).toBe('plain');
  expect(await module.promises.readFile(path, 'utf8')).toBe('plain');
  expect(fileURLToPath(new URL('file:///x'))).toBe('/x');
});

describe('names that are not valid UTF-8', () => {
  // A volume keeps names as UTF-8 text. Decoding other bytes with U+FFFD made 'a\xff' and 'a\xfe'
  // one file (data loss); such names are refused instead, in every form, and nothing is created.
  const name = (...bytes: number[]) => Buffer.concat([Buffer.from('/V1/a'), Buffer.from(bytes)]);

  test('are refused with EINVAL saying why, in every form; valid UTF-8 Buffers work', async () => {
    const { fs } = await mounted();
    const refused = expect.objectContaining({ code: 'EINVAL', syscall: 'open', message: expect.stringContaining('must be valid UTF-8') });
    expect(() => fs.writeFileSync(name(0xff), 'one')).toThrow(refused);
    expect(() => fs.openSync(name(0xfe), 'w')).toThrow(refused);
    await expect(fs.promises.writeFile(name(0xfe), 'two')).rejects.toThrow(refused);
    const viaCallback = await new Promise<unknown>((resolve) => fs.writeFile(name(0xc3, 0x28), 'three', resolve));
    expect(viaCallback).toEqual(refused);
    expect(() => fs.mkdirSync(name(0x80))).toThrow(expect.objectContaining({ code: 'EINVAL', syscall: 'mkdir' }));
    expect(() => fs.statSync(name(0xff))).toThrow(expect.objectContaining({ code: 'EINVAL', syscall: 'stat' }));
    expect(() => fs.renameSync(name(0xff), '/V1/b')).toThrow(expect.objectContaining({ code: 'EINVAL' }));
    expect(fs.readdirSync('/V1')).toEqual([]);

    fs.writeFileSync(Buffer.from('/V1/é'), 'utf8 name');
    expect(fs.readFileSync('/V1/é', 'utf8')).toBe('utf8 name');
    expect(fs.readdirSync(Buffer.from('/V1'), { encoding: 'buffer' })).toEqual([Buffer.from('é')]);
  });

  test('outside the mounts they are node:fs as ever', async () => {
    const { fs } = await mounted();
    const outside = Buffer.concat([Buffer.from(temp('raw-')), Buffer.from([0xff])]);
    fs.writeFileSync(outside, 'bytes');
    expect(realFs.readFileSync(outside, 'utf8')).toBe('bytes');
  });
});
