// `shield protect` and `shield run`, run as a user runs them (the compiled dist/cli/shield.js in a
// child process), plus protectTree's all-or-nothing behaviour driven in-process.
// Build first: `npx tsc -p tsconfig.build.json`.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, lstatSync, mkdirSync, readdirSync, readFileSync, statSync, symlinkSync, utimesSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterEach, describe, expect, it } from 'vitest';
import { generateKey, importKey } from '../lib/file/keys.js';
import { protectTree } from '../lib/tree/protect.js';
import { Volume } from '../lib/volume/volume.js';
import { cliRunner, expectFailure, expectSuccess, shellQuote, SHIELD_JS } from './support/cli-run.js';
import { randomBytesFrom, seededRandom } from './support/random.js';
import { useTempDir } from './support/temp.js';

const temp = useTempDir('shieldfs-cli-protect-run-');
const HOME = temp('home');
// A register module that only records that it ran (the real one mounts; see the last test).
const STUB_REGISTER = temp('stub-register.mjs');
writeFileSync(STUB_REGISTER, "process.env.SHIELDFS_TEST_REGISTERED = 'yes ' + process.env.SHIELD_CONFIG;\n");
const BASE_ENV = {
  HOME, SHIELD_TAG_STORE: `file:${temp('tags.json')}`, SHIELD_CONFIG: undefined, NODE_OPTIONS: undefined,
  SHIELDFS_REGISTER_MODULE: STUB_REGISTER, SHIELDFS_CRASH_AT: undefined,
};
const shield = cliRunner(BASE_ENV);
const REAL_REGISTER = fileURLToPath(new URL('../dist/register.js', import.meta.url));

let counter = 0;
function fresh(name: string): string {
  return temp(`${name}-${++counter}`);
}

const children: ChildProcess[] = [];
afterEach(() => {
  for (const child of children.splice(0)) child.kill('SIGKILL');
});

// ---------------------------------------------------------------------------------------------
// Source trees

interface SourceFile {
  path: string;
  content: Buffer;
  mode: number;
}

/** A source tree with nested directories, empty and multi-MiB files, and unusual modes and times. */
function sourceTree(): { src: string; files: SourceFile[]; directories: { path: string; mode: number }[] } {
  const src = fresh('src');
  const random = seededRandom(counter);
  const files: SourceFile[] = [
    { path: '/README', content: Buffer.from('a protected tree\n'), mode: 0o644 },
    { path: '/empty', content: Buffer.alloc(0), mode: 0o600 },
    { path: '/bin/run.sh', content: Buffer.from('#!/bin/sh\necho hi\n'), mode: 0o755 },
    { path: '/models/weights.bin', content: randomBytesFrom(random, 3 * (1 << 20) + 17), mode: 0o640 },
    { path: '/models/deep/er/x.json', content: Buffer.from('{"x":1}'), mode: 0o664 },
    { path: '/etc/private', content: randomBytesFrom(random, 5000), mode: 0o400 },
    { path: '/naïve – ünïcode.txt', content: Buffer.from('names are UTF-8'), mode: 0o644 },
  ];
  const directories = [
    { path: '/', mode: 0o750 }, { path: '/bin', mode: 0o755 }, { path: '/models', mode: 0o2775 }, { path: '/models/deep', mode: 0o700 },
    { path: '/models/deep/er', mode: 0o755 }, { path: '/etc', mode: 0o555 }, { path: '/empty-dir', mode: 0o711 },
  ];
  for (const d of directories) mkdirSync(join(src, d.path), { recursive: true });
  for (const [i, f] of files.entries()) {
    writeFileSync(join(src, f.path), f.content);
    chmodSync(join(src, f.path), f.mode);
    utimesSync(join(src, f.path), new Date(2001, 1, 2 + i, 3, 4, 5), new Date(2002, 3, 4 + i, 5, 6, 7, 891));
  }
  // Deepest first: a directory's time changes when something is added to it.
  for (const d of [...directories].reverse()) {
    chmodSync(join(src, d.path), d.mode);
    utimesSync(join(src, d.path), new Date(2003, 0, 1), new Date(2004, 0, 1, 12, 0, 0, 250));
  }
  return { src, files, directories };
}

/** Every path of a tree with its type, mode and (files) content, read through the volume. */
async function treeContents(v: Volume): Promise<Map<string, { type: string; mode: number; content?: Buffer }>> {
  const out = new Map<string, { type: string; mode: number; content?: Buffer }>();
  const walk = async (path: string): Promise<void> => {
    const stats = v.stat(path);
    out.set(path, { type: stats.type, mode: stats.mode & 0o7777, ...(stats.type === 'file' ? { content: await v.readFile(path) } : {}) });
    if (stats.type === 'directory') for (const name of v.readdir(path)) await walk(path === '/' ? `/${name}` : `${path}/${name}`);
  };
  await walk('/');
  return out;
}

