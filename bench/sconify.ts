// sconify time of an image of many files against `umoci repack` of the same content, in one run: the
// native image (this machine's node and its libraries, and /app with `files` files of `bytes` bytes
// in all, seeded pseudo-random content) is made with umoci (init, new, unpack, copy, repack: the
// repack is timed), then `sconifyImage` turns it into the confidential one with /app as a protected
// tree (timed). The ratio says what sconify costs over packing the same files once. Then the start-up
// of a confidential container over the native one under runc (bench/container-startup.ts).
//   node --import tsx bench/sconify.ts [files] [megabytes]
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { sconifyImage } from '../lib/image/index.js';
import { nodeRuntimeFiles } from '../test/support/oci-bundle.js';
import { seededRandom, randomBytesFrom } from '../test/support/random.js';
import { table, type Row } from './report-format.js';
import { containerStartupComparison, containerStartupReport, type ContainerStartupFigures } from './container-startup.js';

export interface SconifySettings {
  files: number;
  bytes: number;
  filesPerDirectory: number;
  seed: number;
}

export interface SconifyFigures {
  settings: SconifySettings;
  umociVersion: string;
  /** Bytes in the image's root file system (node, libraries, /app). */
  rootfsBytes: number;
  umociRepackSeconds: number;
  sconifySeconds: number;
  /** The confidential container's start against the native one's, under runc (bench/container-startup.ts). */
  startup: ContainerStartupFigures;
}

export async function sconifyComparison(dir: string, settings: SconifySettings, progress: (what: string) => void): Promise<SconifyFigures> {
  const umociVersion = execFileSync('umoci', ['--version'], { encoding: 'utf8' }).trim();
  const work = fs.mkdtempSync(join(dir, 'sconify-'));
  try {
    const layout = join(work, 'layout');
    const bundle = join(work, 'bundle');
    execFileSync('umoci', ['init', '--layout', layout]);
    execFileSync('umoci', ['new', '--image', `${layout}:base`]);
    execFileSync('umoci', ['unpack', '--image', `${layout}:base`, bundle], { stdio: 'ignore' });
    const rootfs = join(bundle, 'rootfs');
    progress(`sconify: writing ${settings.files} files (${(settings.bytes / 2 ** 20).toFixed(0)} MiB) and node into a bundle`);
    let rootfsBytes = 0;
    for (const file of nodeRuntimeFiles()) {
      fs.mkdirSync(join(rootfs, dirname(file)), { recursive: true });
      fs.copyFileSync(fs.realpathSync(file), join(rootfs, file));
      rootfsBytes += fs.statSync(join(rootfs, file)).size;
    }
    const random = seededRandom(settings.seed);
    const each = Math.floor(settings.bytes / settings.files);
    for (let i = 0; i < settings.files; i++) {
      const directory = join(rootfs, 'app', `d${Math.floor(i / settings.filesPerDirectory)}`);
      if (i % settings.filesPerDirectory === 0) fs.mkdirSync(directory, { recursive: true });
      fs.writeFileSync(join(directory, `f${i}.js`), randomBytesFrom(random, each));
      rootfsBytes += each;
    }
    progress('sconify: umoci repack of the bundle');
    const repackStart = process.hrtime.bigint();
    execFileSync('umoci', ['repack', '--image', `${layout}:native`, bundle], { stdio: 'ignore' });
    const umociRepackSeconds = Number(process.hrtime.bigint() - repackStart) / 1e9;
    execFileSync('umoci', ['config', '--image', `${layout}:native`, '--config.entrypoint', process.execPath, '--config.cmd', '/app/d0/f0.js'], { stdio: 'ignore' });
    fs.rmSync(bundle, { recursive: true, force: true });

    progress('sconify: shield sconify of the image, /app as a protected tree');
    const start = process.hrtime.bigint();
    await sconifyImage({ from: `oci:${layout}:native`, to: `oci:${layout}:confidential`, sessionName: 'bench/sconify', serviceName: 'bench', dirs: ['/app'] });
    const sconifySeconds = Number(process.hrtime.bigint() - start) / 1e9;
    fs.rmSync(layout, { recursive: true, force: true });
    const startup = await containerStartupComparison(work, 7, progress);
    return { settings, umociVersion, rootfsBytes, umociRepackSeconds, sconifySeconds, startup };
  } finally {
    fs.rmSync(work, { recursive: true, force: true });
  }
}

export interface SconifyReport {
  ratios: Record<string, number>;
  lines: string[];
}

export function sconifyReport(figures: SconifyFigures): SconifyReport {
  const { settings, umociRepackSeconds, sconifySeconds, rootfsBytes } = figures;
  const ratio = sconifySeconds / umociRepackSeconds;
  const mib = (b: number) => (b / 2 ** 20).toFixed(0);
  const rows: Row[] = ['head', 'rule',
    { label: `umoci repack (${figures.umociVersion.replace(/^umoci version /, '')})`, cells: [umociRepackSeconds.toFixed(2), '1.00'] },
    { label: 'shield sconify --dir /app', cells: [sconifySeconds.toFixed(2), ratio.toFixed(2)] },
    'rule',
    { label: `An image of ${settings.files} files (${mib(settings.bytes)} MiB) in /app plus node and its libraries (${mib(rootfsBytes)} MiB in all).`, span: '' },
    { label: '  umoci repack packs it once (gzip); sconify reads and checks the image, unpacks it, encrypts /app into a tree,', span: '' },
    { label: '  writes the node layer again without /app, and adds the tree and runtime layers (gzip).', span: '' },
  ];
  const startup = containerStartupReport(figures.startup);
  return { ratios: { sconifyOverUmociRepack: ratio, ...startup.ratios }, lines: [...table(['sconify', 'seconds', '/ umoci repack'], rows), '', ...startup.lines] };
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const settings = { files: Number(process.argv[2] ?? 10_000), bytes: Number(process.argv[3] ?? 200) * 2 ** 20, filesPerDirectory: 1000, seed: 20240601 };
  const dir = fs.mkdtempSync(join(process.env.SHIELDFS_BENCH_DIR ?? tmpdir(), 'shieldfs-bench-'));
  try {
    console.log(sconifyReport(await sconifyComparison(dir, settings, (what) => console.error(`· ${what}`))).lines.join('\n'));
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
