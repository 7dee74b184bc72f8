// Issue 11, items 4, 6, 8, 9, 11, 12, 13, 14 and 17: the host's files, command lines and paths as
// input. Each test performs the attack on real files (and, where the shield runs as a program, in
// real processes) and asserts the exact refusal or the behaviour that must hold instead.
import { spawn, spawnSync } from 'node:child_process';
import {
  chmodSync, cpSync, existsSync, mkdirSync, readdirSync, readFileSync, rmdirSync, rmSync, statSync, symlinkSync, truncateSync, writeFileSync,
} from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { readKeyFile } from '../lib/file/key-file.js';
import { generateKey } from '../lib/file/keys.js';
import { checkedConfigText, loadProcessConfig, loadShieldConfig, parseMountSpecs } from '../lib/fs/mount-config.js';
import { mount } from '../lib/fs/mount.js';
import { openTagStore } from '../lib/tag-store/open-tag-store.js';
import { protectTree } from '../lib/tree/protect.js';
import { readVolumeHeader } from '../lib/volume/volume-header.js';
import { Volume } from '../lib/volume/volume.js';
import { cliRunner, expectFailure, expectSuccess, SHIELD_JS } from './support/cli-run.js';
import { seededRandom } from './support/random.js';
import { useTempDir } from './support/temp.js';

const temp = useTempDir('shieldfs-inputs-');
const packageRoot = fileURLToPath(new URL('..', import.meta.url));
let counter = 0;

function everyFile(directory: string): string[] {
  const found: string[] = [];
  for (const entry of readdirSync(directory, { withFileTypes: true, recursive: true })) {
    if (entry.isFile()) found.push(join(entry.parentPath, entry.name));
  }
  return found;
}

function mkfifo(path: string): void {
  const made = spawnSync('mkfifo', [path]);
  if (made.status !== 0) throw new Error(`mkfifo ${path} failed: ${made.stderr}`);
}

function keyFile(mode = 0o600): string {
  const path = temp(`key-${counter++}.key`);
  writeFileSync(path, `${generateKey().toString('hex')}\n`, { mode });
  chmodSync(path, mode);  // whatever the umask
  return path;
}