function keyOf(keyFile: string): Buffer {
  return importKey(readFileSync(keyFile, 'latin1'));
}

async function openTree(out: string, keyFile: string, tag: string): Promise<Volume> {
  return Volume.open(out, { key: keyOf(keyFile), readOnly: true, expectedTag: tag });
}

const TAG_LINE = /^[0-9a-f]{64}\n$/;

// ---------------------------------------------------------------------------------------------

describe('shield protect', () => {
  it('copies every file and directory with its mode and times, prints only the tag, and the tree opens pinned to it', async () => {
    const { src, files, directories } = sourceTree();
    const out = fresh('tree'), key = fresh('key');
    const result = expectSuccess(shield(['protect', src, out, '--key-file', key]));
    expect(result.out).toMatch(TAG_LINE);
    const tag = result.out.trim();
    expect(statSync(key).mode & 0o777).toBe(0o600);  // a fresh key, written as `volume create` writes it

    const v = await openTree(out, key, tag);
    try {
      expect(v.tag).toBe(tag);
      expect(v.updatePolicy).toBe('no-rollback-protection');
      const contents = await treeContents(v);
      const expected = new Map<string, { type: string; mode: number; content?: Buffer }>([
        ...directories.map((d) => [d.path, { type: 'directory', mode: d.mode }] as const),
        ...files.map((f) => [f.path, { type: 'file', mode: f.mode, content: f.content }] as const),
      ]);
      expect(new Set(contents.keys())).toEqual(new Set(expected.keys()));
      for (const [path, entry] of expected) {
        const got = contents.get(path)!;
        expect({ path, type: got.type, mode: got.mode.toString(8) }).toEqual({ path, type: entry.type, mode: entry.mode.toString(8) });
        if (entry.content) expect(got.content!.equals(entry.content), path).toBe(true);
      }
      for (const path of [...files.map((f) => f.path), ...directories.map((d) => d.path)]) {
        const source = lstatSync(join(src, path), { bigint: true });
        expect(v.stat(path).mtimeNs, `mtime of ${path}`).toBe(source.mtimeNs);
      }
      const info = v.info();
      expect({ files: info.files, bytes: info.bytes }).toEqual({ files: files.length, bytes: files.reduce((n, f) => n + f.content.length, 0) });
      expect((await v.verify()).problems).toEqual([]);
    } finally {
      await v.close();
    }
    // No tag store is involved: nothing was written to it, or to the home directory.
    expect(existsSync(temp('tags.json'))).toBe(false);
    expect(existsSync(join(HOME, '.shieldfs'))).toBe(false);
    // Contents and names are not visible in the output directory.
    expect(readdirSync(out)).toEqual(['.shieldfs']);
    const onDisk = spawnSync('grep', ['-rl', 'a protected tree', out], { encoding: 'utf8' });
    expect(onDisk.stdout).toBe('');
  });

  it('--json prints one line {"tag","files","bytes"}; an existing key file is used and left as it was', async () => {
    const src = fresh('src');
    mkdirSync(join(src, 'a'), { recursive: true });
    writeFileSync(join(src, 'a', 'one'), 'one');
    writeFileSync(join(src, 'two'), 'two!');
    const key = fresh('key');
    const material = generateKey().toString('hex') + '\n';
    writeFileSync(key, material, { mode: 0o600 });
    const out = fresh('tree');
    const result = expectSuccess(shield(['protect', src, out, '--key-file', key, '--json']));
    expect(result.out).toMatch(/^\{.*\}\n$/);
    const printed = JSON.parse(result.out);
    expect(printed).toEqual({ tag: expect.stringMatching(/^[0-9a-f]{64}$/), files: 2, bytes: 7 });
    expect(Object.keys(printed)).toEqual(['tag', 'files', 'bytes']);
    expect(readFileSync(key, 'latin1')).toBe(material);
    const v = await openTree(out, key, printed.tag);
    expect((await v.readFile('/a/one')).toString()).toBe('one');
    await v.close();
  });

  it('an empty source makes an empty tree; an existing empty output directory is used', async () => {
    const src = fresh('src'), out = fresh('tree'), key = fresh('key');
    mkdirSync(src);
    mkdirSync(out);
    const printed = JSON.parse(expectSuccess(shield(['protect', src, out, '--key-file', key, '--json'])).out);
    expect(printed).toMatchObject({ files: 0, bytes: 0 });
    const v = await openTree(out, key, printed.tag);
    expect(v.readdir('/')).toEqual([]);
    await v.close();
  });

  it('a tree opened with another tag is EROLLBACK: the tag pins one state', async () => {
    const { src } = sourceTree();
    const key = fresh('key');
    const first = fresh('tree'), second = fresh('tree');
    const tag1 = expectSuccess(shield(['protect', src, first, '--key-file', key])).out.trim();
    const tag2 = expectSuccess(shield(['protect', src, second, '--key-file', key])).out.trim();
    expect(tag1).not.toBe(tag2);  // same files, but each tree is a volume of its own
    await expect(openTree(second, key, tag1)).rejects.toMatchObject({ code: 'EROLLBACK' });
    await (await openTree(second, key, tag2)).close();
  });

  it('symlinks to files and directories inside the source are copied as what they point to', async () => {
    const src = fresh('src'), out = fresh('tree'), key = fresh('key');
    mkdirSync(join(src, 'lib', 'v1'), { recursive: true });
    writeFileSync(join(src, 'lib', 'v1', 'libx.so.1'), 'ELF');
    symlinkSync('libx.so.1', join(src, 'lib', 'v1', 'libx.so'));
    symlinkSync('v1', join(src, 'lib', 'current'));
    symlinkSync(join(src, 'lib', 'v1', 'libx.so'), join(src, 'absolute-link'));  // absolute, but inside
    const printed = JSON.parse(expectSuccess(shield(['protect', src, out, '--key-file', key, '--json'])).out);
    expect(printed).toMatchObject({ files: 5, bytes: 15 });
    const v = await openTree(out, key, printed.tag);
    expect(v.readdir('/lib/current')).toEqual(['libx.so', 'libx.so.1']);
    for (const path of ['/lib/v1/libx.so', '/lib/current/libx.so', '/lib/current/libx.so.1', '/absolute-link']) {
      expect(v.stat(path).type).toBe('file');
      expect((await v.readFile(path)).toString()).toBe('ELF');
    }
    await v.close();
  });

  it.each<[string, (src: string) => void | Promise<void>, string, RegExp]>([
    ['a symlink pointing outside the source', (src) => symlinkSync('/etc/hostname', join(src, 'sub', 'host')), 'EINVAL', /sub\/host: it is a symlink to \/etc\/hostname, outside/],
    ['a relative symlink climbing out of the source', (src) => symlinkSync('../../..', join(src, 'sub', 'up')), 'EINVAL', /sub\/up: it is a symlink to .*, outside/],
    ['a dangling symlink', (src) => symlinkSync('nowhere', join(src, 'sub', 'dangling')), 'ENOENT', /sub\/dangling is a symlink to nowhere, which does not exist/],
    ['a symlink to a directory that contains it', (src) => symlinkSync('..', join(src, 'sub', 'loop')), 'ELOOP', /sub\/loop is a symlink to .*, a directory that contains it/],
    ['a FIFO', (src) => {
      expect(spawnSync('mkfifo', [join(src, 'sub', 'pipe')]).status).toBe(0);
    }, 'EINVAL', /cannot protect .*sub\/pipe: it is a FIFO: a protected tree holds regular files and directories only/],
    ['a socket', (src) => {
      // A process that exits while listening leaves the socket file behind (close() would remove it).
      const listen = `require('net').createServer().listen(${JSON.stringify(join(src, 'sub', 'sock'))}, () => process.exit(0))`;
      expect(spawnSync(process.execPath, ['-e', listen]).status).toBe(0);
      expect(lstatSync(join(src, 'sub', 'sock')).isSocket()).toBe(true);
    }, 'EINVAL', /sub\/sock: it is a socket/],
    ['a .shieldfs at the top (a volume, not a tree of files)', (src) => mkdirSync(join(src, '.shieldfs')), 'EINVAL', /\.shieldfs is reserved/],
  ])('%s is refused before anything is made (no output directory, no key file)', async (_, plant, code, message) => {
    const src = fresh('src'), out = fresh('tree'), key = fresh('key');
    mkdirSync(join(src, 'sub'), { recursive: true });
    writeFileSync(join(src, 'sub', 'file'), 'x');
    await plant(src);
    expectFailure(shield(['protect', src, out, '--key-file', key]), code, 1, message);
    expect(existsSync(out)).toBe(false);
    expect(existsSync(key)).toBe(false);
  });

  it('a non-empty output directory is EEXIST and stays as it was; an output inside the source is refused', () => {
    const { src } = sourceTree();
    const out = fresh('full'), key = fresh('key');
    mkdirSync(out);
    writeFileSync(join(out, 'precious'), 'mine');
    expectFailure(shield(['protect', src, out, '--key-file', key]), 'EEXIST', 1, /not empty \(precious\)/);
    expect(readdirSync(out)).toEqual(['precious']);
    expect(existsSync(key)).toBe(false);

    const inside = fresh('src');
    mkdirSync(inside);
    writeFileSync(join(inside, 'f'), 'f');
    expectFailure(shield(['protect', inside, join(inside, 'out'), '--key-file', key]), 'EINVAL', 1, /lies inside the source directory/);
    expectFailure(shield(['protect', inside, inside, '--key-file', key]), 'EINVAL', 1, /lies inside the source directory/);
    expect(readdirSync(inside)).toEqual(['f']);
  });

  it('a key file inside the source is refused (it would be copied into the tree), whether it exists or not', () => {
    const src = fresh('src'), out = fresh('tree');
    mkdirSync(join(src, 'keys'), { recursive: true });
    writeFileSync(join(src, 'keys', 'tree.key'), generateKey().toString('hex'));
    const linkToSource = fresh('link-to-src');
    symlinkSync(src, linkToSource);
    for (const key of [join(src, 'keys', 'tree.key'), join(src, 'new.key'), join(linkToSource, 'keys', 'tree.key')]) {
      expectFailure(shield(['protect', src, out, '--key-file', key, '--region', '/keys:not-protected']), 'EINVAL', 1, /key file .* lies inside the source directory/);
    }
    expect(existsSync(out) || existsSync(join(src, 'new.key'))).toBe(false);
  });

  it('shield --help lists protect and run; their --help shows their usage (status 0)', () => {
    const top = expectSuccess(shield(['--help'])).out;
    expect(top).toMatch(/^  protect \[options\] <src-dir> <out-dir> +make a protected tree/m);
    expect(top).toMatch(/^  run \[options\] \[command\] \[args\.\.\.\] +run a command with the mounts/m);
    expect(expectSuccess(shield(['protect', '--help'])).out).toMatch(/^Usage: shield protect \[options\] <src-dir> <out-dir>[\s\S]*--key-file[\s\S]*--region[\s\S]*--json/);
    expect(expectSuccess(shield(['run', '--help'])).out).toMatch(/^Usage: shield run \[options\] \[command\] \[args\.\.\.\][\s\S]*--config <file>[\s\S]*--cas <url>/);
  });

  it('a missing source is ENOENT, a file ENOTDIR; a missing --key-file or a bad --region is a usage error (status 2)', () => {
    const out = fresh('tree'), key = fresh('key');
    expectFailure(shield(['protect', fresh('missing'), out, '--key-file', key]), 'ENOENT', 1, /source directory .* does not exist/);
    const file = fresh('file');
    writeFileSync(file, 'x');
    expectFailure(shield(['protect', file, out, '--key-file', key]), 'ENOTDIR', 1, /is not a directory/);
    const src = fresh('src');
    mkdirSync(src);
    expectFailure(shield(['protect', src, out]), 'EINVAL', 2, /--key-file/);
    expectFailure(shield(['protect', src, out, '--key-file', key, '--region', '/x:bogus']), 'EINVAL', 2, /region kind/);
    expectFailure(shield(['protect', src, '--key-file', key]), 'EINVAL', 2, /missing required argument 'out-dir'/);
    expect(existsSync(out) || existsSync(key)).toBe(false);
  });

  it('--region: authenticated files stay readable on disk, not-protected ones are plain files; a region inside a not-protected one is refused', async () => {
    const src = fresh('src'), out = fresh('tree'), key = fresh('key');
    mkdirSync(join(src, 'lib'), { recursive: true });
    mkdirSync(join(src, 'scratch', 'cache'), { recursive: true });
    writeFileSync(join(src, 'lib', 'runtime.js'), 'open source runtime');
    writeFileSync(join(src, 'scratch', 'cache', 'warm'), 'plain cache');
    writeFileSync(join(src, 'model'), 'secret weights');
    chmodSync(join(src, 'scratch', 'cache'), 0o555);  // applied only after the directory is filled
    const tag = expectSuccess(shield(['protect', src, out, '--key-file', key, '--region', '/lib:authenticated', '--region', '/scratch:not-protected'])).out.trim();
    const v = await openTree(out, key, tag);
    expect(v.stat('/lib/runtime.js').region).toBe('authenticated');
    expect(v.stat('/model').region).toBe('encrypted');
    expect((await v.readFile('/scratch/cache/warm')).toString()).toBe('plain cache');
    await v.close();
    expect(readFileSync(join(out, 'scratch', 'cache', 'warm'), 'utf8')).toBe('plain cache');
    expect(statSync(join(out, 'scratch', 'cache')).mode & 0o777).toBe(0o555);
    const grep = (text: string) => spawnSync('grep', ['-rl', text, join(out, '.shieldfs')], { encoding: 'utf8' }).stdout;
    expect(grep('open source runtime')).not.toBe('');
    expect(grep('secret weights')).toBe('');

    const out2 = fresh('tree');
    expectFailure(shield(['protect', src, out2, '--key-file', key, '--region', '/scratch:not-protected', '--region', '/scratch/x:encrypted']), 'EINVAL', 1, /inside a not-protected region/);
    expect(existsSync(out2)).toBe(false);
  });

  it('a tree of 1,200 files in 12 directories: every file there with its content', async () => {
    const src = fresh('src'), out = fresh('tree'), key = fresh('key');
    const random = seededRandom(99);
    const contents = new Map<string, Buffer>();
    for (let d = 0; d < 12; d++) {
      mkdirSync(join(src, `d${d}`), { recursive: true });
      for (let f = 0; f < 100; f++) {
        const content = randomBytesFrom(random, (d * 100 + f) % 700);
        writeFileSync(join(src, `d${d}`, `f${f}`), content);
        contents.set(`/d${d}/f${f}`, content);
      }
    }
    const printed = JSON.parse(expectSuccess(shield(['protect', src, out, '--key-file', key, '--json'])).out);
    expect(printed.files).toBe(1200);
    const v = await openTree(out, key, printed.tag);
    for (const [path, content] of contents) expect((await v.readFile(path)).equals(content), path).toBe(true);
    expect(v.info().files).toBe(1200);
    await v.close();
  });

  it('SIGINT while copying: one EINTR line, death by SIGINT, and nothing left (no tree, no new key file)', async () => {
    const src = fresh('src'), out = fresh('tree'), key = fresh('key');
    for (let d = 0; d < 40; d++) {
      mkdirSync(join(src, `d${d}`), { recursive: true });
      for (let f = 0; f < 100; f++) writeFileSync(join(src, `d${d}`, `f${f}`), `file ${d}/${f}`);
    }
    const run = startShield(['protect', src, out, '--key-file', key]);
    // The tree exists once the copy has begun.
    await until(() => existsSync(join(out, '.shieldfs')), 20_000);
    run.child.kill('SIGINT');
    const ended = await run.ended;
    expect(ended.signal).toBe('SIGINT');
    expect(run.stdout()).toBe('');
    expect(run.stderr()).toMatch(/^shield: EINTR: interrupted by SIGINT: nothing was left in .*\n$/);
    expect(existsSync(out)).toBe(false);
    expect(existsSync(key)).toBe(false);
  });

  const script = spawnSync('script', ['--version'], { encoding: 'utf8' });
  const haveScript = script.status === 0 && /util-linux/.test(script.stdout + script.stderr);
  if (!haveScript) console.warn('cli-protect-run.test.ts: `script` (util-linux) is not installed: skipping the progress bar test on a terminal');

  it.skipIf(!haveScript)('on a terminal, a large tree shows a progress bar on stderr', () => {
    const src = fresh('src'), out = fresh('tree'), key = fresh('key');
    mkdirSync(src);
    writeFileSync(join(src, 'big'), randomBytesFrom(seededRandom(5), 12 << 20));
    const command = [process.execPath, SHIELD_JS, 'protect', src, out, '--key-file', key].map(shellQuote).join(' ');
    const result = spawnSync('script', ['-qec', command, '/dev/null'], { env: { ...process.env, HOME, TERM: 'xterm' }, encoding: 'latin1', timeout: 30_000 });
    expect(result.status).toBe(0);
    expect(result.stdout).toContain('protect 1 file [');
    expect(result.stdout).toMatch(/12\.0 MiB/);
    expect(result.stdout).toMatch(/[0-9a-f]{64}/);
  });
});

