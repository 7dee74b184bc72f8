// Adversarial review: attacks and failure cases that the other suites do not perform. The first
// group ("review findings") asserts the behaviour FORMAT.md / DESIGN.md promise; each of these failed
// when the review was written and passes since the core was fixed, so they now guard against
// regressions. The second group adds coverage for threat-model attacks that had no test.
// Cases that crash or kill a process run in a child process so the suite itself survives.
import { spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { copyFileSync, existsSync, readFileSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { ShieldedFile, generateKey } from '../lib/index.js';
import { HEADER_FIELDS, Layout } from './support/reference-codec.js';
import { useTempDir } from './support/temp.js';

const temp = useTempDir('shieldfs-review-');
const key = generateKey();
const C = 4096;
const layout = new Layout(C);
const repoRoot = fileURLToPath(new URL('..', import.meta.url));
const libIndex = fileURLToPath(new URL('../lib/index.ts', import.meta.url));

function flip(path: string, offset: number, mask = 1): void {
  const bytes = readFileSync(path);
  bytes[offset]! ^= mask;
  writeFileSync(path, bytes);
}

function poke(path: string, offset: number, data: Buffer): void {
  const bytes = readFileSync(path);
  data.copy(bytes, offset);
  writeFileSync(path, bytes);
}

async function create(path: string, data: Buffer, chunkSize = C): Promise<string> {
  const file = await ShieldedFile.open(path, { key, create: true, chunkSize });
  await file.write(data, 0, data.length, 0);
  return file.close();
}

async function codeOf(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
    return 'OK';
  } catch (error) {
    return (error as { code?: string }).code ?? String(error);
  }
}

/** Runs `body` (an ES module importing { ShieldedFile, importKey } as `shield`) in a child Node process. */
function runChild(name: string, body: string, args: string[] = [], wrapper: string[] = []): SpawnSyncReturns<string> {
  const script = temp(`${name}.mts`);
  writeFileSync(script, `import * as shield from ${JSON.stringify(libIndex)};\n${body}\n`);
  const command = [...wrapper, process.execPath, '--import', 'tsx', script, ...args];
  return spawnSync(command[0]!, command.slice(1), { cwd: repoRoot, encoding: 'utf8', timeout: 20_000 });
}

// ---------------------------------------------------------------------------------------------
describe('review findings (failed before the core was fixed; regression tests now)', () => {
  it('a write that fails after growing the tree leaves the file consistent (shielded_file.cpp writeWindow)', async () => {
    // writeWindow() resizes the tree before it merges the edge chunks; when the merge throws, the tree
    // keeps the larger chunk count and height while size_ keeps the old size. The next flush/close
    // writes a header whose height does not match its size: the shield itself produces a file that
    // no longer opens, losing every committed chunk. (Any error after the resize does this, e.g.
    // ENOSPC while writing the ciphertext; here a damaged chunk triggers it deterministically.)
    const path = temp('failed-write');
    const data = randomBytes(10 * C);
    const tag0 = await create(path, data);
    flip(path, layout.chunkOffset(9) + 5);
    const file = await ShieldedFile.open(path, { key, expectedTag: tag0 });
    await file.write(Buffer.from('hello'), 0, 5, 0); // a legitimate change
    const big = randomBytes(191 * C);
    await expect(file.write(big, 0, big.length, 9 * C + 100)).rejects.toMatchObject({ code: 'EINTEGRITY', chunk: 9 });
    expect(file.size).toBe(10 * C);
    const tag1 = await file.close();
    const reopened = await ShieldedFile.open(path, { key, expectedTag: tag1 }); // today: EINTEGRITY (height ≠ size)
    expect(reopened.size).toBe(10 * C);
    const head = Buffer.alloc(5);
    await reopened.read(head, 0, 5, 0);
    expect(head.toString()).toBe('hello');
    await reopened.close();
  });

  it('a re-key does not commit a new header outside flush() (FORMAT.md "Write and flush order")', async () => {
    // rekey() runs inside write(): it renames a complete new file (new key_id, generation + 1, and
    // the caller's unflushed writes) over the old one. The durable tag changes without flush(); a
    // crash right after it leaves a file that the last flushed tag refuses with EROLLBACK, and the
    // last committed version is gone (replaced by rename, so no slot journal can restore it).
    const path = temp('rekey-commit');
    const file = await ShieldedFile.open(path, { key, create: true, keyBudget: 20 });
    await file.write(randomBytes(3 * C), 0, 3 * C, 0);
    const flushed = await file.flush();
    const keyId = file.info().keyId;
    for (let i = 0; i < 18; i++) await file.write(randomBytes(C), 0, C, 0);
    expect(file.info().keyId).not.toBe(keyId); // the re-key happened
    const crashed = temp('rekey-commit-crash');
    copyFileSync(path, crashed); // what a crash at this instant leaves on disk
    await file.close();
    expect(await codeOf(ShieldedFile.open(crashed, { key, expectedTag: flushed, readOnly: true }).then((f) => f.close()))).toBe('OK');
  });

  it('keyBudget: 0 is refused with EINVAL (today the promise never settles and openSync returns a broken object)', async () => {
    // native/addon/arguments.cpp parseOpen: `n == 0` returns nullopt without throwing.
    const path = temp('budget-zero');
    const outcome = await Promise.race([
      codeOf(ShieldedFile.open(path, { key, create: true, keyBudget: 0 })),
      new Promise<string>((resolve) => setTimeout(() => resolve('NEVER SETTLED'), 500)),
    ]);
    expect(outcome).toBe('EINVAL');
    let syncCode = 'OK';
    try {
      ShieldedFile.openSync(temp('budget-zero-sync'), { key, create: true, keyBudget: 0 }).closeSync();
    } catch (error) {
      syncCode = (error as { code?: string }).code ?? String(error);
    }
    expect(syncCode).toBe('EINVAL');
  });

  it('a view of a SharedArrayBuffer is read into / written from, or refused, but never crashes the process', () => {
    // native/addon/arguments.cpp readBytes: napi_get_arraybuffer_info fails for a SharedArrayBuffer,
    // Data() is null and the core reads/writes at (null + byteOffset): SIGSEGV.
    const dir = temp('sab');
    const result = runChild('sab', `
      const f = shield.ShieldedFile.openSync(${JSON.stringify(dir)}, { key: shield.generateKey(), create: true });
      const src = new Uint8Array(new SharedArrayBuffer(16)); src.fill(7);
      try { f.writeSync(src, 0, 16, 0); } catch (e) { if (e.code !== 'EINVAL') throw e; f.writeSync(Buffer.alloc(16, 7), 0, 16, 0); }
      const dst = new Uint8Array(new SharedArrayBuffer(16));
      try { f.readSync(dst, 0, 16, 0); if (!dst.every((b) => b === 7)) throw new Error('wrong bytes'); } catch (e) { if (e.code !== 'EINVAL') throw e; }
      f.closeSync();
      console.log('survived');`);
    expect(result.signal).toBeNull();
    expect(result.stdout).toContain('survived');
  });

  it('a resizable ArrayBuffer shrunk during an async read does not crash the process', () => {
    // The pool thread decrypts into the caller's memory with the length checked at call time;
    // V8 decommits the pages of a shrunk resizable buffer, so the core faults (node:fs does not:
    // the kernel returns EFAULT instead). Refusing resizable buffers up front is one fix.
    const dir = temp('resizable');
    const result = runChild('resizable', `
      const f = shield.ShieldedFile.openSync(${JSON.stringify(dir)}, { key: shield.generateKey(), create: true });
      const N = 32 << 20;
      f.writeSync(Buffer.alloc(N, 1), 0, N, 0);
      const ab = new ArrayBuffer(N, { maxByteLength: N });
      const p = f.read(new Uint8Array(ab), 0, N, 0).catch((e) => e.code);
      ab.resize(0);
      await p;
      f.closeSync();
      console.log('survived');`);
    expect(result.signal).toBeNull();
    expect(result.stdout).toContain('survived');
  });

  it('a failing async read never exposes unverified (attacker-malleated) plaintext in the caller buffer', async () => {
    // read() decrypts straight into the caller's buffer and checks the GCM tag afterwards; the
    // plaintext of a tampered chunk is visible there until openChunk wipes it. With CTR
    // malleability the attacker chooses it: here every byte of chunk 3 becomes 0x11 ^ 0x40 = 0x51.
    const CS = 1 << 20;
    const big = new Layout(CS);
    const path = temp('rup');
    await create(path, Buffer.alloc(4 * CS, 0x11), CS);
    const bytes = readFileSync(path);
    for (let i = 0; i < CS; i++) bytes[big.chunkOffset(3) + i]! ^= 0x40;
    writeFileSync(path, bytes);
    const file = await ShieldedFile.open(path, { key });
    const view = new Uint8Array(new ArrayBuffer(4 * CS));
    let seen = false;
    const stop = Date.now() + 3000;
    for (let attempt = 0; attempt < 100 && !seen && Date.now() < stop; attempt++) {
      view.fill(0xaa);
      let done = false;
      let code = '';
      const pending = file.read(view, 0, view.length, 0).then(
        () => ((done = true), (code = 'OK')),
        (error: { code: string }) => ((done = true), (code = error.code)),
      );
      while (!done && !seen) {
        for (let i = 3 * CS; i < 4 * CS; i += 65536) if (view[i] === 0x51) seen = true;
        await new Promise((resolve) => setImmediate(resolve));
      }
      await pending;
      expect(code).toBe('EINTEGRITY');
    }
    await file.close();
    expect(seen, 'attacker-chosen plaintext 0x51 was visible in the caller buffer during the read').toBe(false);
  });

  it('a crash after a growing write (before any flush): the longer file is refused, nothing committed is cut', async () => {
    // FORMAT.md "Write and flush order": a write past the end lengthens the file at once, so after a
    // crash before the flush the file is longer than its durable header allows and fails to open
    // with EINTEGRITY ("extended"); the extension check is deliberate (an attacker can append too).
    // Nothing committed is lost: cut back to the committed length (what the volume layer's journal
    // does), it opens at its last tag. The last chunk, re-sealed in place by the growing write, no
    // longer matches its durable entry; every other committed chunk reads back intact.
    const path = temp('crash-append');
    const data = randomBytes(10 * C + 7);
    const tag = await create(path, data);
    const committedLength = statSync(path).size;
    const result = runChild('crash-append', `
      const [p, hex] = process.argv.slice(2);
      const f = shield.ShieldedFile.openSync(p, { key: shield.importKey(hex) });
      f.writeSync(Buffer.alloc(4096, 1), 0, 4096, f.size);
      process.kill(process.pid, 'SIGKILL');`, [path, key.toString('hex')]);
    expect(result.signal).toBe('SIGKILL');
    await expect(ShieldedFile.open(path, { key, expectedTag: tag })).rejects.toMatchObject({
      code: 'EINTEGRITY',
      message: expect.stringMatching(/extended/),
    });
    truncateSync(path, committedLength);
    const file = await ShieldedFile.open(path, { key, expectedTag: tag });
    const back = Buffer.alloc(10 * C);
    expect(await file.read(back, 0, back.length, 0)).toBe(back.length);
    expect(back.equals(data.subarray(0, 10 * C))).toBe(true);
    await expect(file.read(Buffer.alloc(7), 0, 7, 10 * C)).rejects.toMatchObject({ code: 'EINTEGRITY', chunk: 10 });
    await file.close();
  });

  it('a crash inside flush() after a shrinking truncate does not destroy the committed data', async () => {
    // A shrinking flush cuts the file only after the new header is durable: a crash at its first
    // fdatasync (SHIELDFS_CRASH_AT, the core's crash-injection hook) leaves the committed file whole.
    const path = temp('crash-shrink');
    const data = randomBytes(10 * C + 7);
    const tag = await create(path, data);
    const before = statSync(path).size;
    const result = runChild(
      'crash-shrink',
      `
      const [p, hex] = process.argv.slice(2);
      process.env.SHIELDFS_CRASH_AT = 'fdatasync:1';
      const f = shield.ShieldedFile.openSync(p, { key: shield.importKey(hex) });
      f.truncateSync(4096);
      f.flushSync();
      console.log('not reached');`,
      [path, key.toString('hex')],
    );
    expect(result.signal).toBe('SIGKILL');
    expect(result.stdout).not.toContain('not reached');
    expect(statSync(path).size).toBe(before);
    const file = await ShieldedFile.open(path, { key, expectedTag: tag });
    const back = Buffer.alloc(data.length);
    await file.read(back, 0, back.length, 0);
    expect(back.equals(data)).toBe(true);
    await file.close();
  });

  it('the header does not reveal the exact plaintext size (DESIGN.md §2: sizes visible rounded to chunks)', async () => {
    // The size used to be stored in clear, so the host learned the byte-exact length. FORMAT.md
    // "Header block" now seals it: sealed_size = size XOR size_mask, size_mask from
    // HMAC(header_key, "shieldfs/v1 size" ‖ size_nonce), with size_nonce fresh for every header.
    const H = HEADER_FIELDS;
    const sizes = [12345, 12300]; // both 4 chunks: the same on-disk length
    const paths = sizes.map((size) => temp(`size-leak-${size}`));
    for (const [i, size] of sizes.entries()) await create(paths[i]!, randomBytes(size));
    expect(statSync(paths[0]!).size).toBe(statSync(paths[1]!).size);
    const headers = paths.map((path) => readFileSync(path).subarray(0, 4096));
    // Neither header holds either size in any usual encoding, anywhere (which would tell the two apart).
    for (const header of headers) {
      for (const size of sizes) {
        const encodings = [Buffer.alloc(8), Buffer.alloc(8), Buffer.alloc(4), Buffer.alloc(4)];
        encodings[0]!.writeBigUInt64LE(BigInt(size));
        encodings[1]!.writeBigUInt64BE(BigInt(size));
        encodings[2]!.writeUInt32LE(size);
        encodings[3]!.writeUInt32BE(size);
        for (const encoding of encodings) expect(header.includes(encoding)).toBe(false);
      }
    }
    // The size is still there for the key holder.
    for (const [i, size] of sizes.entries()) {
      const file = await ShieldedFile.open(paths[i]!, { key, readOnly: true });
      expect(file.size).toBe(size);
      await file.close();
    }
    // The same file over three flushes: the same size twice, then another size in the same chunk.
    // A fresh size_nonce each time gives a fresh mask: sealed_size changes even when the size does
    // not (so the host cannot tell whether it changed), and two sealed sizes do not XOR to the XOR
    // of the sizes (which a reused mask would leak).
    const path = paths[0]!;
    const fields = () => {
      const header = readFileSync(path).subarray(0, 4096);
      return {
        nonce: header.subarray(H.sizeNonce, H.sizeNonce + 16).toString('hex'),
        sealed: header.readBigUInt64LE(H.sealedSize),
      };
    };
    const file = await ShieldedFile.open(path, { key });
    const first = fields();
    await file.write(Buffer.of(1), 0, 1, 0);
    await file.flush();
    const second = fields();
    await file.truncate(12300);
    await file.close();
    const third = fields();
    expect(new Set([first.nonce, second.nonce, third.nonce]).size).toBe(3);
    expect(new Set([first.sealed, second.sealed, third.sealed]).size).toBe(3);
    expect(first.sealed ^ second.sealed).not.toBe(0n);
    expect(second.sealed ^ third.sealed).not.toBe(12345n ^ 12300n);
    for (const { sealed } of [first, second, third]) expect([12345n, 12300n]).not.toContain(sealed);
    const reopened = await ShieldedFile.open(path, { key, readOnly: true });
    expect(reopened.size).toBe(12300);
    await reopened.close();
  });
});

// ---------------------------------------------------------------------------------------------
describe('threat-model attacks without a test elsewhere (pass today)', () => {
  it('header-only replay: an old header over the current body', async () => {
    const path = temp('header-replay');
    const data = randomBytes(20 * C);
    const oldTag = await create(path, data);
    const oldHeader = readFileSync(path).subarray(0, 4096);
    const file = await ShieldedFile.open(path, { key, expectedTag: oldTag });
    await file.write(Buffer.alloc(C, 1), 0, C, 3 * C);
    const newTag = await file.close();
    poke(path, 0, oldHeader);
    expect(await codeOf(ShieldedFile.open(path, { key, expectedTag: newTag }))).toBe('EROLLBACK');
    // Without an expected tag the old header is authentic, but the current leaf is not its leaf.
    const stale = await ShieldedFile.open(path, { key });
    const buffer = Buffer.alloc(C, 0xaa);
    await expect(stale.read(buffer, 0, C, 0)).rejects.toMatchObject({ code: 'EINTEGRITY' });
    expect(buffer.every((b) => b === 0xaa)).toBe(true); // a node failure decrypts nothing
    await stale.close();
  });

  it('a chunk modified on disk while the file is open is detected on the next read', async () => {
    const path = temp('live-chunk');
    await create(path, randomBytes(20 * C));
    const file = await ShieldedFile.open(path, { key });
    const buffer = Buffer.alloc(C);
    await file.read(buffer, 0, C, 3 * C); // leaf now cached and trusted
    flip(path, layout.chunkOffset(3) + 100);
    await expect(file.read(buffer, 0, C, 3 * C)).rejects.toMatchObject({ code: 'EINTEGRITY', chunk: 3 });
    expect(buffer.every((b) => b === 0)).toBe(true);
    await file.close();
  });

  it('the file truncated on disk while open: reads past the cut fail with EINTEGRITY', async () => {
    const path = temp('live-truncate');
    await create(path, randomBytes(20 * C));
    const file = await ShieldedFile.open(path, { key });
    truncateSync(path, layout.chunkOffset(10));
    const buffer = Buffer.alloc(C);
    await expect(file.read(buffer, 0, C, 12 * C)).rejects.toMatchObject({ code: 'EINTEGRITY', chunk: 12 });
    await file.close().catch(() => undefined);
  });

  describe('nodes that left the cache during a session', () => {
    const LEAVES = 30; // more leaves than the smallest cache holds (24 nodes)
    const chunks = LEAVES * 146;
    let basePath = '';
    let baseTag = '';
    const prepare = async (name: string): Promise<string> => {
      if (basePath === '') {
        basePath = temp('many-leaves');
        baseTag = await create(basePath, randomBytes(chunks * C));
      }
      const path = temp(name);
      copyFileSync(basePath, path);
      return path;
    };
    const touchEveryLeaf = async (file: ShieldedFile): Promise<void> => {
      const one = Buffer.alloc(1);
      for (let leaf = 1; leaf < LEAVES; leaf++) await file.read(one, 0, 1, leaf * 146 * C);
    };

    it('a clean leaf modified on disk after its eviction is re-verified', async () => {
      const path = await prepare('evicted-clean');
      const file = await ShieldedFile.open(path, { key, expectedTag: baseTag, cacheBytes: 0 });
      const buffer = Buffer.alloc(C);
      await file.read(buffer, 0, C, 0);
      await touchEveryLeaf(file);
      flip(path, layout.nodeOffset(1, 0) + 28 * 5);
      await expect(file.read(buffer, 0, C, 0)).rejects.toMatchObject({ code: 'EINTEGRITY', chunk: 0 });
      await file.close().catch(() => undefined);
    });

    it('a dirty leaf written by eviction and then replayed with its old chunk is refused', async () => {
      const path = await prepare('evicted-dirty');
      const old = readFileSync(path);
      const file = await ShieldedFile.open(path, { key, expectedTag: baseTag, cacheBytes: 0 });
      await file.write(Buffer.alloc(C, 0x5a), 0, C, 0); // leaf 0 dirty
      await touchEveryLeaf(file); // leaf 0 evicted: written in place, parent slot updated in memory
      poke(path, layout.nodeOffset(1, 0), old.subarray(layout.nodeOffset(1, 0), layout.nodeOffset(1, 0) + 4096));
      poke(path, layout.chunkOffset(0), old.subarray(layout.chunkOffset(0), layout.chunkOffset(0) + C));
      const buffer = Buffer.alloc(C);
      await expect(file.read(buffer, 0, C, 0)).rejects.toMatchObject({ code: 'EINTEGRITY' });
      expect(buffer.equals(old.subarray(layout.chunkOffset(0), layout.chunkOffset(0) + C))).toBe(false);
      await file.close().catch(() => undefined);
    });
  });

  it('zeroed (hole-punched) chunk slots and leaves read as errors, never as zeros', async () => {
    const path = temp('punched');
    const tag = await create(path, randomBytes(20 * C));
    const chunkPunched = temp('punched-chunk');
    copyFileSync(path, chunkPunched);
    poke(chunkPunched, layout.chunkOffset(5), Buffer.alloc(C));
    const file = await ShieldedFile.open(chunkPunched, { key, expectedTag: tag });
    await expect(file.read(Buffer.alloc(C), 0, C, 5 * C)).rejects.toMatchObject({ code: 'EINTEGRITY', chunk: 5 });
    await file.close();
    const leafPunched = temp('punched-leaf');
    copyFileSync(path, leafPunched);
    poke(leafPunched, layout.nodeOffset(1, 0), Buffer.alloc(4096));
    const other = await ShieldedFile.open(leafPunched, { key, expectedTag: tag });
    await expect(other.read(Buffer.alloc(C), 0, C, 5 * C)).rejects.toMatchObject({ code: 'EINTEGRITY' });
    await other.close();
  });

  it('a file deleted and a file replaced by a copy of another one, both opened with the expected tag', async () => {
    const path = temp('deleted-or-swapped');
    const tag = await create(path, randomBytes(3 * C));
    const original = await ShieldedFile.open(path, { key, readOnly: true });
    const fileId = original.fileId;
    await original.close();
    const other = temp('the-other');
    await create(other, randomBytes(3 * C));
    copyFileSync(other, path);
    // With the expected tag alone the file layer cannot tell a swap from a rollback: EROLLBACK.
    // With the expected file_id too (FORMAT.md's error table) the swap is EINTEGRITY, as DESIGN.md
    // §2 promise 4 says, and is reported before the tag comparison.
    expect(await codeOf(ShieldedFile.open(path, { key, expectedTag: tag }))).toBe('EROLLBACK');
    expect(await codeOf(ShieldedFile.open(path, { key, expectedTag: tag, expectedFileId: fileId }))).toBe('EINTEGRITY');
    const gone = temp('never-existed');
    expect(existsSync(gone)).toBe(false);
    expect(await codeOf(ShieldedFile.open(gone, { key, expectedTag: tag, create: true }))).toBe('ENOENT');
  });
});
