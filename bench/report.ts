// Turns the raw figures of one run into ratios, target verdicts and the printed table.
import { attestationReport, type AttestationRate } from './attestation.js';
import { sconifyReport, type SconifyFigures } from './sconify.js';
import { fsReport, type FsResults } from './fs-report.js';
import type { GocryptfsMount } from './gocryptfs.js';
import type { Machine } from './machine.js';
import type { OpenLatency } from './open-latency.js';
import type { PeakRss } from './peak-rss.js';
import { volumeReport, type VolumeResults } from './volume-report.js';
import type { Figures, WorkloadSettings } from './workloads.js';
import type { Outcome, Target } from './report-format.js';

export type { Outcome, Target } from './report-format.js';

export type Section = 'files' | 'volumes' | 'fs' | 'attestation' | 'sconify';

/** One run: the file section, the volumes section, the drop-in fs section, or all (`--only`). */
export interface Results extends Partial<FileResults> {
  date: string;
  /** The sections this run measured. */
  sections: Section[];
  /** Share of the CPUs busy in the second before and after the run: anything else running skews the figures. */
  cpuBusy: { before: number; after: number };
  machine: Machine;
  volumes?: VolumeResults;
  fs?: FsResults;
  attestation?: Outcome<AttestationRate[]>;
  sconify?: Outcome<SconifyFigures>;
}

export interface FileResults {
  settings: WorkloadSettings & {
    sequentialOpBytes: number;
    randomOpBytes: number;
    opensEach: number;
    ceilingSecondsPerSample: number;
  };
  ceiling: {
    chunkBytes: number;
    threads: number;
    /** The best sample of each (taken before and after every subject). */
    oneThreadBytesPerSecond: number;
    allCoresBytesPerSecond: number;
    samples: { oneThread: number[]; allCores: number[] };
  };
  /** Keyed by subject name: 'shieldfs async', 'node:fs sync', 'JS reference', 'gocryptfs', … */
  subjects: Record<string, Outcome<Figures>>;
  gocryptfs: Outcome<Pick<GocryptfsMount, 'version'>>;
  openLatency: Outcome<OpenLatency>;
  peakRss: Outcome<PeakRss>;
}

export interface Report {
  ratios: Record<string, Rates | number> & { volumes?: Record<string, number>; fs?: Record<string, number>; attestation?: Record<string, number>; sconify?: Record<string, number> };
  targets: Target[];
  table: string;
}

// ----- columns and rates -----

const COLUMNS = {
  seqWrite: { head: ['seq write', '+flush GB/s'], kind: 'bytes' },
  seqWriteBeforeFlush: { head: ['seq write', 'no flush GB/s'], kind: 'bytes' },
  seqRead: { head: ['seq read', 'GB/s'], kind: 'bytes' },
  randRead: { head: ['rand read', 'ops/s'], kind: 'ops' },
  randWrite: { head: ['rand write', '+flush ops/s'], kind: 'ops' },
} as const;
type Column = keyof typeof COLUMNS;
type Rates = Partial<Record<Column, number>>;
const columns = Object.keys(COLUMNS) as Column[];

function ratesOf(figures: Figures): Rates {
  const { seqWrite, seqRead, randRead, randWrite } = figures;
  return {
    seqWrite: seqWrite?.bytesPerSecond,
    seqWriteBeforeFlush: seqWrite && seqWrite.bytes / (seqWrite.seconds - seqWrite.finishSeconds),
    seqRead: seqRead?.bytesPerSecond,
    randRead: randRead?.opsPerSecond,
    randWrite: randWrite?.opsPerSecond,
  };
}

function divide(a: Rates, b: Rates): Rates {
  const out: Rates = {};
  for (const c of columns) if (a[c] !== undefined && b[c] !== undefined) out[c] = a[c]! / b[c]!;
  return out;
}

const isUnavailable = <T extends object>(o: Outcome<T>): o is { unavailable: string } => 'unavailable' in o;

// ----- the report -----

const SHIELD = 'shieldfs sync';  // the shieldfs figure every cross-system ratio uses
const CEILING = 'AES-GCM ceiling';

