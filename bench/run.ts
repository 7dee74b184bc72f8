// npm run bench: every figure, ratio and target of the benchmark, measured in one run
// (bench/README.md). Prints one table and writes bench/results.json.
//   npm run bench -- --only files|volumes|fs|attestation|sconify   one section
//   npm run bench -- --only cas                   the policy service (bench/cas.ts)
//   npm run bench -- --only startup --node 20,22,24   the start-up case under each Node line (scripts/with-node.sh)
//   npm run bench -- --volume-files 1,1000,10000   other volume sizes (quick runs while developing)
//   npm run bench -- --build-in-place              build every volume in the bench directory, none on tmpfs
//   npm run bench -- --only fs --fs-files 2000     fewer small files (quick runs while developing)
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { generateKey, ShieldedFile } from '../lib/index.js';
import { native } from '../lib/file/index.js';
import type { FsResults, FsSettings } from './fs-report.js';
import { smallFiles } from './fs-small-files.js';
import { startup } from './fs-startup.js';
import { streams } from './fs-streams.js';
import { attestationRates, type AttestationRate } from './attestation.js';
import { sconifyComparison, type SconifyFigures, type SconifySettings } from './sconify.js';
import { unmountAll, withGocryptfs } from './gocryptfs.js';
import { cpuBusy, freeBytes, machine } from './machine.js';
import { openLatency } from './open-latency.js';
import { peakRss } from './peak-rss.js';
import { report, type FileResults, type Outcome, type Results, type Section } from './report.js';
import { nodeAsync, nodeSync, reference, shieldAsync, shieldSync, type Subject } from './subjects.js';
import { removeVolumeBuilds, volumeSizes, type VolumeSettings } from './volume-latency.js';
import type { VolumeResults } from './volume-report.js';
import { tagStoreComparison } from './volume-tag-stores.js';
import { MiB, pattern, RANDOM_OP, runWorkloads, SEQUENTIAL_OP, type Figures } from './workloads.js';

const settings: FileResults['settings'] = {
  fileBytes: 1024 * MiB,
  sequentialOpBytes: SEQUENTIAL_OP,
  randomOpBytes: RANDOM_OP,
  runs: 3,
  randomReadSeconds: 3,
  randomWrites: 16384,
  seed: 20240601,
  opensEach: 2000,
  ceilingSecondsPerSample: 0.5,
};
const CHUNK_BYTES = 4096;  // shieldfs' default chunk size; the JS reference and the ceiling use it too

const volumeSettings: VolumeSettings = {
  sizes: [1, 1000, 100_000],
  filesPerDirectory: 1000,
  filesPerCommit: 10_000,
  minFileBytes: 100,
  maxFileBytes: 1024,
  commits: 50,
  warmupCommits: 3,
  opens: 7,
  storeCalls: 100,
  buildOnTmpfsFrom: 10_000,
  seed: settings.seed,
};

const fsSettings: FsSettings = {
  smallFiles: {
    files: 10_000,
    fileBytes: 1024,
    runs: 3,
    durableSeconds: 15,
    concurrency: 64,
    readdirSeconds: 1.5,
    seed: settings.seed,
  },
  streams: { fileBytes: 256 * MiB, runs: 3, seed: settings.seed },
  startup: { modules: 1000, minModuleBytes: 1024, maxModuleBytes: 3072, runs: 7, seed: settings.seed },
};

const sconifySettings: SconifySettings = { files: 10_000, bytes: 200 * MiB, filesPerDirectory: 1000, seed: settings.seed };

