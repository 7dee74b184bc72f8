// The drop-in fs section of the report: small files, streams and start-up, shield.fs side by side
// with node:fs (and with the core, and plain node) in the same run; their ratios and targets.
import type { SmallFileFigures, SmallFileSettings } from './fs-small-files.js';
import { startupTarget, type StartupFigures, type StartupSettings } from './fs-startup.js';
import type { StreamCase, StreamFigures, StreamSettings } from './fs-streams.js';
import type { Figure } from './timing.js';
import { duration, table, type Outcome, type Row, type Target } from './report-format.js';

export interface FsSettings {
  smallFiles: SmallFileSettings;
  streams: StreamSettings;
  startup: StartupSettings;
}

export interface FsResults {
  settings: FsSettings;
  smallFiles: Outcome<SmallFileFigures>;
  streams: Outcome<StreamFigures>;
  startup: Outcome<StartupFigures>;
}

export interface FsReport {
  ratios: Record<string, number>;
  targets: Target[];
  lines: string[];
}

const SMALL_READ_SHARE = 0.3;
const STREAM_SHARE = 0.8;

const isUnavailable = <T extends object>(o: Outcome<T>): o is { unavailable: string } => 'unavailable' in o;
const count = (n: number) => Math.round(n).toLocaleString('en-US');
const gbps = (f: Figure) => (f.bytesPerSecond / 1e9).toFixed(2);
const percent = (v: number) => `${(v * 100).toFixed(1)} %`;

export function fsReport(results: FsResults): FsReport {
  const ratios: Record<string, number> = {};
  const targets: Target[] = [];
  const lines = [
    ...smallFilesBlock(results, ratios, targets), '',
    ...streamsBlock(results, ratios, targets), '',
    ...startupBlock(results, ratios, targets),
  ];
  return { ratios, targets, lines };
}

// A target whose inputs are missing says why.
function judge(goal: string, value: number | undefined, pass: (v: number) => boolean, detail: (v: number) => string,
               unavailable: string): Target {
  if (value === undefined || !Number.isFinite(value)) return { goal, value: null, met: null, detail: `unavailable: ${unavailable}` };
  return { goal, value, met: pass(value), detail: detail(value) };
}

// ----- small files -----

