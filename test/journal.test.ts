// The native pieces of the volume layer through the addon: NativeJournal with ShieldedFile and the
// recovery functions (FORMAT.md, "Undo journal"), also against links the host plants in the volume
// directory; lockFile between processes, on a directory or a lock file, never through a symlink;
// keyedDigest against node:crypto.
import { spawn, type ChildProcess } from 'node:child_process';
import { createHmac, hkdfSync, randomBytes } from 'node:crypto';
import {
  existsSync, linkSync, lstatSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync, symlinkSync, unlinkSync, writeFileSync,
} from 'node:fs';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { generateKey } from '../lib/file/keys.js';
import { ShieldedFile } from '../lib/file/shielded-file.js';
import { native, type NativeJournal } from '../lib/file/native.js';
import { useTempDir } from './support/temp.js';

const temp = useTempDir('shieldfs-journal-');
const key = generateKey();
let volumeCount = 0;

// A volume directory with a committed file in it and a journal beside the file.
async function committedVolume(bytes = 300_000, chunkSize = 4096) {
  const base = temp(`volume-${volumeCount++}`);
  mkdirSync(base);
  const path = `${base}/data.shield`;
  const data = randomBytes(bytes);
  const file = await ShieldedFile.open(path, { key, create: true, chunkSize });
  await file.write(data);
  const tag = await file.close();
  return { base, path, data, tag, journalPath: `${base}/journal` };
}

async function expectContent(path: string, tag: string, data: Buffer): Promise<void> {
  const file = await ShieldedFile.open(path, { key, expectedTag: tag, readOnly: true });
  const back = Buffer.alloc(data.length + 10);
  expect(await file.read(back, 0, back.length, 0)).toBe(data.length);
  expect(back.subarray(0, data.length).equals(data)).toBe(true);
  await file.close();
}