export function report(results: Results): Report {
  const files = results.subjects ? fileReport(results as Results & FileResults) : undefined;
  const volumes = results.volumes ? volumeReport(results.volumes) : undefined;
  const fs = results.fs ? fsReport(results.fs) : undefined;
  const attestation = results.attestation === undefined ? undefined
    : isUnavailable(results.attestation) ? { ratios: {}, lines: [`attestation verifiers: unavailable (${results.attestation.unavailable})`] }
    : attestationReport(results.attestation);
  const sconify = results.sconify === undefined ? undefined
    : isUnavailable(results.sconify) ? { ratios: {}, lines: [`sconify: unavailable (${results.sconify.unavailable})`] }
    : sconifyReport(results.sconify);
  const targets = [...(files?.targets ?? []), ...(volumes?.targets ?? []), ...(fs?.targets ?? [])];
  const { machine, cpuBusy } = results;
  const out = [
    `shieldfs benchmark · ${machine.cpu}, ${machine.logicalCpus} CPUs, ${machine.memoryGiB} GiB · node ${machine.node}, ` +
      `OpenSSL ${machine.openssl} · ${machine.filesystem}`,
    ...(Math.max(cpuBusy.before, cpuBusy.after) > 0.2
      ? [`WARNING: other processes kept the CPUs ${percent(cpuBusy.before, 0)} busy before the run and ` +
          `${percent(cpuBusy.after, 0)} after it: figures are noisy, rerun on a quiet machine`]
      : []),
    ...(files?.lines ?? []),
    ...(files && volumes ? [''] : []),
    ...(volumes?.lines ?? []),
    ...((files || volumes) && fs ? [''] : []),
    ...(fs?.lines ?? []),
    ...((files || volumes || fs) && attestation ? [''] : []),
    ...(attestation?.lines ?? []),
    ...((files || volumes || fs || attestation) && sconify ? [''] : []),
    ...(sconify?.lines ?? []),
    '',
    'Targets',
    ...targets.map((t) => `  ${t.met === null ? '[n/a    ]' : t.met ? '[met    ]' : '[NOT met]'} ${t.goal}: ${t.detail}`),
  ];
  return {
    ratios: { ...(files?.ratios ?? {}), ...(volumes ? { volumes: volumes.ratios } : {}), ...(fs ? { fs: fs.ratios } : {}), ...(attestation ? { attestation: attestation.ratios } : {}), ...(sconify ? { sconify: sconify.ratios } : {}) },
    targets,
    table: out.join('\n'),
  };
}