/** Integers from a seeded generator, so that a failing mutation can be replayed. */
class Random {
  readonly #next: () => number;
  constructor(seed: number) {
    this.#next = seededRandom(seed);
  }
  int(below: number): number {
    return Math.floor(this.#next() * below);
  }
}

describe('item 4: the lock file names no command line, path or argument', () => {
  const dir = temp('lock-volume');
  const key = keyFile();
  const store = `file:${temp('lock-tags.json')}`;
  const shield = cliRunner({ SHIELD_TAG_STORE: store });

  /** Starts `args` (a process that takes the volume and waits on its stdin), checks the volume directory while it holds it. */
  async function lookWhileHeld(args: string[], secrets: string[]): Promise<void> {
    const holder = spawn(process.execPath, args, { env: { ...process.env, SHIELD_TAG_STORE: store }, stdio: ['pipe', 'pipe', 'pipe'] });
    let stderr = '';
    holder.stderr.on('data', (piece: Buffer) => (stderr += piece.toString()));
    const ended = new Promise<number | null>((resolveEnd) => holder.on('exit', resolveEnd));
    try {
      const lock = join(dir, '.shieldfs', 'lock');
      for (let waited = 0; !(existsSync(lock) && readFileSync(lock, 'utf8').includes(String(holder.pid))); waited += 20) {
        if (waited > 20_000 || holder.exitCode !== null) throw new Error(`the holder never took the volume: ${stderr}`);
        await new Promise((r) => setTimeout(r, 20));
      }
      const record = JSON.parse(readFileSync(lock, 'utf8')) as Record<string, unknown>;
      expect(Object.keys(record).sort()).toEqual(['host', 'pid', 'since']);
      expect(record.pid).toBe(holder.pid);
      for (const file of everyFile(dir)) {
        const bytes = readFileSync(file).toString('latin1');
        for (const secret of secrets) expect(bytes.includes(secret), `${relative(dir, file)} holds "${secret}"`).toBe(false);
      }
      // A second writer is told who holds the volume: pid, host and time, nothing else.
      expectFailure(shield(['volume', 'rm', dir, '/x', '--key-file', key]), 'EBUSY', 6,
        new RegExp(`^shield: EBUSY: volume ${dir} is in use by pid ${holder.pid} on \\S+ since \\d{4}-\\d\\d-\\d\\dT\\S+Z; wait`));
    } finally {
      holder.stdin.end('salary data');
    }
    expect(await ended, stderr).toBe(0);
  }

  it('while `shield volume write v /hr/salaries/alice-….txt` runs, nothing under the volume names the file', async () => {
    expectSuccess(shield(['volume', 'create', dir, '--key-file', key]));
    await lookWhileHeld([SHIELD_JS, 'volume', 'write', dir, '/hr/salaries/alice-confidential-2026.txt', '--key-file', key],
      ['alice-confidential', 'salaries', 'volume write']);
  });

  it('while a service started with --api-token=… holds the volume, nothing under the volume shows its arguments', async () => {
    const service = `const { Volume, importKey } = await import(${JSON.stringify(new URL('../dist/index.js', import.meta.url).href)});` +
      `const v = await Volume.open(${JSON.stringify(dir)}, { key: importKey(require('fs').readFileSync(${JSON.stringify(key)}, 'utf8')) });` +
      `process.stdin.resume(); process.stdin.on('end', async () => { await v.close(); });`;
    await lookWhileHeld(['-e', `(async () => { ${service} })()`, '--', '--api-token=tok-8f3b2c', '--customer=acme-secret'],
      ['tok-8f3b2c', 'api-token', 'acme-secret']);
  });
});

describe('item 8: a FIFO, a device or a huge file in place of the tag store, a key file or the configuration', () => {
  const shield = cliRunner({});

  it('the key file: a FIFO, /dev/zero, a file of megabytes: EINVAL / EFBIG at once, nothing hangs', () => {
    const dir = temp('fifo-key-volume');
    const store = `file:${temp('fifo-key-tags.json')}`;
    expectSuccess(shield(['volume', 'create', dir, '--key-file', keyFile(), '--tag-store', store]));
    const fifo = temp('key.fifo');
    mkfifo(fifo);
    expectFailure(shield(['volume', 'info', dir, '--key-file', fifo, '--tag-store', store]), 'EINVAL', 1,
      `key file ${fifo} is a FIFO, not a regular file`);
    const zero = temp('zero.key');
    symlinkSync('/dev/zero', zero);
    expectFailure(shield(['volume', 'info', dir, '--key-file', zero, '--tag-store', store]), 'EINVAL', 1,
      `key file ${zero} is a character device, not a regular file`);
    const huge = temp('huge.key');
    writeFileSync(huge, '', { mode: 0o600 });
    truncateSync(huge, 64 << 20);
    expectFailure(shield(['volume', 'info', dir, '--key-file', huge, '--tag-store', store]), 'EFBIG', 1,
      `key file ${huge} is ${64 << 20} bytes, more than the 1024 a key file may have`);
    expect(() => readKeyFile(fifo)).toThrow(/^EINVAL: key file .* is a FIFO/);
  }, 30_000);

  it('the tag store file: a FIFO or a file past 64 MiB is a damaged store, named, and never overwritten', () => {
    const dir = temp('fifo-store-volume');
    const key = keyFile();
    const fifo = temp('tags.fifo');
    expectSuccess(shield(['volume', 'create', dir, '--key-file', key, '--tag-store', `file:${fifo}`]));
    rmSync(fifo);
    mkfifo(fifo);
    expectFailure(shield(['volume', 'info', dir, '--key-file', key, '--tag-store', `file:${fifo}`]), 'EINVAL', 1,
      `tag store file:${fifo} is damaged: tag store ${fifo} is a FIFO, not a regular file`);
    const huge = temp('huge-tags.json');
    writeFileSync(huge, '');
    truncateSync(huge, (64 << 20) + 1);
    expectFailure(shield(['volume', 'info', dir, '--key-file', key, '--tag-store', `file:${huge}`]), 'EINVAL', 1,
      `tag store file:${huge} is damaged: tag store ${huge} is ${(64 << 20) + 1} bytes, more than the ${64 << 20}`);
    expect(statSync(huge).size).toBe((64 << 20) + 1);
    expect(statSync(fifo).isFIFO()).toBe(true);
  }, 30_000);

  it('the configuration: a FIFO, /dev/zero or a file past 1 MiB fails `shield run` before the program starts', () => {
    const fifo = temp('config.fifo');
    mkfifo(fifo);
    expectFailure(shield(['run', '--config', fifo, '--', 'true']), 'EINVAL', 1, `shieldfs configuration ${fifo} is a FIFO, not a regular file`);
    const zero = temp('zero.yaml');
    symlinkSync('/dev/zero', zero);
    expectFailure(shield(['run', '--config', zero, '--', 'true']), 'EINVAL', 1, 'is a character device, not a regular file');
    const huge = temp('huge.yaml');
    writeFileSync(huge, '');
    truncateSync(huge, 2 << 20);
    expectFailure(shield(['run', '--config', huge, '--', 'true']), 'EFBIG', 1, `shieldfs configuration ${huge} is ${2 << 20} bytes`);
    expect(() => loadShieldConfig(fifo)).toThrow(/^EINVAL: shieldfs configuration .* is a FIFO/);
  }, 30_000);
});

describe('item 9: a key file its group or others may read is refused, as ssh does', () => {
  const shield = cliRunner({});

  it('0644 and 0640: EACCES naming the mode and the fix; 0600 and 0400 accepted; SHIELD_KEY_FILE_PERMISSIONS=any accepts', () => {
    const dir = temp('mode-volume');
    const store = `file:${temp('mode-tags.json')}`;
    const key = keyFile(0o600);
    expectSuccess(shield(['volume', 'create', dir, '--key-file', key, '--tag-store', store]));
    for (const mode of [0o644, 0o640, 0o604, 0o620]) {
      chmodSync(key, mode);
      expectFailure(shield(['volume', 'info', dir, '--key-file', key, '--tag-store', store]), 'EACCES', 1,
        `permissions 0${mode.toString(8)} of key file ${key} are too open: its group or other users may read or change the key. Run \`chmod 600 ${key}\``);
      expect(() => parseAndResolveKey(key)).toThrow(/^EACCES: permissions 0\d+ of key file/);
    }
    chmodSync(key, 0o644);
    expectSuccess(shield(['volume', 'info', dir, '--key-file', key, '--tag-store', store], { env: { SHIELD_KEY_FILE_PERMISSIONS: 'any' } }));
    for (const mode of [0o600, 0o400]) {
      chmodSync(key, mode);
      expectSuccess(shield(['volume', 'info', dir, '--key-file', key, '--tag-store', store]));
    }
  });
});

function parseAndResolveKey(path: string): Buffer {
  return readKeyFile(path);
}

describe('item 11: mounts over the system or the installation are refused unless allowed', () => {
  const key = generateKey().toString('hex');
  it.each([
    ['/proc', 'is /proc, a system directory'],
    ['/etc/shieldfs', 'lies inside /etc, a system directory'],
    ['/usr/local/app', 'lies inside /usr, a system directory'],
    ['/dev', 'is /dev, a system directory'],
    ['/sys/x', 'lies inside /sys, a system directory'],
    [join(packageRoot, 'app'), 'the installation of shieldfs'],
  ])('a mount at %s: EINVAL (%s)', (path, why) => {
    expect(() => parseMountSpecs([{ path, volume: temp('never'), key }], 'mount()')).toThrow(expect.objectContaining({
      code: 'EINVAL', message: expect.stringContaining(why),
    }));
  });

  it('a mount around the installation (its parent directory) is refused too; allowSystemPath: true accepts /etc/…', async () => {
    const parent = join(packageRoot, '..');
    expect(() => parseMountSpecs([{ path: parent, volume: temp('never'), key }], 'mount()'))
      .toThrow(`mounts[0] (${parent}): path: ${parent} contains ${packageRoot.replace(/\/$/, '')}, the installation of shieldfs`);
    const shield = await mount([{ path: '/etc/shieldfs-allowed', volume: temp('allowed'), key, tagStore: 'memory:allowed', create: true, allowSystemPath: true }]);
    shield.fs.writeFileSync('/etc/shieldfs-allowed/x', 'inside the volume');
    expect(existsSync('/etc/shieldfs-allowed')).toBe(false);
    await shield.unmount();
  });
});

describe('item 12: path lengths and deep trees as node has them', () => {
  it('a path of PATH_MAX bytes or more: ENAMETOOLONG with node\'s message, in a mount as on the disk', async () => {
    const shield = await mount([{ path: '/V1', volume: temp('long'), key: generateKey().toString('hex'), tagStore: 'memory:long', create: true }]);
    try {
      const tail = 'a/'.repeat(2100) + 'x';
      const real = (() => { try { shield.fs.writeFileSync(`${temp('')}/${tail}`, 'y'); } catch (error) { return error as NodeJS.ErrnoException; } })();
      const mounted = (() => { try { shield.fs.writeFileSync(`/V1/${tail}`, 'y'); } catch (error) { return error as NodeJS.ErrnoException; } })();
      expect(real?.code).toBe('ENAMETOOLONG');
      expect(mounted).toMatchObject({ code: 'ENAMETOOLONG', errno: real!.errno, syscall: 'open', path: `/V1/${tail}` });
      expect(mounted!.message).toBe(`ENAMETOOLONG: name too long, open '/V1/${tail}'`);
      expect(() => shield.fs.statSync(`/V1/${tail}`)).toThrow(expect.objectContaining({ code: 'ENAMETOOLONG', syscall: 'stat' }));
      expect(() => shield.fs.mkdirSync(`/V1/${tail}`, { recursive: true })).toThrow(expect.objectContaining({ code: 'ENAMETOOLONG' }));
    } finally {
      await shield.unmount();
    }
  });

  it('cpSync, cp and fs.promises.cp of a tree 2 000 directories deep: copied, no stack overflow', async () => {
    const shield = await mount([{ path: '/V1', volume: temp('deep'), key: generateKey().toString('hex'), tagStore: 'memory:deep', create: true, commit: 'sync' }]);
    try {
      let deepest = '/V1/src';
      while (Buffer.byteLength(deepest) < 4000) deepest += '/d';
      shield.fs.mkdirSync(deepest, { recursive: true });
      shield.fs.writeFileSync(`${deepest}/leaf`, 'bottom');
      expect(deepest.split('/').length).toBeGreaterThan(1990);
      shield.fs.cpSync('/V1/src', '/V1/copy', { recursive: true });
      expect(shield.fs.readFileSync(`${deepest.replace('/V1/src', '/V1/copy')}/leaf`, 'utf8')).toBe('bottom');
      await shield.fs.promises.cp('/V1/src', '/V1/copy2', { recursive: true });
      expect(shield.fs.readFileSync(`${deepest.replace('/V1/src', '/V1/copy2')}/leaf`, 'utf8')).toBe('bottom');
      const onDisk = temp('deep-out');
      shield.fs.cpSync('/V1/src', onDisk, { recursive: true });
      expect(readFileSync(`${deepest.replace('/V1/src', onDisk)}/leaf`, 'utf8')).toBe('bottom');
      // node's own rmSync recurses once per level: rm(1) removes the copy on the disk.
      expect(spawnSync('rm', ['-rf', onDisk]).status).toBe(0);
    } finally {
      await shield.unmount();
    }
  }, 60_000);
});

describe('item 13: no internal message escapes a header, record or journal parser', () => {
  const key = generateKey();
  const dir = temp('fuzz-volume');
  const header = () => join(dir, '.shieldfs', 'volume');

  it('a flipped byte anywhere in the header\'s mac (also into a multi-byte character): EINTEGRITY naming the header', async () => {
    await (await Volume.create(dir, { key, tagStore: 'memory:fuzz' })).close();
    const text = readFileSync(header(), 'utf8');
    const macAt = text.indexOf('"mac": "') + '"mac": "'.length;
    for (let i = 0; i < 64; i++) {
      for (const replacement of [text[macAt + i] === '0' ? '1' : '0', 'é', '\u{1F512}', 'G']) {
        const mutated = header() + `.m`;
        writeFileSync(mutated, text.slice(0, macAt + i) + replacement + text.slice(macAt + i + 1));
        expect(() => readVolumeHeader(mutated, key)).toThrow(new RegExp(`^EINTEGRITY: volume header ${mutated} was altered or damaged \\((its MAC does not match|bad mac: expected 64 lowercase hex digits)\\); restore`));
      }
    }
    expect(readVolumeHeader(header(), key).id).toMatch(/^[0-9a-f]{32}$/);
  });

  it('8 000 seeded mutations of the JSON header: each either reads as the same header, or is EINTEGRITY / EBADKEY with a proper message', () => {
    const text = readFileSync(header(), 'utf8');
    const original = readVolumeHeader(header(), key);
    const random = new Random(0x5eed_11);
    const fragments = ['{', '}', '[', ']', '"', ':', ',', 'null', 'true', '1e999', '-0', '\\u0000', '"__proto__"', ' ', '\n', 'é', '\uFFFF', '{"a":'.repeat(50)];
    const mutated = header() + '.fuzz';
    const outcomes = new Map<string, number>();
    for (let round = 0; round < 8_000; round++) {
      let bytes = Buffer.from(text);
      for (let edits = 1 + random.int(3); edits > 0; edits--) {
        const at = random.int(bytes.length + 1);
        switch (random.int(5)) {
          case 0: if (at < bytes.length) bytes[at]! ^= 1 << random.int(8); break;
          case 1: bytes = Buffer.concat([bytes.subarray(0, at), bytes.subarray(at + 1 + random.int(8))]); break;
          case 2: bytes = Buffer.concat([bytes.subarray(0, at), Buffer.from(fragments[random.int(fragments.length)]!), bytes.subarray(at)]); break;
          case 3: if (at < bytes.length) bytes[at] = random.int(256); break;
          default: bytes = bytes.subarray(0, at); break;
        }
      }
      writeFileSync(mutated, bytes);
      let outcome: string;
      try {
        expect(readVolumeHeader(mutated, key)).toEqual(original);
        outcome = 'same header';
      } catch (error) {
        const { code, message } = error as NodeJS.ErrnoException;
        expect(['EINTEGRITY', 'EBADKEY'], `${message} for ${JSON.stringify(bytes.toString('latin1'))}`).toContain(code);
        expect(message.startsWith(`${code}: `) && message.includes(code === 'EBADKEY' ? dir : mutated), message).toBe(true);
        expect(message).toMatch(code === 'EBADKEY' ? /key check failed/ : /was altered or damaged \([^)]+\); restore the volume directory from a trusted copy$/);
        outcome = code!;
      }
      outcomes.set(outcome, (outcomes.get(outcome) ?? 0) + 1);
    }
    expect(outcomes.get('EINTEGRITY')).toBeGreaterThan(6_000);
  }, 120_000);

  it('300 seeded mutations of the manifest and of a journal: every open or read fails with a shield code and the path', async () => {
    const v = await Volume.open(dir, { key, tagStore: 'memory:fuzz' });
    for (let i = 0; i < 20; i++) await v.writeFile(`/f${i}`, `content ${i}`.repeat(50));
    await v.commit();
    await v.writeFile('/f3', 'changed in place');  // a journal begins, left behind by the crash below
    const copy = temp('fuzz-pristine');
    cpSync(dir, copy, { recursive: true });
    await v.abort();
    const random = new Random(0x5eed_12);
    for (const name of ['manifest', 'journal'] as const) {
      const pristine = readFileSync(join(copy, '.shieldfs', name));
      for (let round = 0; round < 150; round++) {
        cpSync(copy, dir, { recursive: true, force: true });
        const bytes = Buffer.from(pristine);
        for (let edits = 1 + random.int(4); edits > 0; edits--) bytes[random.int(bytes.length)] = random.int(256);
        writeFileSync(join(dir, '.shieldfs', name), bytes);
        try {
          const opened = await Volume.open(dir, { key, tagStore: 'memory:fuzz', readOnly: true });
          const report = await opened.verify();
          await opened.close();
          for (const problem of report.problems) expect(['EINTEGRITY', 'EROLLBACK']).toContain(problem.code);
        } catch (error) {
          const { code, message } = error as NodeJS.ErrnoException;
          expect(['EINTEGRITY', 'EROLLBACK', 'EBADKEY'], message).toContain(code);
          expect(message, message).toMatch(new RegExp(`^${code}: .*${dir.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`));
        }
      }
    }
  }, 120_000);
});

