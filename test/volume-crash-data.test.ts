// Crash consistency of commits (FORMAT.md, "Commit protocol"): every durable step of each workload
// is a crash point; after each crash the volume opens at the old or the new state, never damaged.
import { describe, expect, it } from 'vitest';
import { generateKey } from '../lib/keys.js';
import { createSweepBase, sweepCrashes } from './support/crash-sweep.js';
import { useTempDir } from './support/temp.js';

const temp = useTempDir('shieldfs-crash-');
const WORKLOADS = ['create', 'replace', 'overwrite', 'append', 'truncate', 'grow'];

describe('crash sweep', () => {
  for (const workload of WORKLOADS) {
    it(`${workload}: every crash point lands on the old or the new state`, async () => {
      const base = await createSweepBase(temp(`${workload}-base`), temp(`${workload}-base-tags.json`), generateKey());
      const scratch = { dir: temp(`${workload}-run`), tags: temp(`${workload}-run-tags.json`), key: base.key };
      const result = await sweepCrashes(base, workload, scratch);
      console.log(`crash sweep ${workload}: ${result.crashPoints} points (${result.landedOld} old, ${result.landedNew} new)`);
      expect(result.crashPoints).toBeGreaterThan(5);
      expect(result.landedOld).toBeGreaterThan(0);
      expect(result.landedNew).toBeGreaterThan(0);
      totals.push(result.crashPoints);
    }, 300_000);
  }
});

const totals: number[] = [];
export { totals };
