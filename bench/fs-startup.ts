// Start-up of an application loaded from a protected tree: a generated CommonJS app of 1,000 modules
// run plain (`node main.js`), under `--import shieldfs/register` with its tree mounted but the app
// read from the disk (the register's fixed cost), and from the protected tree (`/app/main.js`).
// Every run is a whole process; medians of several (bench/README.md, "Drop-in fs").
//
// The configuration is JSON, as `shield run` hands it to the processes it starts (the checked
// configuration, SHIELD_CONFIG_CHECKED); one more variant reads it from a YAML file, which costs the
// YAML parser. startupAcrossLines runs the same app under several Node binaries, round by round.
import { spawnSync } from 'node:child_process';
import * as nodeFs from 'node:fs';
import { dirname, join, posix } from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { seededRandom } from '../test/support/random.js';
import type { Outcome } from './report-format.js';
import { latency, type Latency } from './volume-latency.js';

export interface StartupSettings {
  modules: number;
  minModuleBytes: number;
  maxModuleBytes: number;
  /** Timed runs of each variant (after one untimed run that also checks the output). */
  runs: number;
  seed: number;
}

export interface StartupFigures {
  /** The node that ran every variant (`process.version` of that binary). */
  node: string;
  app: { modules: number; directories: number; bytes: number };
  /** protectTree of the app directory (not part of any start-up figure). */
  protect: Outcome<{ seconds: number }>;
  /** Set when dist/ is older than lib/: the register measured is the last build's. */
  distNote: string | null;
  /** `node main.js`. */
  plain: Latency;
  /** `node --import dist/register.js main.js` with SHIELD_CONFIG mounting the tree: the app from the disk. */
  registerOnly: Outcome<Latency>;
  /** `node --import dist/register.js /app/main.js`: the app from the protected tree. */
  encrypted: Outcome<Latency>;
  /** The same with the configuration read from a YAML file. */
  encryptedYaml?: Outcome<Latency>;
}

/** A node binary to measure: its path, and its version as it reports it. */
export interface NodeBinary {
  execPath: string;
  version: string;
}

const REPO = fileURLToPath(new URL('..', import.meta.url));
export const REGISTER = join(REPO, 'dist', 'register.js');
export const APP_MOUNT = '/app';

/** The start-up target for a Node line (issue 10): 1.8× plain node on Node 20, 1.3× on 22 and later. */
export function startupTarget(version: string): number {
  return Number(/^v?(\d+)/.exec(version)?.[1]) <= 20 ? 1.8 : 1.3;
}

type VariantName = 'plain' | 'registerOnly' | 'encrypted' | 'encryptedYaml';

interface Variant {
  name: VariantName;
  node: NodeBinary;
  args: string[];
  cwd: string;
  env: NodeJS.ProcessEnv;
}

export async function startup(dir: string, key: Buffer, settings: StartupSettings,
                              progress: (what: string) => void): Promise<StartupFigures> {
  return (await startupAcrossLines(dir, key, settings, [{ execPath: process.execPath, version: process.version }], progress))[0]!;
}