describe('item 14: a deleted header with the rest of the volume present', () => {
  it('is EINTEGRITY "missing … damaged" (CLI status 3), never an invitation to create a new volume', async () => {
    const dir = temp('no-header');
    const key = keyFile();
    const shield = cliRunner({ SHIELD_TAG_STORE: `file:${temp('no-header-tags.json')}` });
    expectSuccess(shield(['volume', 'create', dir, '--key-file', key]));
    expectSuccess(shield(['volume', 'write', dir, '/a', '--key-file', key], { input: 'a' }));
    const headerPath = join(dir, '.shieldfs', 'volume');
    const before = readFileSync(headerPath);
    spawnSync('rm', [headerPath]);
    const stderr = expectFailure(shield(['volume', 'info', dir, '--key-file', key]), 'EINTEGRITY', 3,
      `the header ${headerPath} of volume ${dir} is missing while the rest of ${join(dir, '.shieldfs')} is there: the volume was damaged`);
    expect(stderr).not.toMatch(/create one/);
    expectFailure(shield(['volume', 'create', dir, '--key-file', key]), 'EEXIST', 1);
    writeFileSync(headerPath, before);
    expectSuccess(shield(['volume', 'read', dir, '/a', '--key-file', key]));
  });
});

describe('item 15: `shield volume verify` accounts for every byte under .shieldfs/, the manifest included', () => {
  it('a byte changed in a part of the manifest that opening never reads (a hole): the volume still opens, verify fails with status 3', () => {
    const dir = temp('verify-all');
    const key = keyFile();
    const shield = cliRunner({ SHIELD_TAG_STORE: `file:${temp('verify-all-tags.json')}` });
    expectSuccess(shield(['volume', 'create', dir, '--key-file', key]));
    expectSuccess(shield(['volume', 'write', dir, '/a', '--key-file', key], { input: 'a'.repeat(10_000) }));
    const manifest = join(dir, '.shieldfs', 'manifest');
    const pristine = readFileSync(manifest);
    // Blocks of zeros past the header: chunk slots of holes and node slots that are not stored.
    const zeroBlocks: number[] = [];
    for (let at = 4096; at + 4096 <= pristine.length; at += 4096) if (pristine.subarray(at, at + 4096).every((b) => b === 0)) zeroBlocks.push(at);
    expect(zeroBlocks.length).toBeGreaterThan(3);
    for (const at of zeroBlocks) {
      const changed = Buffer.from(pristine);
      changed[at + 1234] = 0x5a;
      writeFileSync(manifest, changed);
      expectSuccess(shield(['volume', 'info', dir, '--key-file', key]));
      expectFailure(shield(['volume', 'verify', dir, '--key-file', key]), 'EINTEGRITY', 3,
        new RegExp(`1 of 1 files failed verification \\(first: \\.shieldfs/manifest: EINTEGRITY: the slot of (chunk \\d+ \\(a hole\\)|Merkle node \\(level \\d, index \\d+\\), not stored) of '${manifest}' at byte ${at}`));
    }
    writeFileSync(manifest, pristine);
    expect(shield(['volume', 'verify', dir, '--key-file', key]).out).toMatch(/^ok: 1 files, 10000 bytes verified at tag [0-9a-f]{64}\n$/);
    // Files no part of the volume authenticates are named, not silently passed over (nor failed: an
    // interrupted commit leaves such objects too).
    writeFileSync(join(dir, '.shieldfs', 'planted'), 'x');
    writeFileSync(join(dir, '.shieldfs', 'objects', 'ab', 'ab00000000000000000000000000000000'), 'y');
    const noted = expectSuccess(shield(['volume', 'verify', dir, '--key-file', key, '--json']));
    expect(JSON.parse(noted.out)).toMatchObject({ ok: true, unreferenced: ['.shieldfs/objects/ab/ab00000000000000000000000000000000', '.shieldfs/planted'] });
    expect(shield(['volume', 'verify', dir, '--key-file', key]).out).toContain('note: .shieldfs/planted is not part of the volume');
  }, 60_000);
});