describe('NativeJournal with ShieldedFile', () => {
  it('overwrite, growth, shrink and re-key roll back to the old content and tag', async () => {
    const v = await committedVolume();
    const context = Buffer.from('volume generation 7');
    const journal = new native.NativeJournal(v.journalPath, v.base, key, context);
    expect(journal.active).toBe(false);
    // 74 chunks committed; the budget forces a re-key (the file is replaced) at the last write.
    const file = await ShieldedFile.open(v.path, { key, expectedTag: v.tag, journal, keyBudget: 100 });
    expect(journal.active).toBe(false); // opening changes nothing on disk
    await file.write(randomBytes(50_000), 0, 50_000, 1000);
    await file.write(randomBytes(10_000), 0, 10_000, 400_000);
    await file.flush();
    await file.truncate(123_457);
    file.writeSync(randomBytes(40_000), 0, 40_000, 7); // 102 encryptions > 100: re-keyed first
    const newTag = await file.close();
    expect(newTag).not.toBe(v.tag);
    expect(readdirSync(v.base).some((name) => name.startsWith('journal.backup-'))).toBe(true);

    expect(native.journalContext(v.journalPath, key)?.equals(context)).toBe(true);
    expect(native.rollBackJournal(v.journalPath, v.base, key).equals(context)).toBe(true);
    expect(native.rollBackJournal(v.journalPath, v.base, key).equals(context)).toBe(true); // idempotent
    native.discardJournal(v.journalPath);
    expect(readdirSync(v.base).filter((name) => name.startsWith('journal'))).toEqual([]);
    expect(native.journalContext(v.journalPath, key)).toBeNull();
    await expectContent(v.path, v.tag, v.data);
  });

  it('finish() ends the transaction: the changes stand and the next change begins another', async () => {
    const v = await committedVolume(50_000);
    const journal = new native.NativeJournal(v.journalPath, v.base, key, new Uint8Array(0));
    const file = ShieldedFile.openSync(v.path, { key, expectedTag: v.tag, journal });
    const patch = randomBytes(5000);
    file.writeSync(patch, 0, patch.length, 100);
    const committed = file.flushSync();
    journal.finish();
    expect(journal.active).toBe(false);
    expect(existsSync(v.journalPath)).toBe(false);

    file.writeSync(randomBytes(100), 0, 100, 0); // a second transaction, under the same journal
    expect(journal.active).toBe(true);
    file.closeSync();
    native.rollBackJournal(v.journalPath, v.base, key);
    native.discardJournal(v.journalPath);
    const expected = Buffer.from(v.data);
    patch.copy(expected, 100);
    await expectContent(v.path, committed, expected);
  });

  it('begin(context) stores the context; another one while active is EINVAL', () => {
    const base = temp('begin');
    mkdirSync(base);
    const journalPath = `${base}/journal`;
    const journal = new native.NativeJournal(journalPath, base, key, Buffer.from('default'));
    journal.begin(Buffer.from('this one'));
    expect(journal.active).toBe(true);
    expect(native.journalContext(journalPath, key)?.toString()).toBe('this one');
    journal.begin(Buffer.from('this one'));
    journal.begin();
    expect(() => journal.begin(Buffer.from('another'))).toThrow(expect.objectContaining({ code: 'EINVAL' }));
    expect(() => journal.begin(Buffer.alloc(4097))).toThrow(expect.objectContaining({ code: 'EINVAL' }));

    // Another journal on the same path (another process, say) must not start over a live one.
    const second: NativeJournal = new native.NativeJournal(journalPath, base, key, Buffer.alloc(0));
    expect(() => second.begin()).toThrow(expect.objectContaining({ code: 'EEXIST', path: journalPath }));
    journal.finish();
    journal.begin();
    expect(native.journalContext(journalPath, key)?.toString()).toBe('default');
    journal.finish();
  });

  it('refuses bad arguments, files outside its directory and damaged journals', async () => {
    const v = await committedVolume(10_000);
    expect(() => new native.NativeJournal(v.journalPath, v.base, key.subarray(0, 16), Buffer.alloc(0))).toThrow(
      expect.objectContaining({ code: 'EINVAL' }),
    );
    expect(() => new native.NativeJournal(v.journalPath, v.base, key, Buffer.alloc(4097))).toThrow(
      expect.objectContaining({ code: 'EINVAL' }),
    );
    expect(() =>
      ShieldedFile.openSync(v.path, { key, journal: {} as unknown as NativeJournal }),
    ).toThrow(expect.objectContaining({ code: 'EINVAL' }));
    expect(() => native.openSync(v.path, key, { journal: {} as unknown as NativeJournal })).toThrow(
      expect.objectContaining({ code: 'EINVAL' }),
    );

    const elsewhere = temp('elsewhere');
    mkdirSync(elsewhere);
    const journal = new native.NativeJournal(`${elsewhere}/journal`, elsewhere, key, Buffer.alloc(0));
    const file = ShieldedFile.openSync(v.path, { key, journal });
    expect(() => file.writeSync(Buffer.from('x'), 0, 1, 0)).toThrow(expect.objectContaining({ code: 'EINVAL' }));
    expect(journal.active).toBe(false);
    expect(file.closeSync()).toBe(v.tag); // nothing changed

    writeFileSync(v.journalPath, Buffer.concat([Buffer.from('SHLDJRN1'), randomBytes(100)]));
    expect(() => native.journalContext(v.journalPath, key)).toThrow(expect.objectContaining({ code: 'EINTEGRITY' }));
    expect(() => native.rollBackJournal(v.journalPath, v.base, key)).toThrow(
      expect.objectContaining({ code: 'EINTEGRITY' }),
    );
    writeFileSync(v.journalPath, Buffer.from('SHLD')); // a crash while it was being created
    expect(native.journalContext(v.journalPath, key)).toBeNull();
    native.discardJournal(v.journalPath);
    native.discardJournal(v.journalPath);
    expect(() => native.rollBackJournal(v.journalPath, v.base, key)).toThrow(expect.objectContaining({ code: 'ENOENT' }));
  });
});

