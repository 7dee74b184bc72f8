// Peak resident memory of a fresh process that reads a 1 GiB shielded file (bench/read-child.ts).
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export interface PeakRss {
  bytesRead: number;
  /** VmRSS / VmHWM after loading and opening, just before the reads. */
  rssBeforeKiB: number;
  hwmBeforeKiB: number;
  /** VmHWM after the reads: the process's peak. */
  peakKiB: number;
  /** process.resourceUsage().maxRSS, the same peak as the kernel's rusage reports it. */
  maxRssKiB: number;
}

const child = fileURLToPath(new URL('./read-child.ts', import.meta.url));
const projectRoot = fileURLToPath(new URL('..', import.meta.url));

export function peakRss(path: string, key: Buffer): PeakRss {
  const result = spawnSync(process.execPath, ['--import', 'tsx', child, path], {
    cwd: projectRoot,
    encoding: 'utf8',
    env: { ...process.env, SHIELDFS_BENCH_KEY: key.toString('hex') },
  });
  if (result.status !== 0) throw new Error(`read-child.ts failed (${result.status}): ${result.stderr.trim()}`);
  return JSON.parse(result.stdout.trim().split('\n').pop()!) as PeakRss;
}
