// node:fs's own Stats, BigIntStats and Dirent objects for volume entries, so `instanceof fs.Stats`,
// `isFile()` and every field behave exactly as for a real file.
import * as fs from 'node:fs';
import type { VolumeStats } from '../volume/volume.js';

type StatsConstructor = new (...fields: (number | bigint)[]) => fs.Stats;
type BigIntStatsConstructor = new (...fields: bigint[]) => fs.BigIntStats;

// The classes of what stat() returns. (fs.Stats itself is, from Node 24 on, a wrapper whose calls
// warn DEP0180; its prototype is the same. BigIntStats is not exported at all.)
const StatsClass = Object.getPrototypeOf(fs.statSync('/')).constructor as StatsConstructor;
const BigIntStatsClass = Object.getPrototypeOf(fs.statSync('/', { bigint: true })).constructor as BigIntStatsConstructor;
const BLOCK = 4096;
const uid = process.getuid?.() ?? 0;
const gid = process.getgid?.() ?? 0;

export function toStats(stats: VolumeStats, dev: number, bigint: true): fs.BigIntStats;
export function toStats(stats: VolumeStats, dev: number, bigint?: boolean): fs.Stats;
export function toStats(stats: VolumeStats, dev: number, bigint?: boolean): fs.Stats | fs.BigIntStats {
  const blocks = Math.ceil(stats.size / BLOCK) * (BLOCK / 512);
  const nlink = stats.nlink;
  if (bigint) {
    return new BigIntStatsClass(BigInt(dev), BigInt(stats.mode), BigInt(nlink), BigInt(uid), BigInt(gid), 0n, BigInt(BLOCK),
      BigInt(stats.ino), BigInt(stats.size), BigInt(blocks), stats.atimeNs, stats.mtimeNs, stats.ctimeNs, stats.birthtimeNs);
  }
  return new StatsClass(dev, stats.mode, nlink, uid, gid, 0, BLOCK, stats.ino, stats.size, blocks,
    nsToMs(stats.atimeNs), nsToMs(stats.mtimeNs), nsToMs(stats.ctimeNs), nsToMs(stats.birthtimeNs));
}

/** Milliseconds as node computes them (whole ms + fraction): Number(ns) alone loses the last digits. */
export function nsToMs(ns: bigint): number {
  return Number(ns / 1_000_000n) + Number(ns % 1_000_000n) / 1e6;
}

/** fs.Dirent for a volume entry. */
export function toDirent(name: string | Buffer, type: 'file' | 'directory', parentPath: string): fs.Dirent {
  // libuv's dirent types, which node's Dirent takes (fs.constants has them; its typings do not).
  const { UV_DIRENT_DIR, UV_DIRENT_FILE } = fs.constants as typeof fs.constants & { UV_DIRENT_DIR: number; UV_DIRENT_FILE: number };
  const kind = type === 'directory' ? UV_DIRENT_DIR : UV_DIRENT_FILE;
  return new (fs.Dirent as unknown as new (name: string | Buffer, type: number, path: string) => fs.Dirent)(name, kind, parentPath);
}

/** A time argument of utimes (seconds as number or numeric string, or a Date) in nanoseconds. */
export function timeToNs(time: fs.TimeLike): bigint {
  if (time instanceof Date) return withinVolumeRange(BigInt(time.getTime()) * 1_000_000n);
  // As node's toUnixTimestamp: a numeric string as it is; a number that is negative (or not finite) is now.
  const seconds = typeof time === 'string' ? Number(time) : time;
  if (!Number.isFinite(seconds) || (typeof time === 'number' && time < 0)) return BigInt(Date.now()) * 1_000_000n;
  return withinVolumeRange(BigInt(Math.round(seconds * 1e9)));
}

// A volume stores times as signed 64-bit nanoseconds (FORMAT.md): years 1677 to 2262.
const NS_MIN = -(2n ** 63n), NS_MAX = 2n ** 63n - 1n;
function withinVolumeRange(ns: bigint): bigint {
  return ns < NS_MIN ? NS_MIN : ns > NS_MAX ? NS_MAX : ns;
}