// The host controls the volume directory: whatever it plants in place of a file or directory, the
// rollback writes nothing outside the volume.
describe('rollBackJournal with planted links', () => {
  // An object file in a fan-out directory, changed in place (overwritten, then cut) through a journal, and
  // a file outside the volume the host wants written.
  async function plantedVolume() {
    const base = temp(`planted-${volumeCount++}`);
    mkdirSync(`${base}/objects/ab`, { recursive: true });
    const path = `${base}/objects/ab/cdef.shield`;
    const data = randomBytes(100_000);
    const created = await ShieldedFile.open(path, { key, create: true, chunkSize: 4096 });
    await created.write(data);
    const tag = await created.close();
    const journalPath = `${base}/journal`;
    const journal = new native.NativeJournal(journalPath, base, key, Buffer.from('ctx'));
    const file = await ShieldedFile.open(path, { key, expectedTag: tag, journal });
    await file.write(randomBytes(20_000), 0, 20_000, 3000);
    await file.truncate(50_000);
    await file.close();
    expect(journal.active).toBe(true);
    const outside = temp(`outside-${volumeCount++}`);
    const outsideBytes = randomBytes(120_000);
    writeFileSync(outside, outsideBytes);
    const changed = readFileSync(path);
    return { base, path, data, tag, journalPath, outside, outsideBytes, changed };
  }

  it('does not follow a symlinked object file', async () => {
    const v = await plantedVolume();
    unlinkSync(v.path);
    symlinkSync(v.outside, v.path);
    expect(native.rollBackJournal(v.journalPath, v.base, key).toString()).toBe('ctx');
    expect(readFileSync(v.outside).equals(v.outsideBytes)).toBe(true);
    expect(lstatSync(v.path).isSymbolicLink()).toBe(true); // left alone: EINTEGRITY when read
  });

  it('does not follow a symlinked fan-out directory', async () => {
    const v = await plantedVolume();
    const elsewhere = temp(`elsewhere-${volumeCount++}`);
    renameSync(`${v.base}/objects/ab`, elsewhere);
    symlinkSync(elsewhere, `${v.base}/objects/ab`);
    native.rollBackJournal(v.journalPath, v.base, key);
    expect(readFileSync(`${elsewhere}/cdef.shield`).equals(v.changed)).toBe(true);
  });

  it('does not write into a hard link to an outside file', async () => {
    const v = await plantedVolume();
    unlinkSync(v.path);
    linkSync(v.outside, v.path);
    native.rollBackJournal(v.journalPath, v.base, key);
    expect(readFileSync(v.outside).equals(v.outsideBytes)).toBe(true);
    // The real file back in place: the same journal restores it.
    unlinkSync(v.path);
    writeFileSync(v.path, v.changed);
    native.rollBackJournal(v.journalPath, v.base, key);
    native.discardJournal(v.journalPath);
    await expectContent(v.path, v.tag, v.data);
  });

  it('a journal that is a symlink is EINTEGRITY, and discarding it removes only the link', () => {
    const base = temp(`symlinked-journal-${volumeCount++}`);
    mkdirSync(base);
    const outside = temp(`outside-${volumeCount++}`);
    writeFileSync(outside, Buffer.from('not a journal'));
    const journalPath = `${base}/journal`;
    symlinkSync(outside, journalPath);
    expect(() => native.journalContext(journalPath, key)).toThrow(
      expect.objectContaining({ code: 'EINTEGRITY', path: journalPath, message: expect.stringContaining('not a regular file') }),
    );
    expect(() => native.rollBackJournal(journalPath, base, key)).toThrow(expect.objectContaining({ code: 'EINTEGRITY' }));
    native.discardJournal(journalPath);
    expect(existsSync(journalPath)).toBe(false);
    expect(readFileSync(outside).toString()).toBe('not a journal');
  });
});

// A node process that takes the lock through the addon (node-gyp-build from the repository root, or
// the addon under test) and reports what happened; with `hold` it keeps the lock until killed.
const repositoryRoot = fileURLToPath(new URL('..', import.meta.url));
const lockerScript = `
const [root, path, exclusive, hold] = process.argv.slice(1);
const addon = process.env.SHIELDFS_ADDON ? require(process.env.SHIELDFS_ADDON) : require(require.resolve('node-gyp-build', { paths: [root] }))(root);
try {
  addon.lockFile(path, exclusive === 'true');
  process.stdout.write('locked\\n');
  if (hold === 'hold') setInterval(() => {}, 1000);
} catch (error) {
  process.stdout.write(JSON.stringify({ code: error.code, syscall: error.syscall, path: error.path, message: error.message }) + '\\n');
}
`;

const children: ChildProcess[] = [];
afterEach(() => {
  for (const child of children.splice(0)) child.kill('SIGKILL');
});

function startLocker(path: string, exclusive: boolean, hold: boolean): { child: ChildProcess; line: Promise<string> } {
  const child = spawn(process.execPath, ['-e', lockerScript, repositoryRoot, path, String(exclusive), hold ? 'hold' : ''], {
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  children.push(child);
  const line = new Promise<string>((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      if (out.includes('\n')) resolve(out.split('\n')[0]!);
    });
    child.on('exit', (code) => reject(new Error(`locker exited (${code}) before answering: ${out}`)));
  });
  return { child, line };
}

async function exited(child: ChildProcess): Promise<void> {
  if (child.exitCode === null && child.signalCode === null) await once(child, 'exit');
}

