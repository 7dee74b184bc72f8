// Randomized operation sequences against an in-memory model of the plaintext: every read, at every
// step, must return exactly the model's bytes; sizes must match; reopen must verify the tag.
import { describe, expect, it } from 'vitest';
import { ShieldedFile, generateKey } from '../lib/index.js';
import { randomBytesFrom, seededRandom } from './support/random.js';
import { useTempDir } from './support/temp.js';

const temp = useTempDir();

class PlaintextModel {
  bytes = Buffer.alloc(0);
  write(data: Buffer, position: number): void {
    const end = position + data.length;
    if (end > this.bytes.length) this.bytes = Buffer.concat([this.bytes, Buffer.alloc(end - this.bytes.length)]);
    data.copy(this.bytes, position);
  }
  truncate(length: number): void {
    this.bytes =
      length <= this.bytes.length
        ? Buffer.from(this.bytes.subarray(0, length))
        : Buffer.concat([this.bytes, Buffer.alloc(length - this.bytes.length)]);
  }
}

async function runSequence(seed: number, chunkSize: number, steps: number, maxSpan: number, sync: boolean) {
  const random = seededRandom(seed);
  const key = generateKey();
  const path = temp(`model-${seed}-${chunkSize}-${sync ? 'sync' : 'async'}`);
  const model = new PlaintextModel();
  // A tiny node cache forces evictions of dirty and clean nodes along the way.
  const cacheBytes = random() < 0.5 ? 0 : 1 << 20;
  let file = await ShieldedFile.open(path, { key, create: true, chunkSize, cacheBytes });
  let tag = await file.flush();
  const pick = (n: number) => Math.floor(random() * n);
  const position = () => {
    const r = random();
    if (r < 0.3) return pick(model.bytes.length + 1);
    if (r < 0.5) return Math.floor(pick(Math.ceil((model.bytes.length + 1) / chunkSize) + 1) * chunkSize);
    return pick(maxSpan);
  };
  for (let step = 0; step < steps; step++) {
    const op = random();
    const context = `seed ${seed}, chunk ${chunkSize}, step ${step}`;
    if (op < 0.4) {
      const data = randomBytesFrom(random, 1 + pick(random() < 0.8 ? 3 * chunkSize : 40 * chunkSize));
      const at = position();
      const written = sync ? file.writeSync(data, 0, data.length, at) : await file.write(data, 0, data.length, at);
      expect(written, context).toBe(data.length);
      model.write(data, at);
    } else if (op < 0.75) {
      const at = position();
      const length = pick(4 * chunkSize);
      const buffer = Buffer.alloc(length + 7, 0xee);
      const got = sync ? file.readSync(buffer, 7, length, at) : await file.read(buffer, 7, length, at);
      const expected = model.bytes.subarray(Math.min(at, model.bytes.length), Math.min(at + length, model.bytes.length));
      expect(got, context).toBe(expected.length);
      expect(buffer.subarray(7, 7 + got).equals(expected), context).toBe(true);
      expect(buffer.subarray(0, 7).every((b) => b === 0xee), `${context}: wrote before offset`).toBe(true);
    } else if (op < 0.85) {
      const length = random() < 0.5 ? pick(model.bytes.length + 1) : pick(maxSpan);
      if (sync) file.truncateSync(length);
      else await file.truncate(length);
      model.truncate(length);
    } else if (op < 0.92) {
      tag = sync ? file.flushSync() : await file.flush();
    } else {
      tag = sync ? file.closeSync() : await file.close();
      file = sync
        ? ShieldedFile.openSync(path, { key, expectedTag: tag, cacheBytes })
        : await ShieldedFile.open(path, { key, expectedTag: tag, cacheBytes });
    }
    expect(file.size, context).toBe(model.bytes.length);
  }
  tag = await file.close();
  const reopened = await ShieldedFile.open(path, { key, expectedTag: tag, readOnly: true });
  const all = Buffer.alloc(model.bytes.length + 10);
  expect(await reopened.read(all, 0, all.length, 0)).toBe(model.bytes.length);
  expect(all.subarray(0, model.bytes.length).equals(model.bytes)).toBe(true);
  await reopened.close();
}

describe('random operation sequences match an in-memory model', () => {
  for (const chunkSize of [4096, 16384, 1 << 20]) {
    for (const seed of [1, 2, 3, 4]) {
      const sync = seed % 2 === 0;
      it(`chunk ${chunkSize}, seed ${seed}, ${sync ? 'sync' : 'async'}`, async () => {
        const maxSpan = chunkSize === 1 << 20 ? 6 * chunkSize : 400 * chunkSize;
        await runSequence(seed, chunkSize, chunkSize === 1 << 20 ? 60 : 150, maxSpan, sync);
      });
    }
  }
  it('a multi-level tree (over 146 × 128 chunks) with a minimal cache', async () => {
    await runSequence(99, 4096, 80, 146 * 128 * 4096 + 3 * 146 * 4096, false);
  });
});