describe('protectTree: all or nothing', () => {
  function smallSource(): string {
    const src = fresh('src');
    for (let d = 0; d < 4; d++) {
      mkdirSync(join(src, `d${d}`), { recursive: true });
      for (let f = 0; f < 30; f++) writeFileSync(join(src, `d${d}`, `f${f}`), `${d}/${f}`);
    }
    return src;
  }

  it('a failure in the middle of the copy removes the tree; a missing output (and its missing parents) is removed', async () => {
    const src = smallSource();
    const parent = fresh('parent'), out = join(parent, 'a', 'tree');
    let calls = 0;
    const failing = protectTree(src, out, {
      key: generateKey(),
      onProgress: (p) => {
        if (p.filesDone >= 50 && ++calls > 0) throw Object.assign(new Error('disk on fire'), { code: 'EIO' });
      },
    });
    await expect(failing).rejects.toThrow('disk on fire');
    expect(existsSync(parent)).toBe(false);
  });

  it('an abort in the middle removes what was made, and an output directory that existed (empty) stays, empty', async () => {
    const src = smallSource();
    const out = fresh('tree');
    mkdirSync(out);
    const controller = new AbortController();
    const aborted = protectTree(src, out, {
      key: generateKey(),
      signal: controller.signal,
      onProgress: (p) => {
        if (p.filesDone === 20) controller.abort(Object.assign(new Error('stop'), { code: 'EINTR' }));
      },
    });
    await expect(aborted).rejects.toMatchObject({ code: 'EINTR' });
    expect(readdirSync(out)).toEqual([]);
  });

  it('reports progress up to every file and byte, and returns what it copied', async () => {
    const src = smallSource();
    const seen: { filesDone: number; bytesDone: number; filesTotal: number; bytesTotal: number }[] = [];
    const result = await protectTree(src, fresh('tree'), { key: generateKey(), onProgress: (p) => seen.push(p) });
    const bytes = 4 * 30 * 3 + 4 * 20;  // "d/f": 3 characters for f < 10, 4 for the rest
    expect(result).toMatchObject({ files: 120, bytes, tag: expect.stringMatching(/^[0-9a-f]{64}$/), id: expect.stringMatching(/^[0-9a-f]{32}$/) });
    expect(seen[0]).toEqual({ filesDone: 0, bytesDone: 0, filesTotal: 120, bytesTotal: bytes });
    expect(seen.at(-1)).toEqual({ filesDone: 120, bytesDone: bytes, filesTotal: 120, bytesTotal: bytes });
  });
});

