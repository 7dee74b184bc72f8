// What the figures were measured on.
import { readFileSync, statfsSync } from 'node:fs';
import * as os from 'node:os';
import { native } from '../lib/file/index.js';
import { sleepSync } from './timing.js';

export interface Machine {
  cpu: string;
  cpuFlags: string[];
  logicalCpus: number;
  shieldThreads: number;
  memoryGiB: number;
  os: string;
  kernel: string;
  node: string;
  openssl: string;
  dir: string;
  filesystem: string;
  freeGiB: number;
}

export function machine(dir: string): Machine {
  const cpuinfo = readOr('/proc/cpuinfo');
  const flags = new Set(/^flags\s*:(.*)$/m.exec(cpuinfo)?.[1]?.trim().split(/\s+/) ?? []);
  return {
    cpu: os.cpus()[0]?.model ?? 'unknown',
    cpuFlags: ['aes', 'pclmulqdq', 'avx2', 'vaes', 'vpclmulqdq', 'avx512f'].filter((f) => flags.has(f)),
    logicalCpus: os.availableParallelism(),
    shieldThreads: native.cores,
    memoryGiB: round(os.totalmem() / 2 ** 30),
    os: /^PRETTY_NAME="?([^"\n]*)/m.exec(readOr('/etc/os-release'))?.[1] ?? os.type(),
    kernel: os.release(),
    node: process.version,
    openssl: process.versions.openssl ?? 'unknown',
    dir,
    filesystem: filesystemOf(dir),
    freeGiB: round(freeBytes(dir) / 2 ** 30),
  };
}

export function freeBytes(dir: string): number {
  const stats = statfsSync(dir);
  return stats.bavail * stats.bsize;
}

// The mount with the longest prefix of `dir` in /proc/mounts: "ext4 on /dev/vda (/)".
export function filesystemOf(dir: string): string {
  let best = { point: '', text: 'unknown' };
  for (const line of readOr('/proc/mounts').split('\n')) {
    const [device, point, type] = line.split(' ');
    if (!device || !point || !type) continue;
    const inside = dir === point || dir.startsWith(point.endsWith('/') ? point : `${point}/`);
    if (inside && point.length >= best.point.length) best = { point, text: `${type} on ${device} (${point})` };
  }
  return best.text;
}

/** Share of all CPUs busy (any process) over the next `seconds`, from /proc/stat; -1 if unknown. */
export function cpuBusy(seconds: number): number {
  const sample = () => {
    const fields = /^cpu\s+(.*)$/m.exec(readOr('/proc/stat'))?.[1]?.split(/\s+/).map(Number) ?? [];
    const total = fields.slice(0, 8).reduce((a, b) => a + b, 0);
    return { total, idle: (fields[3] ?? 0) + (fields[4] ?? 0) };  // idle + iowait
  };
  const a = sample();
  sleepSync(seconds * 1000);
  const b = sample();
  return b.total > a.total ? 1 - (b.idle - a.idle) / (b.total - a.total) : -1;
}

function readOr(path: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return '';
  }
}

function round(value: number): number {
  return Math.round(value * 10) / 10;
}