describe('lockFile', () => {
  it('EBUSY between two processes; the next one takes over once the holder is killed', async () => {
    const path = temp('volume.lock');
    const holder = startLocker(path, true, true);
    expect(await holder.line).toBe('locked');

    const refused = JSON.parse(await startLocker(path, true, false).line);
    expect(refused).toMatchObject({ code: 'EBUSY', syscall: 'flock', path });
    expect(refused.message).toContain(path);
    expect(JSON.parse(await startLocker(path, false, false).line)).toMatchObject({ code: 'EBUSY' });
    expect(() => native.lockFile(path, false)).toThrow(expect.objectContaining({ code: 'EBUSY', path }));

    holder.child.kill('SIGKILL');
    await exited(holder.child);
    const taker = startLocker(path, true, false);
    expect(await taker.line).toBe('locked');
    await exited(taker.child); // it lets go when it exits
    const lock = native.lockFile(path, true);
    lock.release();
    lock.release(); // idempotent
  });

  it('shared locks share; an exclusive one waits for all of them; release() hands over', () => {
    const path = temp('shared.lock');
    const a = native.lockFile(path, false);
    const b = native.lockFile(path, false);
    expect(() => native.lockFile(path, true)).toThrow(expect.objectContaining({ code: 'EBUSY' }));
    a.release();
    expect(() => native.lockFile(path, true)).toThrow(expect.objectContaining({ code: 'EBUSY' }));
    b.release();
    const c = native.lockFile(path, true);
    expect(() => native.lockFile(path, false)).toThrow(expect.objectContaining({ code: 'EBUSY' }));
    c.release();
    expect(() => native.lockFile(temp('no-such-dir/x.lock'), true)).toThrow(expect.objectContaining({ code: 'ENOENT' }));
  });

  it('a directory is locked itself: a second process is refused until the holder dies', async () => {
    const directory = temp('volume-directory');
    mkdirSync(directory);
    const holder = startLocker(directory, true, true);
    expect(await holder.line).toBe('locked');
    expect(JSON.parse(await startLocker(directory, true, false).line)).toMatchObject({ code: 'EBUSY', path: directory });
    expect(JSON.parse(await startLocker(directory, false, false).line)).toMatchObject({ code: 'EBUSY' });
    expect(readdirSync(directory)).toEqual([]); // no lock file that could be deleted under the holder
    holder.child.kill('SIGKILL');
    await exited(holder.child);
    const lock = native.lockFile(directory, false);
    expect(JSON.parse(await startLocker(directory, true, false).line)).toMatchObject({ code: 'EBUSY' });
    expect(await startLocker(directory, false, false).line).toBe('locked');
    lock.release();
  });

  it('refuses a symlink, to a file or a directory, without locking or creating what it names', () => {
    const target = temp('lock-target');
    writeFileSync(target, Buffer.from('outside'));
    const targetDirectory = temp('lock-target-directory');
    mkdirSync(targetDirectory);
    const link = temp('symlinked.lock');
    for (const to of [target, targetDirectory, temp('not-there')]) {
      rmSync(link, { force: true });
      symlinkSync(to, link);
      expect(() => native.lockFile(link, true)).toThrow(
        expect.objectContaining({ code: 'EINVAL', path: link, message: expect.stringContaining('symbolic link') }),
      );
    }
    expect(existsSync(temp('not-there'))).toBe(false);
    expect(readFileSync(target).toString()).toBe('outside');
    native.lockFile(target, true).release(); // never locked through the link
    native.lockFile(targetDirectory, true).release();
  });
});

describe('keyedDigest', () => {
  it('is HMAC-SHA256 under HKDF-SHA256(key, no salt, info = label), as node:crypto computes it', () => {
    for (const [label, message] of [
      ['shieldfs volume name', Buffer.from('models/a.bin')],
      ['', Buffer.alloc(0)],
      ['ünïcödé label', randomBytes(10_000)],
    ] as const) {
      const k = generateKey();
      const derived = Buffer.from(hkdfSync('sha256', k, Buffer.alloc(0), Buffer.from(label, 'utf8'), 32));
      const want = createHmac('sha256', derived).update(message).digest();
      const got = native.keyedDigest(k, label, message);
      expect(got.length).toBe(32);
      expect(got.equals(want)).toBe(true);
    }
    expect(() => native.keyedDigest(key.subarray(0, 31), 'x', Buffer.alloc(1))).toThrow(
      expect.objectContaining({ code: 'EINVAL' }),
    );
    expect(() => native.keyedDigest(key, 5 as unknown as string, Buffer.alloc(1))).toThrow(
      expect.objectContaining({ code: 'EINVAL' }),
    );
  });
});
