// The attacks of the threat model, performed on the bytes on disk. Each asserts the exact error,
// and that a failed read hands back no plaintext (the caller's buffer is wiped).
import { readFileSync, writeFileSync, copyFileSync, truncateSync, appendFileSync, statSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { beforeAll, describe, expect, it } from 'vitest';
import { ShieldedFile, generateKey } from '../lib/index.js';
import { useTempDir } from './support/temp.js';

const temp = useTempDir();
const CHUNK = 4096;
const CHUNKS = 20;
// Layout of a 4 KiB-chunk file of at most 146 chunks (FORMAT.md): header, chunk 0, the leaf node,
// then chunks 1…n-1.
const LEAF_OFFSET = 8192;
const chunkOffset = (i: number) => (i === 0 ? 4096 : LEAF_OFFSET + CHUNK * i);
// Header fields (FORMAT.md, "Header block"): the size is sealed (sealed_size = size XOR a mask
// derived from the header key and size_nonce), the MAC covers bytes 0…151, bytes 184…4095 are zero.
const HEADER = {
  fileId: 16,
  keyId: 32,
  checkSalt: 48,
  keyCheck: 64,
  sizeNonce: 80,
  sealedSize: 96,
  encryptions: 104,
  generation: 112,
  root: 120,
  mac: 152,
  used: 184,
};

const key = generateKey();
const plaintext = randomBytes(CHUNKS * CHUNK - 100);
let pristinePath: string;
let pristine: Buffer;
let pristineTag: string;

async function writeFile(path: string, data: Buffer, fileKey = key): Promise<string> {
  const file = await ShieldedFile.open(path, { key: fileKey, create: true });
  await file.write(data, 0, data.length, 0);
  return file.close();
}

/** Opens and reads the whole file; returns the error it fails with (or null) and what the buffer held. */
async function attempt(path: string, options: { expectedTag?: string; key?: Buffer } = {}) {
  const buffer = Buffer.alloc(plaintext.length, 0xaa);
  try {
    const file = await ShieldedFile.open(path, { key: options.key ?? key, expectedTag: options.expectedTag });
    try {
      await file.read(buffer, 0, buffer.length, 0);
    } finally {
      await file.close().catch(() => undefined);
    }
    return { error: null as NodeJS.ErrnoException | null, buffer };
  } catch (error) {
    return { error: error as NodeJS.ErrnoException & { chunk?: number }, buffer };
  }
}

function mutate(name: string, change: (bytes: Buffer) => Buffer | void): string {
  const path = temp(name);
  const bytes = Buffer.from(pristine);
  writeFileSync(path, change(bytes) ?? bytes);
  return path;
}

beforeAll(async () => {
  pristinePath = temp('pristine');
  pristineTag = await writeFile(pristinePath, plaintext);
  pristine = readFileSync(pristinePath);
  expect(pristine.length).toBe(LEAF_OFFSET + CHUNK * CHUNKS);
});

describe('an untouched file', () => {
  it('reads back exactly, with the expected tag', async () => {
    const { error, buffer } = await attempt(pristinePath, { expectedTag: pristineTag });
    expect(error).toBeNull();
    expect(buffer.equals(plaintext)).toBe(true);
  });
});

describe('bit flips anywhere in the on-disk file', () => {
  const flips: Array<{ where: string; offset: number; code: string }> = [];
  // Every used header byte: check_salt and key_check (48…79) fail the key check, which comes before
  // the MAC (EBADKEY); everything else fails the structure checks or the MAC (EINTEGRITY), the
  // size_nonce and sealed_size bytes (80…103) included.
  for (let i = 0; i < HEADER.used; i++) {
    const inKeyCheck = i >= HEADER.checkSalt && i < HEADER.sizeNonce;
    flips.push({ where: `header byte ${i}`, offset: i, code: inKeyCheck ? 'EBADKEY' : 'EINTEGRITY' });
  }
  for (const i of [HEADER.used, 1000, 4095]) flips.push({ where: `header padding ${i}`, offset: i, code: 'EINTEGRITY' });
  for (let i = 0; i < 4096; i += 97) flips.push({ where: `leaf byte ${i}`, offset: LEAF_OFFSET + i, code: 'EINTEGRITY' });
  for (const i of [4088, 4095]) flips.push({ where: `leaf padding ${i}`, offset: LEAF_OFFSET + i, code: 'EINTEGRITY' });
  for (let c = 0; c < CHUNKS; c++) {
    for (const within of [0, 1, 2047, 4095]) {
      flips.push({ where: `chunk ${c} byte ${within}`, offset: chunkOffset(c) + within, code: 'EINTEGRITY' });
    }
  }

  it.each(flips)('$where → $code', async ({ offset, code }) => {
    for (const bit of [0, 7]) {
      const path = mutate(`flip-${offset}-${bit}`, (bytes) => {
        bytes[offset]! ^= 1 << bit;
      });
      const { error, buffer } = await attempt(path);
      expect(error?.code).toBe(code);
      expect(error?.message).toContain(path);
      // Nothing unverified reached the caller: the buffer is untouched or wiped.
      expect(buffer.every((b) => b === 0xaa) || buffer.every((b) => b === 0)).toBe(true);
    }
  });

  it('names the damaged chunk', async () => {
    const path = mutate('flip-named', (bytes) => {
      bytes[chunkOffset(7) + 5]! ^= 0x10;
    });
    const { error } = await attempt(path);
    expect(error?.code).toBe('EINTEGRITY');
    expect((error as { chunk?: number }).chunk).toBe(7);
    expect(error?.message).toMatch(/chunk 7 /);
  });

  it('leaves the undamaged chunks readable', async () => {
    const path = mutate('flip-partial', (bytes) => {
      bytes[chunkOffset(7) + 5]! ^= 0x10;
    });
    const file = await ShieldedFile.open(path, { key });
    const before = Buffer.alloc(7 * CHUNK);
    expect(await file.read(before, 0, before.length, 0)).toBe(before.length);
    expect(before.equals(plaintext.subarray(0, 7 * CHUNK))).toBe(true);
    const one = Buffer.alloc(10, 0xaa);
    await expect(file.read(one, 0, 10, 7 * CHUNK + 3)).rejects.toMatchObject({ code: 'EINTEGRITY', chunk: 7 });
    expect(one.every((b) => b === 0)).toBe(true);
    expect(() => file.readSync(one, 0, 10, 7 * CHUNK + 3)).toThrow(expect.objectContaining({ code: 'EINTEGRITY' }));
    await file.close();
  });
});

describe('replayed, moved and foreign chunks', () => {
  it('a chunk replayed from an older version of the same file', async () => {
    const path = temp('replay');
    copyFileSync(pristinePath, path);
    const old = readFileSync(path).subarray(chunkOffset(3), chunkOffset(3) + CHUNK);
    const file = await ShieldedFile.open(path, { key });
    await file.write(Buffer.alloc(CHUNK, 1), 0, CHUNK, 3 * CHUNK);
    await file.close();
    const bytes = readFileSync(path);
    old.copy(bytes, chunkOffset(3));
    writeFileSync(path, bytes);
    const { error } = await attempt(path);
    expect(error).toMatchObject({ code: 'EINTEGRITY', chunk: 3 });
  });

  it('a leaf node replayed from an older version (with its chunk)', async () => {
    const path = temp('replay-node');
    copyFileSync(pristinePath, path);
    const before = readFileSync(path);
    const file = await ShieldedFile.open(path, { key });
    await file.write(Buffer.alloc(CHUNK, 1), 0, CHUNK, 3 * CHUNK);
    await file.close();
    const bytes = readFileSync(path);
    before.copy(bytes, LEAF_OFFSET, LEAF_OFFSET, LEAF_OFFSET + 4096);
    before.copy(bytes, chunkOffset(3), chunkOffset(3), chunkOffset(3) + CHUNK);
    writeFileSync(path, bytes);
    expect((await attempt(path)).error?.code).toBe('EINTEGRITY');
  });

  it('two chunks swapped within a file', async () => {
    const path = mutate('swap', (bytes) => {
      const a = Buffer.from(bytes.subarray(chunkOffset(2), chunkOffset(2) + CHUNK));
      bytes.copy(bytes, chunkOffset(2), chunkOffset(5), chunkOffset(5) + CHUNK);
      a.copy(bytes, chunkOffset(5));
    });
    expect((await attempt(path)).error).toMatchObject({ code: 'EINTEGRITY', chunk: 2 });
  });

  it('two chunks swapped together with their leaf entries', async () => {
    // Swapping the entries too changes the leaf, so its hash no longer matches the root.
    const path = mutate('swap-entries', (bytes) => {
      for (const [base, size, i, j] of [
        [0, CHUNK, 2, 5],
        [1, 28, 2, 5],
      ] as const) {
        const at = (k: number) => (base === 0 ? chunkOffset(k) : LEAF_OFFSET + 28 * k);
        const a = Buffer.from(bytes.subarray(at(i), at(i) + size));
        bytes.copy(bytes, at(i), at(j), at(j) + size);
        a.copy(bytes, at(j));
      }
    });
    expect((await attempt(path)).error?.code).toBe('EINTEGRITY');
  });

  it('a chunk copied from another file under the same key', async () => {
    const otherPath = temp('other');
    await writeFile(otherPath, randomBytes(plaintext.length));
    const other = readFileSync(otherPath);
    const path = mutate('foreign', (bytes) => {
      other.copy(bytes, chunkOffset(4), chunkOffset(4), chunkOffset(4) + CHUNK);
    });
    expect((await attempt(path)).error).toMatchObject({ code: 'EINTEGRITY', chunk: 4 });
  });

  it('a whole file replaced by another file under the same key', async () => {
    const otherPath = temp('other-whole');
    await writeFile(otherPath, randomBytes(plaintext.length));
    const path = temp('replaced');
    copyFileSync(otherPath, path);
    expect((await attempt(path, { expectedTag: pristineTag })).error?.code).toBe('EROLLBACK');
  });
});

describe('truncation, extension and header damage', () => {
  it.each([1, CHUNK, CHUNK + 1, 3 * CHUNK])('truncated by %i bytes', async (cut) => {
    const path = temp(`truncated-${cut}`);
    copyFileSync(pristinePath, path);
    truncateSync(path, pristine.length - cut);
    const { error } = await attempt(path);
    expect(error?.code).toBe('EINTEGRITY');
    expect(error?.message).toMatch(/truncated/);
  });

  it('truncated into the header', async () => {
    const path = temp('truncated-header');
    copyFileSync(pristinePath, path);
    truncateSync(path, 100);
    expect((await attempt(path)).error?.code).toBe('EINTEGRITY');
  });

  it.each([1, CHUNK, 10 * CHUNK])('extended by %i bytes', async (extra) => {
    const path = temp(`extended-${extra}`);
    copyFileSync(pristinePath, path);
    appendFileSync(path, randomBytes(extra));
    const { error } = await attempt(path);
    expect(error?.code).toBe('EINTEGRITY');
    expect(error?.message).toMatch(/extended/);
  });

  it('a forged larger size in the header', async () => {
    // The size is sealed by XOR with a mask, so flipping a bit of sealed_size changes the size by a
    // chosen amount without knowing it: here 4 chunks more. The MAC covers sealed_size, so this
    // fails like any other header change (and the file is not lengthened to match).
    expect(plaintext.length ^ 0x4000).toBe(plaintext.length + 0x4000);
    const path = mutate('size-forged', (bytes) => {
      bytes.writeBigUInt64LE(bytes.readBigUInt64LE(HEADER.sealedSize) ^ 0x4000n, HEADER.sealedSize);
    });
    expect((await attempt(path)).error?.code).toBe('EINTEGRITY');
  });

  it('the size fields of another header of the same file spliced into the current one', async () => {
    // size_nonce and sealed_size of the pristine header (another size) are a valid pair under the
    // file's header key. Spliced into the header of the shrunk file, with the file lengthened back
    // to the length that size needs, only the MAC (which covers them) catches it.
    const path = temp('size-spliced');
    copyFileSync(pristinePath, path);
    const file = await ShieldedFile.open(path, { key, expectedTag: pristineTag });
    await file.truncate(plaintext.length - 3 * CHUNK);
    await file.close();
    const shrunk = readFileSync(path);
    expect(shrunk.length).toBeLessThan(pristine.length);
    const spliced = Buffer.concat([shrunk, pristine.subarray(shrunk.length)]);
    pristine.copy(spliced, HEADER.sizeNonce, HEADER.sizeNonce, HEADER.encryptions);
    writeFileSync(path, spliced);
    expect(statSync(path).size).toBe(pristine.length);
    const { error } = await attempt(path);
    expect(error?.code).toBe('EINTEGRITY');
    expect(error?.message).toMatch(/MAC/);
  });

  it('an empty file', async () => {
    const path = temp('empty-on-disk');
    writeFileSync(path, Buffer.alloc(0));
    expect((await attempt(path)).error?.code).toBe('EINTEGRITY');
  });

  it.each([0, 1, 100, 4096, 70000])('random garbage of %i bytes', async (length) => {
    const path = temp(`garbage-${length}`);
    writeFileSync(path, randomBytes(length));
    expect((await attempt(path)).error?.code).toBe('EINTEGRITY');
  });

  it('garbage behind a copied valid header', async () => {
    const path = temp('garbage-body');
    writeFileSync(path, Buffer.concat([pristine.subarray(0, 4096), randomBytes(pristine.length - 4096)]));
    expect((await attempt(path)).error?.code).toBe('EINTEGRITY');
  });
});

describe('whole-file rollback and wrong keys', () => {
  it('an older copy of the file is refused with the expected tag', async () => {
    const path = temp('rollback');
    copyFileSync(pristinePath, path);
    const snapshot = readFileSync(path);
    const file = await ShieldedFile.open(path, { key, expectedTag: pristineTag });
    await file.write(Buffer.from('new'), 0, 3, 0);
    const newTag = await file.close();
    expect(newTag).not.toBe(pristineTag);
    writeFileSync(path, snapshot);
    const { error } = await attempt(path, { expectedTag: newTag });
    expect(error?.code).toBe('EROLLBACK');
    expect(error?.message).toMatch(/older or forked/);
    // Without an expected tag the older copy is authentic and opens.
    expect((await attempt(path)).error).toBeNull();
  });

  it('a rewrite with identical content still gets a new tag (rollback to it is detectable)', async () => {
    const path = temp('same-content');
    copyFileSync(pristinePath, path);
    const file = await ShieldedFile.open(path, { key });
    await file.write(plaintext.subarray(0, 10), 0, 10, 0);
    expect(await file.close()).not.toBe(pristineTag);
  });

  it('a wrong key says EBADKEY, not EINTEGRITY', async () => {
    const { error } = await attempt(pristinePath, { key: generateKey() });
    expect(error?.code).toBe('EBADKEY');
    expect(error?.message).toMatch(/key/);
  });

  it('a file of another volume key with the expected tag of ours', async () => {
    const path = temp('other-key');
    const otherKey = generateKey();
    await writeFile(path, plaintext, otherKey);
    expect((await attempt(path, { expectedTag: pristineTag })).error?.code).toBe('EBADKEY');
  });
});
