// AuthenticatedFile: plaintext on disk, every read verified against a hash list whose tag the
// manifest keeps. The contract against an in-memory model, the format checked by an independent
// decoder, and the attacks of the threat model on the bytes on disk.
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import {
  appendFileSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  truncateSync,
  writeFileSync,
} from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import { AuthenticatedFile, type AuthenticatedOpenOptions } from '../lib/volume/authenticated-file.js';
import { randomBytesFrom, seededRandom } from './support/random.js';
import { useTempDir } from './support/temp.js';

const temp = useTempDir();
const newObjectId = () => randomBytes(16).toString('hex');

interface Pair {
  data: string;
  tree: string;
}

let pairs = 0;
function pair(name: string): Pair {
  const base = temp(`${name}-${pairs++}`);
  return { data: `${base}.data`, tree: `${base}.tree` };
}

async function create(p: Pair, content: Buffer, options: Partial<AuthenticatedOpenOptions> = {}) {
  const objectId = options.objectId ?? newObjectId();
  const file = await AuthenticatedFile.open(p.data, p.tree, { objectId, create: true, ...options });
  if (content.length) await file.write(content, 0, content.length, 0);
  return { objectId, tag: await file.close() };
}

/** Builds the tag and hash list from the content with node:crypto, straight from the format text. */
function reference(objectId: string, chunkSize: number, content: Buffer) {
  const id = Buffer.from(objectId, 'hex');
  const u64 = (n: number) => {
    const b = Buffer.alloc(8);
    b.writeBigUInt64LE(BigInt(n));
    return b;
  };
  const leaves: Buffer[] = [];
  for (let i = 0; i * chunkSize < content.length; i++) {
    leaves.push(
      createHash('sha256')
        .update('shieldfs auth leaf v1')
        .update(id)
        .update(u64(i))
        .update(content.subarray(i * chunkSize, (i + 1) * chunkSize))
        .digest(),
    );
  }
  const chunk = Buffer.alloc(4);
  chunk.writeUInt32LE(chunkSize);
  const tag = createHash('sha256')
    .update('shieldfs auth tag v1')
    .update(id)
    .update(chunk)
    .update(u64(content.length))
    .update(Buffer.concat(leaves))
    .digest('hex');
  const header = Buffer.alloc(24);
  header.write('SHLDAUT1', 0, 'latin1');
  header.writeUInt32LE(1, 8);
  header.writeUInt32LE(chunkSize, 12);
  header.writeBigUInt64LE(BigInt(content.length), 16);
  return { tag, tree: Buffer.concat([header, ...leaves]) };
}

type Failure = NodeJS.ErrnoException & { chunk?: number };

async function failure(promise: Promise<unknown>): Promise<Failure> {
  try {
    await promise;
  } catch (error) {
    return error as Failure;
  }
  throw new Error('expected a failure');
}

function syncFailure(run: () => unknown): Failure {
  try {
    run();
  } catch (error) {
    return error as Failure;
  }
  throw new Error('expected a failure');
}

