// `shield volume …`: each command opens the volume, does one thing and, if it changed anything,
// commits once. A failure before the commit discards every change (the volume is untouched).
//
// The volume code (and with it the native addon) is loaded only when a command runs, so `--help`
// works without the addon and a missing addon is one `shield: …` line like any other failure.
import { createReadStream, existsSync, fstatSync, rmSync, statSync } from 'node:fs';
import type { Readable, Writable } from 'node:stream';
import { Command, InvalidArgumentError, Option } from 'commander';
import { parseRegion, type Region } from '../volume/regions.js';
import type { UpdatePolicy } from '../volume/volume-header.js';
import type { Volume, VolumeStats } from '../volume/volume.js';
import { baseName, joinVolumePath, normalizeVolumePath, parentOf } from '../volume/volume-path.js';
import { atVolumePath, shieldError } from '../file/fs-errors.js';
import { readKeyFile, readOrCreateKeyFile, wipeKey } from './key-file.js';
import { progressBar } from './progress.js';
import { usageError } from '../file/exit-status.js';

const PIECE = 1 << 20;

// The update policies of volume-header.ts, listed here so that parsing the command line does not
// load the addon; the `satisfies` and the check below keep the two lists equal.
const UPDATE_POLICIES = ['rollback-protected', 'ephemeral', 'no-rollback-protection'] as const satisfies readonly UpdatePolicy[];
const everyPolicyListed: Exclude<UpdatePolicy, (typeof UPDATE_POLICIES)[number]> extends never ? true : never = true;
void everyPolicyListed;

interface CommonOptions {
  keyFile: string;
  tagStore?: string;
  name?: string;
  json?: boolean;
}

interface CreateOptions extends CommonOptions {
  chunkSize: number;
  updatePolicy: UpdatePolicy;
  region: Region[];
}

