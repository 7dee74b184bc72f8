// Cross-checks the native core against the independent TypeScript implementation of FORMAT.md in
// test/support/reference-codec.ts: files the core writes must decode byte for byte (with every
// node, tag, padding rule and the on-disk length verified) and files the reference writes must be
// read and modified by the core. Both must also refuse the same damaged files with the same code.
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, copyFileSync, mkdtempSync, openSync, readSync, rmSync, statSync, truncateSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, test } from 'vitest';
import { ShieldedFile, generateKey } from '../lib/index.js';
import {
  HEADER_FIELDS,
  Layout,
  MAX_CHUNKS,
  ReferenceReader,
  ReferenceWriter,
  capacity,
  chunkCount,
  decodeFile,
  encodeFile,
  forgeChunk,
  maxFileSize,
  onDiskLength,
  reauthenticate,
  treeHeight,
  type DecodedFile,
} from './support/reference-codec.js';
import { seededRandom } from './support/random.js';

// ---------------------------------------------------------------------------------------------
// Fixtures

const dir = mkdtempSync(join(tmpdir(), 'shieldfs-crosscheck-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
let fileCounter = 0;
const tempPath = (name: string): string => join(dir, `${fileCounter++}-${name}`);
/** Removes a finished test's file early (large files would otherwise pile up until afterAll). */
const discard = (path: string): void => rmSync(path, { force: true });

const key = generateKey();
/** Header field offsets (FORMAT.md, "Header block"). */
const H = HEADER_FIELDS;
const KiB = 1024;
const MiB = 1024 * KiB;
const CAP1 = capacity(1); // 146 chunks
const CAP2 = capacity(2); // 146 · 128 chunks

/** The plaintext a file must hold: writes past the end and growing truncates fill with zeros. */
class Model {
  data: Buffer = Buffer.alloc(0);

  write(bytes: Buffer, position: number): void {
    if (position + bytes.length > this.data.length) this.resize(position + bytes.length);
    bytes.copy(this.data, position);
  }

  resize(size: number): void {
    const next = Buffer.alloc(size);
    this.data.copy(next, 0, 0, Math.min(size, this.data.length));
    this.data = next;
  }
}

function expectSameBytes(actual: Buffer, expected: Buffer, what: string): void {
  if (actual.equals(expected)) return;
  let at = 0;
  while (at < actual.length && at < expected.length && actual[at] === expected[at]) at++;
  expect.fail(`${what}: ${actual.length} bytes vs ${expected.length} expected, first difference at byte ${at}`);
}

/** decodeFile with every check, plus the on-disk length formula and the expected height. */
function expectDecodes(path: string, expected: Buffer, tag: string, chunkSize: number): DecodedFile {
  const decoded = decodeFile(path, key, { expectedTag: tag });
  expect(decoded.tag).toBe(tag);
  expect(decoded.size).toBe(expected.length);
  expect(decoded.chunkSize).toBe(chunkSize);
  expect(decoded.height).toBe(treeHeight(chunkCount(expected.length, chunkSize)));
  expectSameBytes(decoded.plaintext, expected, `decoded ${path}`);
  expect(statSync(path).size).toBe(onDiskLength(expected.length, chunkSize));
  return decoded;
}

/** Flushes an open native file and checks the file on disk with the reference decoder. */
async function flushAndDecode(file: ShieldedFile, path: string, model: Model, chunkSize: number): Promise<DecodedFile> {
  const tag = await file.flush();
  const info = file.info();
  expect(info.tag).toBe(tag);
  expect(info.size).toBe(model.data.length);
  const decoded = expectDecodes(path, model.data, tag, chunkSize);
  expect(decoded.fileId.toString('hex')).toBe(info.fileId);
  expect(decoded.keyId.toString('hex')).toBe(info.keyId);
  expect(decoded.encryptions).toBe(info.encryptions);
  return decoded;
}

async function createNative(path: string, chunkSize: number): Promise<ShieldedFile> {
  return ShieldedFile.open(path, { key, create: true, chunkSize });
}

/** Reads the whole plaintext through the core. */
function nativeReadAll(file: ShieldedFile): Buffer {
  const out = Buffer.alloc(file.size);
  let done = 0;
  while (done < out.length) {
    const n = file.readSync(out, done, Math.min(8 * MiB, out.length - done), done);
    expect(n).toBeGreaterThan(0);
    done += n;
  }
  return out;
}

function poke(path: string, offset: number, bytes: Buffer): void {
  const fd = openSync(path, 'r+');
  try {
    writeSync(fd, bytes, 0, bytes.length, offset);
  } finally {
    closeSync(fd);
  }
}

function peek(path: string, offset: number, length: number): Buffer {
  const fd = openSync(path, 'r');
  try {
    const out = Buffer.alloc(length);
    readSync(fd, out, 0, length, offset);
    return out;
  } finally {
    closeSync(fd);
  }
}

function flipByte(path: string, offset: number): void {
  const byte = peek(path, offset, 1);
  poke(path, offset, Buffer.of(byte[0]! ^ 0x01));
}

// ---------------------------------------------------------------------------------------------
// The layout formulas themselves (FORMAT.md's worked examples)

describe('layout formulas', () => {
  test('4 KiB chunks: [header][c0][leaf0][c1…c145][inner(2,0)][c146][leaf1][c147…]', () => {
    const C = 4096;
    const layout = new Layout(C);
    expect(layout.chunkOffset(0)).toBe(4096);
    expect(layout.nodeOffset(1, 0)).toBe(4096 + C);
    expect(layout.chunkOffset(1)).toBe(4096 + C + 4096);
    expect(layout.chunkOffset(145)).toBe(layout.chunkOffset(1) + 144 * C);
    expect(layout.nodeOffset(2, 0)).toBe(layout.chunkOffset(145) + C);
    expect(layout.chunkOffset(146)).toBe(layout.nodeOffset(2, 0) + 4096);
    expect(layout.nodeOffset(1, 1)).toBe(layout.chunkOffset(146) + C);
    expect(layout.chunkOffset(147)).toBe(layout.nodeOffset(1, 1) + 4096);
    // The top node of height 3 follows the first full height-2 subtree.
    expect(layout.nodeOffset(3, 0)).toBe(4096 + layout.subtree[2]!);
    expect(layout.chunkOffset(CAP2)).toBe(layout.nodeOffset(3, 0) + 4096);
  });

  test('on-disk lengths: empty, height 0, a prefix property when the tree grows', () => {
    expect(onDiskLength(0, 4096)).toBe(4096);
    expect(onDiskLength(1, 4096)).toBe(4096 + 4096);
    expect(onDiskLength(4096, 65536)).toBe(4096 + 65536);
    expect(onDiskLength(2 * 4096, 4096)).toBe(4096 + 4096 + 4096 + 4096);
    expect(onDiskLength(CAP1 * 4096, 4096)).toBe(4096 + CAP1 * 4096 + 4096);
    expect(onDiskLength((CAP1 + 1) * 4096, 4096)).toBe(4096 + CAP1 * 4096 + 4096 + 4096 + 4096 + 4096);
    // 1 GiB at 4 KiB chunks: 1 GiB + 7.1 MiB (FORMAT.md, Space overhead).
    const overhead = onDiskLength(1024 * MiB, 4096) - 1024 * MiB;
    expect(overhead / MiB).toBeGreaterThan(7.0);
    expect(overhead / MiB).toBeLessThan(7.2);
    for (const C of [4096, 65536, MiB]) {
      const layout = new Layout(C);
      for (let n = 1; n < 3 * CAP1; n++) {
        expect(layout.diskLength(n)).toBeGreaterThanOrEqual(layout.diskLength(n - 1));
        expect(layout.chunkOffset(n)).toBeGreaterThanOrEqual(layout.diskLength(n));
      }
    }
  });
});

// ---------------------------------------------------------------------------------------------
// Native core → reference decoder

describe('files written by the core decode byte for byte', () => {
  test('empty file: 4096 bytes, height 0, zero root', async () => {
    const path = tempPath('empty');
    const file = await createNative(path, 4096);
    const tag = await file.close();
    const decoded = expectDecodes(path, Buffer.alloc(0), tag, 4096);
    expect(decoded.height).toBe(0);
    expect(statSync(path).size).toBe(4096);
    // The file's identity survives a reopen; the tag is what expectedTag checks.
    const again = await ShieldedFile.open(path, { key, expectedTag: tag });
    expect(again.size).toBe(0);
    expect(await again.close()).toBe(tag);
  });

  const sizes4k: Array<[string, number]> = [
    ['1 byte', 1],
    ['one chunk less a byte', 4095],
    ['exactly one chunk', 4096],
    ['one chunk and a byte', 4097],
    ['146 chunks (a full leaf, height 1)', CAP1 * 4096],
    ['146 chunks less a byte', CAP1 * 4096 - 1],
    ['146 chunks and a byte (147 chunks, height 2)', CAP1 * 4096 + 1],
    ['147 chunks', (CAP1 + 1) * 4096],
    ['2 leaves and a chunk', (2 * CAP1 + 1) * 4096 - 5],
  ];
  for (const [name, size] of sizes4k) {
    test(`4 KiB chunks: ${name}`, async () => {
      const path = tempPath('sizes');
      const file = await createNative(path, 4096);
      const data = randomBytes(size);
      expect(await file.write(data, 0, size, 0)).toBe(size);
      const model = new Model();
      model.write(data, 0);
      const decoded = await flushAndDecode(file, path, model, 4096);
      expect(decoded.height).toBe(size <= 4096 ? 0 : size <= CAP1 * 4096 ? 1 : 2);
      // Close after a flush changes nothing: same tag.
      expect(await file.close()).toBe(decoded.tag);
      discard(path);
    });
  }

  for (const chunkSize of [65536, MiB]) {
    test(`${chunkSize / KiB} KiB chunks: sizes around one chunk and several`, async () => {
      for (const size of [1, chunkSize - 1, chunkSize, chunkSize + 1, 5 * chunkSize + 3]) {
        const path = tempPath(`c${chunkSize}`);
        const file = await createNative(path, chunkSize);
        const data = randomBytes(size);
        await file.write(data, 0, size, 0);
        const model = new Model();
        model.write(data, 0);
        await flushAndDecode(file, path, model, chunkSize);
        await file.close();
        discard(path);
      }
    });
  }

  test('64 KiB chunks: 146 and 147 chunks (leaf boundary), written in odd pieces', async () => {
    const C = 65536;
    const path = tempPath('c64k-leaf');
    const file = await createNative(path, C);
    const model = new Model();
    const data = randomBytes(CAP1 * C);
    for (let at = 0; at < data.length; ) {
      const n = Math.min(data.length - at, 1_000_003);
      await file.write(data, at, n, at);
      at += n;
    }
    model.write(data, 0);
    expect((await flushAndDecode(file, path, model, C)).height).toBe(1);
    const tail = randomBytes(C / 2 + 1);
    file.writeSync(tail, 0, tail.length, data.length);
    model.write(tail, data.length);
    expect((await flushAndDecode(file, path, model, C)).height).toBe(2);
    await file.close();
    discard(path);
  });

  test('1 MiB chunks: a sparse file of 147 chunks (height 2)', async () => {
    const C = MiB;
    const path = tempPath('c1m-sparse');
    const file = await createNative(path, C);
    const writes: Array<[number, Buffer]> = [
      [0, randomBytes(3 * C + 17)],
      [100 * C - 5, randomBytes(10)],
      [CAP1 * C + 1000, randomBytes(C)],
    ];
    for (const [position, bytes] of writes) await file.write(bytes, 0, bytes.length, position);
    const size = CAP1 * C + 1000 + C;
    const tag = await file.flush();
    await file.close();
    const decoded = decodeFile(path, key, { expectedTag: tag });
    expect(decoded.size).toBe(size);
    expect(decoded.height).toBe(2);
    expect(statSync(path).size).toBe(onDiskLength(size, C));
    // Compare without a second 147 MiB model: the written ranges, and zeros everywhere else.
    let cursor = 0;
    for (const [position, bytes] of writes) {
      expect(decoded.plaintext.subarray(cursor, position).every((b) => b === 0)).toBe(true);
      expectSameBytes(decoded.plaintext.subarray(position, position + bytes.length), bytes, `range at ${position}`);
      cursor = position + bytes.length;
    }
    expect(cursor).toBe(size);
    // The holes are holes: never encrypted.
    const reader = new ReferenceReader(path, key);
    expect([0, 1, 2, 3, 4, 98, 99, 100, 101, CAP1 - 1, CAP1].map((i) => reader.isHole(i))).toEqual([
      false, false, false, false, true, true, false, false, true, true, false,
    ]);
    reader.close();
    discard(path);
  });

  test('height 3 (146·128 + 1 chunks at 4 KiB), then shrinking and growing across heights', async () => {
    const C = 4096;
    const path = tempPath('height3');
    const file = await createNative(path, C);
    const model = new Model();
    const size = CAP2 * C + 1;
    model.resize(size);
    const data = randomBytes(size);
    for (let at = 0; at < size; at += MiB) {
      const n = Math.min(MiB, size - at);
      file.writeSync(data, at, n, at);
    }
    data.copy(model.data);
    let decoded = await flushAndDecode(file, path, model, C);
    expect(decoded.height).toBe(3);
    let generation = decoded.generation;

    // Shrink across every height boundary, with partial and whole last chunks.
    const shrinks = [CAP2 * C, CAP2 * C - 1, (CAP1 + 1) * C + 5, (CAP1 + 1) * C, CAP1 * C, CAP1 * C - 7, C + 1, C, 1, 0];
    for (const length of shrinks) {
      await file.truncate(length);
      model.resize(length);
      decoded = await flushAndDecode(file, path, model, C);
      expect(decoded.generation).toBe(generation + 1);
      generation = decoded.generation;
    }
    expect(decoded.height).toBe(0);

    // Grow straight to height 3 with a truncate (all holes), then write into the holes.
    await file.truncate(CAP2 * C + 5 * C + 3);
    model.resize(CAP2 * C + 5 * C + 3);
    const encryptionsBefore = file.info().encryptions;
    decoded = await flushAndDecode(file, path, model, C);
    expect(decoded.height).toBe(3);
    expect(decoded.encryptions).toBe(encryptionsBefore);
    for (const [position, length] of [[7, 100], [CAP1 * C - 50, 100], [CAP2 * C + 4 * C, C + 3], [12345 * C, 1]] as const) {
      const bytes = randomBytes(length);
      await file.write(bytes, 0, length, position);
      model.write(bytes, position);
    }
    await flushAndDecode(file, path, model, C);
    const tag = await file.close();
    const reader = new ReferenceReader(path, key, { expectedTag: tag });
    expect(reader.isHole(0)).toBe(false);
    expect(reader.isHole(1)).toBe(true);
    expect(reader.isHole(12344)).toBe(true);
    expect(reader.isHole(12345)).toBe(false);
    expect(reader.isHole(CAP2 + 3)).toBe(true);
    expect(reader.isHole(CAP2 + 4)).toBe(false);
    reader.close();
    discard(path);
  });

  test('write past the end of an empty file straight to height 3', async () => {
    const C = 4096;
    const path = tempPath('jump');
    const file = await createNative(path, C);
    const model = new Model();
    const bytes = randomBytes(10);
    file.writeSync(bytes, 0, bytes.length, CAP2 * C + 3);
    model.write(bytes, CAP2 * C + 3);
    expect((await flushAndDecode(file, path, model, C)).height).toBe(3);
    expect(file.info().encryptions).toBe(1);
    await file.close();
    discard(path);
  });

  test('holes: write past the end, truncate grow, writes into holes, a hole as the last chunk', async () => {
    const C = 4096;
    const path = tempPath('holes');
    const file = await createNative(path, C);
    const model = new Model();
    const write = async (position: number, length: number) => {
      const bytes = randomBytes(length);
      expect(await file.write(bytes, 0, length, position)).toBe(length);
      model.write(bytes, position);
    };
    const truncate = async (length: number) => {
      await file.truncate(length);
      model.resize(length);
    };
    const holes = (): boolean[] => {
      const reader = new ReferenceReader(path, key);
      try {
        return Array.from({ length: chunkCount(reader.size, C) }, (_, i) => reader.isHole(i));
      } finally {
        reader.close();
      }
    };

    await write(0, 100); // a partial first chunk, zero past byte 100
    await write(5 * C + 10, 20); // chunks 1…4 are holes
    await flushAndDecode(file, path, model, C);
    expect(holes()).toEqual([false, true, true, true, true, false]);

    await truncate(9 * C + 7); // grows: chunks 6…9 are holes, the last one partial
    const beforeGrow = file.info().encryptions;
    await flushAndDecode(file, path, model, C);
    expect(file.info().encryptions).toBe(beforeGrow);
    expect(holes()).toEqual([false, true, true, true, true, false, true, true, true, true]);

    await truncate(7 * C + 1); // shrinks into the holes: the last chunk stays a hole
    await flushAndDecode(file, path, model, C);
    expect(holes()).toEqual([false, true, true, true, true, false, true, true]);

    await write(2 * C + 4000, 200); // straddles chunks 2 and 3
    await truncate(150); // grows inside the first chunk
    await truncate(170);
    await flushAndDecode(file, path, model, C);

    await write(CAP1 * C * 2 + 1, 1); // holes across two leaf boundaries (height 2)
    await flushAndDecode(file, path, model, C);
    await truncate(CAP1 * C + 2); // shrink back to 147 chunks, the last a hole
    await flushAndDecode(file, path, model, C);
    await file.close();
    discard(path);
  });

  test('flush with nothing changed keeps the tag and the generation; each changing flush adds one', async () => {
    const path = tempPath('generation');
    const file = await createNative(path, 4096);
    const model = new Model();
    const first = await flushAndDecode(file, path, model, 4096);
    expect(await file.flush()).toBe(first.tag);
    const bytes = randomBytes(5000);
    file.writeSync(bytes, 0, bytes.length, 0);
    model.write(bytes, 0);
    const second = await flushAndDecode(file, path, model, 4096);
    expect(second.tag).not.toBe(first.tag);
    expect(second.generation).toBe(first.generation + 1);
    expect(second.fileId.equals(first.fileId)).toBe(true);
    expect(file.flushSync()).toBe(second.tag);
    expect(decodeFile(path, key).generation).toBe(second.generation);
    // The same bytes written again are fresh encryptions: a new tag and generation.
    file.writeSync(bytes, 0, bytes.length, 0);
    const third = await flushAndDecode(file, path, model, 4096);
    expect(third.tag).not.toBe(second.tag);
    expect(third.generation).toBe(second.generation + 1);
    expect(third.encryptions).toBe(second.encryptions + 2);
    expect(file.closeSync()).toBe(third.tag);
  });

  const randomRuns: Array<[number, number, number]> = [
    // seed, chunk size, largest extent in chunks
    [1, 4096, 2 * CAP1 + 20],
    [2, 4096, CAP1 + 10],
    [3, 4096, 40],
    [4, 65536, CAP1 + 8],
  ];
  for (const [seed, C, extentChunks] of randomRuns) {
    test(`random writes and truncates (seed ${seed}, ${C / KiB} KiB chunks)`, async () => {
      const random = seededRandom(seed);
      const below = (n: number) => Math.floor(random() * n);
      const path = tempPath(`random-${seed}`);
      let file = await createNative(path, C);
      const model = new Model();
      const extent = extentChunks * C;
      for (let op = 0; op < 70; op++) {
        const roll = random();
        const sync = random() < 0.5;
        if (roll < 0.7) {
          const size = model.data.length;
          const position = random() < 0.3 ? Math.max(0, size - below(C)) : below(Math.min(extent, size + 3 * C) + 1);
          const length = Math.min(extent - position, random() < 0.8 ? 1 + below(3 * C) : 1 + below(40 * C));
          if (length <= 0) continue;
          const bytes = randomBytes(length);
          const written = sync ? file.writeSync(bytes, 0, length, position) : await file.write(bytes, 0, length, position);
          expect(written).toBe(length);
          model.write(bytes, position);
        } else if (roll < 0.85) {
          const length = random() < 0.5 ? below(model.data.length + 1) : below(extent + 1);
          if (sync) file.truncateSync(length);
          else await file.truncate(length);
          model.resize(length);
        } else if (roll < 0.95) {
          await flushAndDecode(file, path, model, C);
          // The reference reader agrees on random ranges too.
          const reader = new ReferenceReader(path, key, { expectedTag: file.tag });
          for (let r = 0; r < 5; r++) {
            const position = below(model.data.length + 10);
            const length = below(3 * C);
            expectSameBytes(reader.read(position, length), model.data.subarray(position, position + length), `read at ${position}`);
          }
          reader.close();
        } else {
          const tag = await file.close();
          expectDecodes(path, model.data, tag, C);
          file = await ShieldedFile.open(path, { key, expectedTag: tag });
        }
      }
      const tag = await file.close();
      expectDecodes(path, model.data, tag, C);
      discard(path);
    });
  }
});

// ---------------------------------------------------------------------------------------------
// Reference writer → native core → reference decoder

/** Opens a reference-written file in the core, checks its contents, modifies it, decodes it again. */
async function nativeReadsAndModifies(path: string, tag: string, plaintext: Buffer, chunkSize: number, seed: number): Promise<void> {
  const file = await ShieldedFile.open(path, { key, expectedTag: tag });
  expect(file.size).toBe(plaintext.length);
  expect(file.chunkSize).toBe(chunkSize);
  expect(file.tag).toBe(tag);
  expectSameBytes(nativeReadAll(file), plaintext, `native read of ${path}`);
  const before = decodeFile(path, key, { expectedTag: tag });
  expect(file.fileId).toBe(before.fileId.toString('hex'));

  const model = new Model();
  model.data = Buffer.from(plaintext);
  const random = seededRandom(seed);
  const below = (n: number) => Math.floor(random() * n);
  for (let i = 0; i < 4; i++) {
    const position = below(model.data.length + 2 * chunkSize);
    const bytes = randomBytes(1 + below(2 * chunkSize));
    await file.write(bytes, 0, bytes.length, position);
    model.write(bytes, position);
  }
  const after = await flushAndDecode(file, path, model, chunkSize);
  expect(after.fileId.equals(before.fileId)).toBe(true);
  expect(after.generation).toBe(before.generation + 1);
  const shrinkTo = below(model.data.length);
  await file.truncate(shrinkTo);
  model.resize(shrinkTo);
  await flushAndDecode(file, path, model, chunkSize);
  const finalTag = await file.close();
  expectDecodes(path, model.data, finalTag, chunkSize);
}

describe('files written by the reference are read and modified by the core', () => {
  const encodeCases: Array<[string, number, number, number[]]> = [
    // name, chunk size, size, holes
    ['empty', 4096, 0, []],
    ['1 byte', 4096, 1, []],
    ['one chunk', 4096, 4096, []],
    ['one chunk, a hole', 4096, 4096, [0]],
    ['one chunk and a byte', 4096, 4097, []],
    ['146 chunks', 4096, CAP1 * 4096, []],
    ['147 chunks', 4096, (CAP1 + 1) * 4096, []],
    ['150 chunks with holes at leaf edges', 4096, 150 * 4096 - 3, [0, 1, 145, 146, 149]],
    ['3 leaves, a whole leaf of holes', 4096, 3 * CAP1 * 4096, Array.from({ length: CAP1 }, (_, i) => CAP1 + i)],
    ['64 KiB chunks, 147 chunks', 65536, (CAP1 + 1) * 65536 - 1, [3, CAP1]],
    ['1 MiB chunks, 3.5 chunks with a hole', MiB, 3.5 * MiB, [1]],
  ];
  encodeCases.forEach(([name, chunkSize, size, holes], index) => {
    test(`encodeFile: ${name}`, async () => {
      const plaintext = randomBytes(size);
      for (const hole of holes) plaintext.fill(0, hole * chunkSize, Math.min(size, (hole + 1) * chunkSize));
      const path = tempPath('encode');
      const tag = encodeFile(path, key, plaintext, { chunkSize, holes });
      expect(tag).toMatch(/^[0-9a-f]{64}$/);
      expectDecodes(path, plaintext, tag, chunkSize);
      if (holes.length > 0) {
        const reader = new ReferenceReader(path, key);
        for (let i = 0; i < chunkCount(size, chunkSize); i++) expect(reader.isHole(i)).toBe(holes.includes(i));
        reader.close();
      }
      await nativeReadsAndModifies(path, tag, plaintext, chunkSize, 100 + index);
      discard(path);
    });
  });

  test('encodeFile refuses holes with data', () => {
    const plaintext = Buffer.alloc(3 * 4096, 1);
    expect(() => encodeFile(tempPath('bad-hole'), key, plaintext, { holes: [1] })).toThrow(/non-zero/);
  });

  test('ReferenceWriter: appends of odd lengths, 4 KiB and 64 KiB chunks', async () => {
    const lengths = [0, 1, 4095, 4097, 10_000, 65_535, 65_537, 300_001, 1, 2, 3, 250_000, 600_000];
    for (const [chunkSize, seed] of [[4096, 7], [65536, 8]] as const) {
      const path = tempPath('writer');
      const writer = new ReferenceWriter(path, key, { chunkSize });
      const pieces = lengths.map((n) => randomBytes(n));
      for (const piece of pieces) writer.append(piece);
      const plaintext = Buffer.concat(pieces);
      const tag = writer.close();
      expectDecodes(path, plaintext, tag, chunkSize);
      await nativeReadsAndModifies(path, tag, plaintext, chunkSize, seed);
      discard(path);
    }
  });

  test('ReferenceWriter: height 3 in 1 MiB appends; core reads it, modifies it, shrinks it to height 2', async () => {
    const C = 4096;
    const path = tempPath('writer-h3');
    const size = CAP2 * C + C / 2;
    const plaintext = randomBytes(size);
    const writer = new ReferenceWriter(path, key, { chunkSize: C });
    for (let at = 0; at < size; at += MiB) writer.append(plaintext.subarray(at, Math.min(size, at + MiB)));
    const tag = writer.close();
    expect(statSync(path).size).toBe(onDiskLength(size, C));

    // The reference reader is lazy: one byte costs one node per level.
    const reader = new ReferenceReader(path, key, { expectedTag: tag });
    expect(reader.size).toBe(size);
    expect(reader.tag).toBe(tag);
    expectSameBytes(reader.read(size - 1, 10), plaintext.subarray(size - 1), 'last byte');
    expect(reader.nodeReads).toBe(3);
    expectSameBytes(reader.read(0, 1), plaintext.subarray(0, 1), 'first byte');
    expect(reader.nodeReads).toBe(5); // the top node stays cached
    reader.close();

    const file = await ShieldedFile.open(path, { key, expectedTag: tag });
    expectSameBytes(nativeReadAll(file), plaintext, 'native read of the reference file');
    const model = new Model();
    model.data = plaintext;
    const patch = randomBytes(3 * C);
    await file.write(patch, 0, patch.length, CAP1 * C - C);
    model.write(patch, CAP1 * C - C);
    await flushAndDecode(file, path, model, C);
    await file.truncate(CAP2 * C - 3);
    model.resize(CAP2 * C - 3);
    expect((await flushAndDecode(file, path, model, C)).height).toBe(2);
    await file.close();
    discard(path);
  });

  test('ReferenceReader reads native files: sequential 1 MiB reads and random ranges', async () => {
    const C = 4096;
    const path = tempPath('reader');
    const file = await createNative(path, C);
    const size = 3 * CAP1 * C + 1234;
    const plaintext = randomBytes(size);
    await file.write(plaintext, 0, size, 0);
    await file.write(Buffer.alloc(0), 0, 0, 0);
    const tag = await file.close();
    const reader = new ReferenceReader(path, key, { expectedTag: tag });
    const parts: Buffer[] = [];
    for (let at = 0; at < size; at += MiB) parts.push(reader.read(at, MiB));
    expectSameBytes(Buffer.concat(parts), plaintext, 'sequential reads');
    expect(reader.read(size, 10).length).toBe(0);
    expect(reader.read(size + 100, 10).length).toBe(0);
    const random = seededRandom(99);
    for (let i = 0; i < 200; i++) {
      const position = Math.floor(random() * (size + 100));
      const length = Math.floor(random() * 3 * C);
      expectSameBytes(reader.read(position, length), plaintext.subarray(position, position + length), `read at ${position}`);
    }
    reader.close();
    discard(path);
  });
});

// ---------------------------------------------------------------------------------------------
// Damage: both implementations refuse the same files with the same code

interface Outcome {
  code: string;
  chunk?: number | undefined;
}

interface OutcomeOptions {
  expectedTag?: string;
  expectedFileId?: string;
  key?: Uint8Array;
}

function referenceOutcome(path: string, options: OutcomeOptions = {}): Outcome {
  const { key: fileKey, ...verify } = options;
  try {
    decodeFile(path, fileKey ?? key, verify);
    return { code: 'OK' };
  } catch (error) {
    const e = error as { code?: string; chunk?: number };
    return { code: e.code ?? String(error), chunk: e.chunk };
  }
}

/** The message the reference decoder / the core fails to open a file with ('OK' when it opens). */
function referenceMessage(path: string): string {
  try {
    decodeFile(path, key);
    return 'OK';
  } catch (error) {
    return (error as Error).message;
  }
}

function nativeMessage(path: string): string {
  try {
    ShieldedFile.openSync(path, { key }).closeSync();
    return 'OK';
  } catch (error) {
    return (error as Error).message;
  }
}

/** Opens with the core and reads everything; the first error's code (and chunk when reading). */
function nativeOutcome(path: string, options: OutcomeOptions = {}): Outcome {
  const { key: fileKey, ...verify } = options;
  let file: ShieldedFile;
  try {
    file = ShieldedFile.openSync(path, { key: fileKey ?? key, ...verify });
  } catch (error) {
    return { code: (error as { code?: string }).code ?? String(error) };
  }
  try {
    const C = file.chunkSize;
    const buffer = Buffer.alloc(C);
    for (let position = 0; position < file.size; position += C) {
      buffer.fill(0xaa);
      try {
        file.readSync(buffer, 0, C, position);
      } catch (error) {
        // A failing read returns no plaintext: a chunk failure zeroes the caller's range (up to the
        // end of the file); a node failure is detected before anything is decrypted and leaves the
        // buffer as it was.
        const range = buffer.subarray(0, Math.min(C, file.size - position));
        expect(range.every((b) => b === 0) || range.every((b) => b === 0xaa)).toBe(true);
        return { code: (error as { code?: string }).code ?? String(error), chunk: position / C };
      }
    }
    return { code: 'OK' };
  } finally {
    file.closeSync();
  }
}

describe('damaged files: the core and the reference agree on the error', () => {
  const C = 4096;
  const size = 300 * C + 100; // 301 chunks, height 2
  const basePath = tempPath('damage-base');
  const plaintext = randomBytes(size);
  plaintext.fill(0, 7 * C, 8 * C);
  const layout = new Layout(C);
  let baseTag = '';

  const prepare = (): string => {
    if (baseTag === '') {
      const file = ShieldedFile.openSync(basePath, { key, create: true, chunkSize: C });
      file.writeSync(plaintext, 0, 7 * C, 0);
      file.writeSync(plaintext, 8 * C, size - 8 * C, 8 * C); // chunk 7 stays a hole
      baseTag = file.closeSync();
    }
    const path = tempPath('damaged');
    copyFileSync(basePath, path);
    return path;
  };

  const openFailures: Array<[string, (path: string) => void, string]> = [
    ['shorter than a header', (p) => truncateSync(p, 100), 'EINTEGRITY'],
    ['one byte short', (p) => truncateSync(p, statSync(p).size - 1), 'EINTEGRITY'],
    ['one byte long', (p) => truncateSync(p, statSync(p).size + 1), 'EINTEGRITY'],
    ['one node long', (p) => truncateSync(p, statSync(p).size + 4096), 'EINTEGRITY'],
    ['bad magic', (p) => flipByte(p, 0), 'EINTEGRITY'],
    ['unknown version', (p) => poke(p, 8, Buffer.of(2, 0)), 'EINTEGRITY'],
    ['chunk_shift 11', (p) => poke(p, 10, Buffer.of(11)), 'EINTEGRITY'],
    ['chunk_shift 21', (p) => poke(p, 10, Buffer.of(21)), 'EINTEGRITY'],
    // The height byte is under the MAC: a wrong height for the size is found once the MAC verified.
    ['height 1 for 301 chunks', (p) => poke(p, H.height, Buffer.of(1)), 'EINTEGRITY'],
    ['height 6', (p) => poke(p, H.height, Buffer.of(6)), 'EINTEGRITY'],
    ['reserved byte', (p) => flipByte(p, 14), 'EINTEGRITY'],
    ['file_id (the key check has its own salt)', (p) => flipByte(p, H.fileId + 4), 'EINTEGRITY'],
    ['key_id', (p) => flipByte(p, H.keyId + 8), 'EINTEGRITY'],
    ['check_salt', (p) => flipByte(p, H.checkSalt + 2), 'EBADKEY'],
    ['key_check', (p) => flipByte(p, H.keyCheck + 6), 'EBADKEY'],
    ['size_nonce (first byte)', (p) => flipByte(p, H.sizeNonce), 'EINTEGRITY'],
    ['size_nonce (last byte)', (p) => flipByte(p, H.sizeNonce + 15), 'EINTEGRITY'],
    ['sealed_size (low byte: same height)', (p) => flipByte(p, H.sealedSize), 'EINTEGRITY'],
    ['sealed_size (high byte)', (p) => flipByte(p, H.sealedSize + 7), 'EINTEGRITY'],
    ['encryptions', (p) => flipByte(p, H.encryptions), 'EINTEGRITY'],
    ['generation', (p) => flipByte(p, H.generation), 'EINTEGRITY'],
    ['root', (p) => flipByte(p, H.root + 31), 'EINTEGRITY'],
    ['mac (first byte)', (p) => flipByte(p, H.mac), 'EINTEGRITY'],
    ['mac (last byte)', (p) => flipByte(p, H.mac + 31), 'EINTEGRITY'],
    ['header padding (first byte)', (p) => flipByte(p, H.end), 'EINTEGRITY'],
    ['header padding (last byte)', (p) => flipByte(p, 4095), 'EINTEGRITY'],
    ['a FIFO in the file’s place', (p) => { rmSync(p); execFileSync('mkfifo', [p]); }, 'EINTEGRITY'],
  ];
  for (const [name, damage, code] of openFailures) {
    test(`refused when opened: ${name} → ${code}`, () => {
      const path = prepare();
      damage(path);
      expect(referenceOutcome(path).code).toBe(code);
      expect(nativeOutcome(path).code).toBe(code);
      discard(path);
    });
  }

  test('wrong key → EBADKEY; stale tag (rollback) → EROLLBACK; a later tag on the old file → EROLLBACK', async () => {
    const path = prepare();
    const otherKey = generateKey();
    expect(referenceOutcome(path, { key: otherKey }).code).toBe('EBADKEY');
    expect(nativeOutcome(path, { key: otherKey }).code).toBe('EBADKEY');
    expect(referenceOutcome(path, { expectedTag: baseTag }).code).toBe('OK');
    expect(nativeOutcome(path, { expectedTag: baseTag }).code).toBe('OK');

    const old = tempPath('rollback-old');
    copyFileSync(path, old);
    const file = await ShieldedFile.open(path, { key, expectedTag: baseTag });
    await file.write(Buffer.from('new'), 0, 3, 10);
    const newTag = await file.close();
    expect(referenceOutcome(old, { expectedTag: newTag }).code).toBe('EROLLBACK');
    expect(nativeOutcome(old, { expectedTag: newTag }).code).toBe('EROLLBACK');
    expect(referenceOutcome(path, { expectedTag: baseTag }).code).toBe('EROLLBACK');
    expect(nativeOutcome(path, { expectedTag: baseTag }).code).toBe('EROLLBACK');
    // A wrong key is reported before the tag comparison.
    expect(referenceOutcome(old, { key: otherKey, expectedTag: newTag }).code).toBe('EBADKEY');
    expect(nativeOutcome(old, { key: otherKey, expectedTag: newTag }).code).toBe('EBADKEY');
    discard(path);
    discard(old);
  });

  // FORMAT.md "Errors when opening and reading": the size is sealed, so whether the height matches
  // it can only be checked after the key check and the MAC. A height ≤ 5 that does not match the
  // size, opened with a wrong key, is therefore EBADKEY (it used to be EINTEGRITY, found before the
  // key check, when the size was stored in clear). A height > 5 is structural: still EINTEGRITY.
  test('a height that does not match the size, opened with a wrong key → EBADKEY in both; height 6 → EINTEGRITY', () => {
    const path = prepare();
    const otherKey = generateKey();
    try {
      poke(path, H.height, Buffer.of(1));
      expect(referenceOutcome(path, { key: otherKey }).code).toBe('EBADKEY');
      expect(nativeOutcome(path, { key: otherKey }).code).toBe('EBADKEY');
      expect(referenceOutcome(path).code).toBe('EINTEGRITY');
      expect(nativeOutcome(path).code).toBe('EINTEGRITY');
      poke(path, H.height, Buffer.of(6));
      expect(referenceOutcome(path, { key: otherKey }).code).toBe('EINTEGRITY');
      expect(nativeOutcome(path, { key: otherKey }).code).toBe('EINTEGRITY');
    } finally {
      discard(path);
    }
  });

  // Structural damage (visible without the key) is found before the key check.
  test('structural damage opened with a wrong key → EINTEGRITY in both', () => {
    const otherKey = generateKey();
    for (const damage of [(p: string) => flipByte(p, 0), (p: string) => poke(p, 10, Buffer.of(21)), (p: string) => flipByte(p, 13), (p: string) => flipByte(p, H.end + 100)]) {
      const path = prepare();
      damage(path);
      expect(referenceOutcome(path, { key: otherKey }).code).toBe('EINTEGRITY');
      expect(nativeOutcome(path, { key: otherKey }).code).toBe('EINTEGRITY');
      discard(path);
    }
  });

  test('expectedFileId: the right one opens, another file’s → EINTEGRITY, after the key check and before the tag', async () => {
    const path = prepare();
    const fileId = decodeFile(path, key).fileId.toString('hex');
    const other = tempPath('other-identity');
    const otherFile = await createNative(other, C);
    otherFile.writeSync(plaintext, 0, 100, 0);
    const otherTag = await otherFile.close();
    const otherId = decodeFile(other, key).fileId.toString('hex');
    expect(otherId).not.toBe(fileId);
    expect(referenceOutcome(path, { expectedFileId: fileId, expectedTag: baseTag }).code).toBe('OK');
    expect(nativeOutcome(path, { expectedFileId: fileId, expectedTag: baseTag }).code).toBe('OK');
    expect(referenceOutcome(path, { expectedFileId: fileId.toUpperCase() }).code).toBe('OK');
    expect(nativeOutcome(path, { expectedFileId: fileId.toUpperCase() }).code).toBe('OK');
    // The other file (authentic, same key) in the place of ours: EINTEGRITY, also when its own tag is expected …
    for (const expectedTag of [undefined, otherTag, baseTag]) {
      const options = { expectedFileId: fileId, ...(expectedTag === undefined ? {} : { expectedTag }) };
      expect(referenceOutcome(other, options).code).toBe('EINTEGRITY');
      expect(nativeOutcome(other, options).code).toBe('EINTEGRITY');
    }
    // … but a wrong key is still reported first.
    const otherKey = generateKey();
    expect(referenceOutcome(other, { key: otherKey, expectedFileId: fileId }).code).toBe('EBADKEY');
    expect(nativeOutcome(other, { key: otherKey, expectedFileId: fileId }).code).toBe('EBADKEY');
    discard(path);
    discard(other);
  });

  const readFailures: Array<[string, (path: string) => void, number]> = [
    ['a ciphertext bit of chunk 150', (p) => flipByte(p, layout.chunkOffset(150) + 77), 150],
    ['the last ciphertext byte of chunk 300', (p) => flipByte(p, layout.chunkOffset(300) + C - 1), 300],
    ['an entry nonce in leaf 1', (p) => flipByte(p, layout.nodeOffset(1, 1) + 5 * 28), CAP1],
    ['the padding of leaf 0', (p) => flipByte(p, layout.nodeOffset(1, 0) + 4090), 0],
    ['the top node', (p) => flipByte(p, layout.nodeOffset(2, 0) + 33), 0],
    [
      'chunks 1 and 2 swapped',
      (p) => {
        const a = peek(p, layout.chunkOffset(1), C);
        const b = peek(p, layout.chunkOffset(2), C);
        poke(p, layout.chunkOffset(1), b);
        poke(p, layout.chunkOffset(2), a);
      },
      1,
    ],
    [
      'leaves 0 and 1 swapped',
      (p) => {
        const a = peek(p, layout.nodeOffset(1, 0), 4096);
        const b = peek(p, layout.nodeOffset(1, 1), 4096);
        poke(p, layout.nodeOffset(1, 0), b);
        poke(p, layout.nodeOffset(1, 1), a);
      },
      0,
    ],
  ];
  for (const [name, damage, chunk] of readFailures) {
    test(`refused when read: ${name} → EINTEGRITY at chunk ${chunk}`, () => {
      const path = prepare();
      damage(path);
      expect(referenceOutcome(path)).toEqual({ code: 'EINTEGRITY', chunk });
      expect(nativeOutcome(path)).toEqual({ code: 'EINTEGRITY', chunk });
      discard(path);
    });
  }

  test('the bytes in a hole slot are ignored by both', () => {
    const path = prepare();
    poke(path, layout.chunkOffset(7), randomBytes(C));
    expect(referenceOutcome(path, { expectedTag: baseTag }).code).toBe('OK');
    expect(nativeOutcome(path, { expectedTag: baseTag }).code).toBe('OK');
    expectSameBytes(decodeFile(path, key).plaintext, plaintext, 'decoded');
    const file = ShieldedFile.openSync(path, { key });
    expectSameBytes(nativeReadAll(file), plaintext, 'native');
    file.closeSync();
    discard(path);
  });
});

// ---------------------------------------------------------------------------------------------
// Authentic but malformed files (made with the key: correct node hashes and MAC). FORMAT.md makes
// them EINTEGRITY ("non-zero reserved or padding bytes", "entries and child hashes beyond the end of
// the file are zero", "plaintext past size is zero"). Both implementations refuse them.

describe('authentic but malformed files', () => {
  const C = 4096;
  const layout = new Layout(C);
  const forged = (name: string, size: number, malform: (path: string) => void, chunkSize = C): { path: string; tag: string } => {
    const path = tempPath(`forged-${name}`);
    encodeFile(path, key, randomBytes(size), { chunkSize });
    malform(path);
    return { path, tag: reauthenticate(path, key) };
  };
  const size = 300 * C + 100;
  const cases: Array<[string, number, (path: string) => void]> = [
    // name, size, malformation
    ['non-zero padding after a leaf’s entries', size, (p) => poke(p, layout.nodeOffset(1, 0) + 4090, Buffer.of(1))],
    ['a non-zero entry past the end in the last leaf', size, (p) => poke(p, layout.nodeOffset(1, 2) + 145 * 28, Buffer.of(1))],
    ['a non-zero child hash past the end in the top node', size, (p) => poke(p, layout.nodeOffset(2, 0) + 100 * 32, Buffer.of(1))],
    ['non-zero plaintext past size in the last chunk', size, (p) => forgeChunk(p, key, 300, { plaintext: Buffer.alloc(C, 0xab) })],
    ['height 0: non-zero plaintext past size', 10, (p) => forgeChunk(p, key, 0, { plaintext: Buffer.alloc(C, 0xab) })],
    ['height 0: non-zero root padding', 10, (p) => poke(p, H.root + 30, Buffer.of(1))],
    ['empty file: non-zero root', 0, (p) => poke(p, H.root, Buffer.of(1))],
    ['the height field does not match the size', size, (p) => poke(p, H.height, Buffer.of(3))],
    ['the height field does not match the size (1 for 301 chunks)', size, (p) => poke(p, H.height, Buffer.of(1))],
    // The size is sealed: these reseal another size under the key (reauthenticate's `size`).
    ['a sealed size of one more chunk (beyond the on-disk length)', size, (p) => void reauthenticate(p, key, { size: size + C })],
    ['a sealed size one past the largest file (2^31 chunks)', size, (p) => void reauthenticate(p, key, { size: maxFileSize(C) + 1 })],
    ['a sealed size of 2^64 - 1', size, (p) => void reauthenticate(p, key, { size: 2n ** 64n - 1n })],
    ['an all-zero nonce with a non-zero tag', size, (p) => forgeChunk(p, key, 5, { entry: Buffer.concat([Buffer.alloc(12), Buffer.alloc(16, 1)]) })],
  ];
  for (const [name, fileSize, malform] of cases) {
    test(`reference refuses: ${name}`, () => {
      const { path, tag } = forged(name.length.toString(), fileSize, malform);
      expect(referenceOutcome(path, { expectedTag: tag }).code).toBe('EINTEGRITY');
      discard(path);
    });
    test(`core refuses: ${name}`, () => {
      const { path, tag } = forged(name.length.toString(), fileSize, malform);
      try {
        expect(nativeOutcome(path, { expectedTag: tag }).code).toBe('EINTEGRITY');
      } finally {
        discard(path);
      }
    });
  }

  // FORMAT.md's error table: these are EINTEGRITY found with the size unsealed, before the
  // expected tag is compared: an authentic but malformed header is never reported as a rollback.
  test('malformed authentic headers are EINTEGRITY, not EROLLBACK, under a stale expected tag', () => {
    const stale = 'ab'.repeat(32);
    const headerCases: Array<[string, number, (path: string) => void]> = [
      ['height', size, (p) => poke(p, H.height, Buffer.of(3))],
      ['root padding', 10, (p) => poke(p, H.root + 30, Buffer.of(1))],
      ['size past the largest file', size, (p) => void reauthenticate(p, key, { size: maxFileSize(C) + 1 })],
      ['size beyond the on-disk length', size, (p) => void reauthenticate(p, key, { size: size + C })],
    ];
    for (const [name, fileSize, malform] of headerCases) {
      const { path } = forged(`stale-${name.length}`, fileSize, malform);
      expect([name, referenceOutcome(path, { expectedTag: stale }).code]).toEqual([name, 'EINTEGRITY']);
      expect([name, nativeOutcome(path, { expectedTag: stale }).code]).toEqual([name, 'EINTEGRITY']);
      discard(path);
    }
  });

  // FORMAT.md "Parameters": the largest file is 2^31 chunks. A header sealing exactly that size
  // passes the size check (and fails later, on the on-disk length); one byte more fails it.
  test('the size limit is 2^31 chunks, in both', () => {
    expect(MAX_CHUNKS).toBe(2 ** 31);
    for (const chunkSize of [4096, MiB]) {
      expect(maxFileSize(chunkSize)).toBe(2 ** 31 * chunkSize);
      const at = forged(
        `limit-${chunkSize}`,
        10,
        (p) => {
          poke(p, H.height, Buffer.of(5)); // 2^31 chunks need height 5
          reauthenticate(p, key, { size: maxFileSize(chunkSize) });
        },
        chunkSize,
      );
      const over = forged(
        `over-${chunkSize}`,
        10,
        (p) => {
          poke(p, H.height, Buffer.of(5));
          reauthenticate(p, key, { size: maxFileSize(chunkSize) + 1 });
        },
        chunkSize,
      );
      for (const outcome of [referenceMessage(at.path), nativeMessage(at.path)]) expect(outcome).toMatch(/^EINTEGRITY.*truncated/);
      for (const outcome of [referenceMessage(over.path), nativeMessage(over.path)]) {
        expect(outcome).toMatch(/^EINTEGRITY.*size/);
        expect(outcome).not.toMatch(/truncated/);
      }
      discard(at.path);
      discard(over.path);
    }
  });

  test('core: growing a file whose last chunk has non-zero bytes past size never exposes them', () => {
    const { path, tag } = forged('grow', size, (p) => forgeChunk(p, key, 300, { plaintext: Buffer.alloc(C, 0xab) }));
    try {
      let file: ShieldedFile;
      try {
        file = ShieldedFile.openSync(path, { key, expectedTag: tag });
      } catch (error) {
        expect((error as { code?: string }).code).toBe('EINTEGRITY');
        return;
      }
      try {
        file.truncateSync(size + 16);
        const grown = Buffer.alloc(16, 0x55);
        file.readSync(grown, 0, 16, size);
        expect(grown.toString('hex')).toBe('00'.repeat(16));
      } catch (error) {
        if ((error as { code?: string }).code !== 'EINTEGRITY') throw error;
      } finally {
        file.closeSync();
      }
    } finally {
      discard(path);
    }
  });
});

// ---------------------------------------------------------------------------------------------
// Subtrees of holes (FORMAT.md, "Merkle tree"): an all-zero child hash (or root) stands for a subtree
// whose chunks are all holes; its node is neither written nor read. These tests pin that down.

describe('subtrees of holes', () => {
  const C = 4096;
  const layout = new Layout(C);

  test('the core stores a leaf of holes as a zero slot and a file of holes as a zero root', async () => {
    const path = tempPath('empty-subtrees');
    const file = await createNative(path, C);
    file.writeSync(Buffer.of(7), 0, 1, 2 * CAP1 * C + 1);
    const tag = await file.flush();
    const top = peek(path, layout.nodeOffset(2, 0), 4096);
    expect(top.subarray(0, 64).every((b) => b === 0)).toBe(true); // leaves 0 and 1: holes only
    expect(top.subarray(64, 96).every((b) => b === 0)).toBe(false);
    const model = new Model();
    model.write(Buffer.of(7), 2 * CAP1 * C + 1);
    expectDecodes(path, model.data, tag, C);

    await file.truncate(0);
    await file.truncate(300 * C);
    const allHoles = await file.close();
    expect(peek(path, 11, 1)[0]).toBe(2); // height 2 …
    expect(peek(path, H.root, 32).every((b) => b === 0)).toBe(true); // … and a zero root
    model.resize(0);
    model.resize(300 * C);
    expectDecodes(path, model.data, allHoles, C);
    discard(path);
  });

  test('a stale leaf and chunk restored under a zero slot are never read (no chunk rollback)', async () => {
    const path = tempPath('stale-leaf');
    const old = tempPath('stale-leaf-old');
    let file = await createNative(path, C);
    file.writeSync(Buffer.alloc(C, 0x41), 0, C, 5 * C);
    file.writeSync(Buffer.alloc(C, 0x42), 0, C, 300 * C);
    const first = await file.close();
    copyFileSync(path, old);
    file = await ShieldedFile.open(path, { key, expectedTag: first });
    await file.truncate(0);
    await file.flush();
    file.writeSync(Buffer.alloc(C, 0x43), 0, C, 300 * C);
    const second = await file.close();
    expect(peek(path, layout.nodeOffset(2, 0), 32).every((b) => b === 0)).toBe(true);
    // The attacker puts back the old leaf 0 and the old ciphertext of chunk 5.
    poke(path, layout.nodeOffset(1, 0), peek(old, layout.nodeOffset(1, 0), 4096));
    poke(path, layout.chunkOffset(5), peek(old, layout.chunkOffset(5), C));
    const model = new Model();
    model.write(Buffer.alloc(C, 0x43), 300 * C);
    expectDecodes(path, model.data, second, C);
    file = await ShieldedFile.open(path, { key, expectedTag: second });
    expectSameBytes(nativeReadAll(file), model.data, 'native read');
    await file.close();
    discard(path);
    discard(old);
  });

  test('a stored all-zero node with its real hash is accepted by both as well', async () => {
    const path = tempPath('zero-node-hashed');
    const file = await createNative(path, C);
    file.writeSync(Buffer.of(9), 0, 1, 2 * CAP1 * C + 1);
    await file.close();
    const tag = reauthenticate(path, key); // hashes the (sparse, all-zero) leaves 0 and 1 into their slots
    expect(peek(path, layout.nodeOffset(2, 0), 32).every((b) => b === 0)).toBe(false);
    const model = new Model();
    model.write(Buffer.of(9), 2 * CAP1 * C + 1);
    expectDecodes(path, model.data, tag, C);
    expect(nativeOutcome(path, { expectedTag: tag }).code).toBe('OK');
    discard(path);
  });

  test('the reference writer stores empty subtrees as zero slots too, and the core reads them', async () => {
    const path = tempPath('ref-empty-subtree');
    const size = 3 * CAP1 * C;
    const plaintext = randomBytes(size);
    plaintext.fill(0, CAP1 * C, 2 * CAP1 * C);
    const holes = Array.from({ length: CAP1 }, (_, i) => CAP1 + i);
    const tag = encodeFile(path, key, plaintext, { chunkSize: C, holes });
    const top = peek(path, layout.nodeOffset(2, 0), 96);
    expect(top.subarray(32, 64).every((b) => b === 0)).toBe(true);
    expect(top.subarray(0, 32).every((b) => b === 0)).toBe(false);
    expect(peek(path, layout.nodeOffset(1, 1), 4096).every((b) => b === 0)).toBe(true); // never written
    await nativeReadsAndModifies(path, tag, plaintext, C, 77);
    discard(path);
  });
});

// ---------------------------------------------------------------------------------------------
// Re-keying (FORMAT.md, Nonces and the key budget): a new key_id, every chunk re-encrypted under the
// new chunk key, the identity kept, holes kept as holes, `encryptions` never past the budget.

test('re-keyed files decode under the new key_id', async () => {
  const C = 4096;
  const budget = 40;
  const path = tempPath('rekey');
  const file = await ShieldedFile.open(path, { key, create: true, chunkSize: C, keyBudget: budget });
  const model = new Model();
  const write = (position: number, bytes: Buffer) => {
    file.writeSync(bytes, 0, bytes.length, position);
    model.write(bytes, position);
  };
  write(0, randomBytes(10 * C + 5));
  write(CAP1 * C + 3, randomBytes(2 * C)); // chunks 11…145 are holes
  const first = await flushAndDecode(file, path, model, C);
  const keyIds = new Set([first.keyId.toString('hex')]);
  for (let round = 0; round < 12; round++) {
    write(round * 1000, randomBytes(3 * C));
    const decoded = await flushAndDecode(file, path, model, C);
    expect(decoded.encryptions).toBeLessThanOrEqual(budget);
    expect(decoded.fileId.equals(first.fileId)).toBe(true);
    keyIds.add(decoded.keyId.toString('hex'));
  }
  expect(keyIds.size).toBeGreaterThan(1);
  const tag = await file.close();
  const reader = new ReferenceReader(path, key, { expectedTag: tag });
  expect(reader.isHole(11)).toBe(true);
  expect(reader.isHole(CAP1 - 1)).toBe(true);
  expect(reader.isHole(10)).toBe(false);
  reader.close();
  discard(path);
});
