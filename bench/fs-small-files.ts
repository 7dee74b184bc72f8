// Small files through the drop-in fs: 10,000 files of 1 KiB in one directory, written, read, stat'ed
// and listed through `shield.fs` (a mounted volume) and through node:fs, on the same file system
// (bench/README.md, "Drop-in fs").
import * as nodeFs from 'node:fs';
import { join } from 'node:path';
import { mount, type CommitMode, type Shield } from '../lib/fs/index.js';
import { randomBytesFrom, seededRandom } from '../test/support/random.js';
import { filesystemOf } from './machine.js';
import { bestOf, measure, measureConcurrent, type Figure } from './timing.js';

export interface SmallFileSettings {
  /** Files written (commit 'sync'), then read, stat'ed and listed. */
  files: number;
  fileBytes: number;
  /** Runs of each read phase (readFile, stat, readdir); the fastest counts. */
  runs: number;
  /** Time limit of each phase that makes every file durable on its own (commit 'close', node:fs +
   *  fdatasync): they write at most `files` files, or as many as fit. */
  durableSeconds: number;
  /** fs.promises.writeFile calls in flight at once in the asynchronous write phase. */
  concurrency: number;
  /** Duration of the readdir phase, all runs together. */
  readdirSeconds: number;
  seed: number;
}

export interface SmallFileFigures {
  tagStore: string;
  filesystem: string;
  shield: {
    /** writeFileSync of `files` new files, commit 'sync': the one commit at the end is in the time. */
    writeSync: Figure;
    /** writeFileSync of further new files in the same directory, commit 'close': one commit each. */
    writeClose: Figure;
    /** fs.promises.writeFile, `concurrency` in flight, commit 'close' (commits grouped per event-loop turn). */
    writeAsyncClose: Figure;
    readFile: Figure;
    stat: Figure;
    readdir: Figure;
    /** Files in the directory when the 'close' and asynchronous write phases started. */
    filesBeforeCommitEach: number;
  };
  node: {
    writeFile: Figure;
    /** open, write, fdatasync, close per file. */
    writeDurable: Figure;
    writeAsync: Figure;
    readFile: Figure;
    stat: Figure;
    readdir: Figure;
  };
}

const TAG_STORE = 'memory:bench-small-files';
const MOUNT = '/bench-small';

export const fileName = (i: number) => `f${String(i).padStart(6, '0')}`;

export async function smallFiles(dir: string, key: Buffer, settings: SmallFileSettings,
                                 progress: (what: string) => void): Promise<SmallFileFigures> {
  const data = randomBytesFrom(seededRandom(settings.seed), settings.fileBytes);
  progress(`small files: node:fs, ${settings.files.toLocaleString('en-US')} files`);
  const node = await nodeSmallFiles(dir, data, settings);
  progress('small files: shield.fs');
  const shield = await shieldSmallFiles(dir, key, data, settings, progress);
  return { tagStore: TAG_STORE, filesystem: filesystemOf(dir), shield, node };
}

async function nodeSmallFiles(dir: string, data: Buffer, settings: SmallFileSettings): Promise<SmallFileFigures['node']> {
  const { files, fileBytes: bytesPerOp } = settings;
  const root = join(dir, 'node-small');
  const paths = (sub: string) => {
    nodeFs.mkdirSync(join(root, sub), { recursive: true });
    return (i: number) => join(root, sub, fileName(i));
  };
  try {
    const path = paths('d');
    const writeFile = await measure((i) => nodeFs.writeFileSync(path(i), data), { ops: files, bytesPerOp });
    const reads = await readPhases(nodeFs, join(root, 'd'), path, data, settings);
    const durablePath = paths('durable');
    const writeDurable = await measure((i) => {
      const fd = nodeFs.openSync(durablePath(i), 'w');
      try {
        nodeFs.writeSync(fd, data);
        nodeFs.fdatasyncSync(fd);
      } finally {
        nodeFs.closeSync(fd);
      }
    }, { ops: files, seconds: settings.durableSeconds, bytesPerOp });
    const asyncPath = paths('async');
    const writeAsync = await measureConcurrent((i) => nodeFs.promises.writeFile(asyncPath(i), data),
      { ops: files, concurrency: settings.concurrency, bytesPerOp });
    return { writeFile, writeDurable, writeAsync, ...reads };
  } finally {
    nodeFs.rmSync(root, { recursive: true, force: true });
  }
}

