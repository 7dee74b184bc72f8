// Open latency: openSync + closeSync of a 4 GiB shielded file against a 4 KiB one. Opening reads and
// verifies only the header (FORMAT.md), so it must not grow with the file.
import { join } from 'node:path';
import { ShieldedFile } from '../lib/index.js';
import { measure, median } from './timing.js';
import { MiB } from './workloads.js';

export interface OpenLatency {
  opensEach: number;
  smallBytes: number;
  largeBytes: number;
  smallMedianSeconds: number;
  largeMedianSeconds: number;
}

export async function openLatency(dir: string, key: Buffer, opensEach: number): Promise<OpenLatency> {
  const smallBytes = 4096;
  const largeBytes = 4 * 2 ** 30;
  const small = join(dir, 'open-4KiB.shield');
  const large = join(dir, 'open-4GiB.shield');
  const data = Buffer.alloc(MiB, 0x5a);
  await create(small, key, async (f) => {
    await f.write(data, 0, smallBytes, 0);
  });
  await create(large, key, async (f) => {
    await f.truncate(largeBytes);  // holes …
    await f.write(data, 0, MiB, 0);  // … with real chunks (and so real leaves) at both ends
    await f.write(data, 0, MiB, largeBytes - MiB);
  });

  const reopened = ShieldedFile.openSync(large, { key });
  const tail = Buffer.alloc(MiB);
  reopened.readSync(tail, 0, MiB, largeBytes - MiB);
  reopened.closeSync();
  if (reopened.size !== largeBytes || !tail.equals(data)) throw new Error('the 4 GiB file does not read back');

  // Interleaved, so drift (CPU frequency, page cache) hits both files alike.
  const samples: number[] = [];
  const paths = [small, large];
  await measure((i) => ShieldedFile.openSync(paths[i % 2]!, { key }).closeSync(), {
    ops: 2 * opensEach,
    bytesPerOp: 0,
    samples,
  });
  return {
    opensEach,
    smallBytes,
    largeBytes,
    smallMedianSeconds: median(samples.filter((_, i) => i % 2 === 0)),
    largeMedianSeconds: median(samples.filter((_, i) => i % 2 === 1)),
  };
}

async function create(path: string, key: Buffer, fill: (f: ShieldedFile) => Promise<void>): Promise<void> {
  const f = await ShieldedFile.open(path, { key, create: true });
  try {
    await fill(f);
  } finally {
    await f.close();
  }
}