describe('against an in-memory model', () => {
  for (const chunkSize of [4096, 16384]) {
    for (const seed of [1, 2, 3]) {
      it(`random writes, truncates, reads and reopens (chunk ${chunkSize}, seed ${seed})`, async () => {
        const random = seededRandom(seed * 7919 + chunkSize);
        const int = (n: number) => Math.floor(random() * n);
        const p = pair(`model-${chunkSize}-${seed}`);
        const objectId = newObjectId();
        let model = Buffer.alloc(0);
        let file = await AuthenticatedFile.open(p.data, p.tree, { objectId, create: true, chunkSize });
        expect(file.chunkSize).toBe(chunkSize);
        let tag = file.tag;
        const sync = () => random() < 0.5;
        for (let step = 0; step < 250; step++) {
          const op = random();
          if (op < 0.45) {
            // Writes land anywhere from before the start to a few chunks past the end.
            const position = int(model.length + 3 * chunkSize);
            const length = random() < 0.2 ? int(4 * chunkSize) : int(300);
            const data = randomBytesFrom(random, length);
            const n = sync() ? file.writeSync(data, 0, length, position) : await file.write(data, 0, length, position);
            expect(n).toBe(length);
            if (length > 0) {
              const grown = Buffer.alloc(Math.max(model.length, position + length));
              model.copy(grown);
              data.copy(grown, position);
              model = grown;
            }
          } else if (op < 0.55) {
            const length = int(model.length + 2 * chunkSize);
            if (sync()) file.truncateSync(length);
            else await file.truncate(length);
            const resized = Buffer.alloc(length);
            model.copy(resized, 0, 0, Math.min(length, model.length));
            model = resized;
          } else if (op < 0.85) {
            const position = int(model.length + chunkSize);
            const length = int(3 * chunkSize);
            const buffer = Buffer.alloc(length + 8, 0xee);
            const n = sync() ? file.readSync(buffer, 4, length, position) : await file.read(buffer, 4, length, position);
            const expected = model.subarray(Math.min(position, model.length), Math.min(position + length, model.length));
            expect(n).toBe(expected.length);
            expect(buffer.subarray(4, 4 + n).equals(expected)).toBe(true);
            expect(buffer.subarray(0, 4).every((b) => b === 0xee)).toBe(true);
            expect(buffer.subarray(4 + n).every((b) => b === 0xee)).toBe(true);
          } else if (op < 0.93) {
            tag = sync() ? file.flushSync() : await file.flush();
            expect(file.tag).toBe(tag);
            expect(readFileSync(p.data).equals(model)).toBe(true);
            expect(tag).toBe(reference(objectId, chunkSize, model).tag);
          } else {
            tag = sync() ? file.closeSync() : await file.close();
            const options = { objectId, expectedTag: tag };
            file = sync() ? AuthenticatedFile.openSync(p.data, p.tree, options) : await AuthenticatedFile.open(p.data, p.tree, options);
            expect(file.tag).toBe(tag);
            expect(file.chunkSize).toBe(chunkSize);
          }
          expect(file.size).toBe(model.length);
        }
        tag = await file.close();
        expect(readFileSync(p.data).equals(model)).toBe(true);
        const ref = reference(objectId, chunkSize, model);
        expect(tag).toBe(ref.tag);
        expect(readFileSync(p.tree).equals(ref.tree)).toBe(true);
        const again = await AuthenticatedFile.open(p.data, p.tree, { objectId, expectedTag: tag, readOnly: true });
        const all = Buffer.alloc(model.length + 10);
        expect(await again.read(all, 0, all.length, 0)).toBe(model.length);
        expect(all.subarray(0, model.length).equals(model)).toBe(true);
        expect(await again.close()).toBe(tag);
      });
    }
  }

  it('reads and writes larger than one batch (several MiB) match the model', async () => {
    const p = pair('large');
    const content = randomBytes(9 * 1024 * 1024 + 123);
    const { objectId, tag } = await create(p, content);
    expect(tag).toBe(reference(objectId, 4096, content).tag);
    const file = AuthenticatedFile.openSync(p.data, p.tree, { objectId, expectedTag: tag });
    const back = Buffer.alloc(content.length);
    expect(file.readSync(back, 0, back.length, 0)).toBe(content.length);
    expect(back.equals(content)).toBe(true);
    // An unaligned overwrite across batch boundaries.
    const patch = randomBytes(5 * 1024 * 1024);
    await file.write(patch, 0, patch.length, 1000);
    patch.copy(content, 1000);
    const newTag = await file.close();
    expect(readFileSync(p.data).equals(content)).toBe(true);
    expect(newTag).toBe(reference(objectId, 4096, content).tag);
  });

  it('a write far past the end fills the gap with zeros', async () => {
    const p = pair('gap');
    const { objectId, tag } = await create(p, Buffer.from('head'));
    const file = await AuthenticatedFile.open(p.data, p.tree, { objectId, expectedTag: tag });
    await file.write(Buffer.from('tail'), 0, 4, 10 * 4096 + 5);
    expect(file.size).toBe(10 * 4096 + 9);
    const expected = Buffer.alloc(10 * 4096 + 9);
    expected.write('head', 0);
    expected.write('tail', 10 * 4096 + 5);
    const newTag = await file.close();
    expect(readFileSync(p.data).equals(expected)).toBe(true);
    expect(newTag).toBe(reference(objectId, 4096, expected).tag);
  });

  it('a stale hash-list temporary from a crashed flush is overwritten', async () => {
    const p = pair('stale-tmp');
    const { objectId, tag } = await create(p, Buffer.from('abc'));
    writeFileSync(`${p.tree}.tmp`, randomBytes(5000));
    const file = await AuthenticatedFile.open(p.data, p.tree, { objectId, expectedTag: tag });
    await file.write(Buffer.from('d'), 0, 1, 3);
    const newTag = await file.close();
    expect(existsSync(`${p.tree}.tmp`)).toBe(false);
    expect(newTag).toBe(reference(objectId, 4096, Buffer.from('abcd')).tag);
  });

  it('zero-length writes and reads past the end change nothing', async () => {
    const p = pair('zero');
    const { objectId, tag } = await create(p, Buffer.from('abc'));
    const file = await AuthenticatedFile.open(p.data, p.tree, { objectId, expectedTag: tag });
    expect(await file.write(Buffer.alloc(0), 0, 0, 100)).toBe(0);
    expect(file.size).toBe(3);
    expect(await file.read(Buffer.alloc(10), 0, 10, 3)).toBe(0);
    expect(await file.read(Buffer.alloc(10), 0, 10, 1000)).toBe(0);
    expect(await file.close()).toBe(tag);
  });
});