const { values: args } = parseArgs({
  options: {
    only: { type: 'string' },
    'volume-files': { type: 'string' },
    'build-in-place': { type: 'boolean', default: false },
    'fs-files': { type: 'string' },
    node: { type: 'string' },
  },
});
const SECTIONS: Section[] = ['files', 'volumes', 'fs', 'attestation', 'sconify'];
// The policy service's benchmark has its own table (bench/cas.ts).
if (args.only === 'cas') {
  const { casBenchmark } = await import('./cas.js');
  await casBenchmark();
  process.exit(0);
}
// The start-up case alone, under one or more Node lines, in one table (bench/startup-lines.ts).
if (args.only === 'startup') {
  const { startupLines } = await import('./startup-lines.js');
  await startupLines(fsSettings.startup, args.node ?? process.versions.node.split('.')[0]!);
  process.exit(0);
}
if (args.only !== undefined && !SECTIONS.includes(args.only as Section)) {
  throw new Error(`--only takes one of ${SECTIONS.join(', ')}, got ${JSON.stringify(args.only)}`);
}
const sections: Section[] = args.only === undefined ? SECTIONS : [args.only as Section];
if (args['volume-files'] !== undefined) {
  const sizes = args['volume-files'].split(',').map(Number);
  if (sizes.some((n) => !Number.isInteger(n) || n < 1)) throw new Error(`--volume-files takes file counts like 1,1000,100000`);
  volumeSettings.sizes = sizes.sort((a, b) => a - b);
}
if (args['build-in-place']) volumeSettings.buildOnTmpfsFrom = null;
if (args['fs-files'] !== undefined) {
  const files = Number(args['fs-files']);
  if (!Number.isInteger(files) || files < 1) throw new Error(`--fs-files takes a file count like 2000`);
  fsSettings.smallFiles.files = files;
}

async function main(): Promise<void> {
  // SHIELDFS_BENCH_DIR picks the file system (e.g. /dev/shm to leave the disk out of the figures).
  const dir = mkdtempSync(join(process.env.SHIELDFS_BENCH_DIR ?? tmpdir(), 'shieldfs-bench-'));
  const cleanup = () => {
    unmountAll();
    removeVolumeBuilds();
    rmSync(dir, { recursive: true, force: true });
  };
  process.once('SIGINT', () => {
    cleanup();
    process.exit(130);
  });
  try {
    const needed = sections.includes('files') ? 3 * settings.fileBytes : 2 ** 30;
    if (freeBytes(dir) < needed) throw new Error(`${dir} has less than ${needed / 2 ** 30} GiB free`);
    const results = await measureAll(dir);
    const { ratios, targets, table } = report(results);
    console.log(table);
    const out = fileURLToPath(new URL('./results.json', import.meta.url));
    writeFileSync(out, `${JSON.stringify({ ...results, ratios, targets }, null, 2)}\n`);
    console.log(`raw figures: ${out}`);
  } finally {
    cleanup();
  }
}

const progress = (what: string) => console.error(`· ${what}`);
const unavailable = (error: unknown) => ({ unavailable: error instanceof Error ? error.message : String(error) });

async function measureAll(dir: string): Promise<Results> {
  const date = new Date().toISOString();
  const busyBefore = cpuBusy(1);  // the figures are only as good as the machine is quiet
  const key = generateKey();
  const files = sections.includes('files') ? await measureFiles(dir, key) : {};
  const volumes = sections.includes('volumes') ? await measureVolumes(dir, key) : undefined;
  const fs = sections.includes('fs') ? await measureFs(dir, key) : undefined;
  const attestation = sections.includes('attestation') ? await measureAttestation() : undefined;
  const sconify = sections.includes('sconify') ? await measureSconify(dir) : undefined;
  return {
    date,
    sections,
    cpuBusy: { before: busyBefore, after: cpuBusy(1) },
    machine: machine(dir),
    ...files,
    ...(volumes ? { volumes } : {}),
    ...(fs ? { fs } : {}),
    ...(attestation ? { attestation } : {}),
    ...(sconify ? { sconify } : {}),
  };
}

async function measureSconify(dir: string): Promise<Outcome<SconifyFigures>> {
  return sconifyComparison(dir, sconifySettings, progress).catch(unavailable);
}

async function measureAttestation(): Promise<Outcome<AttestationRate[]>> {
  progress('attestation verifiers');
  return attestationRates(2).catch(unavailable);
}