/** The start-up figures under each of `nodes`, measured in the same rounds (one figure set per node). */
export async function startupAcrossLines(dir: string, key: Buffer, settings: StartupSettings, nodes: NodeBinary[],
                                         progress: (what: string) => void): Promise<StartupFigures[]> {
  const appDir = join(dir, 'startup-app');
  const treeDir = join(dir, 'startup-tree');
  try {
    progress(`start-up: generate ${settings.modules.toLocaleString('en-US')} modules, protect them`);
    const app = generateApp(appDir, settings);
    const protect = await protectApp(appDir, treeDir, key);
    const jsonConfig = join(dir, 'startup-shield.json');
    const yamlConfig = join(dir, 'startup-shield.yaml');
    if (!('unavailable' in protect)) {
      const mount = { path: APP_MOUNT, tree: treeDir, key: key.toString('hex'), tag: protect.tag };
      nodeFs.writeFileSync(jsonConfig, `${JSON.stringify({ mounts: [mount] }, null, 2)}\n`, { mode: 0o600 });
      nodeFs.writeFileSync(yamlConfig,
        `mounts:\n  - { path: ${mount.path}, tree: ${mount.tree}, key: ${mount.key}, tag: ${mount.tag} }\n`, { mode: 0o600 });
    }
    const env = { ...process.env };
    delete env.NODE_OPTIONS;  // the bench's own (tsx) must not reach the children
    delete env.SHIELD_CONFIG;
    delete env.SHIELD_CONFIG_CHECKED;
    const registerMissing = nodeFs.existsSync(REGISTER) ? null : `${REGISTER} is missing: build it (npm run build)`;
    const treeMissing = 'unavailable' in protect ? `no tree: ${protect.unavailable}` : null;
    const variants: Variant[] = nodes.flatMap((node): Variant[] => [
      { name: 'plain', node, args: ['main.js'], cwd: appDir, env },
      { name: 'registerOnly', node, args: ['--import', REGISTER, 'main.js'], cwd: appDir, env: { ...env, SHIELD_CONFIG: jsonConfig } },
      { name: 'encrypted', node, args: ['--import', REGISTER, `${APP_MOUNT}/main.js`], cwd: dir, env: { ...env, SHIELD_CONFIG: jsonConfig } },
      { name: 'encryptedYaml', node, args: ['--import', REGISTER, `${APP_MOUNT}/main.js`], cwd: dir, env: { ...env, SHIELD_CONFIG: yamlConfig } },
    ]);
    const failed = new Map<Variant, string>();
    for (const v of variants) {
      const reason = v.name === 'plain' ? null : registerMissing ?? treeMissing;
      if (reason) failed.set(v, reason);
    }

    // One untimed run of each checks its output; then the timed runs go round the variants (and the
    // nodes), so that drift (other load) hits them alike.
    progress(`start-up: ${settings.runs} runs of each variant${nodes.length > 1 ? ` under ${nodes.map((n) => n.version).join(', ')}` : ''}`);
    const expected = `${JSON.stringify({ modules: settings.modules, checksum: app.checksum })}`;
    for (const v of variants) {
      if (failed.has(v)) continue;
      const reason = check(run(v), expected);
      if (reason) {
        if (v.name === 'plain') throw new Error(`the generated app itself fails under node ${v.node.version}: ${reason}`);
        failed.set(v, reason);
      }
    }
    const samples = new Map<Variant, number[]>(variants.map((v) => [v, []]));
    for (let round = 0; round < settings.runs; round++) {
      for (const v of variants) {
        if (failed.has(v)) continue;
        const result = run(v);
        const reason = check(result, expected);
        if (reason) failed.set(v, `run ${round + 1}: ${reason}`);
        else samples.get(v)!.push(result.seconds);
      }
    }
    const distNote = staleDist();
    return nodes.map((node) => {
      const outcome = (name: VariantName): Outcome<Latency> => {
        const v = variants.find((candidate) => candidate.node === node && candidate.name === name)!;
        return failed.has(v) ? { unavailable: failed.get(v)! } : latency(samples.get(v)!);
      };
      return {
        node: node.version,
        app: { modules: settings.modules, directories: app.directories, bytes: app.bytes },
        protect: 'unavailable' in protect ? protect : { seconds: protect.seconds },
        distNote,
        plain: outcome('plain') as Latency,
        registerOnly: outcome('registerOnly'),
        encrypted: outcome('encrypted'),
        encryptedYaml: outcome('encryptedYaml'),
      };
    });
  } finally {
    nodeFs.rmSync(appDir, { recursive: true, force: true });
    nodeFs.rmSync(treeDir, { recursive: true, force: true });
  }
}

async function protectApp(appDir: string, treeDir: string, key: Buffer): Promise<Outcome<{ seconds: number; tag: string }>> {
  try {
    const { protectTree } = await import('../lib/tree/index.js');
    const start = performance.now();
    const { tag } = await protectTree(appDir, treeDir, { key });
    return { seconds: (performance.now() - start) / 1000, tag };
  } catch (error) {
    return { unavailable: `protectTree failed: ${error instanceof Error ? error.message : String(error)}` };
  }
}

interface RunResult {
  seconds: number;
  status: number | null;
  signal: string | null;
  stdout: string;
  stderr: string;
  /** The process could not be started, or ran into the time limit. */
  error?: string;
}

function run(v: Variant): RunResult {
  const start = performance.now();
  const child = spawnSync(v.node.execPath, v.args, { cwd: v.cwd, env: v.env, encoding: 'utf8', timeout: 120_000 });
  const seconds = (performance.now() - start) / 1000;
  return {
    seconds, status: child.status, signal: child.signal, stdout: child.stdout ?? '', stderr: child.stderr ?? '',
    ...(child.error ? { error: child.error.message } : {}),
  };
}

/** Why a run does not count (null: it printed what the app must print). */
function check(result: RunResult, expected: string): string | null {
  if (result.error) return result.error;
  if (result.status === 0 && result.stdout.trim() === expected) return null;
  const said = firstErrorLine(result.stderr) ?? (result.stdout.trim().split('\n')[0] || 'no output');
  const how = result.signal ? `killed by ${result.signal}` : `exit status ${result.status}`;
  return result.status === 0 ? `printed ${JSON.stringify(result.stdout.trim().slice(0, 120))}, expected ${expected}` : `${how}: ${said}`;
}