async function shieldSmallFiles(dir: string, key: Buffer, data: Buffer, settings: SmallFileSettings,
                                progress: (what: string) => void): Promise<SmallFileFigures['shield']> {
  const { files, fileBytes: bytesPerOp } = settings;
  const volume = join(dir, 'shield-small');
  const hex = key.toString('hex');
  const withMount = async <T>(commit: CommitMode, body: (shield: Shield) => Promise<T>): Promise<T> => {
    const shield = await mount([{ path: MOUNT, volume, key: hex, tagStore: TAG_STORE, create: true, commit }]);
    try {
      return await body(shield);
    } finally {
      await shield.unmount();
    }
  };
  const directory = `${MOUNT}/d`;
  const path = (i: number) => `${directory}/${fileName(i)}`;
  try {
    // One volume for every phase: filled with commit 'sync', then reopened with commit 'close' for
    // the writes that commit each file, which go on in the same directory (10,000 files and more).
    const { writeSync, reads } = await withMount('sync', async (shield) => {
      const fs = shield.fs;
      fs.mkdirSync(directory);
      shield.commitSync();
      const writeSync = await measure((i) => fs.writeFileSync(path(i), data),
        { ops: files, bytesPerOp, finish: () => shield.commitSync() });
      progress('small files: shield.fs reads');
      return { writeSync, reads: await readPhases(fs, directory, path, data, settings) };
    });
    progress(`small files: shield.fs writeFileSync, commit 'close' (up to ${settings.durableSeconds} s)`);
    const writeClose = await withMount('close', (shield) =>
      measure((i) => shield.fs.writeFileSync(path(files + i), data), { ops: files, seconds: settings.durableSeconds, bytesPerOp }));
    progress(`small files: shield.fs promises.writeFile ×${settings.concurrency}, commit 'close'`);
    const first = files + writeClose.ops;
    const writeAsyncClose = await withMount('close', (shield) =>
      measureConcurrent((i) => shield.fs.promises.writeFile(path(first + i), data),
        { ops: files, seconds: settings.durableSeconds, concurrency: settings.concurrency, bytesPerOp }));
    return { writeSync, writeClose, writeAsyncClose, ...reads, filesBeforeCommitEach: files };
  } finally {
    nodeFs.rmSync(volume, { recursive: true, force: true });
  }
}

/** readFileSync and statSync of every file, readdirSync of the directory; each checked once. */
async function readPhases(fs: typeof nodeFs, directory: string, path: (i: number) => string, data: Buffer,
                          settings: SmallFileSettings): Promise<Pick<SmallFileFigures['node'], 'readFile' | 'stat' | 'readdir'>> {
  const { files, runs, fileBytes } = settings;
  if (!fs.readFileSync(path(files - 1)).equals(data)) throw new Error(`${path(files - 1)} reads back differently`);
  if (fs.statSync(path(0)).size !== fileBytes) throw new Error(`${path(0)}: stat gives another size`);
  const names = fs.readdirSync(directory);
  if (names.length !== files) throw new Error(`${directory}: readdir gives ${names.length} names, not ${files}`);
  const readFile = await bestOf(runs, () => measure((i) => fs.readFileSync(path(i)), { ops: files, bytesPerOp: fileBytes }));
  const stat = await bestOf(runs, () => measure((i) => fs.statSync(path(i)), { ops: files, bytesPerOp: 0 }));
  const readdir = await bestOf(runs, () => measure(() => fs.readdirSync(directory), { seconds: settings.readdirSeconds / runs, bytesPerOp: 0 }));
  return { readFile, stat, readdir };
}