async function measureVolumes(dir: string, key: Buffer): Promise<VolumeResults> {
  const sizes = await volumeSizes(dir, key, volumeSettings, progress).catch(unavailable);
  const tagStores = await tagStoreComparison(dir, key, volumeSettings, progress);
  return { settings: volumeSettings, sizes, tagStores };
}

// Each part fails on its own: a part that cannot run says why in its place in the table.
async function measureFs(dir: string, key: Buffer): Promise<FsResults> {
  return {
    settings: fsSettings,
    smallFiles: await smallFiles(dir, key, fsSettings.smallFiles, progress).catch(unavailable),
    streams: await streams(dir, key, fsSettings.streams, progress).catch(unavailable),
    startup: await startup(dir, key, fsSettings.startup, progress).catch(unavailable),
  };
}

async function measureFiles(dir: string, key: Buffer): Promise<FileResults> {
  // The ceiling is sampled before and after every subject; the best sample counts (on a shared
  // machine more samples make it likelier that one catches the CPUs quiet).
  const ceilingSamples = { oneThread: [] as number[], allCores: [] as number[] };
  const sampleCeiling = () => {
    ceilingSamples.oneThread.push(native.gcmThroughput(CHUNK_BYTES, 1, settings.ceilingSecondsPerSample));
    ceilingSamples.allCores.push(native.gcmThroughput(CHUNK_BYTES, native.cores, settings.ceilingSecondsPerSample));
  };

  const subjects: Record<string, Outcome<Figures>> = {};
  const run = async (subject: Subject, path: string, afterwards?: (path: string) => void) => {
    progress(subject.name);
    sampleCeiling();
    subjects[subject.name] = await runWorkloads(subject, path, settings);
    sampleCeiling();
    afterwards?.(path);
    rmSync(path, { force: true });
  };

  let rss: FileResults['peakRss'] = { unavailable: 'not measured' };
  await run(shieldAsync(key), join(dir, 'shield-async'));
  await run(shieldSync(key), join(dir, 'shield-sync'), (path) => {
    progress('peak RSS of a child reading 1 GiB');
    try {
      rss = peakRss(path, key);
    } catch (error) {
      rss = unavailable(error);
    }
  });
  await run(nodeAsync(), join(dir, 'node-async'));
  await run(nodeSync(), join(dir, 'node-sync'));
  try {
    // The comparison only means something if it is the same format: shieldfs must read the file back.
    await run(await reference(key, CHUNK_BYTES), join(dir, 'reference'), (path) => {
      const file = ShieldedFile.openSync(path, { key, readOnly: true });
      const tail = Buffer.alloc(SEQUENTIAL_OP);
      file.readSync(tail, 0, tail.length, settings.fileBytes - tail.length);
      file.closeSync();
      if (!tail.equals(pattern(settings.seed))) throw new Error('shieldfs reads the JS reference file differently');
    });
  } catch (error) {
    subjects['JS reference'] = unavailable(error);
  }

  let gocryptfs: FileResults['gocryptfs'];
  try {
    gocryptfs = await withGocryptfs(join(dir, 'gocryptfs'), async ({ mountpoint, version }) => {
      await run(nodeSync('gocryptfs'), join(mountpoint, 'file'));
      return { version };
    });
  } catch (error) {
    gocryptfs = unavailable(error);
    subjects.gocryptfs = gocryptfs;
  }

  progress('open latency');
  const open = await openLatency(dir, key, settings.opensEach).catch(unavailable);
  const best = (samples: number[]) => Math.max(...samples);
  return {
    settings,
    ceiling: {
      chunkBytes: CHUNK_BYTES,
      threads: native.cores,
      oneThreadBytesPerSecond: best(ceilingSamples.oneThread),
      allCoresBytesPerSecond: best(ceilingSamples.allCores),
      samples: ceilingSamples,
    },
    subjects,
    gocryptfs,
    openLatency: open,
    peakRss: rss,
  };
}

await main();