// ---------------------------------------------------------------------------------------------
// shield run

/** A valid configuration (its key file exists) with one protected-tree mount. */
function validConfig(name = 'shield.yaml'): string {
  const dir = fresh('config');
  mkdirSync(dir);
  const key = join(dir, 'tree.key');
  writeFileSync(key, generateKey().toString('hex'), { mode: 0o600 });
  const file = join(dir, name);
  writeFileSync(file, `mounts:\n  - path: /T\n    tree: ./tree\n    tag: "${'0'.repeat(64)}"\n    keyFile: tree.key\n`);
  return file;
}

function node(script: string): string[] {
  return [process.execPath, '-e', script];
}

interface Started {
  child: ChildProcess;
  stdout(): string;
  stderr(): string;
  ended: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
}

function startShield(args: string[], env: Record<string, string | undefined> = {}): Started {
  const merged: Record<string, string> = {};
  for (const [name, value] of Object.entries({ ...process.env, ...BASE_ENV, ...env })) if (value !== undefined) merged[name] = value;
  const child = spawn(process.execPath, [SHIELD_JS, ...args], { env: merged, stdio: ['pipe', 'pipe', 'pipe'] });
  children.push(child);
  let out = '', err = '';
  child.stdout!.on('data', (chunk: Buffer) => (out += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (err += chunk.toString()));
  const ended = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => child.once('close', (code, signal) => resolve({ code, signal })));
  return { child, stdout: () => out, stderr: () => err, ended };
}