export function volumeCommand(): Command {
  const volume = new Command('volume').description('create, change and check protected volumes');

  withCommon(volume.command('create <dir>'))
    .description('create an empty volume in <dir> (missing or empty) and register its tag; writes a fresh key to --key-file if that file does not exist')
    .option('--chunk-size <n>', 'plaintext bytes per chunk: a power of two from 4096 to 1048576', parseChunkSize, 4096)
    .addOption(new Option('--update-policy <p>', 'what a commit does').choices([...UPDATE_POLICIES]).default('rollback-protected'))
    .option('--region <path:kind>', 'protection of a path prefix (encrypted | authenticated | not-protected); repeatable', collectRegion, [] as Region[])
    .option('--json', 'print JSON')
    .action((dir: string, options: CreateOptions) => create(dir, options));

  withCommon(volume.command('write <dir> <path>'))
    .description('write a file into the volume from --from or stdin (replacing it), creating parent directories; one commit')
    .option('--from <local-file>', 'read the content from this file instead of stdin')
    .action((dir: string, path: string, options: CommonOptions & { from?: string }) =>
      withVolume(dir, options, false, async (v) => {
        const target = normalizeVolumePath(path, 'open');
        // The source is checked before the volume is touched, so a bad --from changes nothing.
        const total = options.from ? localFileSize(options.from) : stdinSize();
        v.mkdir(parentOf(target), { recursive: true });
        const source: Readable = options.from ? createReadStream(options.from, { highWaterMark: PIECE }) : process.stdin;
        const bar = progressBar(`write ${path}`, total);
        const file = await v.openFile(target, 'w');
        let written = 0;
        try {
          for await (const piece of source) {
            const bytes = typeof piece === 'string' ? Buffer.from(piece) : (piece as Buffer);
            written += await file.write(bytes, 0, bytes.length, written);
            bar.update(written, Math.max(total, written));
          }
        } finally {
          bar.stop();
          await file.close();
        }
        const tag = await v.commit();
        print(options, { path: target, bytes: written, tag }, () => '');
      }));

  withCommon(volume.command('read <dir> <path>'))
    .description('write the content of a file of the volume to stdout')
    .action((dir: string, path: string, options: CommonOptions) =>
      withVolume(dir, options, true, async (v) => {
        const file = await v.openFile(path, 'r');
        const bar = progressBar(`read ${path}`, file.size);
        const piece = Buffer.allocUnsafe(PIECE);
        try {
          for (let at = 0; ;) {
            let got: number;
            try {
              got = await file.read(piece, 0, PIECE, at);
            } catch (error) {
              throw atVolumePath(error, normalizeVolumePath(path, 'read'));
            }
            if (got === 0) break;
            at += got;
            await writeOut(process.stdout, piece.subarray(0, got));  // written out before the next read reuses it
            bar.update(at);
          }
        } finally {
          piece.fill(0);
          bar.stop();
          await file.close();
        }
      }));

  withCommon(volume.command('ls <dir> [path]'))
    .description('list a directory of the volume (or describe one file)')
    .option('--json', 'print JSON')
    .action((dir: string, path: string | undefined, options: CommonOptions) =>
      withVolume(dir, options, true, async (v) => {
        const at = normalizeVolumePath(path ?? '/', 'scandir');
        const stats = v.stat(at);
        const rows = stats.type === 'directory'
          ? v.readdir(at).map((name) => row(name, joinVolumePath(at, name), v.stat(joinVolumePath(at, name))))
          : [row(baseName(at), at, stats)];
        print(options, rows, () => rows.map((r) =>
          `${r.type === 'directory' ? 'd' : '-'}${modeString(r.mode)} ${String(r.size).padStart(12)} ${r.mtime} ${r.region.padEnd(13)} ${r.name}${r.type === 'directory' ? '/' : ''}`,
        ).join('\n'));
      }));

  withCommon(volume.command('rm <dir> <path>'))
    .description('remove a file (or, with -r, a directory and everything in it); one commit')
    .option('-r, --recursive', 'remove directories and their contents')
    .action((dir: string, path: string, options: CommonOptions & { recursive?: boolean }) =>
      withVolume(dir, options, false, async (v) => {
        const target = normalizeVolumePath(path, 'rm');
        if (target === '/') throw shieldError('EINVAL', `refusing to remove the root of the volume; remove what is in it, or delete ${dir} itself`, path);
        removeTree(v, target, !!options.recursive);
        print(options, { removed: target, tag: await v.commit() }, () => '');
      }));

  withCommon(volume.command('mv <dir> <from> <to>'))
    .description('rename a file or directory inside the volume, or move it into the directory <to> (atomic, content not re-encrypted); one commit')
    .action((dir: string, from: string, to: string, options: CommonOptions) =>
      withVolume(dir, options, false, async (v) => {
        const source = normalizeVolumePath(from, 'rename');
        let target = normalizeVolumePath(to, 'rename');
        // Like mv(1): an existing directory as the target means "into it".
        if (target !== source && v.exists(target) && v.stat(target).type === 'directory') target = joinVolumePath(target, baseName(source));
        if (target === source) throw shieldError('EINVAL', `'${from}' and '${to}' are the same path`, from);
        v.rename(source, target);
        print(options, { from: source, to: target, tag: await v.commit() }, () => '');
      }));

  withCommon(volume.command('verify <dir>'))
    .description('check every byte of every file against the manifest and the trusted tag')
    .option('--json', 'print JSON')
    .action((dir: string, options: CommonOptions) =>
      withVolume(dir, options, true, async (v) => {
        const info = v.info();
        const bar = progressBar('verify', info.bytes, 64 << 20);
        const report = await v.verify((done) => bar.update(done)).finally(() => bar.stop());
        const result = { ok: report.problems.length === 0, tag: info.tag, ...report };
        print(options, result, () => [
          ...report.problems.map((p) => `FAILED ${p.path}: ${p.message}`),
          ...report.unreferenced.map((path) => `note: ${path} is not part of the volume (left by an interrupted commit, ` +
            'or put there by someone else); it was not read, and a writable open removes it if it is in objects/'),
          `${result.ok ? 'ok' : 'FAILED'}: ${report.files} files, ${report.bytes} bytes verified at tag ${info.tag}` +
            (result.ok ? '' : `; ${report.problems.length} failed`),
        ].join('\n'));
        if (!result.ok) {
          const first = report.problems[0]!;
          throw shieldError(first.code, `${report.problems.length} of ${report.files} files failed verification (first: ${first.path}: ${first.message})`, dir);
        }
      }));

  volume.command('reset <dir>')
    .description('forget which volume <dir> (or --name) stands for in the tag store, so that `volume create` may make a new one there; ' +
      'the old volume\'s tag stays (an old copy of it is still refused). Logged on stdout')
    .requiredOption('--confirm <volume-id>', 'the id of the volume to forget (the EROLLBACK of a deleted volume names it)')
    .option('--name <name>', 'the name the tag store knows the volume by (default: the absolute path of <dir>)')
    .option('--tag-store <url>', 'file:PATH | etcd://HOST:PORT[,HOST:PORT…] (default: $SHIELD_TAG_STORE or file:~/.shieldfs/tags.json)')
    .option('--json', 'print JSON')
    .action(async (dir: string, options: { confirm: string; name?: string; tagStore?: string; json?: boolean }) => {
      const { Volume } = await loadVolume();
      await checkTagStoreUrl(options.tagStore);
      if (!/^[0-9a-f]{32}$/.test(options.confirm)) throw usageError(shieldError('EINVAL', `--confirm: expected a volume id (32 hex digits), got ${JSON.stringify(options.confirm)}`));
      const forgotten = await Volume.reset(dir, { tagStore: options.tagStore, name: options.name, confirmId: options.confirm });
      const at = new Date().toISOString();
      print(options, { reset: forgotten, at }, () => `${at} reset: the tag store no longer binds ${JSON.stringify(forgotten.name)} to volume ` +
        `${forgotten.id} (${forgotten.updatePolicy}, last tag ${forgotten.tag ?? 'none'}); the next \`shield volume create\` there makes a new volume`);
    });

  withCommon(volume.command('info <dir>'))
    .description('show the volume: id, tag, files, bytes, update policy, regions')
    .option('--json', 'print JSON')
    .action((dir: string, options: CommonOptions) =>
      withVolume(dir, options, true, async (v) => {
        const info = v.info();
        print(options, info, () => [
          `volume      ${info.directory}`, `id          ${info.id}`, `tag         ${info.tag}`,
          `policy      ${info.updatePolicy}`, `tag store   ${info.tagStore ?? '(none)'}`,
          `files       ${info.files}`, `directories ${info.directories}`, `bytes       ${info.bytes}`,
          `chunk size  ${info.chunkSize}`, `commits     ${info.commits}`,
          `regions     ${info.regions.length === 0 ? '/ encrypted (default)' : info.regions.map((r) => `${r.path} ${r.kind}`).join(', ')}`,
        ].join('\n'));
      }));

  return volume;
}

