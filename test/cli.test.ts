// The `shield volume` CLI, run as a user runs it: the compiled dist/cli/shield.js in a child process,
// temp directories, a file tag store from SHIELD_TAG_STORE (and --tag-store), real stdin/stdout.
// Build first: `npx tsc -p tsconfig.build.json`.
import { spawn, spawnSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { cliRunner, DIST_INDEX_JS, expectFailure, expectSuccess, shellQuote, SHIELD_JS, type CliResult } from './support/cli-run.js';
import { randomBytesFrom, seededRandom } from './support/random.js';
import { useTempDir } from './support/temp.js';

const temp = useTempDir('shieldfs-cli-');
const TAGS = temp('tags.json');
// HOME in the temp directory too: nothing falls back to the real ~/.shieldfs.
const shield = cliRunner({ SHIELD_TAG_STORE: `file:${TAGS}`, HOME: temp('home'), SHIELDFS_CRASH_AT: undefined });

let counter = 0;
/** A fresh path in the test's temp directory. */
function fresh(name: string): string {
  return temp(`${name}-${++counter}`);
}

/** A new volume made with the CLI (and a new key file). */
function newVolume(...extra: string[]): { dir: string; key: string; args: string[] } {
  const dir = fresh('vol'), key = fresh('key');
  expectSuccess(shield(['volume', 'create', dir, '--key-file', key, ...extra]));
  return { dir, key, args: ['--key-file', key] };
}

function info(dir: string, key: string, ...extra: string[]): { id: string; tag: string; files: number; bytes: number; commits: number; [k: string]: unknown } {
  return JSON.parse(expectSuccess(shield(['volume', 'info', dir, '--key-file', key, '--json', ...extra])).out);
}

function write(dir: string, key: string, path: string, content: Buffer | string): CliResult {
  return expectSuccess(shield(['volume', 'write', dir, path, '--key-file', key], { input: content }));
}

function read(dir: string, key: string, path: string): Buffer {
  return expectSuccess(shield(['volume', 'read', dir, path, '--key-file', key])).stdout;
}

function ls(dir: string, key: string, path?: string): { name: string; path: string; type: string; size: number; region: string }[] {
  return JSON.parse(expectSuccess(shield(['volume', 'ls', dir, ...(path ? [path] : []), '--key-file', key, '--json'])).out);
}

function objectFiles(dir: string): string[] {
  const out: string[] = [];
  const walk = (at: string) => {
    for (const entry of readdirSync(at, { withFileTypes: true })) {
      if (entry.isDirectory()) walk(join(at, entry.name));
      else out.push(join(at, entry.name));
    }
  };
  walk(join(dir, '.shieldfs', 'objects'));
  return out.sort();
}

function allBytesUnder(dir: string): Buffer {
  const parts: Buffer[] = [];
  const walk = (at: string) => {
    for (const entry of readdirSync(at, { withFileTypes: true })) {
      if (entry.isDirectory()) walk(join(at, entry.name));
      else parts.push(readFileSync(join(at, entry.name)));
    }
  };
  walk(dir);
  return Buffer.concat(parts);
}

const children: ReturnType<typeof spawn>[] = [];
afterEach(() => {
  for (const child of children.splice(0)) child.kill('SIGKILL');
});

describe('shield volume create', () => {
  it('writes a fresh key file (mode 0600, 64 hex characters) and registers the tag', () => {
    const dir = fresh('vol'), key = fresh('key');
    const result = expectSuccess(shield(['volume', 'create', dir, '--key-file', key]));
    expect(statSync(key).mode & 0o777).toBe(0o600);
    const text = readFileSync(key, 'latin1');
    expect(text.trim()).toMatch(/^[0-9a-f]{64}$/);
    expect(text.trim()).not.toBe('0'.repeat(64));
    const { id, tag } = info(dir, key);
    expect(result.out).toContain(id);
    expect(result.out).toContain(tag);
    expect(result.out).toContain(`new key written to ${key}`);
    const store = JSON.parse(readFileSync(TAGS, 'utf8')) as { volumes: Record<string, { tag: string }> };
    expect(store.volumes[id]?.tag).toBe(tag);
    // Two volumes get two different keys.
    const other = newVolume();
    expect(readFileSync(other.key, 'latin1')).not.toBe(text);
  });

  it('reuses an existing key file of 32 raw bytes or of 64 hex characters, and leaves it as it was', () => {
    const raw = fresh('raw.key'), hex = fresh('hex.key');
    const material = randomBytesFrom(seededRandom(1), 32);
    writeFileSync(raw, material, { mode: 0o600 });
    writeFileSync(hex, material.toString('hex').toUpperCase() + '\r\n', { mode: 0o600 });
    const dir = fresh('vol');
    const created = JSON.parse(expectSuccess(shield(['volume', 'create', dir, '--key-file', raw, '--json'])).out);
    expect(created.keyFileCreated).toBe(false);
    expect(readFileSync(raw).equals(material)).toBe(true);
    // The hex file holds the same key: it opens the volume the raw file created, and vice versa.
    write(dir, hex, '/x', 'via hex');
    expect(read(dir, raw, '/x').toString()).toBe('via hex');
    const dir2 = fresh('vol');
    expectSuccess(shield(['volume', 'create', dir2, '--key-file', hex]));
    expect(readFileSync(hex, 'latin1')).toBe(material.toString('hex').toUpperCase() + '\r\n');
    expect(info(dir2, raw).commits).toBe(1);
  });

  it('--json prints the new volume', () => {
    const dir = fresh('vol'), key = fresh('key');
    const created = JSON.parse(expectSuccess(shield(['volume', 'create', dir, '--key-file', key, '--json'])).out);
    expect(created).toEqual({
      directory: dir, id: expect.stringMatching(/^[0-9a-f]{32}$/), tag: expect.stringMatching(/^[0-9a-f]{64}$/),
      updatePolicy: 'rollback-protected', tagStore: `file:${TAGS}`, chunkSize: 4096, regions: [],
      files: 0, directories: 0, bytes: 0, commits: 1, keyFile: key, keyFileCreated: true,
    });
    expect(info(dir, key)).toMatchObject({ id: created.id, tag: created.tag });
  });

  it('refuses a non-empty directory with EEXIST (status 1) and leaves no key file behind', () => {
    const dir = fresh('full'), key = fresh('key');
    mkdirSync(dir);
    writeFileSync(join(dir, 'precious.txt'), 'mine');
    expectFailure(shield(['volume', 'create', dir, '--key-file', key]), 'EEXIST', 1, /not empty/);
    expect(readdirSync(dir)).toEqual(['precious.txt']);
    expect(existsSync(key)).toBe(false);
    // A volume is not created twice either.
    const v = newVolume();
    const before = info(v.dir, v.key);
    expectFailure(shield(['volume', 'create', v.dir, ...v.args]), 'EEXIST', 1);
    expect(info(v.dir, v.key)).toEqual(before);
  });

  it.each([
    ['--chunk-size', '1000'], ['--chunk-size', 'abc'], ['--chunk-size', '0'], ['--chunk-size', '2097152'], ['--chunk-size', '-4096'],
    ['--update-policy', 'sometimes'], ['--region', '/x:bogus'], ['--region', 'nokind'], ['--tag-store', 'bogus://x'],
  ])('a bad %s %s is a usage error (status 2, EINVAL) and creates nothing', (option, value) => {
    const dir = fresh('vol'), key = fresh('key');
    const line = expectFailure(shield(['volume', 'create', dir, '--key-file', key, `${option}=${value}`]), 'EINVAL', 2);
    if (option !== '--tag-store') expect(line).toContain(option);
    expect(existsSync(dir)).toBe(false);
    expect(existsSync(key)).toBe(false);
  });

  it('a protected region inside a not-protected one is a usage error that leaves no directory', () => {
    const dir = fresh('vol'), key = fresh('key');
    expectFailure(shield(['volume', 'create', dir, '--key-file', key, '--region', '/scratch:not-protected', '--region', '/scratch/keep:encrypted']),
      'EINVAL', 2, /inside a not-protected region/);
    expect(existsSync(dir)).toBe(false);
    expect(existsSync(key)).toBe(false);
  });

  it('applies --chunk-size and --update-policy', () => {
    const { dir, key } = newVolume('--chunk-size', '65536', '--update-policy', 'no-rollback-protection');
    expect(info(dir, key)).toMatchObject({ chunkSize: 65536, updatePolicy: 'no-rollback-protection', tagStore: null });
    const data = randomBytesFrom(seededRandom(2), 200_000);
    write(dir, key, '/f', data);
    expect(read(dir, key, '/f').equals(data)).toBe(true);
    const text = expectSuccess(shield(['volume', 'info', dir, '--key-file', key])).out;
    expect(text).toMatch(/^chunk size\s+65536$/m);
    expect(text).toMatch(/^policy\s+no-rollback-protection$/m);
  });

  it('--region (repeatable) sets the regions: info lists them and the files are protected accordingly', () => {
    const { dir, key } = newVolume('--region', '/pub:authenticated', '--region', '/scratch:not-protected');
    const regions = info(dir, key).regions as { path: string; kind: string }[];
    expect([...regions].sort((a, b) => a.path.localeCompare(b.path))).toEqual([
      { path: '/pub', kind: 'authenticated' }, { path: '/scratch', kind: 'not-protected' },
    ]);
    const text = expectSuccess(shield(['volume', 'info', dir, '--key-file', key])).out;
    expect(text).toMatch(/^regions\s+.*\/pub authenticated/m);
    expect(text).toMatch(/^regions\s+.*\/scratch not-protected/m);
    write(dir, key, '/pub/readme', 'PUBLIC-MARKER-1234');
    write(dir, key, '/secret', 'SECRET-MARKER-5678');
    write(dir, key, '/scratch/tmp', 'SCRATCH-MARKER-9');
    expect(ls(dir, key, '/pub/readme')[0]!.region).toBe('authenticated');
    expect(ls(dir, key, '/secret')[0]!.region).toBe('encrypted');
    const onDisk = allBytesUnder(dir).toString('latin1');
    expect(onDisk).toContain('PUBLIC-MARKER-1234');
    expect(onDisk).not.toContain('SECRET-MARKER-5678');
    expect(readFileSync(join(dir, 'scratch', 'tmp'), 'utf8')).toBe('SCRATCH-MARKER-9');
  });
});

describe('shield volume write and read', () => {
  it('writes a multi-MiB file from --from, creating the parent directories; read gives back the exact bytes', () => {
    const { dir, key, args } = newVolume();
    const data = randomBytesFrom(seededRandom(3), 3 * (1 << 20) + 17);
    const local = fresh('big.bin');
    writeFileSync(local, data);
    const result = expectSuccess(shield(['volume', 'write', dir, '/a/b/c/big.bin', ...args, '--from', local]));
    expect(result.out).toBe('');
    const out = read(dir, key, '/a/b/c/big.bin');
    expect(out.length).toBe(data.length);
    expect(out.equals(data)).toBe(true);
    expect(ls(dir, key, '/a/b')).toMatchObject([{ name: 'c', path: '/a/b/c', type: 'directory' }]);
    expect(ls(dir, key, '/a/b/c')).toMatchObject([{ name: 'big.bin', type: 'file', size: data.length }]);
  });

  it('writes from stdin, binary-safe: every byte value, NULs, CR/LF, and an empty file', () => {
    const { dir, key } = newVolume();
    const all = Buffer.alloc(256 * 3);
    for (let i = 0; i < all.length; i++) all[i] = i % 256;
    const data = Buffer.concat([Buffer.from([0, 0, 0]), all, Buffer.from('\r\n\n\0\xff', 'latin1'), Buffer.alloc(5000)]);
    write(dir, key, '/bin/data', data);
    expect(read(dir, key, '/bin/data').equals(data)).toBe(true);
    write(dir, key, '/empty', Buffer.alloc(0));
    expect(read(dir, key, '/empty').length).toBe(0);
    expect(ls(dir, key, '/empty')).toMatchObject([{ name: 'empty', type: 'file', size: 0 }]);
  });

  it('writes a multi-MiB file from stdin', () => {
    const { dir, key } = newVolume();
    const data = randomBytesFrom(seededRandom(4), 2 * (1 << 20) + 4095);
    write(dir, key, '/stdin.bin', data);
    expect(read(dir, key, '/stdin.bin').equals(data)).toBe(true);
  });

  it('overwriting replaces the whole content (a shorter file leaves no tail)', () => {
    const { dir, key } = newVolume();
    write(dir, key, '/f', randomBytesFrom(seededRandom(5), 10_000));
    write(dir, key, '/f', 'abc');
    expect(read(dir, key, '/f').toString()).toBe('abc');
    expect(ls(dir, key, '/f')[0]!.size).toBe(3);
    expect(info(dir, key)).toMatchObject({ files: 1, bytes: 3 });
  });

  it('a --from that does not exist is ENOENT and changes nothing (no parent directories either)', () => {
    const { dir, key, args } = newVolume();
    write(dir, key, '/keep', 'kept');
    const before = info(dir, key);
    expectFailure(shield(['volume', 'write', dir, '/new/dir/f', ...args, '--from', fresh('missing')]), 'ENOENT', 1);
    expect(info(dir, key)).toEqual(before);
    expectFailure(shield(['volume', 'ls', dir, '/new', ...args]), 'ENOENT', 1);
    expect(read(dir, key, '/keep').toString()).toBe('kept');
  });

  it('reading a missing file is ENOENT, reading a directory EISDIR; writing over a directory EISDIR', () => {
    const { dir, key, args } = newVolume();
    write(dir, key, '/d/f', 'x');
    expectFailure(shield(['volume', 'read', dir, '/nope', ...args]), 'ENOENT', 1, /nope/);
    expectFailure(shield(['volume', 'read', dir, '/d', ...args]), 'EISDIR', 1);
    const before = info(dir, key);
    expectFailure(shield(['volume', 'write', dir, '/d', ...args], { input: 'y' }), 'EISDIR', 1);
    expect(info(dir, key)).toEqual(before);
  });
});

describe('shield volume ls', () => {
  it('lists a directory as text and as JSON (types, sizes, names, sorted)', () => {
    const { dir, key, args } = newVolume();
    write(dir, key, '/docs/b.txt', 'hello');
    write(dir, key, '/docs/a.bin', Buffer.alloc(12_345, 7));
    write(dir, key, '/docs/sub/deep', '');
    const rows = ls(dir, key, '/docs');
    expect(rows.map((r) => [r.name, r.path, r.type, r.size])).toEqual([
      ['a.bin', '/docs/a.bin', 'file', 12_345], ['b.txt', '/docs/b.txt', 'file', 5], ['sub', '/docs/sub', 'directory', 0],
    ]);
    const lines = expectSuccess(shield(['volume', 'ls', dir, '/docs', ...args])).out.trimEnd().split('\n');
    expect(lines).toHaveLength(3);
    expect(lines[0]).toMatch(/^-[rwx-]{9}\s+12345 \S+ encrypted\s+a\.bin$/);
    expect(lines[1]).toMatch(/^-[rwx-]{9}\s+5 \S+ encrypted\s+b\.txt$/);
    expect(lines[2]).toMatch(/^d[rwx-]{9}\s+0 \S+ encrypted\s+sub\/$/);
    // Without a path: the root.
    expect(ls(dir, key).map((r) => r.name)).toEqual(['docs']);
  });

  it('ls of a file describes that file; ls of a missing path is ENOENT (status 1)', () => {
    const { dir, key, args } = newVolume();
    write(dir, key, '/x/file.txt', 'four');
    expect(ls(dir, key, '/x/file.txt')).toMatchObject([{ name: 'file.txt', path: '/x/file.txt', type: 'file', size: 4 }]);
    expect(expectSuccess(shield(['volume', 'ls', dir, 'x/file.txt', ...args])).out).toMatch(/^-[rwx-]{9}\s+4 \S+ encrypted\s+file\.txt\n$/);
    expectFailure(shield(['volume', 'ls', dir, '/x/missing', ...args]), 'ENOENT', 1, /missing/);
    expectFailure(shield(['volume', 'ls', dir, '/x/file.txt/below', ...args]), 'ENOTDIR', 1);
  });
});

describe('shield volume rm and mv', () => {
  it('rm removes a file; a directory needs -r (EISDIR without); rm -r removes everything below', () => {
    const { dir, key, args } = newVolume();
    write(dir, key, '/f', '1');
    write(dir, key, '/d/g', '2');
    write(dir, key, '/d/e/h', '3');
    expectSuccess(shield(['volume', 'rm', dir, '/f', ...args]));
    expect(ls(dir, key).map((r) => r.name)).toEqual(['d']);
    const before = info(dir, key);
    expectFailure(shield(['volume', 'rm', dir, '/d', ...args]), 'EISDIR', 1, /-r/);
    expect(info(dir, key)).toEqual(before);
    expect(read(dir, key, '/d/e/h').toString()).toBe('3');
    expectSuccess(shield(['volume', 'rm', dir, '/d', '-r', ...args]));
    expect(ls(dir, key)).toEqual([]);
    expect(info(dir, key)).toMatchObject({ files: 0, directories: 0, bytes: 0 });
    expectFailure(shield(['volume', 'rm', dir, '/d', ...args]), 'ENOENT', 1);
    expectFailure(shield(['volume', 'rm', dir, '/', '-r', ...args]), 'EINVAL', 1, /root/);
  });

  it('mv renames a file and a directory (its contents follow)', () => {
    const { dir, key, args } = newVolume();
    write(dir, key, '/old.txt', 'file content');
    write(dir, key, '/tree/leaf', 'leaf content');
    expectSuccess(shield(['volume', 'mv', dir, '/old.txt', '/new.txt', ...args]));
    expect(read(dir, key, '/new.txt').toString()).toBe('file content');
    expectFailure(shield(['volume', 'read', dir, '/old.txt', ...args]), 'ENOENT', 1);
    expectSuccess(shield(['volume', 'mv', dir, '/tree', '/grove', ...args]));
    expect(read(dir, key, '/grove/leaf').toString()).toBe('leaf content');
    expect(ls(dir, key).map((r) => r.name)).toEqual(['grove', 'new.txt']);
    expectFailure(shield(['volume', 'mv', dir, '/nothing', '/else', ...args]), 'ENOENT', 1);
  });

  it('mv into an existing directory moves the source inside it, like mv(1)', () => {
    const { dir, key, args } = newVolume();
    write(dir, key, '/f', 'f content');
    write(dir, key, '/d/sub/x', 'x content');
    write(dir, key, '/target/already', 'here');
    expectSuccess(shield(['volume', 'mv', dir, '/f', '/target', ...args]));
    expectSuccess(shield(['volume', 'mv', dir, '/d', '/target/', ...args]));
    expect(ls(dir, key, '/target').map((r) => r.name)).toEqual(['already', 'd', 'f']);
    expect(read(dir, key, '/target/f').toString()).toBe('f content');
    expect(read(dir, key, '/target/d/sub/x').toString()).toBe('x content');
    const before = info(dir, key);
    expectFailure(shield(['volume', 'mv', dir, '/target/f', '/target', ...args]), 'EINVAL', 1, /same/);
    expect(info(dir, key)).toEqual(before);
  });

  it('mv across regions is EXDEV and changes nothing', () => {
    const { dir, key, args } = newVolume('--region', '/pub:authenticated');
    write(dir, key, '/pub/a', 'public');
    write(dir, key, '/secret', 'private');
    const before = info(dir, key);
    expectFailure(shield(['volume', 'mv', dir, '/pub/a', '/a', ...args]), 'EXDEV', 1);
    expectFailure(shield(['volume', 'mv', dir, '/secret', '/pub/secret', ...args]), 'EXDEV', 1);
    expect(info(dir, key)).toEqual(before);
    expect(read(dir, key, '/pub/a').toString()).toBe('public');
    expect(read(dir, key, '/secret').toString()).toBe('private');
  });
});

describe('shield volume verify and info', () => {
  it('verify checks every file: status 0, text and --json', () => {
    const { dir, key, args } = newVolume();
    write(dir, key, '/a', randomBytesFrom(seededRandom(6), 70_000));
    write(dir, key, '/d/b', 'bee');
    const text = expectSuccess(shield(['volume', 'verify', dir, ...args])).out;
    expect(text).toMatch(/^ok: 2 files, 70003 bytes verified at tag [0-9a-f]{64}\n$/);
    const report = JSON.parse(expectSuccess(shield(['volume', 'verify', dir, ...args, '--json'])).out);
    expect(report).toEqual({ ok: true, tag: info(dir, key).tag, files: 2, bytes: 70_003, problems: [], unreferenced: [] });
  });

  it('verify after one object file was tampered with: status 3, EINTEGRITY, and the report names the file', () => {
    const { dir, key, args } = newVolume();
    write(dir, key, '/good', randomBytesFrom(seededRandom(7), 50_000));
    const objectsBefore = new Set(objectFiles(dir));
    write(dir, key, '/sub/bad', randomBytesFrom(seededRandom(8), 50_000));
    const badObjects = objectFiles(dir).filter((f) => !objectsBefore.has(f));
    expect(badObjects).toHaveLength(1);
    const victim = badObjects[0]!;
    const bytes = readFileSync(victim);
    const middle = bytes.length >> 1;
    bytes[middle] = bytes[middle]! ^ 0x01;
    writeFileSync(victim, bytes);

    const line = expectFailure(shield(['volume', 'verify', dir, ...args]), 'EINTEGRITY', 3, /\/sub\/bad/);
    expect(line).toContain('1 of 2 files');
    const json = shield(['volume', 'verify', dir, ...args, '--json']);
    expectFailure(json, 'EINTEGRITY', 3);
    const report = JSON.parse(json.out);
    expect(report).toMatchObject({ ok: false, files: 2, problems: [{ path: '/sub/bad', code: 'EINTEGRITY' }] });
    expect(report.problems).toHaveLength(1);
    const text = shield(['volume', 'verify', dir, ...args]).out;
    expect(text).toMatch(/^FAILED \/sub\/bad: /m);
    expect(text).toMatch(/^FAILED: 2 files, \d+ bytes verified at tag [0-9a-f]{64}; 1 failed$/m);
    // The other file still reads; the damaged one fails with the documented status.
    expect(read(dir, key, '/good').equals(randomBytesFrom(seededRandom(7), 50_000))).toBe(true);
    const failed = shield(['volume', 'read', dir, '/sub/bad', ...args]);
    expectFailure(failed, 'EINTEGRITY', 3, /\/sub\/bad/);
  });

  it('info shows id, tag, files, bytes and policy, as text and as JSON', () => {
    const { dir, key, args } = newVolume();
    write(dir, key, '/one', '12345');
    write(dir, key, '/d/two', '1234567');
    const json = info(dir, key);
    expect(json).toMatchObject({
      directory: dir, id: expect.stringMatching(/^[0-9a-f]{32}$/), tag: expect.stringMatching(/^[0-9a-f]{64}$/),
      updatePolicy: 'rollback-protected', tagStore: `file:${TAGS}`, files: 2, directories: 1, bytes: 12, chunkSize: 4096, commits: 3, regions: [],
    });
    const text = expectSuccess(shield(['volume', 'info', dir, ...args])).out;
    expect(text).toMatch(new RegExp(`^id\\s+${json.id}$`, 'm'));
    expect(text).toMatch(new RegExp(`^tag\\s+${json.tag}$`, 'm'));
    expect(text).toMatch(/^files\s+2$/m);
    expect(text).toMatch(/^bytes\s+12$/m);
    expect(text).toMatch(/^policy\s+rollback-protected$/m);
  });
});

describe('attacks and mistakes', () => {
  it('a wrong key is EBADKEY (status 5) for every command, and changes nothing', () => {
    const { dir, key } = newVolume();
    write(dir, key, '/f', 'content');
    const before = info(dir, key);
    const wrong = fresh('wrong.key');
    writeFileSync(wrong, randomBytesFrom(seededRandom(9), 32), { mode: 0o600 });
    const w = ['--key-file', wrong];
    for (const args of [['info', dir], ['read', dir, '/f'], ['ls', dir], ['verify', dir], ['rm', dir, '/f'], ['mv', dir, '/f', '/g']]) {
      expectFailure(shield(['volume', ...args, ...w]), 'EBADKEY', 5);
    }
    expectFailure(shield(['volume', 'write', dir, '/f', ...w], { input: 'evil' }), 'EBADKEY', 5);
    expect(info(dir, key)).toEqual(before);
    expect(read(dir, key, '/f').toString()).toBe('content');
  });

  it('a key file that is not a key is EINVAL; a missing key file ENOENT', () => {
    const { dir, key } = newVolume();
    const bad = fresh('bad.key');
    writeFileSync(bad, 'not a key\n', { mode: 0o600 });
    expectFailure(shield(['volume', 'info', dir, '--key-file', bad]), 'EINVAL', 1, /32 raw bytes or 64 hex/);
    expectFailure(shield(['volume', 'info', dir, '--key-file', fresh('none.key')]), 'ENOENT', 1, /key file/);
    expect(info(dir, key).commits).toBe(1);
  });

  it('a whole-directory rollback (an older copy put back) is EROLLBACK (status 4)', () => {
    const { dir, key, args } = newVolume();
    write(dir, key, '/balance', '100');
    const copy = fresh('copy');
    cpSync(dir, copy, { recursive: true });
    write(dir, key, '/balance', '0');
    rmSync(dir, { recursive: true });
    cpSync(copy, dir, { recursive: true });
    expectFailure(shield(['volume', 'info', dir, ...args]), 'EROLLBACK', 4, /rolled back/);
    expectFailure(shield(['volume', 'read', dir, '/balance', ...args]), 'EROLLBACK', 4);
    expectFailure(shield(['volume', 'verify', dir, ...args]), 'EROLLBACK', 4);
    expectFailure(shield(['volume', 'write', dir, '/balance', ...args], { input: '1000' }), 'EROLLBACK', 4);
  });

  it('a second writer while another process holds the volume is EBUSY (status 6) naming its pid', async () => {
    const { dir, key, args } = newVolume();
    write(dir, key, '/f', 'before');
    const keyHex = readFileSync(key, 'latin1').trim();
    const holder = `
      const { Volume } = await import(${JSON.stringify(DIST_INDEX_JS)});
      const v = await Volume.open(${JSON.stringify(dir)}, { key: Buffer.from('${keyHex}', 'hex'), tagStore: ${JSON.stringify(`file:${TAGS}`)} });
      process.stdout.write('locked\\n');
      setInterval(() => {}, 1000);`;
    const child = spawn(process.execPath, ['--input-type=module', '-e', holder], { stdio: ['ignore', 'pipe', 'inherit'] });
    children.push(child);
    await new Promise<void>((resolve, reject) => {
      child.stdout!.once('data', () => resolve());
      child.once('exit', (code) => reject(new Error(`lock holder exited with ${code}`)));
    });
    expectFailure(shield(['volume', 'write', dir, '/f', ...args], { input: 'after' }), 'EBUSY', 6, new RegExp(`pid ${child.pid}\\b`));
    expectFailure(shield(['volume', 'rm', dir, '/f', ...args]), 'EBUSY', 6, new RegExp(`pid ${child.pid}\\b`));
    expectFailure(shield(['volume', 'read', dir, '/f', ...args]), 'EBUSY', 6);
    child.kill('SIGKILL');
    await new Promise((resolve) => child.once('exit', resolve));
    // The dead holder's lock is taken over; nothing was changed meanwhile.
    expect(read(dir, key, '/f').toString()).toBe('before');
    write(dir, key, '/f', 'after');
    expect(read(dir, key, '/f').toString()).toBe('after');
  });

  it('a directory that is not a volume is ENOENT (status 1)', () => {
    const { key } = newVolume();
    const empty = fresh('empty');
    mkdirSync(empty);
    const plainFile = fresh('file');
    writeFileSync(plainFile, 'x');
    const missing = fresh('nonexistent');
    for (const target of [empty, missing]) {
      expectFailure(shield(['volume', 'info', target, '--key-file', key]), 'ENOENT', 1, /not a shieldfs volume/);
      expectFailure(shield(['volume', 'write', target, '/f', '--key-file', key], { input: 'x' }), 'ENOENT', 1);
    }
    expect(readdirSync(empty)).toEqual([]);
    expect(existsSync(missing)).toBe(false);
    // A plain file in place of the directory: one line, status 1 (ENOENT or ENOTDIR).
    const result = shield(['volume', 'info', plainFile, '--key-file', key]);
    expectFailure(result, /^shield: ENOTDIR: /.test(result.stderr) ? 'ENOTDIR' : 'ENOENT', 1);
    expect(readFileSync(plainFile, 'utf8')).toBe('x');
  });

  it('--tag-store file:… overrides SHIELD_TAG_STORE; a store that does not know the volume gives EROLLBACK', () => {
    const other = fresh('other-tags.json');
    const { dir, key } = newVolume('--tag-store', `file:${other}`);
    const opened = info(dir, key, '--tag-store', `file:${other}`);
    expect(opened.tagStore).toBe(`file:${other}`);
    const stored = JSON.parse(readFileSync(other, 'utf8')) as { volumes: Record<string, { tag: string }> };
    expect(stored.volumes[opened.id]?.tag).toBe(opened.tag);
    expect((JSON.parse(readFileSync(TAGS, 'utf8')) as { volumes: Record<string, unknown> }).volumes[opened.id]).toBeUndefined();
    expectSuccess(shield(['volume', 'write', dir, '/f', '--key-file', key, '--tag-store', `file:${other}`], { input: 'x' }));
    // SHIELD_TAG_STORE (the runner's default) has never heard of this volume.
    expectFailure(shield(['volume', 'info', dir, '--key-file', key]), 'EROLLBACK', 4, /no trusted tag/);
    // And the environment variable alone is honoured too.
    expect(JSON.parse(expectSuccess(shield(['volume', 'info', dir, '--key-file', key, '--json'], { env: { SHIELD_TAG_STORE: `file:${other}` } })).out))
      .toMatchObject({ id: opened.id, files: 1, commits: 2 });
  });
});

describe('one commit per mutating command', () => {
  it('write, rm and mv add exactly one commit each; read, ls, verify, info and failed commands none', () => {
    const { dir, key, args } = newVolume();
    let last = info(dir, key);
    expect(last.commits).toBe(1);
    const step = (expected: 0 | 1, run: () => void) => {
      run();
      const now = info(dir, key);
      expect(now.commits).toBe(last.commits + expected);
      if (expected === 0) expect(now.tag).toBe(last.tag);
      else expect(now.tag).not.toBe(last.tag);
      last = now;
    };
    step(1, () => write(dir, key, '/a/b/c/file', 'new file in new directories'));
    step(1, () => write(dir, key, '/a/b/c/file', 'overwritten'));
    step(0, () => expect(read(dir, key, '/a/b/c/file').toString()).toBe('overwritten'));
    step(1, () => write(dir, key, '/a/other', randomBytesFrom(seededRandom(10), 100_000)));
    step(1, () => expectSuccess(shield(['volume', 'mv', dir, '/a/other', '/a/moved', ...args])));
    step(1, () => expectSuccess(shield(['volume', 'mv', dir, '/a/b', '/z', ...args])));
    step(1, () => expectSuccess(shield(['volume', 'rm', dir, '/a/moved', ...args])));
    step(1, () => expectSuccess(shield(['volume', 'rm', dir, '/z', '-r', ...args])));
    step(0, () => ls(dir, key, '/'));
    step(0, () => expectSuccess(shield(['volume', 'verify', dir, ...args])));
    step(0, () => info(dir, key));
    step(0, () => expectFailure(shield(['volume', 'rm', dir, '/missing', ...args]), 'ENOENT', 1));
    step(0, () => expectFailure(shield(['volume', 'write', dir, '/x', ...args, '--from', fresh('missing')]), 'ENOENT', 1));
    step(0, () => expectFailure(shield(['volume', 'mv', dir, '/missing', '/x', ...args]), 'ENOENT', 1));
    step(0, () => expectFailure(shield(['volume', 'write', dir, '/x', ...args, '--bogus']), 'EINVAL', 2));
  });
});

const SUBCOMMANDS: Record<string, string[]> = {
  create: ['<dir>', '--key-file', '--tag-store', '--name', '--chunk-size', '--update-policy', '--region', '--json'],
  write: ['<dir>', '<path>', '--key-file', '--tag-store', '--name', '--from'],
  read: ['<dir>', '<path>', '--key-file', '--tag-store', '--name'],
  ls: ['<dir>', '[path]', '--key-file', '--tag-store', '--name', '--json'],
  rm: ['<dir>', '<path>', '--key-file', '--tag-store', '--name', '-r'],
  mv: ['<dir>', '<from>', '<to>', '--key-file', '--tag-store', '--name'],
  verify: ['<dir>', '--key-file', '--tag-store', '--name', '--json'],
  info: ['<dir>', '--key-file', '--tag-store', '--name', '--json'],
  reset: ['<dir>', '--confirm', '--tag-store', '--name', '--json'],
};

describe('--help and usage errors', () => {
  it('shield --help and shield volume --help list the commands (status 0)', () => {
    const top = expectSuccess(shield(['--help'])).out;
    expect(top).toMatch(/^Usage: shield /);
    expect(top).toContain('volume');
    const volume = expectSuccess(shield(['volume', '--help'])).out;
    expect(volume).toMatch(/^Usage: shield volume /);
    for (const name of Object.keys(SUBCOMMANDS)) expect(volume).toMatch(new RegExp(`^  ${name} `, 'm'));
    const version = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8')).version as string;
    expect(expectSuccess(shield(['--version'])).out.trim()).toBe(version);
  });

  it.each(Object.entries(SUBCOMMANDS))('shield volume %s --help shows its usage and options (status 0)', (name, mentions) => {
    const help = expectSuccess(shield(['volume', name, '--help'])).out;
    expect(help).toMatch(new RegExp(`^Usage: shield volume ${name} `));
    for (const text of mentions) expect(help).toContain(text);
    if (name === 'create') {
      // --help wins over everything else on the line and creates nothing.
      const dir = fresh('never'), key = fresh('never.key');
      expectSuccess(shield(['volume', 'create', dir, '--key-file', key, '--help']));
      expect(existsSync(dir) || existsSync(key)).toBe(false);
    }
  });

  it('--help works without the native addon; a command that needs it fails with one line', () => {
    const { dir, key } = newVolume();
    const env = { SHIELDFS_ADDON: temp('no-such-addon.node') };
    expect(expectSuccess(shield(['volume', 'write', '--help'], { env })).out).toMatch(/^Usage: shield volume write /);
    expectFailure(shield(['volume', 'info', dir, '--key-file', key], { env }), 'EIO', 1, /native addon/);
  });

  it.each([
    [['volume', 'info', '/tmp/x'], /--key-file/],
    [['volume', 'info', '--key-file', 'k'], /missing required argument 'dir'/],
    [['volume', 'write', 'd', '/p', '--key-file', 'k', '--nope'], /unknown option '--nope' \(Did you mean --name\?\)/],
    [['volume', 'read', 'd', '/p', 'extra', '--key-file', 'k'], /too many arguments/],
    [['volume', 'frobnicate'], /unknown command 'frobnicate'/],
    [['frobnicate'], /unknown command 'frobnicate'/],
    [['volume'], /missing command/],
    [[], /missing command/],
  ])('usage error %j: status 2 and one EINVAL line', (args, message) => {
    const result = shield(args);
    expectFailure(result, 'EINVAL', 2, message);
    expect(result.out).toBe('');
  });
});

describe('output', () => {
  it('successful commands write nothing to stderr when it is not a terminal, even for large files', () => {
    const { dir, key, args } = newVolume();
    const data = randomBytesFrom(seededRandom(11), 9 * (1 << 20) + 1);  // above the progress bar's 8 MiB
    const local = fresh('large.bin');
    writeFileSync(local, data);
    expectSuccess(shield(['volume', 'write', dir, '/large', ...args, '--from', local]));
    expect(read(dir, key, '/large').equals(data)).toBe(true);
    expectSuccess(shield(['volume', 'verify', dir, ...args]));
    expectSuccess(shield(['volume', 'ls', dir, ...args]));
  });

  it('read into a pipe that is closed early fails with one EPIPE line, not a crash', async () => {
    const { dir, key } = newVolume();
    write(dir, key, '/big', randomBytesFrom(seededRandom(13), 4 << 20));  // far more than a pipe buffers
    const child = spawn(process.execPath, [SHIELD_JS, 'volume', 'read', dir, '/big', '--key-file', key], {
      env: { ...process.env, SHIELD_TAG_STORE: `file:${TAGS}` }, stdio: ['ignore', 'pipe', 'pipe'],
    });
    children.push(child);
    child.stdout!.destroy();
    let stderr = '';
    child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const status = await new Promise<number | null>((resolve) => child.once('close', resolve));
    expectFailure({ status, stderr, stdout: Buffer.alloc(0), out: '' }, 'EPIPE', 1);
  });

  const script = spawnSync('script', ['--version'], { encoding: 'utf8' });
  const haveScript = script.status === 0 && /util-linux/.test(script.stdout + script.stderr);
  if (!haveScript) console.warn('cli.test.ts: `script` (util-linux) is not installed: skipping the progress bar test on a terminal');

  it.skipIf(!haveScript)('a large write on a terminal shows a progress bar on stderr', () => {
    const { dir, key } = newVolume();
    const data = randomBytesFrom(seededRandom(12), 12 * (1 << 20));
    const local = fresh('tty.bin');
    writeFileSync(local, data);
    const command = [process.execPath, SHIELD_JS, 'volume', 'write', dir, '/tty.bin', '--key-file', key, '--from', local].map(shellQuote).join(' ');
    const result = spawnSync('script', ['-qec', command, '/dev/null'], {
      env: { ...process.env, SHIELD_TAG_STORE: `file:${TAGS}`, TERM: 'xterm' }, encoding: 'latin1', timeout: 30_000,
    });
    expect(result.status).toBe(0);
    expect(result.stdout).toContain('write /tty.bin [');
    expect(result.stdout).toContain('100%');
    expect(result.stdout).toMatch(/12\.0 MiB/);
    expect(read(dir, key, '/tty.bin').equals(data)).toBe(true);
  });
});