describe('item 17: a volume put back without its empty fan-out directories', () => {
  it('reads, and writes again: the fan-out directories are made anew at a writable open', async () => {
    const dir = temp('fanout');
    const key = generateKey();
    const tagStore = `file:${temp('fanout-tags.json')}`;
    const v = await Volume.create(dir, { key, tagStore });
    await v.writeFile('/kept', 'kept');
    await v.close();
    // What `cp` of a backup that skips empty directories leaves: only the fan-out directory in use.
    const objects = join(dir, '.shieldfs', 'objects');
    for (const name of readdirSync(objects)) if (readdirSync(join(objects, name)).length === 0) rmdirSync(join(objects, name));
    expect(readdirSync(objects)).toHaveLength(1);
    const reader = await Volume.open(dir, { key, tagStore, readOnly: true });
    expect((await reader.readFile('/kept')).toString()).toBe('kept');
    await reader.close();
    const writer = await Volume.open(dir, { key, tagStore });
    for (let i = 0; i < 64; i++) await writer.writeFile(`/new-${i}`, `new ${i}`);  // random object ids: many fan-out directories
    await writer.close();
    expect(readdirSync(objects)).toHaveLength(256);
    const again = await Volume.open(dir, { key, tagStore, readOnly: true });
    expect((await again.verify()).problems).toEqual([]);
    expect((await again.readFile('/new-63')).toString()).toBe('new 63');
    await again.close();
  });
});