function withCommon(command: Command): Command {
  return command
    .requiredOption('--key-file <file>', 'the volume key: 32 raw bytes or 64 hex characters')
    .option('--tag-store <url>', 'file:PATH | etcd://HOST:PORT[,HOST:PORT…] (default: $SHIELD_TAG_STORE or file:~/.shieldfs/tags.json)')
    .option('--name <name>', 'the name the tag store knows the volume by (default: the absolute path of <dir>)');
}

// A failed create leaves nothing behind: no key file it made, no directory it made. (Once the
// volume exists, its key file stays whatever happens next: without it the volume is lost.)
async function create(dir: string, options: CreateOptions): Promise<void> {
  const { Volume } = await loadVolume();
  await checkTagStoreUrl(options.tagStore);
  const dirExisted = existsSync(dir);
  const { key, created } = readOrCreateKeyFile(options.keyFile);
  try {
    let v: Volume;
    try {
      v = await Volume.create(dir, {
        key, tagStore: options.tagStore, chunkSize: options.chunkSize, updatePolicy: options.updatePolicy, regions: options.region, name: options.name,
      });
    } catch (error) {
      if (created) rmSync(options.keyFile, { force: true });
      if (!dirExisted) rmSync(dir, { recursive: true, force: true });
      // Volume.create's own EINVALs are about the options (e.g. a region inside a not-protected one).
      throw (error as NodeJS.ErrnoException).code === 'EINVAL' ? usageError(error) : error;
    }
    const info = v.info();
    await v.close();
    print(options, { ...info, keyFile: options.keyFile, keyFileCreated: created }, () => `created volume ${info.id} in ${dir}\ntag ${info.tag}` +
      (created ? `\nnew key written to ${options.keyFile} (keep it safe: without it the volume cannot be read)` : ''));
  } finally {
    wipeKey(key);
  }
}

