// The ShieldedFile contract: options, errors with Node-style codes, holes, sync/async twins,
// concurrency, re-keying, and use from CommonJS.
import { execFileSync } from 'node:child_process';
import { mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { ShieldedFile, generateKey, importKey, isShieldError, wipeKey } from '../lib/index.js';
import { useTempDir } from './support/temp.js';

const temp = useTempDir();
const key = generateKey();

describe('keys', () => {
  it('generateKey gives 32 distinct random bytes', () => {
    const a = generateKey();
    expect(a.length).toBe(32);
    expect(a.equals(generateKey())).toBe(false);
  });
  it('importKey takes raw bytes or 64 hex characters; wipeKey zeroes', () => {
    const raw = randomBytes(32);
    expect(importKey(raw).equals(raw)).toBe(true);
    expect(importKey(raw.toString('hex')).equals(raw)).toBe(true);
    expect(() => importKey('abc')).toThrow(expect.objectContaining({ code: 'EINVAL' }));
    expect(() => importKey(randomBytes(16))).toThrow(expect.objectContaining({ code: 'EINVAL' }));
    const k = importKey(raw);
    wipeKey(k);
    expect(k.every((b) => b === 0)).toBe(true);
  });
});

describe('open', () => {
  it('a missing file without create fails with ENOENT like fs', async () => {
    const path = temp('missing');
    await expect(ShieldedFile.open(path, { key })).rejects.toMatchObject({ code: 'ENOENT', syscall: 'open', path });
    expect(() => ShieldedFile.openSync(path, { key })).toThrow(expect.objectContaining({ code: 'ENOENT' }));
  });
  it('create makes a new file and opens an existing one', async () => {
    const path = temp('create');
    const a = await ShieldedFile.open(path, { key, create: true });
    await a.write(Buffer.from('abc'), 0, 3, 0);
    const tag = await a.close();
    const b = await ShieldedFile.open(path, { key, create: true, expectedTag: tag });
    expect(b.size).toBe(3);
    expect(b.tag).toBe(tag);
    await b.close();
    expect(statSync(path).mode & 0o777).toBe(0o600);
  });
  it('expectedTag never creates: a deleted file is ENOENT', async () => {
    const path = temp('deleted');
    await expect(ShieldedFile.open(path, { key, create: true, expectedTag: 'ab'.repeat(32) })).rejects.toMatchObject({
      code: 'ENOENT',
    });
  });
  it('expectedFileId never creates either: a deleted file is ENOENT', async () => {
    const path = temp('deleted-id');
    await expect(ShieldedFile.open(path, { key, create: true, expectedFileId: 'cd'.repeat(16) })).rejects.toMatchObject({
      code: 'ENOENT',
    });
    expect(() => statSync(path)).toThrow();
  });
  it('a write that meets a damaged leaf fails before changing anything; the file still flushes and closes', async () => {
    const path = temp('damaged-leaf-write');
    const data = randomBytes(6 * 4096 + 14);
    const tag = await (async () => {
      const f = await ShieldedFile.open(path, { key, create: true });
      await f.write(data, 0, data.length, 0);
      return f.close();
    })();
    const bytes = readFileSync(path);
    bytes[8192 + 100]! ^= 1; // leaf 0 (after header and chunk 0)
    writeFileSync(path, bytes);
    const f = await ShieldedFile.open(path, { key, expectedTag: tag });
    await expect(f.write(Buffer.from('growing'), 0, 7, data.length + 4096 + 3)).rejects.toMatchObject({ code: 'EINTEGRITY' });
    expect(f.size).toBe(data.length);
    expect(await f.flush()).toBe(tag);
    expect(await f.close()).toBe(tag);
  });
  it('a directory fails with EISDIR', async () => {
    const dir = temp('a-directory');
    mkdirSync(dir);
    await expect(ShieldedFile.open(dir, { key })).rejects.toMatchObject({ code: 'EISDIR' });
    await expect(ShieldedFile.open(dir, { key, readOnly: true })).rejects.toMatchObject({ code: 'EISDIR' });
  });
  it('bad options fail with EINVAL and touch nothing', async () => {
    const path = temp('bad-options');
    for (const options of [
      { key: Buffer.alloc(31) },
      { key: 'k'.repeat(32) as unknown as Buffer },
      { key, create: true, chunkSize: 3000 },
      { key, create: true, chunkSize: 2048 },
      { key, create: true, chunkSize: 2 << 20 },
      { key, create: true, expectedTag: 'xyz' },
      { key, create: true, cacheBytes: -1 },
    ]) {
      await expect(ShieldedFile.open(path, options)).rejects.toMatchObject({ code: 'EINVAL' });
    }
    expect(() => statSync(path)).toThrow();
  });
  it('a chunk size that differs from the file’s is EINVAL', async () => {
    const path = temp('chunk-mismatch');
    await (await ShieldedFile.open(path, { key, create: true, chunkSize: 65536 })).close();
    await expect(ShieldedFile.open(path, { key, chunkSize: 4096 })).rejects.toMatchObject({ code: 'EINVAL' });
    const f = await ShieldedFile.open(path, { key });
    expect(f.chunkSize).toBe(65536);
    await f.close();
  });
  it('expectedFileId: the file’s own id opens it; another file under the same key is EINTEGRITY', async () => {
    const path = temp('identity');
    const other = temp('identity-other');
    const a = await ShieldedFile.open(path, { key, create: true });
    const fileId = a.fileId;
    expect(fileId).toMatch(/^[0-9a-f]{32}$/);
    await a.close();
    const b = await ShieldedFile.open(other, { key, create: true });
    const otherId = b.fileId;
    const otherTag = await b.close();
    expect(otherId).not.toBe(fileId);
    const again = await ShieldedFile.open(path, { key, expectedFileId: fileId });
    expect(again.fileId).toBe(fileId);
    await again.close();
    // The other file is authentic and has the expected tag, but it is not this file.
    await expect(ShieldedFile.open(other, { key, expectedFileId: fileId, expectedTag: otherTag })).rejects.toMatchObject({
      code: 'EINTEGRITY',
      path: other,
    });
    expect(() => ShieldedFile.openSync(other, { key, expectedFileId: fileId, readOnly: true })).toThrow(
      expect.objectContaining({ code: 'EINTEGRITY' }),
    );
    await expect(ShieldedFile.open(path, { key, expectedFileId: 'xyz' })).rejects.toMatchObject({ code: 'EINVAL' });
  });
  it('a FIFO in the file’s place is EINTEGRITY (not a regular file), and the open does not block', async () => {
    const path = temp('fifo');
    execFileSync('mkfifo', [path]);
    await expect(ShieldedFile.open(path, { key })).rejects.toMatchObject({ code: 'EINTEGRITY' });
    expect(() => ShieldedFile.openSync(path, { key, readOnly: true })).toThrow(expect.objectContaining({ code: 'EINTEGRITY' }));
    await expect(ShieldedFile.open(path, { key, create: true })).rejects.toMatchObject({ code: 'EINTEGRITY' });
  });
  it('a second writer on the same file fails with EBUSY; readers share', async () => {
    const path = temp('busy');
    const writer = await ShieldedFile.open(path, { key, create: true });
    await expect(ShieldedFile.open(path, { key })).rejects.toMatchObject({ code: 'EBUSY' });
    await expect(ShieldedFile.open(path, { key, readOnly: true })).rejects.toMatchObject({ code: 'EBUSY' });
    await writer.close();
    const r1 = await ShieldedFile.open(path, { key, readOnly: true });
    const r2 = await ShieldedFile.open(path, { key, readOnly: true });
    await expect(ShieldedFile.open(path, { key })).rejects.toMatchObject({ code: 'EBUSY' });
    await r1.close();
    await r2.close();
  });
});

describe('reading and writing', () => {
  it('writes past the end leave holes that read as zeros', async () => {
    const path = temp('holes');
    const f = await ShieldedFile.open(path, { key, create: true });
    await f.write(Buffer.from('end'), 0, 3, 10 * 4096 + 5);
    expect(f.size).toBe(10 * 4096 + 8);
    const all = Buffer.alloc(f.size, 0xff);
    expect(await f.read(all, 0, all.length, 0)).toBe(all.length);
    expect(all.subarray(0, 10 * 4096 + 5).every((b) => b === 0)).toBe(true);
    expect(all.subarray(10 * 4096 + 5).toString()).toBe('end');
    await f.close();
    // Holes are not stored: only the header, the written chunk and the leaf take disk blocks.
    expect(statSync(path).blocks * 512).toBeLessThan(6 * 4096);
  });
  it('truncate grows with zeros and shrinks, and shrunk bytes do not come back', async () => {
    const path = temp('truncate');
    const f = await ShieldedFile.open(path, { key, create: true });
    await f.write(Buffer.alloc(5000, 7), 0, 5000, 0);
    await f.truncate(100);
    await f.truncate(9000);
    const all = Buffer.alloc(9000, 0xff);
    await f.read(all, 0, 9000, 0);
    expect(all.subarray(0, 100).every((b) => b === 7)).toBe(true);
    expect(all.subarray(100).every((b) => b === 0)).toBe(true);
    f.truncateSync(0);
    expect(f.size).toBe(0);
    await f.close();
  });
  it('reads past the end return 0; partial reads at the end return what is there', async () => {
    const path = temp('eof');
    const f = ShieldedFile.openSync(path, { key, create: true });
    f.writeSync(Buffer.from('hello'), 0, 5, 0);
    const b = Buffer.alloc(10);
    expect(f.readSync(b, 0, 10, 5)).toBe(0);
    expect(f.readSync(b, 0, 10, 1000)).toBe(0);
    expect(f.readSync(b, 0, 10, 3)).toBe(2);
    expect(b.subarray(0, 2).toString()).toBe('lo');
    expect(f.readSync(b, 0, 0, 0)).toBe(0);
    f.closeSync();
  });
  it('accepts any TypedArray or DataView and respects offset and length', async () => {
    const path = temp('views');
    const f = await ShieldedFile.open(path, { key, create: true });
    const words = new Uint32Array([1, 2, 3, 4]);
    await f.write(words, 4, 8, 0);
    const view = new DataView(new ArrayBuffer(12));
    expect(await f.read(view, 2, 8, 0)).toBe(8);
    expect(view.getUint32(2, true)).toBe(2);
    expect(view.getUint32(6, true)).toBe(3);
    await f.close();
  });
  it('rejects bad arguments with EINVAL before touching the file', async () => {
    const path = temp('bad-args');
    const f = await ShieldedFile.open(path, { key, create: true });
    const b = Buffer.alloc(10);
    const bad: Array<[unknown, unknown, unknown, unknown]> = [
      ['nope', 0, 1, 0],
      [b, -1, 1, 0],
      [b, 0, 11, 0],
      [b, 5, 6, 0],
      [b, 0, 1, -5],
      [b, 0, 1, 1.5],
      [b, 0, 1, Number.MAX_SAFE_INTEGER + 2],
    ];
    for (const args of bad) {
      const call = args as [Buffer, number, number, number];
      await expect(f.write(...call)).rejects.toMatchObject({ code: 'EINVAL' });
      expect(() => f.readSync(...call)).toThrow(expect.objectContaining({ code: 'EINVAL' }));
    }
    expect(f.size).toBe(0);
    await expect(f.truncate(-1)).rejects.toMatchObject({ code: 'EINVAL' });
    await f.close();
  });
  it('a read-only file refuses writes and truncation with EBADF', async () => {
    const path = temp('read-only');
    await (await ShieldedFile.open(path, { key, create: true })).close();
    const f = await ShieldedFile.open(path, { key, readOnly: true });
    await expect(f.write(Buffer.from('x'), 0, 1, 0)).rejects.toMatchObject({ code: 'EBADF' });
    expect(() => f.truncateSync(5)).toThrow(expect.objectContaining({ code: 'EBADF' }));
    await f.close();
  });
  it('every call after close fails with EBADF', async () => {
    const path = temp('closed');
    const f = await ShieldedFile.open(path, { key, create: true });
    await f.close();
    const b = Buffer.alloc(1);
    await expect(f.read(b, 0, 1, 0)).rejects.toMatchObject({ code: 'EBADF' });
    await expect(f.write(b, 0, 1, 0)).rejects.toMatchObject({ code: 'EBADF' });
    await expect(f.flush()).rejects.toMatchObject({ code: 'EBADF' });
    await expect(f.close()).rejects.toMatchObject({ code: 'EBADF' });
    expect(() => f.truncateSync(0)).toThrow(expect.objectContaining({ code: 'EBADF' }));
  });
  it('concurrent async writes and reads of disjoint ranges', async () => {
    const path = temp('concurrent');
    const f = await ShieldedFile.open(path, { key, create: true });
    const parts = Array.from({ length: 16 }, (_, i) => randomBytes(50_000 + i * 1000));
    let at = 0;
    const positions = parts.map((p) => ((at += p.length), at - p.length));
    await Promise.all(parts.map((p, i) => f.write(p, 0, p.length, positions[i])));
    const back = await Promise.all(
      parts.map(async (p, i) => {
        const b = Buffer.alloc(p.length);
        await f.read(b, 0, b.length, positions[i]);
        return b;
      }),
    );
    back.forEach((b, i) => expect(b.equals(parts[i]!)).toBe(true));
    await f.close();
  });
  it('flush returns a new tag only when something changed', async () => {
    const path = temp('flush');
    const f = await ShieldedFile.open(path, { key, create: true });
    const t0 = await f.flush();
    expect(await f.flush()).toBe(t0);
    await f.write(Buffer.from('x'), 0, 1, 0);
    expect(f.tag).toBe(t0);
    const t1 = f.flushSync();
    expect(t1).not.toBe(t0);
    expect(f.tag).toBe(t1);
    expect(await f.close()).toBe(t1);
  });
});

describe('the key budget', () => {
  it('re-keys the file when the chunk key would pass its budget, keeping all content', async () => {
    const path = temp('rekey');
    const data = randomBytes(40 * 4096 + 123);
    const f = await ShieldedFile.open(path, { key, create: true, keyBudget: 50 });
    await f.write(data, 0, data.length, 0);
    const firstKeyId = f.info().keyId;
    const fileId = f.fileId;
    for (let i = 0; i < 5; i++) await f.write(data, i * 8192, 8192, i * 8192);
    const info = f.info();
    expect(info.keyId).not.toBe(firstKeyId);
    expect(info.fileId).toBe(fileId);
    expect(info.encryptions).toBeLessThanOrEqual(50);
    const tag = await f.close();
    const g = await ShieldedFile.open(path, { key, expectedTag: tag });
    const back = Buffer.alloc(data.length);
    await g.read(back, 0, back.length, 0);
    expect(back.equals(data)).toBe(true);
    await g.close();
  });
});

describe('errors', () => {
  it('isShieldError recognises codes', async () => {
    const path = temp('iserror');
    writeFileSync(path, randomBytes(5000));
    const error = await ShieldedFile.open(path, { key }).catch((e: unknown) => e);
    expect(isShieldError(error, 'EINTEGRITY')).toBe(true);
    expect(isShieldError(error, 'EBADKEY')).toBe(false);
  });
});

describe('packaging', () => {
  it('CommonJS consumers can require the package', () => {
    const path = temp('cjs-file');
    const script = `
      const { ShieldedFile, generateKey } = require(${JSON.stringify(process.cwd())});
      const f = ShieldedFile.openSync(${JSON.stringify(path)}, { key: generateKey(), create: true });
      f.writeSync(Buffer.from('from cjs'), 0, 8, 0);
      process.stdout.write(String(f.size) + ' ' + f.closeSync().length);`;
    expect(execFileSync(process.execPath, ['-e', script], { encoding: 'utf8' })).toBe('8 64');
    expect(readFileSync(path).length).toBe(8192);
  });
});