describe('item 6: `shield run` hands its children the configuration it checked', () => {
  it('a configuration rewritten after the check is not read again: the program and its Node children mount what was checked', async () => {
    const key = keyFile();
    const source = temp('run-src');
    mkdirSync(source);
    writeFileSync(join(source, 'answer.txt'), '42');
    const { tag } = await protectTree(source, temp('run-tree'), { key: readKeyFile(key) });
    const config = temp('run.yaml');
    writeFileSync(config, `mounts:\n  - { path: /T, tree: ${temp('run-tree')}, keyFile: ${key}, tag: "${tag}" }\n`);
    const child = `const { execFileSync } = require('node:child_process');` +
      `process.stdout.write(require('fs').readFileSync('/T/answer.txt', 'utf8') + ' ' + ` +
      `execFileSync(process.execPath, ['-e', "process.stdout.write(require('fs').readFileSync('/T/answer.txt', 'utf8'))"]))`;
    // The host replaces the file between `shield run`'s check and the program's start.
    const script = `printf 'mounts: [ {' > ${config}; exec ${process.execPath} -e "${child.replace(/"/g, '\\"')}"`;
    const run = cliRunner({})(['run', '--config', config, '--', 'sh', '-c', script]);
    expect(run.stderr).toBe('');
    expect(run.out).toBe('42 42');
    expect(readFileSync(config, 'utf8')).toBe('mounts: [ {');
  });

  it('a child given another configuration (SHIELD_CONFIG=other.yaml) gets that file, not the checked one', () => {
    const key = keyFile();
    const [checkedFile, otherFile] = [temp('checked.yaml'), temp('other.yaml')];
    writeFileSync(checkedFile, `mounts:\n  - { path: /C, volume: ./c, keyFile: ${key}, tagStore: "memory:c" }\n`);
    writeFileSync(otherFile, `mounts:\n  - { path: /O, volume: ./o, keyFile: ${key}, tagStore: "memory:o" }\n`);
    const checked = checkedConfigText(loadShieldConfig(checkedFile), checkedFile);
    writeFileSync(checkedFile, 'garbage: [');
    expect(loadProcessConfig({ SHIELD_CONFIG: checkedFile, SHIELD_CONFIG_CHECKED: checked }).mounts.map((m) => m.path)).toEqual(['/C']);
    expect(loadProcessConfig({ SHIELD_CONFIG: otherFile, SHIELD_CONFIG_CHECKED: checked }).mounts.map((m) => m.path)).toEqual(['/O']);
    expect(() => loadProcessConfig({ SHIELD_CONFIG: checkedFile, SHIELD_CONFIG_CHECKED: '{"mounts": 1}' }))
      .toThrow(/^EINVAL: SHIELD_CONFIG_CHECKED is not the checked configuration `shield run` writes; unset it/);
  });
});