// Opens, runs, commits (the command does) and closes; on failure discards what the command changed.
async function withVolume(dir: string, options: CommonOptions, readOnly: boolean, run: (v: Volume) => Promise<void>): Promise<void> {
  const { Volume } = await loadVolume();
  await checkTagStoreUrl(options.tagStore);
  const key = readKeyFile(options.keyFile);
  try {
    const v = await Volume.open(dir, { key, tagStore: options.tagStore, readOnly, name: options.name });
    try {
      await run(v);
    } catch (error) {
      await v.abort();
      throw error;
    }
    await v.close();
  } finally {
    wipeKey(key);
  }
}

async function loadVolume(): Promise<typeof import('../volume/volume.js')> {
  try {
    return await import('../volume/volume.js');
  } catch (error) {
    throw shieldError('EIO', `cannot load shieldfs's native addon: ${(error as Error).message}; ` +
      'reinstall shieldfs (npm install builds or fetches the addon)');
  }
}

// A malformed --tag-store is a usage error (status 2), found before anything is read or made.
async function checkTagStoreUrl(url: string | undefined): Promise<void> {
  if (url === undefined) return;
  const { openTagStore } = await import('../tag-store/open-tag-store.js');
  try {
    await openTagStore(url).close();  // opening only parses the URL: nothing is contacted
  } catch (error) {
    throw usageError(error);
  }
}

function localFileSize(path: string): number {
  const stats = statSync(path);
  if (stats.isDirectory()) throw shieldError('EISDIR', `--from ${path} is a directory, not a file`, path);
  return stats.size;
}

// stdin redirected from a file has a size (for the progress bar); a pipe or a terminal has none.
function stdinSize(): number {
  try {
    const stats = fstatSync(0);
    return stats.isFile() ? stats.size : 0;
  } catch {
    return 0;
  }
}

function removeTree(v: Volume, path: string, recursive: boolean): void {
  if (v.stat(path).type === 'file') return v.unlink(path);
  if (!recursive) throw shieldError('EISDIR', `${path} is a directory: use rm -r to remove it and everything in it`, path);
  for (const name of v.readdir(path)) removeTree(v, joinVolumePath(path, name), true);
  v.rmdir(path);
}

function row(name: string, path: string, s: VolumeStats) {
  return {
    name, path, type: s.type, size: s.size, mode: s.mode & 0o7777,
    mtime: new Date(Number(s.mtimeNs / 1_000_000n)).toISOString(), region: s.region, ...(s.tag ? { tag: s.tag } : {}),
  };
}

function modeString(mode: number): string {
  return [6, 3, 0].map((shift) => {
    const bits = (mode >> shift) & 7;
    return `${bits & 4 ? 'r' : '-'}${bits & 2 ? 'w' : '-'}${bits & 1 ? 'x' : '-'}`;
  }).join('');
}

function print(options: { json?: boolean }, value: unknown, text: () => string): void {
  const out = options.json ? JSON.stringify(value, null, 2) : text();
  if (out) process.stdout.write(out + '\n');
}

function writeOut(stream: Writable, bytes: Buffer): Promise<void> {
  return new Promise((resolve, reject) => {
    stream.write(bytes, (error) => {
      if (!error) return resolve();
      const code = (error as NodeJS.ErrnoException).code ?? 'EIO';
      reject(code === 'EPIPE' ? shieldError('EPIPE', 'stdout was closed before the whole file was written') : error);
    });
  });
}

// Commander reports an InvalidArgumentError as a usage error (status 2) naming the option.
function parseChunkSize(value: string): number {
  const n = /^\d+$/.test(value) ? Number(value) : NaN;
  if (!(n >= 4096 && n <= 1 << 20 && (n & (n - 1)) === 0)) {
    throw new InvalidArgumentError('expected a power of two from 4096 to 1048576 (4 KiB to 1 MiB).');
  }
  return n;
}

function collectRegion(value: string, previous: Region[]): Region[] {
  try {
    return [...previous, parseRegion(value)];
  } catch (error) {
    throw new InvalidArgumentError((error as Error).message.replace(/^EINVAL: /, ''));
  }
}