function smallFilesBlock(results: FsResults, ratios: Record<string, number>, targets: Target[]): string[] {
  const settings = results.settings.smallFiles;
  const outcome = results.smallFiles;
  const readGoal = (what: string) => `${what} of ${count(settings.files)} small files ≥ ${SMALL_READ_SHARE * 100} % of node:fs operations/s`;
  const heads = ['small files', 'files', 'shieldfs ops/s', 'node:fs ops/s', 'shield / node'];
  if (isUnavailable(outcome)) {
    for (const what of ['readFileSync', 'statSync', 'readdirSync']) {
      targets.push(judge(readGoal(what), undefined, () => false, String, outcome.unavailable));
    }
    return table(heads, ['head', 'rule', { label: 'small files', span: `unavailable: ${outcome.unavailable}` }]);
  }
  const { shield, node } = outcome;
  const row = (label: string, key: string, files: number, s: Figure, n: Figure): Row => {
    const r = (ratios[`small files ${key} shieldfs / node:fs`] = s.opsPerSecond / n.opsPerSecond);
    return { label, cells: [count(files), count(s.opsPerSecond), count(n.opsPerSecond), r.toFixed(3)] };
  };
  const rows: Row[] = [
    'head', 'rule',
    row(`writeFileSync, commit 'sync' ¹`, 'writeFileSync sync', shield.writeSync.ops, shield.writeSync, node.writeFile),
    row(`writeFileSync, commit 'close' ²`, 'writeFileSync close', shield.writeClose.ops, shield.writeClose, node.writeFile),
    row(`  vs node:fs + fdatasync each ³`, 'writeFileSync close vs fdatasync', node.writeDurable.ops, shield.writeClose, node.writeDurable),
    row(`promises.writeFile ×${settings.concurrency}, commit 'close' ⁴`, 'promises.writeFile close', shield.writeAsyncClose.ops,
      shield.writeAsyncClose, node.writeAsync),
    row('readFileSync', 'readFileSync', settings.files, shield.readFile, node.readFile),
    row('statSync', 'statSync', settings.files, shield.stat, node.stat),
    row(`readdirSync (${count(settings.files)} names)`, 'readdirSync', settings.files, shield.readdir, node.readdir),
    'rule',
  ];
  const notes = [
    `${count(settings.files)} files of ${count(settings.fileBytes)} B in one directory, on ${outcome.filesystem}; shield.fs on a volume mounted`,
    `  with mount() (tag store ${outcome.tagStore}: no store cost). Reads: best of ${settings.runs} runs over every file, warm cache.`,
    `¹ ${count(settings.files)} new files, then the one commit (in the time). The files every read row reads.`,
    `² Then the volume reopened with commit 'close': further new files in the same directory (${count(shield.filesBeforeCommitEach)}+`,
    `  files), each committed before writeFileSync returns; up to ${settings.durableSeconds} s. node:fs: the ${count(node.writeFile.ops)} writeFileSync above.`,
    `³ node:fs open + write + fdatasync + close per file (data durable at return), up to ${settings.durableSeconds} s.`,
    `⁴ fs.promises.writeFile, ${settings.concurrency} in flight, commit 'close' (one commit per event-loop turn for the writes`,
    `  that finished in it), further new files, up to ${settings.durableSeconds} s; node:fs: ${count(node.writeAsync.ops)} files, ${settings.concurrency} in flight.`,
  ];
  rows.push(...notes.map((label): Row => ({ label, span: '' })));
  const share = (key: string) => ratios[`small files ${key} shieldfs / node:fs`];
  const detail = (s: Figure, n: Figure) => (v: number) => `${percent(v)} (${count(s.opsPerSecond)} vs ${count(n.opsPerSecond)} ops/s)`;
  targets.push(
    judge(readGoal('readFileSync'), share('readFileSync'), (v) => v >= SMALL_READ_SHARE, detail(shield.readFile, node.readFile), ''),
    judge(readGoal('statSync'), share('statSync'), (v) => v >= SMALL_READ_SHARE, detail(shield.stat, node.stat), ''),
    judge(readGoal('readdirSync'), share('readdirSync'), (v) => v >= SMALL_READ_SHARE, detail(shield.readdir, node.readdir), ''),
  );
  return table(heads, rows);
}

// ----- streams -----

const STREAM_LABELS: Record<StreamCase, string> = {
  writeDefault: 'createWriteStream, default (16 KiB)',
  write1MiB: 'createWriteStream, highWaterMark 1 MiB',
  readDefault: 'createReadStream, default (64 KiB)',
  read1MiB: 'createReadStream, highWaterMark 1 MiB',
};