function fileReport(results: Results & FileResults): { ratios: Record<string, Rates | number>; targets: Target[]; lines: string[] } {
  const { ceiling } = results;
  const ceilingRates = (bps: number): Rates => ({ seqWrite: bps, seqWriteBeforeFlush: bps, seqRead: bps });
  const measured = new Map<string, Outcome<Rates>>();
  for (const [name, figures] of Object.entries(results.subjects)) {
    measured.set(name, isUnavailable(figures) ? figures : ratesOf(figures));
  }
  measured.set('AES-GCM 1 thread', ceilingRates(ceiling.oneThreadBytesPerSecond));
  measured.set(CEILING, ceilingRates(ceiling.allCoresBytesPerSecond));

  const labels: Record<string, string> = {
    'JS reference': 'JS reference (node:crypto)',
    gocryptfs: `gocryptfs${isUnavailable(results.gocryptfs) ? '' : ` ${results.gocryptfs.version.split(/[ ;]/)[1] ?? ''}`} (node:fs sync)`,
    'AES-GCM 1 thread': 'AES-256-GCM 4 KiB, 1 thread',
    [CEILING]: `AES-256-GCM 4 KiB, ${ceiling.threads} threads`,
  };
  const layout: Array<string | [string, string]> = [
    'shieldfs async', 'node:fs async', ['shieldfs async', 'node:fs async'],
    'shieldfs sync', 'node:fs sync', [SHIELD, 'node:fs sync'],
    'JS reference', [SHIELD, 'JS reference'],
    'gocryptfs', [SHIELD, 'gocryptfs'],
    'AES-GCM 1 thread', CEILING, [SHIELD, CEILING],
  ];

  const ratios: Record<string, Rates> = {};
  const openRatio = isUnavailable(results.openLatency)
    ? undefined
    : results.openLatency.largeMedianSeconds / results.openLatency.smallMedianSeconds;
  const rows: Row[] = [];
  for (const entry of layout) {
    if (typeof entry === 'string') {
      const rates = measured.get(entry) ?? { unavailable: 'not measured' };
      const label = labels[entry] ?? entry;
      rows.push(isUnavailable(rates) ? { label, span: `unavailable: ${rates.unavailable}` } : { label, cells: cellsOf(rates) });
      continue;
    }
    const [a, b] = entry;
    const label = `  ratio ${a} / ${b === CEILING ? 'ceiling' : b}`;
    const [ra, rb] = [measured.get(a), measured.get(b)];
    if (!ra || !rb || isUnavailable(ra) || isUnavailable(rb)) {
      rows.push({ label, span: 'n/a' });
      continue;
    }
    const r = (ratios[`${a} / ${b}`] = divide(ra, rb));
    rows.push({ label, cells: columns.map((c) => (r[c] === undefined ? '' : r[c]!.toFixed(2))) });
  }

  const open = results.openLatency;
  rows.push('rule');
  if (isUnavailable(open)) rows.push({ label: 'open + close latency', span: `unavailable: ${open.unavailable}` });
  else {
    rows.push(
      { label: `open + close 4 KiB file, median`, cells: [micros(open.smallMedianSeconds)] },
      { label: `open + close 4 GiB file, median`, cells: [micros(open.largeMedianSeconds)] },
      { label: '  ratio 4 GiB / 4 KiB', cells: [openRatio!.toFixed(2)] },
    );
  }
  const rss = results.peakRss;
  if (isUnavailable(rss)) rows.push({ label: 'peak RSS reading 1 GiB', span: `unavailable: ${rss.unavailable}` });
  else {
    rows.push(
      { label: 'peak RSS reading 1 GiB (child)', cells: [mebibytes(rss.peakKiB)] },
      { label: '  of which before the reads', cells: [mebibytes(rss.hwmBeforeKiB)] },
    );
  }

  return {
    ratios: openRatio === undefined ? ratios : { ...ratios, 'open 4 GiB / 4 KiB': openRatio },
    targets: evaluate(results, ratios, openRatio),
    lines: render(results, rows),
  };

  function cellsOf(rates: Rates): string[] {
    return columns.map((c) => {
      const v = rates[c];
      if (v === undefined) return '';
      return COLUMNS[c].kind === 'bytes' ? (v / 1e9).toFixed(2) : Math.round(v).toLocaleString('en-US');
    });
  }
}

// ----- targets -----

function evaluate(results: FileResults, ratios: Record<string, Rates>, open: number | undefined): Target[] {
  const ceiling = ratios[`${SHIELD} / ${CEILING}`];
  const gocryptfs = ratios[`${SHIELD} / gocryptfs`];
  const node = ratios[`${SHIELD} / node:fs sync`];
  const { subjects, peakRss: rss } = results;
  const ceilingGBs = (results.ceiling.allCoresBytesPerSecond / 1e9).toFixed(2);
  const times = (v: number) => `${v.toFixed(2)}×`;
  // A target without a value names the reason its inputs were unavailable.
  const target = (goal: string, value: number | undefined, pass: (v: number) => boolean,
                  detail: (v: number) => string, ...inputs: Array<Outcome<object> | undefined>): Target => {
    if (value !== undefined) return { goal, value, met: pass(value), detail: detail(value) };
    const missing = inputs.find((input) => input === undefined || isUnavailable(input));
    const reason = missing && isUnavailable(missing) ? missing.unavailable : 'not measured';
    return { goal, value: null, met: null, detail: `unavailable: ${reason}` };
  };

  return [
    target('sequential read ≥ 60 % of the all-cores AES-256-GCM ceiling', ceiling?.seqRead, (v) => v >= 0.6,
      (v) => `${percent(v)} of ${ceilingGBs} GB/s`, subjects[SHIELD]),
    target('sequential write ≥ 50 % of the all-cores AES-256-GCM ceiling', ceiling?.seqWrite, (v) => v >= 0.5,
      (v) => `${percent(v)} of ${ceilingGBs} GB/s incl. the final flush; ${percent(ceiling!.seqWriteBeforeFlush!)} before it`,
      subjects[SHIELD]),
    target('sequential write ≥ 5× gocryptfs', gocryptfs?.seqWrite, (v) => v >= 5,
      (v) => `${times(v)} incl. the final flush; ${times(gocryptfs!.seqWriteBeforeFlush!)} before it`,
      subjects[SHIELD], subjects.gocryptfs),
    target('sequential read ≥ 2.5× gocryptfs', gocryptfs?.seqRead, (v) => v >= 2.5, times,
      subjects[SHIELD], subjects.gocryptfs),
    target('random 4 KiB readSync ≥ 40 % of node:fs readSync ops/s', node?.randRead, (v) => v >= 0.4,
      (v) => percent(v), subjects[SHIELD], subjects['node:fs sync']),
    target('open of a 4 GiB file ≤ 2× open of a 4 KiB file', open, (v) => v <= 2, times, results.openLatency),
    target('peak RSS < 128 MiB while reading 1 GiB', isUnavailable(rss) ? undefined : rss.peakKiB / 1024,
      (v) => v < 128, (v) => `${v.toFixed(1)} MiB`, rss),
  ];
}

