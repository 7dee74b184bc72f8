// Child process of peak-rss.ts: reads a whole shielded file in 1 MiB ops, first with readSync, then
// with the async read, and prints its memory high-water marks as JSON on stdout.
import { readFileSync } from 'node:fs';
import { ShieldedFile, importKey } from '../lib/index.js';

const MiB = 2 ** 20;

function statusKiB(field: 'VmRSS' | 'VmHWM'): number {
  const match = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync('/proc/self/status', 'utf8'));
  if (!match) throw new Error(`no ${field} in /proc/self/status`);
  return Number(match[1]);
}

const path = process.argv[2];
const keyHex = process.env.SHIELDFS_BENCH_KEY;
if (!path || !keyHex) throw new Error('usage: SHIELDFS_BENCH_KEY=<hex> node --import tsx bench/read-child.ts <file>');
const key = importKey(keyHex);

const file = ShieldedFile.openSync(path, { key, readOnly: true });
const buffer = Buffer.alloc(MiB);
const before = { rssKiB: statusKiB('VmRSS'), hwmKiB: statusKiB('VmHWM') };
let bytesRead = 0;
for (let position = 0; position < file.size; position += MiB) bytesRead += file.readSync(buffer, 0, MiB, position);
for (let position = 0; position < file.size; position += MiB) bytesRead += await file.read(buffer, 0, MiB, position);
file.closeSync();

console.log(JSON.stringify({
  bytesRead,
  rssBeforeKiB: before.rssKiB,
  hwmBeforeKiB: before.hwmKiB,
  peakKiB: statusKiB('VmHWM'),
  maxRssKiB: process.resourceUsage().maxRSS,
}));