function streamsBlock(results: FsResults, ratios: Record<string, number>, targets: Target[]): string[] {
  const settings = results.settings.streams;
  const outcome = results.streams;
  const size = `${settings.fileBytes / 2 ** 20} MiB`;
  const goals = {
    write: `createWriteStream ≥ ${STREAM_SHARE * 100} % of the core's sequential write`,
    read: `createReadStream ≥ ${STREAM_SHARE * 100} % of the core's sequential read`,
  };
  const heads = [`streams, ${size} file`, 'shieldfs GB/s', 'node:fs GB/s', 'shield / node', 'shield / core async', 'shield / core sync'];
  if (isUnavailable(outcome)) {
    targets.push(judge(goals.write, undefined, () => false, String, outcome.unavailable),
      judge(goals.read, undefined, () => false, String, outcome.unavailable));
    return table(heads, ['head', 'rule', { label: 'streams', span: `unavailable: ${outcome.unavailable}` }]);
  }
  const { shield, node, core } = outcome;
  const coreOf = (c: StreamCase, which: 'async' | 'sync') => (c.startsWith('write') ? core[which].seqWrite : core[which].seqRead)!;
  const rows: Row[] = ['head', 'rule'];
  for (const c of ['writeDefault', 'write1MiB', 'readDefault', 'read1MiB'] as const) {
    const s = shield[c], n = node[c];
    const vsNode = (ratios[`stream ${c} shieldfs / node:fs`] = s.bytesPerSecond / n.bytesPerSecond);
    const vsAsync = (ratios[`stream ${c} shieldfs / core async`] = s.bytesPerSecond / coreOf(c, 'async').bytesPerSecond);
    const vsSync = (ratios[`stream ${c} shieldfs / core sync`] = s.bytesPerSecond / coreOf(c, 'sync').bytesPerSecond);
    rows.push({ label: STREAM_LABELS[c], cells: [gbps(s), gbps(n), vsNode.toFixed(2), vsAsync.toFixed(2), vsSync.toFixed(2)] });
  }
  rows.push('rule');
  for (const which of ['async', 'sync'] as const) {
    rows.push(
      { label: `core ShieldedFile ${which}: seq write +flush`, cells: [gbps(core[which].seqWrite!)] },
      { label: `core ShieldedFile ${which}: seq read`, cells: [gbps(core[which].seqRead!)] },
    );
  }
  rows.push('rule', ...[
    `A ${size} file through shield.fs (a volume mounted with commit 'close', its stream's close flushes and commits) and`,
    '  node:fs (createWriteStream with flush: true: an fsync before the close), best of ' + settings.runs + ' runs each. Writes: a new',
    '  file fed highWaterMark-sized pieces, timed to the stream\'s close; reads: the file just written (warm cache).',
    `core: the file section's sequential phases (1 MiB ops; write +flush, then read) on a ${size} ShieldedFile, no volume, in this`,
    '  run. "/ core async" compares with ShieldedFile read/write on the libuv pool (the path a stream\'s I/O takes).',
  ].map((label): Row => ({ label, span: '' })));
  const pair = (a: StreamCase, b: StreamCase) => (v: number) =>
    `${percent(v)} at worst: default highWaterMark ${percent(ratios[`stream ${a} shieldfs / core async`]!)}, ` +
    `1 MiB ${percent(ratios[`stream ${b} shieldfs / core async`]!)} of ${gbps(coreOf(a, 'async'))} GB/s (core async)`;
  targets.push(
    judge(goals.write, Math.min(ratios['stream writeDefault shieldfs / core async']!, ratios['stream write1MiB shieldfs / core async']!),
      (v) => v >= STREAM_SHARE, pair('writeDefault', 'write1MiB'), ''),
    judge(goals.read, Math.min(ratios['stream readDefault shieldfs / core async']!, ratios['stream read1MiB shieldfs / core async']!),
      (v) => v >= STREAM_SHARE, pair('readDefault', 'read1MiB'), ''),
  );
  return table(heads, rows);
}

// ----- start-up -----

function startupBlock(results: FsResults, ratios: Record<string, number>, targets: Target[]): string[] {
  const settings = results.settings.startup;
  const outcome = results.startup;
  const heads = [`start-up, ${count(settings.modules)} modules`, 'median', 'p90', '/ plain'];
  if (isUnavailable(outcome)) {
    targets.push(judge(startupGoal(settings, process.version), undefined, () => false, String, outcome.unavailable));
    return table(heads, ['head', 'rule', { label: 'start-up', span: `unavailable: ${outcome.unavailable}` }]);
  }
  const goal = startupGoal(settings, outcome.node);
  const limit = startupTarget(outcome.node);
  const { plain } = outcome;
  const rows: Row[] = ['head', 'rule', { label: 'node main.js', cells: [duration(plain.medianSeconds), duration(plain.p90Seconds), '1.00'] }];
  const variant = (label: string, key: string, o: StartupFigures['registerOnly'] | undefined) => {
    if (o === undefined) return;
    if (isUnavailable(o)) {
      rows.push({ label, span: `FAILED: ${o.unavailable}` });
      return;
    }
    const r = (ratios[`start-up ${key} / plain`] = o.medianSeconds / plain.medianSeconds);
    rows.push({ label, cells: [duration(o.medianSeconds), duration(o.p90Seconds), r.toFixed(2)] });
  };
  variant('--import register, app from the disk ¹', 'register only', outcome.registerOnly);
  variant('--import register, /app/main.js from the tree ²', 'protected tree', outcome.encrypted);
  variant('the same, configuration in YAML ³', 'protected tree, YAML configuration', outcome.encryptedYaml);
  const protect = outcome.protect;
  rows.push('rule', ...[
    `Node ${outcome.node}. A generated CommonJS app: main.js + ${count(outcome.app.modules)} modules of ${count(settings.minModuleBytes)}–${count(settings.maxModuleBytes)} B ` +
      `(${count(outcome.app.bytes / 1024)} KiB, ${outcome.app.directories} directories),`,
    '  each requiring up to 4 others (a tree 5 levels deep, by directory, by file with and without ".js"). Each figure: the',
    `  wall time of a whole node process (spawn to exit), median of ${settings.runs} runs going round the variants after one untimed run each.`,
    '¹ node --import dist/register.js main.js, SHIELD_CONFIG a JSON file mounting the protected tree at /app: the register\'s',
    '  fixed cost (loading shieldfs, opening the tree, patching node:fs) with the app read from the disk.',
    `² the same, running /app/main.js: every module read from the protected tree. protectTree of the app ` +
      `${isUnavailable(protect) ? `failed: ${protect.unavailable}` : `took ${duration(protect.seconds)} (in no figure)`}.`,
    '³ SHIELD_CONFIG a YAML file: the register loads the YAML parser (a JSON file, or the checked configuration',
    '  `shield run` hands over, does not).',
    ...(outcome.distNote ? [`NOTE: ${outcome.distNote}.`] : []),
  ].map((label): Row => ({ label, span: '' })));
  const tree = outcome.encrypted;
  targets.push(judge(goal, isUnavailable(tree) ? undefined : ratios['start-up protected tree / plain'], (v) => v <= limit,
    (v) => `${v.toFixed(2)}× (${duration((tree as { medianSeconds: number }).medianSeconds)} vs ${duration(plain.medianSeconds)}, medians)`,
    isUnavailable(tree) ? tree.unavailable : ''));
  return table(heads, rows);
}

