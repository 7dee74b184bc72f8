// The workloads, written once for every subject: a sequential write of a new file in 1 MiB ops
// (then flush), a sequential read of it, random aligned 4 KiB reads for a fixed time, and a fixed
// number of random aligned 4 KiB writes (then flush). Each phase runs `runs` times.
import { rmSync } from 'node:fs';
import type { Handle, Subject } from './subjects.js';
import { seededRandom } from '../test/support/random.js';
import { bestOf, measure, type Figure } from './timing.js';

export const MiB = 2 ** 20;
export const SEQUENTIAL_OP = MiB;
export const RANDOM_OP = 4096;

export type Workload = 'seqWrite' | 'seqRead' | 'randRead' | 'randWrite';
export type Figures = Partial<Record<Workload, Figure>>;

export interface WorkloadSettings {
  fileBytes: number;
  /** Every phase runs this many times; the fastest run counts (the machine may be shared). */
  runs: number;
  /** Duration of the random read phase, all runs together. */
  randomReadSeconds: number;
  /** Ops of one random write run: a fixed count, so every subject flushes the same number of dirty blocks. */
  randomWrites: number;
  seed: number;
}

/** One MiB of deterministic bytes: every sequential write writes it, every read must return it. */
export function pattern(seed: number): Buffer {
  const random = seededRandom(seed);
  const out = Buffer.allocUnsafe(SEQUENTIAL_OP);
  for (let i = 0; i < out.length; i += 4) out.writeUInt32LE((random() * 2 ** 32) >>> 0, i);
  return out;
}

export async function runWorkloads(subject: Subject, path: string, settings: WorkloadSettings): Promise<Figures> {
  const data = pattern(settings.seed);
  const sequential = { ops: settings.fileBytes / SEQUENTIAL_OP, bytesPerOp: SEQUENTIAL_OP };
  const figures: Figures = {};

  figures.seqWrite = await bestOf(settings.runs, async () => {
    rmSync(path, { force: true });  // every run writes a new file
    return withHandle(await subject.create(path), (file) =>
      measure((i) => file.write(data, i * SEQUENTIAL_OP), { ...sequential, finish: () => file.flush() }));
  });

  // Every read run reopens the file, so no run reads what a filesystem cached from the previous one
  // (FUSE keeps a mount's plaintext pages only while the file stays open).
  const into = Buffer.alloc(SEQUENTIAL_OP);
  figures.seqRead = await bestOf(settings.runs, async () => {
    into.fill(0);
    const figure = await withHandle(await subject.open(path), (file) =>
      measure((i) => file.read(into, SEQUENTIAL_OP, i * SEQUENTIAL_OP), sequential));
    if (!into.equals(data)) throw new Error(`${subject.name}: the last MiB read back differs from what was written`);
    return figure;
  });
  if (!subject.random) return figures;

  // The same positions for every subject: aligned 4 KiB slots drawn from the seeded PRNG (writes
  // from their own sequence, so they do not depend on how many reads fitted in the read time).
  const positions = (seed: number) => {
    const next = seededRandom(seed);
    const slots = settings.fileBytes / RANDOM_OP;
    return () => Math.floor(next() * slots) * RANDOM_OP;
  };
  const readAt = positions(settings.seed);
  const writeAt = positions(settings.seed + 1);
  const small = Buffer.alloc(RANDOM_OP);
  const block = data.subarray(0, RANDOM_OP);
  await withHandle(await subject.open(path), async (file) => {
    figures.randRead = await bestOf(settings.runs, () =>
      measure(() => file.read(small, RANDOM_OP, readAt()), {
        seconds: settings.randomReadSeconds / settings.runs,
        bytesPerOp: RANDOM_OP,
      }));
    figures.randWrite = await bestOf(settings.runs, () =>
      measure(() => file.write(block, writeAt()), {
        ops: settings.randomWrites,
        bytesPerOp: RANDOM_OP,
        finish: () => file.flush(),
      }));
  });
  return figures;
}

async function withHandle<T>(file: Handle, body: (file: Handle) => Promise<T>): Promise<T> {
  try {
    return await body(file);
  } finally {
    await file.close();
  }
}
