// npm run bench -- --only cas: the policy service under 32 concurrent clients on loopback, with the
// embedded store (SQLite on the bench directory's disk) and with a 3-member etcd cluster: durable
// volume-tag compare-and-sets and releases (simulation evidence), throughput, p50 and p99; and a
// one-file volume commit through the service side by side with the `file:` tag store. The service
// runs as its own process (`shield cas serve` from dist/), as in production. Prints one table and
// writes bench/cas-results.json.
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { Volume } from '../lib/index.js';
import {
  CasClient, casTagStoreUrl, createIdentity, registerCasInstance, requestRelease, simulationEvidenceSource, type CasLocation,
} from '../lib/cas/index.js';
import { startEtcdCluster } from '../test/support/etcd-cluster.js';

const CLIENTS = 32;
const SECONDS = 3;
const COMMITS = 200;
const MEASUREMENT = '9a'.repeat(32);
const SHIELD_JS = fileURLToPath(new URL('../dist/cli/shield.js', import.meta.url));

interface Throughput { perSecond: number; p50Ms: number; p99Ms: number; operations: number }
interface StoreFigures { tagUpdates: Throughput; releases: Throughput }

export async function casBenchmark(): Promise<void> {
  const dir = mkdtempSync(join(process.env.SHIELDFS_BENCH_DIR ?? tmpdir(), 'shieldfs-bench-cas-'));
  // The figures are only as good as the machine is quiet: the load is printed with them.
  const results: Record<string, unknown> = { date: new Date().toISOString(), clients: CLIENTS, seconds: SECONDS, cores: cpus().length, loadBefore: loadavg()[0] };
  try {
    const embedded = await startService(['--store', join(dir, 'embedded')]);
    try {
      results.embedded = await measureStore(embedded.location, 'embedded');
      results.commit = await compareCommit(embedded.location, dir);
    } finally {
      await embedded.stop();
    }
    try {
      const cluster = await startEtcdCluster(3);
      try {
        const masterKey = join(dir, 'master.key');
        writeFileSync(masterKey, randomBytes(32).toString('hex'), { mode: 0o600 });
        const replicated = await startService(['--store', `${cluster.url}/bench-${Date.now()}/`, '--master-key-file', masterKey]);
        try {
          results.etcd = await measureStore(replicated.location, 'etcd');
        } finally {
          await replicated.stop();
        }
      } finally {
        await cluster.stop();
      }
    } catch (error) {
      results.etcd = { unavailable: (error as Error).message };
    }
    results.loadAfter = loadavg()[0];
    printTable(results);
    const out = fileURLToPath(new URL('./cas-results.json', import.meta.url));
    writeFileSync(out, `${JSON.stringify(results, null, 2)}\n`);
    console.log(`raw figures: ${out}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

async function startService(args: string[]): Promise<{ location: CasLocation; stop(): Promise<void> }> {
  const child: ChildProcess = spawn(process.execPath, [SHIELD_JS, 'cas', 'serve', '--listen', '127.0.0.1:0', '--json', ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
  const location = await new Promise<CasLocation>((resolve, reject) => {
    let out = '';
    child.stdout!.on('data', (piece: Buffer) => {
      out += piece.toString();
      if (out.includes('\n')) {
        const { url, key } = JSON.parse(out.split('\n')[0]!);
        resolve({ url, key });
      }
    });
    child.once('exit', (code) => reject(new Error(`shield cas serve ended (${code}) before it was ready`)));
  });
  return { location, stop: () => new Promise((resolve) => { child.once('exit', () => resolve()); child.kill('SIGTERM'); }) };
}

async function setUp(location: CasLocation, name: string): Promise<string> {
  const owner = await createIdentity('bench owner');
  const client = new CasClient(location, owner);
  const volumes = Array.from({ length: CLIENTS + 1 }, (_, i) => `V${i}`);
  await client.call('POST', '/v1/sessions', { yaml: [
    `name: bench/${name}`, 'version: "0.3"', 'services:', '  - name: svc', '    image_name: img', '    command: "node /app/a.cjs"', `    measurement: "${MEASUREMENT}"`,
    'volumes:', ...volumes.map((v) => `  - { name: ${v} }`), 'images:', '  - name: img', '    volumes:', ...volumes.map((v) => `      - { name: ${v}, path: /${v} }`),
    'security:', '  attestation: { tolerate: [simulation] }', ''].join('\n') });
  client.close();
  const instance = new CasClient(location);
  try {
    const config = await requestRelease(instance, { session: `bench/${name}`, service: 'svc', hostCommand: null, evidence: simulationEvidenceSource(MEASUREMENT) });
    return config.credential;
  } finally {
    instance.close();
  }
}

async function measureStore(location: CasLocation, name: string): Promise<StoreFigures> {
  console.error(`· policy service, ${name} store: tag updates and releases, ${CLIENTS} clients`);
  const credential = await setUp(location, name);
  const tagUpdates = await load(location, async (client, i, n) => {
    const volumeId = i.toString(16).padStart(32, '0');
    const tag = (k: number) => k.toString(16).padStart(64, '0');
    const swapped = await client.call<{ swapped: boolean }>('POST', '/v1/tags/compare-and-set', {
      credential, volume: `V${i}`, volumeId, expected: n === 0 ? null : tag(n), next: tag(n + 1),
    });
    if (!swapped.swapped) throw new Error(`tag update ${n} of V${i} was refused`);
  });
  const releases = await load(location, async (client) => {
    await requestRelease(client, { session: `bench/${name}`, service: 'svc', hostCommand: null, evidence: simulationEvidenceSource(MEASUREMENT) });
  });
  return { tagUpdates, releases };
}

/** CLIENTS loops, each with its own connection, for SECONDS. */
async function load(location: CasLocation, operation: (client: CasClient, clientIndex: number, n: number) => Promise<void>): Promise<Throughput> {
  const latencies: number[] = [];
  const clients = Array.from({ length: CLIENTS }, () => new CasClient(location));
  // One warm-up operation per client opens its connection.
  const counts = new Array<number>(CLIENTS).fill(0);
  await Promise.all(clients.map(async (client, i) => operation(client, i, counts[i]!++)));
  const start = performance.now(), end = start + SECONDS * 1000;
  await Promise.all(clients.map(async (client, i) => {
    while (performance.now() < end) {
      const t = performance.now();
      await operation(client, i, counts[i]!++);
      latencies.push(performance.now() - t);
    }
  }));
  const elapsed = (performance.now() - start) / 1000;
  for (const client of clients) client.close();
  latencies.sort((a, b) => a - b);
  const at = (p: number) => latencies[Math.min(latencies.length - 1, Math.floor((p / 100) * latencies.length))]!;
  return { perSecond: latencies.length / elapsed, p50Ms: at(50), p99Ms: at(99), operations: latencies.length };
}

/** The same one-file commit with the volume's tag in the service and in a `file:` store, alternating. */
async function compareCommit(location: CasLocation, dir: string): Promise<{ casMs: number; fileMs: number; ratio: number }> {
  console.error('· one-file commit: cas:// vs file:');
  const credential = await setUp(location, 'commit');
  registerCasInstance({ ...location, credential });
  const key = randomBytes(32);
  mkdirSync(join(dir, 'volumes'));
  const viaCas = await Volume.create(join(dir, 'volumes', 'cas'), { key, tagStore: casTagStoreUrl(location.url, `V${CLIENTS}`) });
  const viaFile = await Volume.create(join(dir, 'volumes', 'file'), { key, tagStore: `file:${join(dir, 'tags.json')}` });
  const samples = { cas: [] as number[], file: [] as number[] };
  for (let i = 0; i < COMMITS; i++) {
    for (const [volume, into] of [[viaCas, samples.cas], [viaFile, samples.file]] as const) {
      await volume.writeFile('/f', Buffer.from(`value ${i}`));
      const t = performance.now();
      await volume.commit();
      into.push(performance.now() - t);
    }
  }
  await viaCas.close();
  await viaFile.close();
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;
  return { casMs: median(samples.cas), fileMs: median(samples.file), ratio: median(samples.cas) / median(samples.file) };
}

function printTable(results: Record<string, any>): void {
  const rows: string[][] = [['store', 'operation', 'per second', 'p50 ms', 'p99 ms', 'target', 'met']];
  const add = (store: string, what: string, t: Throughput | undefined, target: { perSecond: number; p99Ms: number } | null) => {
    if (!t) return;
    const met = target ? (t.perSecond >= target.perSecond && t.p99Ms <= target.p99Ms ? 'yes' : 'NO') : '';
    rows.push([store, what, t.perSecond.toFixed(0), t.p50Ms.toFixed(2), t.p99Ms.toFixed(2), target ? `≥ ${target.perSecond}/s, p99 ≤ ${target.p99Ms} ms` : '', met]);
  };
  add('embedded', 'tag compare-and-set', results.embedded?.tagUpdates, { perSecond: 2000, p99Ms: 10 });
  add('embedded', 'release', results.embedded?.releases, { perSecond: 500, p99Ms: 20 });
  if (results.etcd?.unavailable) rows.push(['etcd', results.etcd.unavailable, '', '', '', '', '']);
  add('etcd', 'tag compare-and-set', results.etcd?.tagUpdates, { perSecond: 1000, p99Ms: 25 });
  add('etcd', 'release', results.etcd?.releases, null);
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
  console.log(rows.map((r) => r.map((cell, c) => cell.padEnd(widths[c]!)).join('  ')).join('\n'));
  console.log(`machine: ${results.cores} cores, load average ${Number(results.loadBefore).toFixed(1)} before, ${Number(results.loadAfter).toFixed(1)} after ` +
    '(client and service share these cores; a load above the core count means other work took CPU from both)');
  const commit = results.commit;
  if (commit) {
    console.log(`one-file commit: cas:// ${commit.casMs.toFixed(2)} ms, file: ${commit.fileMs.toFixed(2)} ms (median), ratio ${commit.ratio.toFixed(2)} ` +
      `(target ≤ 2): ${commit.ratio <= 2 ? 'met' : 'NOT met'}`);
  }
}