async function until(condition: () => boolean, timeoutMs = 10_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('timed out waiting');
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

describe('shield run', () => {
  it.each([0, 3, 42, 255])('exits with the command\'s exit code (%i); its stdout and stderr are its own', (code) => {
    const config = validConfig();
    const result = shield(['run', '--config', config, '--', ...node(`process.stdout.write('out'); process.stderr.write('err'); process.exit(${code})`)]);
    expect({ status: result.status, out: result.out, err: result.stderr }).toEqual({ status: code, out: 'out', err: 'err' });
  });

  it('stdin is the command\'s; stdio stays blocking as it was (shield does not put the shared pipes in non-blocking mode)', () => {
    const config = validConfig();
    const echo = shield(['run', '--config', config, '--', ...node("let s=''; process.stdin.on('data', (d) => s += d).on('end', () => process.stdout.write(s.toUpperCase()))")], { input: 'hello\nworld\n' });
    expect(expectSuccess(echo).out).toBe('HELLO\nWORLD\n');
    // O_NONBLOCK (04000) on fds 0-2 as the command sees them, with and without shield run in between.
    const flags = "console.log([0,1,2].map((fd) => (parseInt(/flags:\\s*(\\d+)/.exec(require('fs').readFileSync('/proc/self/fdinfo/' + fd, 'utf8'))[1], 8) & 0o4000) !== 0).join())";
    const direct = spawnSync(process.execPath, ['-e', flags], { input: '', encoding: 'utf8' });
    const through = shield(['run', '--config', config, '--', ...node(flags)]);
    expect(expectSuccess(through).out).toBe(direct.stdout);
    expect(direct.stdout).toBe('false,false,false\n');
  });

  it('the command sees SHIELD_CONFIG (absolute), NODE_OPTIONS with the register module in front, and the rest of the environment', () => {
    const config = validConfig();
    const cwd = join(config, '..', '..');
    const show = "console.log(JSON.stringify({ config: process.env.SHIELD_CONFIG, options: process.env.NODE_OPTIONS, registered: process.env.SHIELDFS_TEST_REGISTERED, other: process.env.OTHER }))";
    const seen = JSON.parse(expectSuccess(shield(['run', '--config', relative(cwd, config), '--', ...node(show)], {
      cwd, env: { OTHER: 'kept', NODE_OPTIONS: '--max-old-space-size=300 --no-warnings' },
    })).out);
    const ours = `--require="${STUB_REGISTER}"`;
    expect(seen).toEqual({ config, options: `${ours} --max-old-space-size=300 --no-warnings`, registered: `yes ${config}`, other: 'kept' });

    // SHIELD_CONFIG itself selects the configuration; --config wins over it; nested runs add the module once.
    const other = validConfig();
    const fromEnv = JSON.parse(expectSuccess(shield(['run', '--', ...node(show)], { env: { SHIELD_CONFIG: config } })).out);
    expect(fromEnv.config).toBe(config);
    const overridden = JSON.parse(expectSuccess(shield(['run', '--config', other, '--', ...node(show)], { env: { SHIELD_CONFIG: config } })).out);
    expect(overridden.config).toBe(other);
    const nested = JSON.parse(expectSuccess(shield(['run', '--config', config, '--', process.execPath, SHIELD_JS, 'run', '--', ...node(show)])).out);
    expect(nested.options).toBe(ours);
  });

  it('everything after the command is the command\'s, options included (with or without --)', () => {
    const config = validConfig();
    const argv = "console.log(JSON.stringify(process.argv.slice(1)))";
    const args = ['a', '--config', 'b', '--help', '-x', '--'];
    const direct = spawnSync(process.execPath, ['-e', argv, ...args], { encoding: 'utf8' }).stdout;
    expect(expectSuccess(shield(['run', '--config', config, '--', ...node(argv), ...args])).out).toBe(direct);
    expect(expectSuccess(shield(['run', '--config', config, ...node(argv), ...args])).out).toBe(direct);
  });

  it.each(['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT'] as const)('%s sent to shield is passed to the command', async (signal) => {
    const config = validConfig();
    const handler = `for (const s of ['SIGINT','SIGTERM','SIGHUP','SIGQUIT']) process.on(s, () => { console.log('got ' + s); process.exit(20); });
      console.log('ready'); setInterval(() => {}, 1000);`;
    const run = startShield(['run', '--config', config, '--', ...node(handler)]);
    await until(() => run.stdout().includes('ready'));
    run.child.kill(signal);
    expect(await run.ended).toEqual({ code: 20, signal: null });
    expect(run.stdout()).toBe(`ready\ngot ${signal}\n`);
    expect(run.stderr()).toBe('');
  });

  it.each(['SIGTERM', 'SIGINT', 'SIGKILL', 'SIGUSR2'] as const)('a command that dies of %s: shield dies of the same signal', (signal) => {
    const result = shieldWithSignal(['run', '--config', validConfig(), '--', ...node(`process.kill(process.pid, '${signal}'); setTimeout(() => {}, 5000)`)]);
    expect(result).toEqual({ status: null, signal, stderr: '' });
  });

  it('a signal whose default action would not end shield (SIGPIPE is ignored by Node, SIGUSR1 starts its inspector): 128 + n', () => {
    for (const [signal, status] of [['PIPE', 141], ['USR1', 138]] as const) {
      const result = shield(['run', '--config', validConfig(), '--', 'sh', '-c', `kill -${signal} $$`]);
      expect({ signal, status: result.status, stderr: result.stderr }).toEqual({ signal, status, stderr: '' });
    }
  });

  it('a command that does not exist: ENOENT and status 127; one that is not executable: EACCES and 126', () => {
    const config = validConfig();
    expectFailure(shield(['run', '--config', config, '--', 'no-such-command-shieldfs']), 'ENOENT', 127, /cannot run no-such-command-shieldfs: command not found/);
    const notExecutable = fresh('script.sh');
    writeFileSync(notExecutable, '#!/bin/sh\necho hi\n', { mode: 0o644 });
    expectFailure(shield(['run', '--config', config, '--', notExecutable]), 'EACCES', 126, /permission denied/);
  });

  it.each<[string, (dir: string) => string, string, number, RegExp]>([
    ['an invalid configuration', (dir) => write(dir, 'mounts:\n  - path: /V1\n    volume: v\n    keyFile: k\n    readonly: true\n'), 'EINVAL', 1, /shield\.yaml: mounts\[0\] \(\/V1\): readonly: unknown field \(did you mean `readOnly`\?\)/],
    ['overlapping mounts', (dir) => write(dir, 'mounts:\n  - { path: /V1, volume: v, keyEnv: K }\n  - { path: /V1/x, volume: w, keyEnv: K }\n'), 'EINVAL', 1, /overlaps mounts\[0\]/],
    ['YAML that does not parse', (dir) => write(dir, 'mounts: [\n'), 'EINVAL', 1, /shield\.yaml:\d+:\d+: not valid YAML/],
    ['a missing configuration file', (dir) => join(dir, 'missing.yaml'), 'ENOENT', 1, /configuration .*missing\.yaml does not exist/],
    ['a missing key file', (dir) => write(dir, 'mounts:\n  - { path: /V1, volume: v, keyFile: none.key }\n'), 'ENOENT', 1, /cannot read key file .*none\.key/],
    ['an unset key variable', (dir) => write(dir, 'mounts:\n  - { path: /V1, volume: v, keyEnv: SHIELDFS_TEST_NO_SUCH_KEY }\n'), 'EINVAL', 1, /SHIELDFS_TEST_NO_SUCH_KEY \(keyEnv of mount \/V1\) is not set/],
  ])('%s is refused before the command starts', (_, makeConfig, code, status, message) => {
    const dir = fresh('config');
    mkdirSync(dir);
    const marker = join(dir, 'started');
    const result = shield(['run', '--config', makeConfig(dir), '--', ...node(`require('fs').writeFileSync(${JSON.stringify(marker)}, 'x')`)]);
    expectFailure(result, code, status, message);
    expect(existsSync(marker)).toBe(false);
  });

  it('no configuration at all, or no command, is a usage error (status 2)', () => {
    expectFailure(shield(['run', '--', ...node('1')]), 'EINVAL', 2, /no configuration: give --config <file> or set SHIELD_CONFIG/);
    expectFailure(shield(['run', '--config', validConfig()]), 'EINVAL', 2, /missing required argument 'command'/);
  });

  it('the register module is dist/register.js next to the compiled CLI; a missing one is EIO before the command starts', async () => {
    const { registerModuleUrl, nodeOptionsWith } = await import(pathToFileURL(join(SHIELD_JS, '..', 'run-command.js')).href) as typeof import('../lib/cli/run-command.js');
    expect(registerModuleUrl({})).toBe(pathToFileURL(REAL_REGISTER).href);
    expect(registerModuleUrl({ SHIELDFS_REGISTER_MODULE: '/x/with space/r.mjs' })).toBe('file:///x/with%20space/r.mjs');
    expect(nodeOptionsWith(undefined, 'file:///r.js')).toBe('--require="/r.js"');
    expect(nodeOptionsWith('  --inspect  ', 'file:///r.js')).toBe('--require="/r.js" --inspect');
    expect(nodeOptionsWith('--require="/r.js" --inspect', 'file:///r.js')).toBe('--require="/r.js" --inspect');
    expect(nodeOptionsWith('-r /evil.cjs', 'file:///x/with%20space/r%22q.js')).toBe('--require="/x/with space/r\\"q.js" -r /evil.cjs');

    const marker = fresh('started');
    const result = shield(['run', '--config', validConfig(), '--', ...node(`require('fs').writeFileSync(${JSON.stringify(marker)}, 'x')`)], {
      env: { SHIELDFS_REGISTER_MODULE: temp('no-such-register.mjs') },
    });
    expectFailure(result, 'EIO', 1, /register module is missing/);
    expect(existsSync(marker)).toBe(false);
  });

  it.skipIf(!existsSync(REAL_REGISTER))('with the real register module, a Node command reads a protected tree at its mount path', () => {
    const src = fresh('src'), tree = fresh('tree'), key = fresh('key');
    mkdirSync(join(src, 'conf'), { recursive: true });
    writeFileSync(join(src, 'conf', 'hello.txt'), 'hello from the tree');
    const tag = expectSuccess(shield(['protect', src, tree, '--key-file', key])).out.trim();
    const config = fresh('shield.yaml');
    writeFileSync(config, JSON.stringify({ mounts: [{ path: '/protected-tree-test', tree, tag, keyFile: key }] }));
    const result = shield(['run', '--config', config, '--', ...node("process.stdout.write(require('fs').readFileSync('/protected-tree-test/conf/hello.txt', 'utf8'))")], {
      env: { SHIELDFS_REGISTER_MODULE: undefined },
    });
    expect(expectSuccess(result).out).toBe('hello from the tree');
  });
});

function write(dir: string, text: string): string {
  const file = join(dir, 'shield.yaml');
  writeFileSync(file, text);
  return file;
}

/** `shield …` with how it ended, signal included (cliRunner reports the status only). */
function shieldWithSignal(args: string[]): { status: number | null; signal: NodeJS.Signals | null; stderr: string } {
  const env: Record<string, string> = {};
  for (const [name, value] of Object.entries({ ...process.env, ...BASE_ENV })) if (value !== undefined) env[name] = value;
  const result = spawnSync(process.execPath, [SHIELD_JS, ...args], { env, input: '', encoding: 'utf8', timeout: 30_000 });
  return { status: result.status, signal: result.signal, stderr: result.stderr };
}
