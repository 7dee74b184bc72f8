// Stream throughput of the drop-in fs: createWriteStream and createReadStream of a large file through
// `shield.fs` (a mounted volume) and node:fs, against the core's own sequential figure measured in
// the same run by the file section's code path (workloads.ts on a ShieldedFile).
import * as nodeFs from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { mount } from '../lib/fs/index.js';
import { shieldAsync, shieldSync, type Subject } from './subjects.js';
import { bestOf, type Figure } from './timing.js';
import { MiB, pattern, runWorkloads, type Figures } from './workloads.js';

export interface StreamSettings {
  /** Size of the streamed file (and of the core's file). */
  fileBytes: number;
  /** Every stream and core phase runs this many times; the fastest run counts. */
  runs: number;
  seed: number;
}

export type StreamCase = 'writeDefault' | 'write1MiB' | 'readDefault' | 'read1MiB';
export const STREAM_CASES: StreamCase[] = ['writeDefault', 'write1MiB', 'readDefault', 'read1MiB'];

/** highWaterMark per case (undefined: node's default, 16 KiB for writes and 64 KiB for reads). */
export const HIGH_WATER_MARK: Record<StreamCase, number | undefined> = {
  writeDefault: undefined, write1MiB: MiB, readDefault: undefined, read1MiB: MiB,
};
const DEFAULT_HIGH_WATER_MARK = { write: 16 * 1024, read: 64 * 1024 };

export interface StreamFigures {
  shield: Record<StreamCase, Figure>;
  node: Record<StreamCase, Figure>;
  /** The core (ShieldedFile, 1 MiB ops, no volume): the file section's sequential write +flush and read. */
  core: { async: Figures; sync: Figures };
}

const MOUNT = '/bench-streams';

export async function streams(dir: string, key: Buffer, settings: StreamSettings,
                              progress: (what: string) => void): Promise<StreamFigures> {
  const data = pattern(settings.seed);
  progress(`streams: core ShieldedFile, ${settings.fileBytes / MiB} MiB`);
  const core = {
    async: await coreSequential(shieldAsync(key), join(dir, 'core-async'), settings),
    sync: await coreSequential(shieldSync(key), join(dir, 'core-sync'), settings),
  };

  progress('streams: node:fs');
  const nodePath = join(dir, 'node-stream');
  let node: Record<StreamCase, Figure>;
  try {
    // node:fs with flush: true (an fsync before the close), so it is durable when the stream
    // closes, as the shield's file is (its close flushes; commit 'close' then commits).
    node = await streamCases(nodeFs, nodePath, data, settings, { flush: true });
  } finally {
    nodeFs.rmSync(nodePath, { force: true });
  }

  progress('streams: shield.fs');
  const volume = join(dir, 'shield-streams');
  const shield = await mount([{ path: MOUNT, volume, key: key.toString('hex'), tagStore: 'memory:bench-streams', create: true, commit: 'close' }]);
  try {
    return { shield: await streamCases(shield.fs, `${MOUNT}/file`, data, settings, {}), node, core };
  } finally {
    await shield.unmount();
    nodeFs.rmSync(volume, { recursive: true, force: true });
  }
}

// The file section's sequential phases (write +flush, read) on a file of the stream's size.
async function coreSequential(subject: Subject, path: string, settings: StreamSettings): Promise<Figures> {
  try {
    return await runWorkloads({ ...subject, random: false }, path,
      { fileBytes: settings.fileBytes, runs: settings.runs, randomReadSeconds: 0, randomWrites: 0, seed: settings.seed });
  } finally {
    nodeFs.rmSync(path, { force: true });
  }
}

async function streamCases(fs: typeof nodeFs, path: string, data: Buffer, settings: StreamSettings,
                           writeOptions: { flush?: boolean }): Promise<Record<StreamCase, Figure>> {
  const out = {} as Record<StreamCase, Figure>;
  for (const name of ['writeDefault', 'write1MiB'] as const) {
    out[name] = await bestOf(settings.runs, async () => {
      fs.rmSync(path, { force: true });  // every run writes a new file
      return writeStream(fs, path, data, settings.fileBytes, HIGH_WATER_MARK[name], writeOptions);
    });
  }
  for (const name of ['readDefault', 'read1MiB'] as const) {
    out[name] = await bestOf(settings.runs, () => readStream(fs, path, data, settings.fileBytes, HIGH_WATER_MARK[name]));
  }
  fs.rmSync(path, { force: true });
  return out;
}

// The source yields pieces of highWaterMark bytes (what a stream fed by another stream gets); the
// time runs from createWriteStream to the stream's 'close' (the file closed).
async function writeStream(fs: typeof nodeFs, path: string, data: Buffer, bytes: number, highWaterMark: number | undefined,
                           options: { flush?: boolean }): Promise<Figure> {
  const piece = highWaterMark ?? DEFAULT_HIGH_WATER_MARK.write;
  const pieces = bytes / piece;
  function* source() {
    for (let i = 0; i < pieces; i++) {
      const at = (i * piece) % data.length;
      yield data.subarray(at, at + piece);
    }
  }
  globalThis.gc?.();
  const start = performance.now();
  await pipeline(Readable.from(source(), { objectMode: false, highWaterMark: piece }),
    fs.createWriteStream(path, { ...options, ...(highWaterMark ? { highWaterMark } : {}) }));
  return figure(pieces, bytes, (performance.now() - start) / 1000);
}

async function readStream(fs: typeof nodeFs, path: string, data: Buffer, bytes: number, highWaterMark: number | undefined): Promise<Figure> {
  let got = 0;
  let chunks = 0;
  let firstMatches = true;
  const sink = new Writable({
    highWaterMark: highWaterMark ?? DEFAULT_HIGH_WATER_MARK.read,
    write(chunk: Buffer, _encoding, done) {
      if (chunks === 0) firstMatches = chunk.equals(data.subarray(0, chunk.length));
      got += chunk.length;
      chunks++;
      done();
    },
  });
  globalThis.gc?.();
  const start = performance.now();
  await pipeline(fs.createReadStream(path, highWaterMark ? { highWaterMark } : {}), sink);
  const seconds = (performance.now() - start) / 1000;
  if (got !== bytes || !firstMatches) throw new Error(`${path}: the read stream gave ${got} bytes${firstMatches ? '' : ', not the ones written'}`);
  return figure(chunks, bytes, seconds);
}

function figure(ops: number, bytes: number, seconds: number): Figure {
  return { ops, bytes, seconds, finishSeconds: 0, opsPerSecond: ops / seconds, bytesPerSecond: bytes / seconds };
}