describe('open, create and options', () => {
  it('create makes both files 0600 with an empty hash list; the data file is the content', async () => {
    const p = pair('create');
    const objectId = newObjectId();
    const file = await AuthenticatedFile.open(p.data, p.tree, { objectId, create: true });
    expect(file.size).toBe(0);
    expect(file.path).toBe(p.data);
    expect(file.objectId).toBe(objectId);
    expect(file.tag).toBe(reference(objectId, 4096, Buffer.alloc(0)).tag);
    expect(statSync(p.data).mode & 0o777).toBe(0o600);
    expect(statSync(p.tree).mode & 0o777).toBe(0o600);
    expect(readFileSync(p.tree).equals(reference(objectId, 4096, Buffer.alloc(0)).tree)).toBe(true);
    file.writeSync(Buffer.from('hello, world\n'));
    // Flushed content is readable with plain fs; no temporary file is left behind.
    const tag = file.flushSync();
    expect(readFileSync(p.data, 'utf8')).toBe('hello, world\n');
    expect(existsSync(`${p.tree}.tmp`)).toBe(false);
    expect(file.closeSync()).toBe(tag);
    const reopened = AuthenticatedFile.openSync(p.data, p.tree, { objectId: objectId.toUpperCase(), expectedTag: tag.toUpperCase() });
    expect(reopened.size).toBe(13);
    reopened.closeSync();
  });

  it('create refuses an existing data file or hash list with EEXIST and leaves nothing behind', async () => {
    const p = pair('exists');
    writeFileSync(p.data, 'x');
    await expect(AuthenticatedFile.open(p.data, p.tree, { objectId: newObjectId(), create: true })).rejects.toMatchObject({ code: 'EEXIST' });
    expect(readFileSync(p.data, 'utf8')).toBe('x');
    expect(existsSync(p.tree)).toBe(false);
    const q = pair('exists-tree');
    writeFileSync(q.tree, 'y');
    expect(syncFailure(() => AuthenticatedFile.openSync(q.data, q.tree, { objectId: newObjectId(), create: true })).code).toBe('EEXIST');
    expect(existsSync(q.data)).toBe(false);
    expect(readFileSync(q.tree, 'utf8')).toBe('y');
  });

  it('create in a missing directory is ENOENT', async () => {
    const dir = temp('no-such-dir');
    await expect(
      AuthenticatedFile.open(`${dir}/a`, `${dir}/a.tree`, { objectId: newObjectId(), create: true }),
    ).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('checks its options with EINVAL', async () => {
    const p = pair('options');
    const { objectId, tag } = await create(p, Buffer.from('abc'));
    const bad: [AuthenticatedOpenOptions, RegExp][] = [
      [{ objectId: 'xyz', expectedTag: tag }, /objectId/],
      [{ objectId }, /expectedTag/],
      [{ objectId, expectedTag: 'abc' }, /expectedTag/],
      [{ objectId, create: true, readOnly: true }, /readOnly/],
      [{ objectId, create: true, expectedTag: tag }, /expectedTag/],
      [{ objectId, create: true, chunkSize: 1000 }, /chunkSize/],
      [{ objectId, create: true, chunkSize: 2 << 20 }, /chunkSize/],
      [{ objectId, expectedTag: tag, chunkSize: 8192 }, /chunk size 4096/],
    ];
    for (const [options, message] of bad) {
      const error = await failure(AuthenticatedFile.open(p.data, p.tree, options));
      expect(error.code).toBe('EINVAL');
      expect(error.message).toMatch(message);
      expect(syncFailure(() => AuthenticatedFile.openSync(p.data, p.tree, options)).code).toBe('EINVAL');
    }
    expect(syncFailure(() => AuthenticatedFile.openSync(p.data, p.data, { objectId, expectedTag: tag })).code).toBe('EINVAL');
    const file = await AuthenticatedFile.open(p.data, p.tree, { objectId, expectedTag: tag });
    await expect(file.read(Buffer.alloc(4), 3, 2, 0)).rejects.toMatchObject({ code: 'EINVAL' });
    expect(() => file.writeSync(Buffer.alloc(4), 0, 4, -1)).toThrow(expect.objectContaining({ code: 'EINVAL' }));
    await expect(file.truncate(-1)).rejects.toMatchObject({ code: 'EINVAL' });
    await expect(file.write(Buffer.alloc(4), 0, 4, Number.MAX_SAFE_INTEGER - 2)).rejects.toMatchObject({ code: 'EINVAL' });
    await file.close();
  });

  it('a closed file fails every call with EBADF; a read-only one refuses writes with EBADF', async () => {
    const p = pair('closed');
    const { objectId, tag } = await create(p, Buffer.from('abc'));
    const file = await AuthenticatedFile.open(p.data, p.tree, { objectId, expectedTag: tag });
    expect(await file.close()).toBe(tag);
    const buffer = Buffer.alloc(3);
    for (const call of [
      () => file.read(buffer, 0, 3, 0),
      () => file.write(buffer, 0, 3, 0),
      () => file.truncate(1),
      () => file.flush(),
      () => file.close(),
    ]) {
      await expect(call()).rejects.toMatchObject({ code: 'EBADF', path: p.data });
    }
    for (const call of [
      () => file.readSync(buffer, 0, 3, 0),
      () => file.writeSync(buffer, 0, 3, 0),
      () => file.truncateSync(1),
      () => file.flushSync(),
      () => file.closeSync(),
    ]) {
      expect(syncFailure(call)).toMatchObject({ code: 'EBADF', path: p.data });
    }
    const readOnly = await AuthenticatedFile.open(p.data, p.tree, { objectId, expectedTag: tag, readOnly: true });
    await expect(readOnly.write(buffer, 0, 3, 0)).rejects.toMatchObject({ code: 'EBADF', message: expect.stringMatching(/read-only/) });
    expect(() => readOnly.truncateSync(0)).toThrow(expect.objectContaining({ code: 'EBADF' }));
    expect(await readOnly.read(buffer, 0, 3, 0)).toBe(3);
    expect(buffer.toString()).toBe('abc');
    expect(await readOnly.close()).toBe(tag);
  });

  it('async calls run in call order; a sync call while they are pending is EBUSY', async () => {
    const p = pair('queue');
    const objectId = newObjectId();
    const file = await AuthenticatedFile.open(p.data, p.tree, { objectId, create: true });
    const model = Buffer.alloc(40000);
    const pending: Promise<unknown>[] = [];
    for (let i = 0; i < 20; i++) {
      const data = randomBytes(3000);
      const position = (i * 1777) % 37000;
      pending.push(file.write(data, 0, data.length, position));
      data.copy(model, position);
    }
    expect(() => file.readSync(Buffer.alloc(1), 0, 1, 0)).toThrow(expect.objectContaining({ code: 'EBUSY' }));
    pending.push(file.truncate(model.length));
    const tag = file.flush();
    await Promise.all(pending);
    expect(await tag).toBe(reference(objectId, 4096, model).tag);
    expect(file.closeSync()).toBe(reference(objectId, 4096, model).tag);
  });
});

describe('attacks on the bytes on disk', () => {
  const CHUNK = 4096;
  const CHUNKS = 20;
  const content = randomBytes(CHUNKS * CHUNK - 100);
  const pristine = pair('pristine');
  let objectId: string;
  let tag: string;
  let pristineTree: Buffer;

  beforeAll(async () => {
    ({ objectId, tag } = await create(pristine, content));
    pristineTree = readFileSync(pristine.tree);
    expect(pristineTree.length).toBe(24 + 32 * CHUNKS);
  });

  /** A copy of the pristine pair, changed by `change`. */
  function copy(name: string, change: (p: Pair) => void = () => undefined): Pair {
    const p = pair(name);
    copyFileSync(pristine.data, p.data);
    copyFileSync(pristine.tree, p.tree);
    change(p);
    return p;
  }

  function flipData(p: Pair, offset: number, bit = 0) {
    const bytes = readFileSync(p.data);
    bytes[offset]! ^= 1 << bit;
    writeFileSync(p.data, bytes);
  }

  function flipTree(p: Pair, offset: number, bit = 0) {
    const bytes = readFileSync(p.tree);
    bytes[offset]! ^= 1 << bit;
    writeFileSync(p.tree, bytes);
  }

  /** Opens and reads the whole file: the error (or null) and what the caller's buffer held. */
  async function attempt(p: Pair, options: { objectId?: string; expectedTag?: string } = {}) {
    const buffer = Buffer.alloc(content.length, 0xaa);
    try {
      const file = await AuthenticatedFile.open(p.data, p.tree, {
        objectId: options.objectId ?? objectId,
        expectedTag: options.expectedTag ?? tag,
      });
      try {
        await file.read(buffer, 0, buffer.length, 0);
      } finally {
        await file.close().catch(() => undefined);
      }
      return { error: null as Failure | null, buffer };
    } catch (error) {
      return { error: error as Failure, buffer };
    }
  }

  const untouchedOrWiped = (buffer: Buffer) => buffer.every((b) => b === 0xaa) || buffer.every((b) => b === 0);

  it('an untouched file reads back exactly', async () => {
    const { error, buffer } = await attempt(copy('untouched'));
    expect(error).toBeNull();
    expect(buffer.equals(content)).toBe(true);
  });

  describe('a bit flipped in data chunk k', () => {
    it.each([0, 1, 7, CHUNKS - 1])('chunk %i: its read fails naming it, the caller gets no bytes', async (k) => {
      for (const within of [0, 1, 2047, k === CHUNKS - 1 ? CHUNK - 101 : CHUNK - 1]) {
        const p = copy(`flip-${k}-${within}`, (q) => flipData(q, k * CHUNK + within, within % 8));
        const { error, buffer } = await attempt(p);
        expect(error).toMatchObject({ code: 'EINTEGRITY', chunk: k, path: p.data });
        expect(error?.message).toMatch(new RegExp(`^EINTEGRITY: chunk ${k} `));
        expect(error?.message).toContain(p.data);
        expect(buffer.every((b) => b === 0)).toBe(true);
      }
    });

    it('the other chunks stay readable; sync and async reads of chunk k both fail', async () => {
      const p = copy('flip-partial', (q) => flipData(q, 7 * CHUNK + 5, 4));
      const file = await AuthenticatedFile.open(p.data, p.tree, { objectId, expectedTag: tag });
      const before = Buffer.alloc(7 * CHUNK);
      expect(await file.read(before, 0, before.length, 0)).toBe(before.length);
      expect(before.equals(content.subarray(0, 7 * CHUNK))).toBe(true);
      const after = Buffer.alloc(content.length - 8 * CHUNK);
      expect(file.readSync(after, 0, after.length, 8 * CHUNK)).toBe(after.length);
      expect(after.equals(content.subarray(8 * CHUNK))).toBe(true);
      const one = Buffer.alloc(10, 0xaa);
      await expect(file.read(one, 0, 10, 7 * CHUNK + 3)).rejects.toMatchObject({ code: 'EINTEGRITY', chunk: 7 });
      expect(one.every((b) => b === 0)).toBe(true);
      one.fill(0xaa);
      expect(syncFailure(() => file.readSync(one, 0, 10, 7 * CHUNK + 3))).toMatchObject({ code: 'EINTEGRITY', chunk: 7 });
      expect(one.every((b) => b === 0)).toBe(true);
      // A read from an earlier, good chunk into the bad one: nothing of the good part either.
      const span = Buffer.alloc(2 * CHUNK, 0xaa);
      expect(syncFailure(() => file.readSync(span, 0, span.length, 6 * CHUNK))).toMatchObject({ chunk: 7 });
      expect(span.every((b) => b === 0)).toBe(true);
      await file.close();
    });

    it('a partial write into the damaged chunk fails instead of blessing the damage', async () => {
      const p = copy('flip-write', (q) => flipData(q, 3 * CHUNK + 100));
      const file = await AuthenticatedFile.open(p.data, p.tree, { objectId, expectedTag: tag });
      await expect(file.write(Buffer.from('xy'), 0, 2, 3 * CHUNK + 10)).rejects.toMatchObject({ code: 'EINTEGRITY', chunk: 3 });
      // Also a write ending inside it, and a truncate that keeps part of it.
      expect(syncFailure(() => file.writeSync(Buffer.alloc(CHUNK + 10), 0, CHUNK + 10, 2 * CHUNK))).toMatchObject({ chunk: 3 });
      expect(syncFailure(() => file.truncateSync(3 * CHUNK + 200))).toMatchObject({ code: 'EINTEGRITY', chunk: 3 });
      // Nothing changed: the flushed tag is the old one.
      expect(file.size).toBe(content.length);
      expect(await file.close()).toBe(tag);
      // A whole-chunk overwrite needs no old bytes and repairs the chunk.
      const again = await AuthenticatedFile.open(p.data, p.tree, { objectId, expectedTag: tag });
      await again.write(content, 3 * CHUNK, CHUNK, 3 * CHUNK);
      expect(await again.close()).toBe(tag);
      expect((await attempt(p)).error).toBeNull();
    });
  });

  it('damage done while the file is open is caught on read', async () => {
    const p = copy('while-open');
    const file = await AuthenticatedFile.open(p.data, p.tree, { objectId, expectedTag: tag });
    flipData(p, 12 * CHUNK + 1);
    const buffer = Buffer.alloc(100, 0xaa);
    await expect(file.read(buffer, 0, 100, 12 * CHUNK)).rejects.toMatchObject({ code: 'EINTEGRITY', chunk: 12 });
    expect(buffer.every((b) => b === 0)).toBe(true);
    truncateSync(p.data, 15 * CHUNK + 7);
    const tail = Buffer.alloc(3 * CHUNK, 0xaa);
    const error = await failure(file.read(tail, 0, tail.length, 14 * CHUNK));
    expect(error).toMatchObject({ code: 'EINTEGRITY', chunk: 15 });
    expect(error.message).toMatch(/shorter/);
    expect(tail.every((b) => b === 0)).toBe(true);
    await file.close();
  });

  it('bytes the host appends while the file is open do not end up inside a grown file', async () => {
    for (const grow of ['truncate', 'write'] as const) {
      const p = copy(`appended-${grow}`);
      const file = await AuthenticatedFile.open(p.data, p.tree, { objectId, expectedTag: tag });
      appendFileSync(p.data, Buffer.alloc(3 * CHUNK, 0x55));
      if (grow === 'truncate') await file.truncate(content.length + 2 * CHUNK);
      else await file.write(Buffer.from('z'), 0, 1, content.length + 2 * CHUNK - 1);
      const newTag = await file.close();
      const expected = Buffer.concat([content, Buffer.alloc(2 * CHUNK)]);
      if (grow === 'write') expected[expected.length - 1] = 0x7a;
      expect(readFileSync(p.data).equals(expected)).toBe(true);
      const reopened = await AuthenticatedFile.open(p.data, p.tree, { objectId, expectedTag: newTag });
      const all = Buffer.alloc(expected.length);
      expect(await reopened.read(all, 0, all.length, 0)).toBe(expected.length);
      expect(all.equals(expected)).toBe(true);
      await reopened.close();
    }
  });

  describe('the hash list', () => {
    const fields = [
      { name: 'magic', offset: 0 },
      { name: 'magic end', offset: 7 },
      { name: 'version', offset: 8 },
      { name: 'chunk size', offset: 13 },
      { name: 'chunk size high byte', offset: 15 },
      { name: 'size low byte', offset: 16 },
      { name: 'size high byte', offset: 23 },
      { name: 'leaf 0', offset: 24 },
      { name: 'leaf 5', offset: 24 + 5 * 32 + 17 },
      { name: 'last leaf', offset: 24 + 32 * CHUNKS - 1 },
    ];
    it.each(fields)('a bit flipped in the $name → open fails with EINTEGRITY', async ({ offset }) => {
      for (const bit of [0, 7]) {
        const p = copy(`tree-flip-${offset}-${bit}`, (q) => flipTree(q, offset, bit));
        const { error, buffer } = await attempt(p);
        expect(error).toMatchObject({ code: 'EINTEGRITY', path: p.data });
        expect(error?.chunk).toBeUndefined();
        expect(error?.message).toMatch(/^EINTEGRITY: /);
        expect(buffer.every((b) => b === 0xaa)).toBe(true);
      }
    });

    it('a changed leaf says the file or its hash list was altered or replaced', async () => {
      const p = copy('tree-leaf', (q) => flipTree(q, 24 + 3 * 32));
      const { error } = await attempt(p);
      expect(error?.message).toContain(p.data);
      expect(error?.message).toContain(p.tree);
      expect(error?.message).toMatch(/altered or replaced/);
    });

    it('a consistent forgery (data chunk and its leaf both replaced) fails on the tag', async () => {
      const p = copy('forged', (q) => {
        const data = readFileSync(q.data);
        data.fill(0x41, 2 * CHUNK, 3 * CHUNK);
        writeFileSync(q.data, data);
        const forged = reference(objectId, CHUNK, data);
        writeFileSync(q.tree, forged.tree);
      });
      expect((await attempt(p)).error?.code).toBe('EINTEGRITY');
    });

    it('two chunks swapped with their leaves fail (the index is in the leaf)', async () => {
      const p = copy('swap', (q) => {
        const data = readFileSync(q.data);
        const tree = readFileSync(q.tree);
        const a = Buffer.from(data.subarray(2 * CHUNK, 3 * CHUNK));
        data.copy(data, 2 * CHUNK, 5 * CHUNK, 6 * CHUNK);
        a.copy(data, 5 * CHUNK);
        const leaf = Buffer.from(tree.subarray(24 + 2 * 32, 24 + 3 * 32));
        tree.copy(tree, 24 + 2 * 32, 24 + 5 * 32, 24 + 6 * 32);
        leaf.copy(tree, 24 + 5 * 32);
        writeFileSync(q.data, data);
        writeFileSync(q.tree, tree);
      });
      expect((await attempt(p)).error?.code).toBe('EINTEGRITY');
      // Data chunks swapped alone fail on the first of them.
      const q = copy('swap-data', (r) => {
        const data = readFileSync(r.data);
        const a = Buffer.from(data.subarray(2 * CHUNK, 3 * CHUNK));
        data.copy(data, 2 * CHUNK, 5 * CHUNK, 6 * CHUNK);
        a.copy(data, 5 * CHUNK);
        writeFileSync(r.data, data);
      });
      expect((await attempt(q)).error).toMatchObject({ code: 'EINTEGRITY', chunk: 2 });
    });

    it('an older hash list (rollback) fails with EINTEGRITY, alone or with its older data', async () => {
      const p = copy('rollback');
      const oldData = readFileSync(p.data);
      const oldTree = readFileSync(p.tree);
      const file = await AuthenticatedFile.open(p.data, p.tree, { objectId, expectedTag: tag });
      await file.write(Buffer.from('new'), 0, 3, 5 * CHUNK + 9);
      await file.truncate(content.length - 3000);
      const newTag = await file.close();
      expect(newTag).not.toBe(tag);
      expect((await attempt(p, { expectedTag: newTag })).error).toBeNull();
      writeFileSync(p.tree, oldTree);
      expect((await attempt(p, { expectedTag: newTag })).error?.code).toBe('EINTEGRITY');
      writeFileSync(p.data, oldData);
      const { error } = await attempt(p, { expectedTag: newTag });
      expect(error?.code).toBe('EINTEGRITY');
      expect(error?.message).toMatch(/altered or replaced/);
    });
  });

  describe('length of the data file', () => {
    it.each([1, CHUNK, CHUNK + 1, 3 * CHUNK])('truncated by %i bytes → EINTEGRITY', async (cut) => {
      const p = copy(`truncated-${cut}`, (q) => truncateSync(q.data, content.length - cut));
      const { error, buffer } = await attempt(p);
      expect(error?.code).toBe('EINTEGRITY');
      expect(error?.message).toMatch(/truncated/);
      expect(untouchedOrWiped(buffer)).toBe(true);
    });

    it.each([1, CHUNK, 10 * CHUNK])('extended by %i bytes → EINTEGRITY', async (extra) => {
      const p = copy(`extended-${extra}`, (q) => appendFileSync(q.data, randomBytes(extra)));
      const { error } = await attempt(p);
      expect(error?.code).toBe('EINTEGRITY');
      expect(error?.message).toMatch(/extended/);
    });

    it('emptied → EINTEGRITY', async () => {
      const p = copy('emptied', (q) => writeFileSync(q.data, ''));
      expect((await attempt(p)).error?.code).toBe('EINTEGRITY');
    });
  });

  describe('identity: files swapped or replaced', () => {
    it('data and hash list of another file with the same content fail (objectId is bound)', async () => {
      const other = pair('same-content');
      const otherFile = await create(other, content);
      expect(otherFile.tag).not.toBe(tag);
      const p = copy('swapped-in', (q) => {
        copyFileSync(other.data, q.data);
        copyFileSync(other.tree, q.tree);
      });
      expect((await attempt(p)).error?.code).toBe('EINTEGRITY');
      // Even with the other file's tag, our objectId gives another tag.
      expect((await attempt(p, { expectedTag: otherFile.tag })).error?.code).toBe('EINTEGRITY');
      // The other file under its own identity is fine.
      expect((await attempt(other, { objectId: otherFile.objectId, expectedTag: otherFile.tag })).error).toBeNull();
    });

    it('two files of a volume swapped with each other both fail', async () => {
      const a = copy('swap-a');
      const b = pair('swap-b');
      const bContent = randomBytes(content.length);
      const bFile = await create(b, bContent);
      const moved = pair('swap-tmp');
      renameSync(a.data, moved.data);
      renameSync(a.tree, moved.tree);
      renameSync(b.data, a.data);
      renameSync(b.tree, a.tree);
      renameSync(moved.data, b.data);
      renameSync(moved.tree, b.tree);
      expect((await attempt(a)).error?.code).toBe('EINTEGRITY');
      expect((await attempt(b, { objectId: bFile.objectId, expectedTag: bFile.tag })).error?.code).toBe('EINTEGRITY');
    });

    it('a chunk copied from another file at the same index fails naming the chunk', async () => {
      const other = pair('foreign');
      await create(other, randomBytes(content.length));
      const foreign = readFileSync(other.data);
      const p = copy('foreign-chunk', (q) => {
        const data = readFileSync(q.data);
        foreign.copy(data, 4 * CHUNK, 4 * CHUNK, 5 * CHUNK);
        writeFileSync(q.data, data);
      });
      expect((await attempt(p)).error).toMatchObject({ code: 'EINTEGRITY', chunk: 4 });
    });
  });

  describe('missing or replaced files', () => {
    it('a missing data file is EINTEGRITY, not ENOENT', async () => {
      const p = copy('no-data', (q) => rmSync(q.data));
      const { error } = await attempt(p);
      expect(error).toMatchObject({ code: 'EINTEGRITY', path: p.data });
      expect(error?.message).toMatch(/listed in the manifest but missing/);
      expect(syncFailure(() => AuthenticatedFile.openSync(p.data, p.tree, { objectId, expectedTag: tag })).code).toBe('EINTEGRITY');
    });

    it('a missing hash list is EINTEGRITY, not ENOENT', async () => {
      const p = copy('no-tree', (q) => rmSync(q.tree));
      const { error } = await attempt(p);
      expect(error).toMatchObject({ code: 'EINTEGRITY', path: p.data });
      expect(error?.message).toMatch(/listed in the manifest but missing/);
      expect(error?.message).toContain(p.tree);
    });

    it('both missing, or a missing directory, is EINTEGRITY', async () => {
      const p = copy('none', (q) => {
        rmSync(q.data);
        rmSync(q.tree);
      });
      expect((await attempt(p)).error?.code).toBe('EINTEGRITY');
      const dir = temp('gone-dir');
      expect((await attempt({ data: `${dir}/d`, tree: `${dir}/t` })).error?.code).toBe('EINTEGRITY');
    });

    it('a directory or FIFO in place of either file is EINTEGRITY (and does not hang)', async () => {
      for (const which of ['data', 'tree'] as const) {
        const p = copy(`dir-${which}`, (q) => {
          rmSync(q[which]);
          mkdirSync(q[which]);
        });
        expect((await attempt(p)).error?.code).toBe('EINTEGRITY');
        const f = copy(`fifo-${which}`, (q) => {
          rmSync(q[which]);
          execFileSync('mkfifo', [q[which]]);
        });
        const { error } = await attempt(f);
        expect(error?.code).toBe('EINTEGRITY');
        expect(error?.message).toMatch(/not a regular file/);
      }
    });
  });

  it('garbage hash lists never fail with anything but EINTEGRITY (200 random cases)', async () => {
    const random = seededRandom(0x5eed);
    const int = (n: number) => Math.floor(random() * n);
    const p = copy('garbage');
    const header = pristineTree.subarray(0, 24);
    for (let i = 0; i < 200; i++) {
      let tree: Buffer;
      const kind = i % 4;
      if (kind === 0) {
        tree = randomBytesFrom(random, int(2000));
      } else if (kind === 1) {
        // A valid magic and version, random fields behind them.
        tree = Buffer.concat([header.subarray(0, 12), randomBytesFrom(random, int(1000))]);
      } else if (kind === 2) {
        // A well-formed hash list of the right length for a random size and random leaves: it
        // parses, so only the tag catches it.
        const size = int(60 * CHUNK);
        const h = Buffer.from(header);
        h.writeBigUInt64LE(BigInt(size), 16);
        tree = Buffer.concat([h, randomBytesFrom(random, 32 * Math.ceil(size / CHUNK))]);
      } else {
        // The real hash list with a random cut, extension or single byte changed.
        tree = Buffer.from(pristineTree);
        const choice = int(3);
        if (choice === 0) tree = tree.subarray(0, int(tree.length));
        else if (choice === 1) tree = Buffer.concat([tree, randomBytesFrom(random, 1 + int(64))]);
        else tree[int(tree.length)]! ^= 1 + int(255);
      }
      writeFileSync(p.tree, tree);
      const { error, buffer } = await attempt(p);
      expect(error?.code, `case ${i} (kind ${kind}, ${tree.length} bytes): ${error?.message}`).toBe('EINTEGRITY');
      expect(buffer.every((b) => b === 0xaa)).toBe(true);
      expect(syncFailure(() => AuthenticatedFile.openSync(p.data, p.tree, { objectId, expectedTag: tag })).code).toBe('EINTEGRITY');
    }
  });
});
