// The extra start-up of a confidential container over the native one, under runc, in one run: the
// counter service's native image (this machine's node and its libraries, /app/counter.cjs) and the
// image `shield sconify --cas` makes of it (/app a protected tree, /V1 a volume), against the policy
// service on loopback. Each start is timed from `runc run` to the container's exit; the two kinds are
// interleaved so that the machine's noise falls on both alike. A confidential start measures its
// runtime (hashes node and the shieldfs files), is attested (simulation evidence: no TEE here), gets
// its keys from the policy service, opens the tree and the volume, and commits the volume's tag.
//   node --import tsx bench/container-startup.ts [runs]
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { SHIELD_JS } from '../test/support/cli-run.js';
import { startCasService } from '../test/support/cas-service.js';
import { buildCounterImage, runBundle, toolsUnavailable, unpackBundle } from '../test/support/oci-bundle.js';
import { table, type Row } from './report-format.js';

export interface ContainerStartupFigures {
  runs: number;
  nativeSeconds: number[];
  confidentialSeconds: number[];
}

export async function containerStartupComparison(dir: string, runs: number, progress: (what: string) => void): Promise<ContainerStartupFigures> {
  const unavailable = toolsUnavailable();
  if (unavailable) throw new Error(unavailable);
  const work = fs.mkdtempSync(join(dir, 'container-startup-'));
  const cas = await startCasService(join(work, 'cas-store'));
  try {
    progress('container start-up: building the native counter image and sconifying it against the policy service');
    const native = await buildCounterImage(join(work, 'build'), join(work, 'layout'));
    const identity = join(work, 'owner.pem');
    const shield = (args: string[]) => execFileSync(process.execPath, [SHIELD_JS, ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
    shield(['identity', 'create', '--identity', identity]);
    shield(['sconify', '--from', native.reference, '--to', `oci:${join(work, 'out')}:confidential`, '--name', 'bench/counter', '--service-name', 'counter',
      '--dir', '/app', '--volume', 'V1:/V1', '--tolerate', 'simulation', '--cas', cas.url, '--cas-key', cas.key, '--identity', identity]);
    const bundles = { native: join(work, 'native-bundle'), confidential: join(work, 'confidential-bundle') };
    unpackBundle(native.layout, native.tag, bundles.native);
    unpackBundle(join(work, 'out'), 'confidential', bundles.confidential);
    const volumes = { native: join(work, 'v1-native'), confidential: join(work, 'v1-confidential') };
    for (const v of Object.values(volumes)) fs.mkdirSync(v);
    const figures: ContainerStartupFigures = { runs, nativeSeconds: [], confidentialSeconds: [] };
    // One start of each first, untimed: the page cache then holds both images.
    for (let i = -1; i < runs; i++) {
      progress(`container start-up: run ${i + 2} of ${runs + 1} of each`);
      for (const kind of ['native', 'confidential'] as const) {
        const start = process.hrtime.bigint();
        const run = runBundle(bundles[kind], { binds: { '/V1': volumes[kind] }, hostNetwork: true });
        const seconds = Number(process.hrtime.bigint() - start) / 1e9;
        if (run.status !== 0 || run.stdout.trim() !== String(i + 1)) {
          throw new Error(`the ${kind} container did not count (${run.status}): ${run.stdout.trim()} ${run.stderr.trim()}`);
        }
        if (i >= 0) (kind === 'native' ? figures.nativeSeconds : figures.confidentialSeconds).push(seconds);
      }
    }
    return figures;
  } finally {
    await cas.stop();
    fs.rmSync(work, { recursive: true, force: true });
  }
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const middle = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[middle]! : (sorted[middle - 1]! + sorted[middle]!) / 2;
}

export function containerStartupReport(figures: ContainerStartupFigures): { ratios: Record<string, number>; lines: string[] } {
  const native = median(figures.nativeSeconds), confidential = median(figures.confidentialSeconds);
  const rows: Row[] = ['head', 'rule',
    { label: 'native container (node counter.cjs)', cells: [native.toFixed(3), '1.00'] },
    { label: 'confidential container (shield run --cas)', cells: [confidential.toFixed(3), (confidential / native).toFixed(2)] },
    'rule',
    { label: `Median of ${figures.runs} starts each under runc, interleaved, from \`runc run\` to exit; the confidential one also`, span: '' },
    { label: `  measures its runtime, is attested (simulation), gets its keys from the policy service on loopback: +${((confidential - native) * 1000).toFixed(0)} ms.`, span: '' },
  ];
  return { ratios: { confidentialOverNativeStart: confidential / native }, lines: table(['container start-up', 'seconds', '/ native'], rows) };
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const dir = fs.mkdtempSync(join(process.env.SHIELDFS_BENCH_DIR ?? tmpdir(), 'shieldfs-bench-'));
  try {
    console.log(containerStartupReport(await containerStartupComparison(dir, Number(process.argv[2] ?? 7), (what) => console.error(`· ${what}`))).lines.join('\n'));
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}