// The most telling line of a child's stderr: an error message line if there is one.
function firstErrorLine(stderr: string): string | null {
  const lines = stderr.split('\n').map((l) => l.trim()).filter(Boolean);
  const error = lines.find((l) => /^(shield: |\w*Error\b|Error \[)/.test(l));
  return (error ?? lines[0] ?? null)?.slice(0, 240) ?? null;
}

function staleDist(): string | null {
  if (!nodeFs.existsSync(REGISTER)) return null;
  const built = nodeFs.statSync(REGISTER).mtimeMs;
  let newest = { path: '', mtimeMs: 0 };
  const visit = (directory: string) => {
    for (const entry of nodeFs.readdirSync(directory, { withFileTypes: true })) {
      const path = join(directory, entry.name);
      if (entry.isDirectory()) visit(path);
      else if (entry.name.endsWith('.ts')) {
        const mtimeMs = nodeFs.statSync(path).mtimeMs;
        if (mtimeMs > newest.mtimeMs) newest = { path, mtimeMs };
      }
    }
  };
  visit(join(REPO, 'lib'));
  return newest.mtimeMs > built
    ? `dist/ is older than lib/ (${posix.relative(REPO, newest.path)} changed after the build): the register measured is the last build's`
    : null;
}

// ---------------------------------------------------------------------------------------------
// The generated application

const AREAS = ['core', 'util', 'model', 'service', 'http', 'store', 'config', 'jobs'];
const GROUPS = ['base', 'io', 'cache', 'rules', 'views'];
const WORDS = ['account', 'batch', 'cursor', 'digest', 'entry', 'filter', 'gateway', 'handler', 'index', 'journal', 'ledger',
  'mapper', 'notice', 'order', 'parser', 'queue', 'record', 'schema', 'ticket', 'upload', 'vector', 'worker'];
const BRANCHING = 4;  // module i requires modules 4i+1 … 4i+4: a tree about five levels deep

interface ModuleFile {
  /** Path relative to the app directory, posix. */
  path: string;
  /** How a parent names it in require(): a directory for index.js, with or without ".js" otherwise. */
  requireAs: string;
}

/** Writes the app; returns what main.js must print, and its size. */
export function generateApp(appDir: string, settings: StartupSettings): { checksum: number; directories: number; bytes: number } {
  const random = seededRandom(settings.seed);
  const { modules } = settings;
  // Directories src/<area>/<group>; the first module placed in a directory is its index.js.
  const files: ModuleFile[] = [];
  const seen = new Set<string>();
  for (let i = 0; i < modules; i++) {
    const directory = i === 0 ? 'src' : `src/${AREAS[i % AREAS.length]}/${GROUPS[Math.floor(i / AREAS.length) % GROUPS.length]}`;
    if (!seen.has(directory)) {
      seen.add(directory);
      files.push({ path: `${directory}/index.js`, requireAs: directory });
    } else {
      const base = `${WORDS[i % WORDS.length]}-${i}`;
      files.push({ path: `${directory}/${base}.js`, requireAs: `${directory}/${base}${i % 2 ? '.js' : ''}` });
    }
  }
  nodeFs.mkdirSync(appDir, { recursive: true });
  for (const directory of seen) nodeFs.mkdirSync(join(appDir, directory), { recursive: true });
  nodeFs.writeFileSync(join(appDir, 'package.json'),
    `${JSON.stringify({ name: 'bench-app', version: '1.0.0', private: true, type: 'commonjs', main: 'main.js' }, null, 2)}\n`);
  nodeFs.writeFileSync(join(appDir, 'main.js'), [
    "'use strict';",
    '// Loads the whole module tree and prints how many modules ran and their checksum.',
    "const { run } = require('./src');",
    'const result = run();',
    "process.stdout.write(JSON.stringify({ modules: result.count, checksum: result.sum }) + '\\n');",
    '',
  ].join('\n'));

  let bytes = 0;
  const seeds: number[] = [];
  for (let i = 0; i < modules; i++) {
    const children: number[] = [];
    for (let c = BRANCHING * i + 1; c <= BRANCHING * i + BRANCHING && c < modules; c++) children.push(c);
    const seed = Math.floor(random() * 1000);
    seeds.push(seed);
    const target = settings.minModuleBytes + Math.floor(random() * (settings.maxModuleBytes - settings.minModuleBytes + 1));
    const requireOf = (c: number) => {
      let rel = posix.relative(dirname(files[i]!.path), files[c]!.requireAs);
      if (!rel.startsWith('.')) rel = `./${rel}`;
      return rel;
    };
    const text = moduleText(i, modules, files[i]!.path, children.map(requireOf), seed, target, random);
    nodeFs.writeFileSync(join(appDir, files[i]!.path), text);
    bytes += text.length;
  }
  return { checksum: checksumOf(0, modules, seeds), directories: seen.size, bytes };
}

const MOD = 1_000_003;

// What run() of module i returns as `sum`, computed here the way the generated code computes it.
function checksumOf(i: number, modules: number, seeds: number[]): number {
  let sum = computeLike(i, seeds[i]!);
  for (let c = BRANCHING * i + 1; c <= BRANCHING * i + BRANCHING && c < modules; c++) sum = (sum + checksumOf(c, modules, seeds)) % MOD;
  return sum;
}

function computeLike(i: number, seed: number): number {
  let total = i;
  for (const value of [seed, i, seed ^ i]) total = (total * 31 + value) % MOD;
  return total;
}

function moduleText(i: number, modules: number, path: string, requires: string[], seed: number, target: number, random: () => number): string {
  const name = posix.basename(path, '.js').replace(/[^a-z0-9]/gi, '_');
  const word = () => WORDS[Math.floor(random() * WORDS.length)]!;
  const builtins = [
    ...(i % 3 === 0 ? ["const path = require('node:path');"] : []),
    ...(i % 5 === 0 ? ["const { EventEmitter } = require('node:events');"] : []),
    ...(i % 7 === 0 ? ["const util = require('node:util');"] : []),
  ];
  const head = [
    "'use strict';",
    `// ${path}: module ${i} of ${modules} of the generated start-up benchmark app.`,
    ...builtins,
    ...requires.map((r, k) => `const child${k} = require('${r}');`),
    '',
    `const SETTINGS = Object.freeze({ id: ${i}, seed: ${seed}, label: '${word()}-${word()}', weight: ${random().toFixed(4)}, tags: ['${word()}', '${word()}'] });`,
    '',
    '/**',
    ` * Folds values into a checksum (module ${i}).`,
    ' * @param {number[]} values',
    ' * @returns {number}',
    ' */',
    `function compute(values) {`,
    `  let total = SETTINGS.id;`,
    `  for (const value of values) total = (total * 31 + value) % ${MOD};`,
    `  return total;`,
    `}`,
    '',
  ];
  const tail = [
    `/** Runs this module and its children: how many ran, and their checksum. */`,
    `function run() {`,
    `  let count = 1;`,
    `  let sum = compute([SETTINGS.seed, SETTINGS.id, SETTINGS.seed ^ SETTINGS.id]);`,
    `  for (const child of [${requires.map((_, k) => `child${k}`).join(', ')}]) {`,
    `    const result = child.run();`,
    `    count += result.count;`,
    `    sum = (sum + result.sum) % ${MOD};`,
    `  }`,
    `  return { count, sum };`,
    `}`,
    '',
    `module.exports = { run, compute, SETTINGS };`,
    '',
  ];
  // Helpers fill the module up to its size: varied names and bodies, as real code would have.
  const helpers: string[] = [];
  const size = () => [...head, ...helpers, ...tail].join('\n').length;
  for (let h = 0; size() < target; h++) {
    const a = word(), b = word();
    switch (h % 3) {
      case 0:
        helpers.push(
          `/** Normalizes a ${a} ${b} record. */`,
          `function normalize_${a}_${h}(record = {}) {`,
          `  const out = { ...record, kind: '${a}', source: '${name}' };`,
          `  if (typeof out.${b} === 'string') out.${b} = out.${b}.trim().toLowerCase();`,
          `  return Object.freeze(out);`,
          `}`,
          '');
        break;
      case 1:
        helpers.push(
          `class ${cap(a)}${cap(b)}${h} {`,
          `  constructor(options = {}) {`,
          `    this.limit = options.limit ?? ${Math.floor(random() * 1000)};`,
          `    this.items = [];`,
          `  }`,
          `  add(item) {`,
          `    if (this.items.length >= this.limit) this.items.shift();`,
          `    this.items.push(item);`,
          `    return this;`,
          `  }`,
          `  get size() { return this.items.length; }`,
          `}`,
          '');
        break;
      default:
        helpers.push(
          `const ${a.toUpperCase()}_${b.toUpperCase()}_${h} = [${Array.from({ length: 6 }, () => `'${word()}'`).join(', ')}];`,
          `function pick_${b}_${h}(n) { return ${a.toUpperCase()}_${b.toUpperCase()}_${h}[n % ${a.toUpperCase()}_${b.toUpperCase()}_${h}.length]; }`,
          '');
    }
  }
  return [...head, ...helpers, ...tail].join('\n');
}

function cap(word: string): string {
  return word[0]!.toUpperCase() + word.slice(1);
}
