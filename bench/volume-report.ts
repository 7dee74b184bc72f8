// The volumes section of the report: commit and open latency by volume size, the tag stores side by
// side, their ratios and the targets.
import { duration, table, type Outcome, type Row, type Target } from './report-format.js';
import type { Latency, VolumeSettings, VolumeSize, VolumeSizes } from './volume-latency.js';
import { TAG_STORES, type TagStoreComparison, type TagStoreFigures } from './volume-tag-stores.js';

export interface VolumeResults {
  settings: VolumeSettings;
  sizes: Outcome<VolumeSizes>;
  tagStores: TagStoreComparison;
}

export interface VolumeReport {
  /** "overwrite + commit 100,000 / 1" → ratio of medians, for every size against the smallest. */
  ratios: Record<string, number>;
  targets: Target[];
  lines: string[];
}

const TARGET_FILES = 100_000;
const COMMIT_RATIO = 10;
const OPEN_SECONDS = 1;

const isUnavailable = <T extends object>(o: Outcome<T>): o is { unavailable: string } => 'unavailable' in o;
const count = (n: number) => n.toLocaleString('en-US');

export function volumeReport(volumes: VolumeResults): VolumeReport {
  const { settings } = volumes;
  const ratios: Record<string, number> = {};
  const lines: string[] = [];

  // ----- by size -----
  const sizes = volumes.sizes;
  let sizeRows: Row[] = [];
  let heads: string[] = [];
  if (isUnavailable(sizes)) {
    heads = ['volume size'];
    sizeRows = [{ label: 'volumes', span: `unavailable: ${sizes.unavailable}` }];
  } else {
    const all = sizes.sizes;
    const base = all[0]!;
    const others = all.slice(1);
    heads = [...all.map((s) => `${count(s.files)} file${s.files === 1 ? '' : 's'}`), ...others.map((s) => `${short(s.files)} / ${short(base.files)}`)];
    const metric = (label: string, pick: (s: VolumeSize) => number, format: (v: number) => string, ratioName?: string): Row => {
      const cells = all.map((s) => format(pick(s)));
      for (const s of others) {
        const r = pick(s) / pick(base);
        if (ratioName) ratios[`${ratioName} ${count(s.files)} / ${count(base.files)}`] = r;
        cells.push(r.toFixed(2));
      }
      return { label, cells };
    };
    const lat = (pick: (s: VolumeSize) => Latency, stat: 'medianSeconds' | 'p90Seconds') => (s: VolumeSize) => pick(s)[stat];
    const tmpfsBuilt = all.filter((s) => s.build.copySeconds !== undefined);
    sizeRows = [
      'head',
      'rule',
      { label: `build: create, fill, commit every ${count(settings.filesPerCommit)}${tmpfsBuilt.length ? ' ¹' : ''}`, cells: all.map((s) => duration(s.build.seconds)) },
      metric('one-file overwrite + commit, median', lat((s) => s.overwriteCommit, 'medianSeconds'), duration, 'overwrite + commit'),
      metric('  p90', lat((s) => s.overwriteCommit, 'p90Seconds'), duration),
      metric('  of which commit(), median', lat((s) => s.overwriteCommitOnly, 'medianSeconds'), duration, 'commit() of an overwrite'),
      metric('rename + commit, median', lat((s) => s.renameCommit, 'medianSeconds'), duration, 'rename + commit'),
      metric('  p90', lat((s) => s.renameCommit, 'p90Seconds'), duration),
      metric('open + close, median', lat((s) => s.open, 'medianSeconds'), duration, 'open'),
      metric('open + close read-only, median', lat((s) => s.openReadOnly, 'medianSeconds'), duration, 'open read-only'),
      metric('manifest size, bytes', (s) => s.manifestBytes, count),
    ];
    const notes = [
      `Volumes of ${all.map((s) => count(s.files)).join(' / ')} files of ${settings.minFileBytes}–${count(settings.maxFileBytes)} B ` +
        `(seeded sizes), ${count(settings.filesPerDirectory)} per directory, tag store file:, on ${sizes.filesystem}.`,
      `Commits: each volume opened once, then ${settings.commits} timed rounds (after ${settings.warmupCommits} untimed) of an overwrite + commit in`,
      '  every volume, then a rename + commit in every volume: drift hits every size alike. The file changed is the',
      '  middle one; overwrite = writeFile (a new object: create, write, flush) + commit, alternating two 512 B contents;',
      '  rename = that file renamed back and forth + commit (metadata only). Ratios: medians against the smallest volume.',
      `Opens: Volume.open + close (key check, lock, tag store get, manifest read, verified and decoded; writable also`,
      `  sweeps the object store), ${settings.opens} rounds over every volume (writable, read-only) after one untimed round; warm page cache.`,
    ];
    for (const s of tmpfsBuilt) {
      const inPlace = all.find((o) => o.build.copySeconds === undefined && o.files > 1);
      notes.push(`¹ the ${count(s.files)}-file volume was built on ${s.build.builtOn}, then copied here with cp -a + sync -f ` +
        `(${duration(s.build.copySeconds!)}):`,
        `  every figure but its build time is measured on the copy.` +
        (inPlace ? ` Built here, ${count(inPlace.files)} files took ${duration(inPlace.build.seconds)} ` +
          `(${duration(inPlace.build.seconds / inPlace.files)} per file).` : ''));
    }
    sizeRows.push('rule', ...notes.map((n) => ({ label: n, span: '' } as Row)));
  }

  // ----- tag stores -----
  const stores = volumes.tagStores;
  const storeRows: Row[] = [];
  const storeHeads = TAG_STORES.map((k) => k);
  const available = TAG_STORES.filter((k) => !isUnavailable(stores[k]));
  const storeMetric = (label: string, pick: (f: TagStoreFigures) => number): Row => ({
    label,
    cells: TAG_STORES.map((k) => (isUnavailable(stores[k]) ? '' : duration(pick(stores[k] as TagStoreFigures)))),
  });
  storeRows.push(
    'head',
    'rule',
    storeMetric('one-file overwrite + commit, median', (f) => f.overwriteCommit.medianSeconds),
    storeMetric('  p90', (f) => f.overwriteCommit.p90Seconds),
    storeMetric('compareAndSet, median', (f) => f.compareAndSet.medianSeconds),
    storeMetric('  p90', (f) => f.compareAndSet.p90Seconds),
    storeMetric('get, median', (f) => f.get.medianSeconds),
  );
  for (const k of TAG_STORES) {
    const s = stores[k];
    if (isUnavailable(s)) storeRows.push({ label: `${k}`, span: s.unavailable.startsWith('etcd not installed') ? s.unavailable : `unavailable: ${s.unavailable}` });
  }
  const etcd = stores['etcd://'];
  storeRows.push('rule', ...[
    `Tag stores: the same overwrite + commit in a 1-file volume whose tags live in that store (${settings.commits} timed rounds),`,
    `  and ${settings.storeCalls} rounds of raw calls (compareAndSet to a new random tag each time), going round the stores. memory: keeps`,
    '  tags in this process (no store cost); file: replaces a JSON file (fsync, rename, fsync of the directory);',
    `  etcd://: a single-member etcd${isUnavailable(etcd) ? '' : ` ${etcd.version ?? ''}`} on loopback started by the bench, its data in the bench directory.`,
  ].map((n) => ({ label: n, span: '' } as Row)));
  if (available.includes('file:') && available.includes('etcd://')) {
    const f = stores['file:'] as TagStoreFigures, e = stores['etcd://'] as TagStoreFigures;
    ratios['tag store etcd / file: overwrite + commit'] = e.overwriteCommit.medianSeconds / f.overwriteCommit.medianSeconds;
    ratios['tag store etcd / file: compareAndSet'] = e.compareAndSet.medianSeconds / f.compareAndSet.medianSeconds;
  }

  lines.push(...table(['volumes', ...heads], sizeRows), '', ...table(['tag stores', ...storeHeads], storeRows));
  return { ratios, targets: targets(sizes), lines };
}

