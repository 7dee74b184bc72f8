// The crash sweep: for a workload (one commit), kill a child process just before its k-th durable
// step (write, fdatasync, ftruncate, rename, unlink: SHIELDFS_CRASH_AT=any:k) for k = 1, 2, … until
// the commit completes; after each crash the volume must open at the committed state or at the
// in-flight one, with every committed byte intact, and redoing the commit must reach the new state.
import { spawnSync } from 'node:child_process';
import { copyFileSync, cpSync, rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { generateKey, Volume } from '../../lib/index.js';
import { volumeState, type VolumeState } from './volume-state.js';

const CHILD = fileURLToPath(new URL('./crash-child.mjs', import.meta.url));

export interface SweepVolume {
  dir: string;
  tags: string;  // path of the file tag store
  key: Buffer;
}

export interface SweepResult {
  crashPoints: number;
  landedOld: number;
  landedNew: number;
}

function runChild(v: SweepVolume, workload: string, crashAt?: string) {
  return spawnSync(process.execPath, [CHILD, v.dir, `file:${v.tags}`, v.key.toString('hex'), workload], {
    encoding: 'utf8',
    env: { ...process.env, ...(crashAt ? { SHIELDFS_CRASH_AT: crashAt } : {}) },
    timeout: 30_000,
  });
}

async function openState(v: SweepVolume): Promise<{ state: VolumeState; tag: string }> {
  const volume = await Volume.open(v.dir, { key: v.key, tagStore: `file:${v.tags}` });
  try {
    return { state: await volumeState(volume), tag: volume.tag };
  } finally {
    await volume.close();
  }
}

function copyVolume(from: SweepVolume, to: SweepVolume): void {
  rmSync(to.dir, { recursive: true, force: true });
  cpSync(from.dir, to.dir, { recursive: true });
  copyFileSync(from.tags, to.tags);
}

/** Sweeps every crash point of `workload` starting from the committed volume `base`. */
export async function sweepCrashes(base: SweepVolume, workload: string, scratch: SweepVolume, op = 'any', maxPoints = 400): Promise<SweepResult> {
  const before = await openState(base);
  // The state the commit produces, from a run that does not crash.
  copyVolume(base, scratch);
  const clean = runChild(scratch, workload);
  expect(clean.stderr, `clean run of ${workload}`).toBe('');
  expect(clean.status).toBe(0);
  const after = await openState(scratch);
  expect(after.state).not.toEqual(before.state);

  const result: SweepResult = { crashPoints: 0, landedOld: 0, landedNew: 0 };
  for (let k = 1; k <= maxPoints; k++) {
    copyVolume(base, scratch);
    const run = runChild(scratch, workload, `${op}:${k}`);
    if (run.status === 0) return result;  // k is past the last durable step: every point was swept
    expect(run.signal, `crash at ${op}:${k} of ${workload}: ${run.stderr}`).toBe('SIGKILL');
    result.crashPoints++;
    const recovered = await openState(scratch).catch((error: Error) => {
      throw new Error(`after a crash at ${op}:${k} of ${workload} the volume does not open: ${error.message}`);
    });
    if (recovered.tag === before.tag) {
      expect(recovered.state, `state after a crash at ${op}:${k} of ${workload}`).toEqual(before.state);
      result.landedOld++;
      // Redo the commit on the recovered volume: it must reach the same state (and never reuse a nonce).
      const redo = runChild(scratch, workload);
      expect(redo.status, `redo after a crash at ${op}:${k} of ${workload}: ${redo.stderr}`).toBe(0);
      expect((await openState(scratch)).state).toEqual(after.state);
    } else {
      expect(recovered.state, `state after a crash at ${op}:${k} of ${workload}`).toEqual(after.state);
      result.landedNew++;
    }
  }
  throw new Error(`${workload} still crashing after ${maxPoints} points`);
}

/** A committed volume in the sweep's base state (BASE_FILES), with a file tag store. */
export async function createSweepBase(dir: string, tags: string, key: Buffer): Promise<SweepVolume> {
  const { BASE_FILES } = (await import('./crash-workloads.mjs')) as { BASE_FILES: Record<string, Buffer> };
  const volume = await Volume.create(dir, { key, tagStore: `file:${tags}` });
  volume.mkdir('/d');
  for (const [path, content] of Object.entries(BASE_FILES)) await volume.writeFile(path, content);
  await volume.close();
  return { dir, tags, key };
}

/**
 * One vitest suite sweeping every crash point of each workload; `minimumPoints` (over all of them)
 * keeps the regular run at its promised size (at least 200 crash points over the two suites).
 */
export function describeCrashSweep(workloads: string[], temp: (name: string) => string, minimumPoints: number): void {
  const points: number[] = [];
  describe('crash sweep', () => {
    for (const workload of workloads) {
      it(`${workload}: every crash point lands on the old or the new state`, async () => {
        const base = await createSweepBase(temp(`${workload}-base`), temp(`${workload}-base-tags.json`), generateKey());
        const scratch = { dir: temp(`${workload}-run`), tags: temp(`${workload}-run-tags.json`), key: base.key };
        const result = await sweepCrashes(base, workload, scratch);
        console.log(`crash sweep ${workload}: ${result.crashPoints} points (${result.landedOld} old, ${result.landedNew} new)`);
        expect(result.landedOld).toBeGreaterThan(5);
        // after the tag store's rename and after the journal's end, at least
        expect(result.landedNew).toBeGreaterThanOrEqual(2);
        points.push(result.crashPoints);
      }, 300_000);
    }
    afterAll(() => {
      if (points.length === workloads.length) expect(points.reduce((a, b) => a + b, 0)).toBeGreaterThanOrEqual(minimumPoints);
    });
  });
}