// ----- rendering -----

type Row = { label: string; cells: string[] } | { label: string; span: string } | 'rule';

function render(results: FileResults, rows: Row[]): string[] {
  const { settings } = results;
  const heads = [['', ''], ...columns.map((c) => [...COLUMNS[c].head])];
  const body = rows.filter((r): r is Exclude<Row, 'rule'> => r !== 'rule');
  const widths = heads.map((head, i) =>
    Math.max(...head.map((h) => h.length),
      ...body.map((r) => (i === 0 ? r.label.length : 'cells' in r ? (r.cells[i - 1]?.length ?? 0) : 0))));
  const line = (cells: string[]) =>
    cells.map((c, i) => (i === 0 ? c.padEnd(widths[0]!) : c.padStart(widths[i]!))).join('  ').trimEnd();
  const rule = '─'.repeat(widths.reduce((a, b) => a + b + 2, -2));

  const count = (n: number) => n.toLocaleString('en-US');
  return [
    `${settings.fileBytes / 2 ** 30} GiB file · sequential: ${settings.sequentialOpBytes / 2 ** 20} MiB ops · random: ` +
      `aligned ${settings.randomOpBytes / 1024} KiB ops, reads for ${settings.randomReadSeconds / settings.runs} s, ` +
      `${count(settings.randomWrites)} writes · every figure the best of ${settings.runs} runs · seed ${settings.seed}`,
    rule,
    line(heads.map((h) => h[0]!)),
    line(heads.map((h) => h[1]!)),
    rule,
    ...rows.map((r) => (r === 'rule' ? rule : 'span' in r ? `${r.label.padEnd(widths[0]!)}  ${r.span}` : line([r.label, ...r.cells]))),
    rule,
    'seq write: 1 GiB into a new file, then flush: shieldfs flush() (tree nodes, 2× fdatasync), node:fs and gocryptfs',
    '  fdatasync, JS reference close() + fdatasync; "no flush" is the same run without the flush. seq read: the file',
    '  reopened and read warm (just written, page cache not dropped; shieldfs, JS reference and gocryptfs decrypt).',
    'rand: the same seeded positions for every subject, queue depth 1; rand write includes a final flush.',
    'Not timed: open, close, unlink. Ratios to the JS reference, gocryptfs and the ceiling use shieldfs sync. Ceiling:',
    `  native AES-256-GCM sealing 4 KiB chunks, best of ${results.ceiling.samples.allCores.length} samples taken across the run.`,
    `Open: median of ${count(settings.opensEach)} openSync+closeSync per file, interleaved. Peak RSS: VmHWM of a child`,
    '  process reading the file twice (readSync, then read) in 1 MiB ops.',
    rule,
  ];
}

function percent(share: number, digits = 1): string {
  return `${(share * 100).toFixed(digits)} %`;
}

function micros(seconds: number): string {
  return `${(seconds * 1e6).toFixed(1)} µs`;
}

function mebibytes(kib: number): string {
  return `${(kib / 1024).toFixed(1)} MiB`;
}
