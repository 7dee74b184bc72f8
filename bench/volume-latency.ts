// Volume metadata latency: volumes of 1, 1,000 and 100,000 small files are built once per run; in
// each, a one-file change + commit and an open (the manifest read and verified) are timed. Metadata
// work must scale with what changed, not with the volume (bench/README.md, "Volumes").
import { spawnSync } from 'node:child_process';
import { accessSync, constants, mkdtempSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { Volume } from '../lib/index.js';
import { RESERVED_NAME } from '../lib/volume/index.js';
import { randomBytesFrom, seededRandom } from '../test/support/random.js';
import { filesystemOf, freeBytes } from './machine.js';
import { median, percentile } from './timing.js';

export interface VolumeSettings {
  /** Files per volume, one volume per entry. */
  sizes: number[];
  filesPerDirectory: number;
  /** The build commits after every this many files (and once at the end). */
  filesPerCommit: number;
  minFileBytes: number;
  maxFileBytes: number;
  /** Timed commits of each kind per volume (after `warmupCommits` untimed ones). */
  commits: number;
  warmupCommits: number;
  /** Timed opens of each kind per volume (writable, read-only; interleaved). */
  opens: number;
  /** Timed get / compareAndSet calls per tag store (after `warmupCommits` untimed ones). */
  storeCalls: number;
  /** Volumes of at least this many files are built on tmpfs and copied into the bench directory
   *  (null: everything is built in place). Ignored when the bench directory is on tmpfs. */
  buildOnTmpfsFrom: number | null;
  seed: number;
}

/** Per-call times of one operation; every sample (seconds) is kept. */
export interface Latency {
  runs: number;
  medianSeconds: number;
  p90Seconds: number;
  samples: number[];
}

export interface VolumeBuild {
  seconds: number;
  /** Commits the build made (one per `filesPerCommit` files, the last one at the end). */
  commits: number;
  /** Where the volume was built: the bench directory's file system, or a tmpfs directory it was copied from. */
  builtOn: string;
  /** `cp -a` from tmpfs into the bench directory plus `sync -f`, when it was built on tmpfs. */
  copySeconds?: number;
}

export interface VolumeSize {
  files: number;
  directories: number;
  fileBytes: number;
  manifestBytes: number;
  build: VolumeBuild;
  /** writeFile of one existing file (new content, same size class) + commit. */
  overwriteCommit: Latency;
  /** The commit() alone of the same iterations. */
  overwriteCommitOnly: Latency;
  /** rename of one file (back and forth) + commit: metadata only. */
  renameCommit: Latency;
  /** Volume.open + close, writable (takes the lock, sweeps the object store). */
  open: Latency;
  openReadOnly: Latency;
}

export interface VolumeSizes {
  tagStore: 'file';
  filesystem: string;
  sizes: VolumeSize[];
}

export function latency(samples: number[]): Latency {
  return { runs: samples.length, medianSeconds: median(samples), p90Seconds: percentile(samples, 90), samples };
}

const TMPFS = '/dev/shm';
/** Generous room per file for a build on tmpfs (a 1 KiB file's object is ~8 KiB on disk). */
const BUILD_BYTES_PER_FILE = 16 * 1024;

/** Paths of the generated tree: /dNNN/fNNNNNN, `filesPerDirectory` files per directory. */
export function fileName(i: number, settings: VolumeSettings): string {
  return `${directoryName(i, settings)}/f${String(i).padStart(6, '0')}`;
}

function directoryName(i: number, settings: VolumeSettings): string {
  return `/d${String(Math.floor(i / settings.filesPerDirectory)).padStart(3, '0')}`;
}

export async function volumeSizes(dir: string, key: Buffer, settings: VolumeSettings,
                                  progress: (what: string) => void): Promise<VolumeSizes> {
  const tagStore = `file:${join(dir, 'volume-tags.json')}`;
  const filesystem = filesystemOf(dir);
  const paths = settings.sizes.map((files) => join(dir, `volume-${files}`));
  try {
    // All volumes stay on disk and every measurement goes round them in turn, so drift (other load,
    // the hypervisor reclaiming memory, writeback) hits every size alike and the ratios stay fair.
    const built: Array<{ build: VolumeBuild; fileBytes: number }> = [];
    for (const [i, files] of settings.sizes.entries()) {
      progress(`volume of ${files.toLocaleString('en-US')} files: build`);
      built.push(await buildVolume(paths[i]!, files, key, tagStore, settings, filesystem, progress));
    }
    progress('volumes: commits');
    const commits = await commitLatency(paths, key, tagStore, settings);
    progress('volumes: opens');
    const opens = await openLatency(paths, key, tagStore, settings);
    const sizes = settings.sizes.map((files, i): VolumeSize => ({
      files,
      directories: Math.ceil(files / settings.filesPerDirectory),
      fileBytes: built[i]!.fileBytes,
      manifestBytes: statSync(join(paths[i]!, RESERVED_NAME, 'manifest')).size,
      build: built[i]!.build,
      ...commits[i]!,
      ...opens[i]!,
    }));
    return { tagStore: 'file', filesystem, sizes };
  } finally {
    for (const path of paths) rmSync(path, { recursive: true, force: true });
  }
}

/** Creates a volume of `files` small files in `path` (directly, or on tmpfs and copied). */
async function buildVolume(path: string, files: number, key: Buffer, tagStore: string, settings: VolumeSettings,
                           filesystem: string, progress: (what: string) => void): Promise<{ build: VolumeBuild; fileBytes: number }> {
  const onTmpfs = settings.buildOnTmpfsFrom !== null && files >= settings.buildOnTmpfsFrom &&
    !filesystem.startsWith('tmpfs') && writable(TMPFS) && freeBytes(TMPFS) > files * BUILD_BYTES_PER_FILE;
  const buildRoot = onTmpfs ? mkdtempSync(join(TMPFS, 'shieldfs-bench-build-')) : null;
  if (buildRoot) buildRoots.add(buildRoot);
  try {
    const target = buildRoot ? join(buildRoot, 'volume') : path;
    const random = seededRandom(settings.seed + files);
    const pool = randomBytesFrom(random, settings.maxFileBytes);
    let fileBytes = 0, commits = 0;
    const start = performance.now();
    const volume = await Volume.create(target, { key, tagStore });
    try {
      for (let i = 0; i < files; i++) {
        if (i % settings.filesPerDirectory === 0) volume.mkdir(directoryName(i, settings));
        const bytes = settings.minFileBytes + Math.floor(random() * (settings.maxFileBytes - settings.minFileBytes + 1));
        await volume.writeFile(fileName(i, settings), pool.subarray(0, bytes));
        fileBytes += bytes;
        if ((i + 1) % settings.filesPerCommit === 0 || i + 1 === files) {
          await volume.commit();
          commits++;
          if (files > settings.filesPerCommit) progress(`  ${(i + 1).toLocaleString('en-US')} files committed`);
        }
      }
    } finally {
      await volume.close();
    }
    const seconds = (performance.now() - start) / 1000;
    if (!buildRoot) return { build: { seconds, commits, builtOn: filesystem }, fileBytes };

    // The copy is the same volume (same id, same tag, same objects), so the tag store accepts it.
    const copyStart = performance.now();
    run('cp', ['-a', target, path]);
    run('sync', ['-f', path]);  // write it back now, not during the timed commits
    const copySeconds = (performance.now() - copyStart) / 1000;
    return { build: { seconds, commits, builtOn: `${filesystemOf(buildRoot).split(' ')[0]} (${TMPFS})`, copySeconds }, fileBytes };
  } finally {
    if (buildRoot) {
      rmSync(buildRoot, { recursive: true, force: true });
      buildRoots.delete(buildRoot);
    }
  }
}

const buildRoots = new Set<string>();

/** Removes the tmpfs build directories still there (the bench was interrupted during a build). */
export function removeVolumeBuilds(): void {
  for (const root of buildRoots) rmSync(root, { recursive: true, force: true });
  buildRoots.clear();
}

// Every volume opened once; then rounds of: an overwrite + commit in each volume, a rename + commit
// in each volume. The file changed is the middle one of each volume.
async function commitLatency(paths: string[], key: Buffer, tagStore: string, settings: VolumeSettings) {
  const volumes: Volume[] = [];
  try {
    for (const path of paths) volumes.push(await Volume.open(path, { key, tagStore }));
    const per = volumes.map((volume, i) => {
      const files = settings.sizes[i]!;
      const info = volume.info();
      if (info.files !== files) throw new Error(`the volume of ${files} files holds ${info.files}`);
      const from = fileName(Math.floor(files / 2), settings);
      const to = `${from}.moved`;
      let moved = false;
      const rename = async () => {
        if (moved) volume.rename(to, from);
        else volume.rename(from, to);
        moved = !moved;
        await volume.commit();
      };
      return { ...overwriter(volume, from, settings), rename, overwriteSamples: [] as number[], renameSamples: [] as number[] };
    });
    const time = async (op: () => Promise<void>, samples: number[] | null) => {
      const start = performance.now();
      await op();
      samples?.push((performance.now() - start) / 1000);
    };
    for (let round = -settings.warmupCommits; round < settings.commits; round++) {
      if (round === 0) {
        for (const p of per) p.commitOnly.length = 0;
        globalThis.gc?.();  // start the timed rounds with a clean heap (node --expose-gc)
      }
      for (const p of per) await time(p.overwrite, round >= 0 ? p.overwriteSamples : null);
      for (const p of per) await time(p.rename, round >= 0 ? p.renameSamples : null);
    }
    return per.map((p) => ({
      overwriteCommit: latency(p.overwriteSamples),
      overwriteCommitOnly: latency(p.commitOnly),
      renameCommit: latency(p.renameSamples),
    }));
  } finally {
    for (const volume of volumes) await volume.close();
  }
}

/**
 * One overwrite + commit of `path` per call, alternating between two contents of the same size
 * (every call changes the file); `commitOnly` collects the commit's share of every call.
 */
export function overwriter(volume: Volume, path: string, settings: Pick<VolumeSettings, 'seed' | 'maxFileBytes'>) {
  const pool = randomBytesFrom(seededRandom(settings.seed), settings.maxFileBytes + 1);
  const contents = [pool.subarray(0, 512), pool.subarray(1, 513)];
  const commitOnly: number[] = [];
  let i = 0;
  const overwrite = async () => {
    await volume.writeFile(path, contents[i++ % 2]!);
    const start = performance.now();
    await volume.commit();
    commitOnly.push((performance.now() - start) / 1000);
  };
  return { overwrite, commitOnly };
}

// Rounds of: each volume opened and closed writable, then read-only; one untimed round first.
async function openLatency(paths: string[], key: Buffer, tagStore: string, settings: VolumeSettings) {
  const samples = paths.map(() => ({ open: [] as number[], openReadOnly: [] as number[] }));
  for (let round = -1; round < settings.opens; round++) {
    if (round === 0) globalThis.gc?.();
    for (const [i, path] of paths.entries()) {
      for (const readOnly of [false, true]) {
        const start = performance.now();
        const volume = await Volume.open(path, { key, tagStore, readOnly });
        await volume.close();
        if (round >= 0) samples[i]![readOnly ? 'openReadOnly' : 'open'].push((performance.now() - start) / 1000);
      }
    }
  }
  return samples.map((s) => ({ open: latency(s.open), openReadOnly: latency(s.openReadOnly) }));
}

function writable(dir: string): boolean {
  try {
    accessSync(dir, constants.W_OK);
    return true;
  } catch {
    return false;
  }
}

function run(command: string, args: string[]): void {
  const result = spawnSync(command, args, { encoding: 'utf8' });
  if (result.status !== 0) throw new Error(`${command} ${args.join(' ')} failed: ${result.error?.message ?? result.stderr.trim()}`);
}
