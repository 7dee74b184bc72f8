// `shield protect <src-dir> <out-dir>`: makes a protected tree (lib/tree/protect.ts) and prints its tag,
// the one thing the owner must keep to pin it. stdout is that line only, so scripts can capture it.
//
// A failure, or an interruption (SIGINT, SIGTERM, SIGHUP), leaves nothing behind: no tree, and no key
// file if this command created it.
import { rmSync } from 'node:fs';
import { constants } from 'node:os';
import { Command, InvalidArgumentError } from 'commander';
import { shieldError } from '../file/fs-errors.js';
import { parseRegion, type Region } from '../volume/regions.js';
import type { ProtectProgress } from '../tree/protect.js';
import { errorLine } from '../file/exit-status.js';
import { readOrCreateKeyFile, wipeKey } from './key-file.js';
import { progressBar, type Progress } from './progress.js';

interface ProtectCommandOptions {
  keyFile: string;
  region: Region[];
  json?: boolean;
}

// The bar is about bytes; a tree of many small files is slow for its count, not its size.
const MANY_FILES = 1000;
const INTERRUPTING_SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

export function protectCommand(): Command {
  return new Command('protect')
    .summary('make a protected tree from a directory and print its tag')
    .description('make a protected tree in <out-dir> (missing or empty): every file and directory of <src-dir>, encrypted ' +
      '(or as --region says), committed once; prints the tree\'s tag, which pins it (a mount\'s `tag`). Symlinks to files or ' +
      'directories inside <src-dir> are copied as what they point to; other symlinks, sockets, FIFOs and devices are refused')
    .argument('<src-dir>', 'the directory to protect')
    .argument('<out-dir>', 'where the tree is made: missing or empty')
    .requiredOption('--key-file <file>', 'the tree key: 32 raw bytes or 64 hex characters; a fresh key is written there if the file does not exist')
    .option('--region <path:kind>', 'protection of a path prefix (encrypted | authenticated | not-protected); repeatable', collectRegion, [] as Region[])
    .option('--json', 'print {"tag","files","bytes"} as one line of JSON instead of the bare tag')
    .action((src: string, out: string, options: ProtectCommandOptions) => protect(src, out, options));
}

async function protect(src: string, out: string, options: ProtectCommandOptions): Promise<void> {
  const { protectTree, liesInside } = await loadProtect();
  // It would be copied into the tree, and in an authenticated or not-protected region be readable there.
  if (liesInside(options.keyFile, src)) {
    throw shieldError('EINVAL', `the key file ${options.keyFile} lies inside the source directory ${src}: it would be copied into the tree; keep it elsewhere`, options.keyFile);
  }
  const { key, created } = readOrCreateKeyFile(options.keyFile);
  const interruption = new AbortController();
  const onSignal = (signal: NodeJS.Signals) => interruption.abort(signal);
  const stopListening = () => {
    for (const signal of INTERRUPTING_SIGNALS) process.off(signal, onSignal);
  };
  for (const signal of INTERRUPTING_SIGNALS) process.on(signal, onSignal);
  let bar: Progress | null = null;
  try {
    const result = await protectTree(src, out, {
      key, regions: options.region, signal: interruption.signal,
      onProgress: (progress) => {
        bar ??= startBar(progress);
        bar.update(progress.bytesDone);
      },
    });
    process.stdout.write((options.json ? JSON.stringify({ tag: result.tag, files: result.files, bytes: result.bytes }) : result.tag) + '\n');
  } catch (error) {
    if (created) rmSync(options.keyFile, { force: true });
    if (interruption.signal.aborted) {
      const signal = interruption.signal.reason as NodeJS.Signals;
      (bar as Progress | null)?.stop();
      bar = null;
      stopListening();
      dieOf(signal, shieldError('EINTR', `interrupted by ${signal}: nothing was left in ${out}`, out));
    }
    throw error;
  } finally {
    (bar as Progress | null)?.stop();
    wipeKey(key);
    stopListening();
  }
}

function startBar(progress: ProtectProgress): Progress {
  const minimum = progress.filesTotal >= MANY_FILES && progress.bytesTotal > 0 ? 0 : undefined;
  return progressBar(`protect ${progress.filesTotal} file${progress.filesTotal === 1 ? '' : 's'}`, progress.bytesTotal, minimum);
}

// Interrupted: say so in the usual one line, then end by the same signal (our handlers are gone, so
// its default action applies), so that a shell loop or make sees an interruption, not a failure.
function dieOf(signal: NodeJS.Signals, error: Error): never {
  process.stderr.write(errorLine(error).line + '\n');
  process.kill(process.pid, signal);
  process.exit(128 + (constants.signals[signal] ?? 0));
}

// The volume code (and with it the native addon) is loaded only when the command runs, so that
// `--help` works without the addon.
async function loadProtect(): Promise<typeof import('../tree/protect.js')> {
  try {
    return await import('../tree/protect.js');
  } catch (error) {
    throw shieldError('EIO', `cannot load shieldfs's native addon: ${(error as Error).message}; ` +
      'reinstall shieldfs (npm install builds or fetches the addon)');
  }
}

function collectRegion(value: string, previous: Region[]): Region[] {
  try {
    return [...previous, parseRegion(value)];
  } catch (error) {
    throw new InvalidArgumentError((error as Error).message.replace(/^EINVAL: /, ''));
  }
}