function targets(sizes: Outcome<VolumeSizes>): Target[] {
  const goals = {
    overwrite: `one-file overwrite + commit in a ${count(TARGET_FILES)}-file volume ≤ ${COMMIT_RATIO}× the 1-file volume`,
    rename: `rename + commit in a ${count(TARGET_FILES)}-file volume ≤ ${COMMIT_RATIO}× the 1-file volume`,
    open: `open of a ${count(TARGET_FILES)}-file volume < ${OPEN_SECONDS} s`,
    openReadOnly: `read-only open of a ${count(TARGET_FILES)}-file volume < ${OPEN_SECONDS} s`,
  };
  if (isUnavailable(sizes)) {
    return Object.values(goals).map((goal) => ({ goal, value: null, met: null, detail: `unavailable: ${sizes.unavailable}` }));
  }
  const base = sizes.sizes.find((s) => s.files === 1);
  const big = sizes.sizes.find((s) => s.files === TARGET_FILES);
  const largest = sizes.sizes.reduce((a, b) => (b.files > a.files ? b : a));
  // Without the sizes the target names, the verdict is n/a; the nearest figure is still shown.
  const judge = (goal: string, value: (b: VolumeSize, s: VolumeSize) => number, pass: (v: number) => boolean,
                 detail: (v: number, b: VolumeSize, s: VolumeSize) => string, needsBase: boolean): Target => {
    if (big && (base || !needsBase)) {
      const v = value(base ?? big, big);
      return { goal, value: v, met: pass(v), detail: detail(v, base ?? big, big) };
    }
    const b = base ?? sizes.sizes[0]!;
    const v = value(b, largest);
    return { goal, value: null, met: null, detail: `not measured at ${count(TARGET_FILES)} files; at ${count(largest.files)}: ${detail(v, b, largest)}` };
  };
  const ratio = (pick: (s: VolumeSize) => Latency) => (b: VolumeSize, s: VolumeSize) => pick(s).medianSeconds / pick(b).medianSeconds;
  const ratioDetail = (pick: (s: VolumeSize) => Latency) => (v: number, b: VolumeSize, s: VolumeSize) =>
    `${v.toFixed(2)}× (${duration(pick(s).medianSeconds)} vs ${duration(pick(b).medianSeconds)}, medians)`;
  const openDetail = (pick: (s: VolumeSize) => Latency) => (v: number, _b: VolumeSize, s: VolumeSize) =>
    `${duration(v)} median, p90 ${duration(pick(s).p90Seconds)}`;
  return [
    judge(goals.overwrite, ratio((s) => s.overwriteCommit), (v) => v <= COMMIT_RATIO, ratioDetail((s) => s.overwriteCommit), true),
    judge(goals.rename, ratio((s) => s.renameCommit), (v) => v <= COMMIT_RATIO, ratioDetail((s) => s.renameCommit), true),
    judge(goals.open, (_b, s) => s.open.medianSeconds, (v) => v < OPEN_SECONDS, openDetail((s) => s.open), false),
    judge(goals.openReadOnly, (_b, s) => s.openReadOnly.medianSeconds, (v) => v < OPEN_SECONDS, openDetail((s) => s.openReadOnly), false),
  ];
}

function short(files: number): string {
  return files >= 1000 && files % 1000 === 0 ? `${files / 1000}k` : String(files);
}