/** The start-up target as the report states it, for the Node line that ran it. */
export function startupGoal(settings: StartupSettings, version: string): string {
  return `start-up of a ${count(settings.modules)}-module app from a protected tree ≤ ${startupTarget(version)}× plain node ` +
    `on Node ${version} (the target: 1.8× on Node 20, 1.3× on 22 and 24)`;
}

/**
 * One row per Node line: the start-up case measured under each in the same rounds
 * (`npm run bench -- --only startup --node 20,22,24`).
 */
export function startupLinesTable(settings: StartupSettings, lines: StartupFigures[]): { table: string[]; targets: Target[] } {
  const heads = ['start-up per Node line', 'plain', 'register, app from disk', 'app from tree', 'tree / plain', 'YAML config / plain', 'target'];
  const targets: Target[] = [];
  const rows: Row[] = ['head', 'rule'];
  for (const figures of lines) {
    const plain = figures.plain.medianSeconds;
    const cell = (o: StartupFigures['registerOnly'] | undefined, ratio = false) => (o === undefined ? '–' : isUnavailable(o) ? 'FAILED'
      : ratio ? `${(o.medianSeconds / plain).toFixed(2)}×` : `${duration(o.medianSeconds)} (${(o.medianSeconds / plain).toFixed(2)}×)`);
    const limit = startupTarget(figures.node);
    const tree = figures.encrypted;
    const ratio = isUnavailable(tree) ? undefined : tree.medianSeconds / plain;
    rows.push({
      label: `Node ${figures.node}`,
      cells: [duration(plain), cell(figures.registerOnly), isUnavailable(tree) ? 'FAILED' : duration(tree.medianSeconds),
        ratio === undefined ? '–' : `${ratio.toFixed(2)}×`, cell(figures.encryptedYaml, true),
        `${limit}× (${ratio === undefined ? 'unavailable' : ratio <= limit ? 'met' : 'NOT met'})`],
    });
    targets.push(judge(startupGoal(settings, figures.node), ratio, (v) => v <= limit,
      (v) => `${v.toFixed(2)}× (${duration((tree as { medianSeconds: number }).medianSeconds)} vs ${duration(plain)}, medians)`,
      isUnavailable(tree) ? tree.unavailable : ''));
  }
  rows.push('rule', ...[
    `Medians of ${settings.runs} runs of each variant, going round the variants and the Node lines; ${count(settings.modules)} modules, JSON configuration`,
    '  (the YAML column: the same app, the configuration read from a YAML file). Failures of a variant: see its line\'s own table.',
    ...lines.flatMap((f) => [f.registerOnly, f.encrypted, f.encryptedYaml].flatMap((o) => (o && isUnavailable(o) ? [`Node ${f.node}: ${o.unavailable}`] : []))),
  ].map((label): Row => ({ label, span: '' })));
  return { table: table(heads, rows), targets };
}
