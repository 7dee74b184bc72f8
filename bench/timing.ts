// The one timing helper behind every figure of the benchmark.
import { performance } from 'node:perf_hooks';

export interface Figure {
  ops: number;
  bytes: number;
  /** Wall time of all ops plus the finishing step (flush/fsync). */
  seconds: number;
  /** The finishing step's share of `seconds`. */
  finishSeconds: number;
  opsPerSecond: number;
  bytesPerSecond: number;
  /** Median time of one op, when per-op samples were taken. */
  medianOpSeconds?: number;
  /** For a best-of-n figure: every run, the best included. */
  runs?: Figure[];
}

export interface MeasureOptions {
  bytesPerOp: number;
  /** Run exactly this many ops … */
  ops?: number;
  /** … or as many as fit in this many seconds. */
  seconds?: number;
  /** Runs once after the ops, inside the timed span (flush/fsync of write phases). */
  finish?: () => unknown;
  /** Time every op on its own, for medians (`op(i)` may then split samples by `i`). */
  samples?: number[];
}

/**
 * Runs `op(0)`, `op(1)`, … and times them. An op may be synchronous or return a promise; promises are
 * awaited one at a time (queue depth 1), synchronous ops run in a plain loop without touching the
 * event loop.
 */
export async function measure(op: (i: number) => unknown, options: MeasureOptions): Promise<Figure> {
  const maxOps = options.ops ?? Number.POSITIVE_INFINITY;
  if (!Number.isFinite(maxOps) && options.seconds === undefined) throw new Error('measure: give ops or seconds');
  globalThis.gc?.();  // start every figure with a clean heap (node --expose-gc)
  const samples = options.samples;
  const start = performance.now();
  const deadline = options.seconds === undefined ? Number.POSITIVE_INFINITY : start + options.seconds * 1000;
  let ops = 0;
  while (ops < maxOps && ((ops & 15) !== 0 || performance.now() < deadline)) {
    const t0 = samples ? performance.now() : 0;
    const result = op(ops);
    if (result instanceof Promise) await result;  // a synchronous op costs no microtask
    if (samples) samples.push((performance.now() - t0) / 1000);
    ops++;
  }
  const finishStart = performance.now();
  if (options.finish) await options.finish();
  const end = performance.now();
  const seconds = (end - start) / 1000;
  return {
    ops,
    bytes: ops * options.bytesPerOp,
    seconds,
    finishSeconds: (end - finishStart) / 1000,
    opsPerSecond: ops / seconds,
    bytesPerSecond: (ops * options.bytesPerOp) / seconds,
    ...(samples && samples.length > 0 ? { medianOpSeconds: median(samples) } : {}),
  };
}

/**
 * Runs `op(0)`, `op(1)`, … with `concurrency` promises in flight, until `ops` ops are done or
 * `seconds` have passed (the ops under way then still finish and count); times all of them.
 */
export async function measureConcurrent(op: (i: number) => Promise<unknown>,
  options: { ops: number; seconds?: number; concurrency: number; bytesPerOp: number }): Promise<Figure> {
  globalThis.gc?.();
  const start = performance.now();
  const deadline = options.seconds === undefined ? Number.POSITIVE_INFINITY : start + options.seconds * 1000;
  let next = 0;
  let done = 0;
  const worker = async () => {
    while (next < options.ops && performance.now() < deadline) {
      await op(next++);
      done++;
    }
  };
  await Promise.all(Array.from({ length: Math.min(options.concurrency, options.ops) }, worker));
  const seconds = (performance.now() - start) / 1000;
  return {
    ops: done,
    bytes: done * options.bytesPerOp,
    seconds,
    finishSeconds: 0,
    opsPerSecond: done / seconds,
    bytesPerSecond: (done * options.bytesPerOp) / seconds,
  };
}

/** Runs a measurement `n` times and keeps the fastest run (all runs stay in `runs`). */
export async function bestOf(n: number, once: (run: number) => Promise<Figure>): Promise<Figure> {
  const runs: Figure[] = [];
  for (let run = 0; run < n; run++) runs.push(await once(run));
  const best = runs.reduce((a, b) => (b.opsPerSecond > a.opsPerSecond ? b : a));
  return { ...best, runs };
}

export function sleepSync(milliseconds: number): void {
  Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, milliseconds);
}

/** The nearest-rank percentile (0 < p ≤ 100): the smallest value with at least p % of the values at or below it. */
export function percentile(values: readonly number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.max(0, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}
