// Divergences from node:fs inside a mount that Node's own fs tests found (issue 10), each compared
// with node:fs on a temporary directory: the same observation from both.
import { constants } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { nodeTarget, shieldTarget, type FsSession } from './fs-compat/targets.js';
import type { Fs } from './fs-compat/observe.js';

let node: FsSession, shield: FsSession;
beforeAll(async () => {
  node = await nodeTarget.setup();
  shield = await shieldTarget.setup();
});
afterAll(async () => {
  await shield?.teardown();
  await node?.teardown();
});

let counter = 0;
/** Runs `observe` on both sides, each in a fresh directory, and expects the same result. */
async function same(observe: (fs: Fs, root: string) => Promise<unknown> | unknown): Promise<unknown> {
  const results: unknown[] = [];
  for (const session of [node, shield]) {
    const root = `${session.root}/d${++counter}`;
    session.fs.mkdirSync(root);
    results.push(JSON.parse(JSON.stringify(await observe(session.fs, root), (_k, v) => (typeof v === 'string' ? v.split(root).join('<root>') : v))));
  }
  expect(results[1], 'shieldfs/fs inside a mount differs from node:fs').toEqual(results[0]);
  return results[0];
}

const errorOf = (e: unknown) => ({ name: (e as Error).name, code: (e as NodeJS.ErrnoException).code, message: (e as Error).message });
const settle = async (run: () => Promise<unknown>) => {
  try {
    return { ok: await run() ?? null };
  } catch (e) {
    return { error: errorOf(e) };
  }
};
const viaCallback = (start: (done: (error: unknown, value?: unknown) => void) => void) =>
  settle(() => new Promise((resolve, reject) => start((error, value) => (error ? reject(error) : resolve(value)))));

describe('AbortSignal', () => {
  test('an aborted writeFile writes nothing and fails with AbortError (promise and callback)', () => same(async (fs, root) => ({
    promise: await settle(() => fs.promises.writeFile(`${root}/p`, 'data', { signal: AbortSignal.abort() })),
    callback: await viaCallback((done) => fs.writeFile(`${root}/c`, 'data', { signal: AbortSignal.abort() } as never, done)),
    existing: await settle(async () => {
      fs.writeFileSync(`${root}/e`, 'kept');
      await fs.promises.writeFile(`${root}/e`, 'lost', { signal: AbortSignal.abort() });
    }),
    files: fs.readdirSync(root).sort(),
    kept: fs.readFileSync(`${root}/e`, 'utf8'),
  })));

  test('an aborted readFile reads nothing and fails with AbortError', () => same(async (fs, root) => {
    fs.writeFileSync(`${root}/f`, 'content');
    return {
      promise: await settle(() => fs.promises.readFile(`${root}/f`, { signal: AbortSignal.abort() })),
      callback: await viaCallback((done) => fs.readFile(`${root}/f`, { signal: AbortSignal.abort() }, done)),
      appendFile: await settle(() => fs.promises.appendFile(`${root}/f`, 'more', { signal: AbortSignal.abort() } as never)),
      content: fs.readFileSync(`${root}/f`, 'utf8'),
    };
  }));
});

describe('rmdir({ recursive })', () => {
  test('a file is not removed: ENOTDIR, and a tree is', () => same(async (fs, root) => {
    fs.writeFileSync(`${root}/file`, 'x');
    fs.mkdirSync(`${root}/tree/sub`, { recursive: true });
    fs.writeFileSync(`${root}/tree/sub/f`, 'x');
    const sync = await settle(async () => fs.rmdirSync(`${root}/file`, { recursive: true }));
    const callback = await viaCallback((done) => fs.rmdir(`${root}/file`, { recursive: true }, done));
    const tree = await settle(async () => fs.rmdirSync(`${root}/tree`, { recursive: true }));
    return { sync, callback, tree, left: fs.readdirSync(root) };
  }));

  test("DEP0147 is node's own warning: once per process, whichever fs warned first", async () => {
    const warnings: string[] = [];
    const listen = (warning: Error & { code?: string }) => { if (warning.code === 'DEP0147') warnings.push(warning.message); };
    process.on('warning', listen);
    try {
      for (const session of [shield, node, shield]) {
        const dir = `${session.root}/dep-${++counter}`;
        session.fs.mkdirSync(dir);
        session.fs.rmdirSync(dir, { recursive: true });
      }
      await new Promise((resolve) => setTimeout(resolve, 20));
    } finally {
      process.off('warning', listen);
    }
    expect(warnings.length).toBeLessThanOrEqual(1);
  });
});

describe('streams', () => {
  test('options.fs is used for the I/O, as node does', () => same(async (fs, root) => {
    fs.writeFileSync(`${root}/f`, 'stream content');
    const calls: string[] = [];
    const custom = {
      ...fs,
      open: (...args: unknown[]) => { calls.push('open'); return (fs.open as (...a: unknown[]) => void)(...args); },
      read: (...args: unknown[]) => { calls.push('read'); return (fs.read as (...a: unknown[]) => void)(...args); },
      close: (...args: unknown[]) => { calls.push('close'); return (fs.close as (...a: unknown[]) => void)(...args); },
    };
    const chunks: string[] = [];
    await new Promise((resolve, reject) => fs.createReadStream(`${root}/f`, { fs: custom, encoding: 'utf8' } as never)
      .on('data', (chunk) => chunks.push(chunk as string)).on('close', () => resolve(null)).on('error', reject));
    return { content: chunks.join(''), calls: [...new Set(calls)] };
  }));

  test('a FileHandle as fd is the stream\'s handle: the stream closes it, a later close() is fine', () => same(async (fs, root) => {
    fs.writeFileSync(`${root}/f`, 'through a handle');
    const handle = await fs.promises.open(`${root}/f`, 'r');
    const chunks: string[] = [];
    await new Promise((resolve, reject) => fs.createReadStream(null as never, { fd: handle as never, encoding: 'utf8' })
      .on('data', (chunk) => chunks.push(chunk as string)).on('close', () => resolve(null)).on('error', reject));
    const fdAfterStream = handle.fd;
    const close = await settle(() => handle.close());
    const write = await fs.promises.open(`${root}/w`, 'w');
    await new Promise((resolve, reject) => fs.createWriteStream(null as never, { fd: write as never }).on('close', () => resolve(null)).on('error', reject).end('written'));
    return { content: chunks.join(''), fdAfterStream, close, closeAfter: await settle(() => write.close()), written: fs.readFileSync(`${root}/w`, 'utf8') };
  }));
});

describe('paths', () => {
  test("mkdir({ recursive }) through 'missing/..' makes 'missing' too", () => same(async (fs, root) => ({
    sync: fs.mkdirSync(`${root}/a/missing/../b`, { recursive: true }),
    callback: await viaCallback((done) => fs.mkdir(`${root}/c/m2/../d`, { recursive: true }, done)),
    tree: (fs.readdirSync(root, { recursive: true }) as string[]).sort(),
  })));

  test('mkdtemp with a file: URL prefix', () => same(async (fs, root) => {
    const strip = (p: unknown) => String(p).replace(/[A-Za-z0-9]{6}$/, 'XXXXXX');
    return {
      sync: strip(fs.mkdtempSync(pathToFileURL(`${root}/s-`) as never)),
      promise: strip(await fs.promises.mkdtemp(pathToFileURL(`${root}/p-`) as never)),
      count: fs.readdirSync(root).length,
    };
  }));
});

describe('descriptors and options', () => {
  test('write(fd, buffer, offset, length, -1) writes at the current position', () => same(async (fs, root) => {
    const fd = fs.openSync(`${root}/f`, 'w+');
    fs.writeSync(fd, Buffer.from('abc'), 0, 3, -1);
    fs.writeSync(fd, Buffer.from('def'), 0, 3, -1);
    await viaCallback((done) => fs.write(fd, Buffer.from('ghi'), 0, 3, -1, done));
    fs.closeSync(fd);
    return fs.readFileSync(`${root}/f`, 'utf8');
  }));

  test('a numeric flag (O_WRONLY | O_CREAT | O_TRUNC) for writeFile, appendFile and readFile', () => same(async (fs, root) => {
    const { O_WRONLY, O_CREAT, O_TRUNC, O_APPEND, O_RDONLY } = constants;
    fs.writeFileSync(`${root}/f`, 'first', { flag: (O_WRONLY | O_CREAT | O_TRUNC) as never });
    await fs.promises.writeFile(`${root}/g`, 'second', { flag: (O_WRONLY | O_CREAT | O_TRUNC) as never });
    await viaCallback((done) => fs.appendFile(`${root}/f`, '+more', { flag: (O_WRONLY | O_APPEND) as never }, done));
    return {
      f: fs.readFileSync(`${root}/f`, { encoding: 'utf8', flag: O_RDONLY as never }),
      g: await fs.promises.readFile(`${root}/g`, { encoding: 'utf8', flag: O_RDONLY as never }),
    };
  }));

  test("flush: 'true' is refused before anything is written", () => same(async (fs, root) => ({
    sync: await settle(async () => fs.writeFileSync(`${root}/f`, 'x', { flush: 'true' } as never)),
    promise: await settle(() => fs.promises.writeFile(`${root}/g`, 'x', { flush: 'true' } as never)),
    files: fs.readdirSync(root),
  })));
});

// The second round: what Node's own fs tests still found on Node 20, 22 and 24 (issue 10).

/** Replaces fs[name] by a recorder around it for the duration of `run`, as node's tests mock it. */
async function spying<T>(fs: Fs, name: string, run: (calls: unknown[][]) => Promise<T> | T): Promise<T> {
  const target = fs as unknown as Record<string, (...args: unknown[]) => unknown>;
  const original = target[name]!;
  const calls: unknown[][] = [];
  target[name] = function (this: unknown, ...args: unknown[]) {
    calls.push(args.map((a) => typeof a));
    return original.apply(this, args);
  };
  try {
    return await run(calls);
  } finally {
    target[name] = original;
  }
}

describe('node calls through the fs object (flush, streams)', () => {
  // Compared with what node does (test-fs-write-file-flush.js and others): node:fs's functions cannot
  // be replaced here (vitest's node:fs), so the expected calls are written out.
  const shieldOnly = async (observe: (fs: Fs, root: string) => Promise<unknown>) => {
    const root = `${shield.root}/d${++counter}`;
    shield.fs.mkdirSync(root);
    return observe(shield.fs, root);
  };

  test('flush: true syncs through fs.fsyncSync / fs.fsync; fs.promises through the handle', async () => expect(await shieldOnly(async (fs, root) => ({
    sync: await spying(fs, 'fsyncSync', (calls) => {
      fs.writeFileSync(`${root}/s`, 'x', { flush: true });
      fs.appendFileSync(`${root}/s`, 'y', { flush: true });
      fs.writeFileSync(`${root}/n`, 'x', { flush: false });
      return calls;
    }),
    callback: await spying(fs, 'fsync', async (calls) => {
      await viaCallback((done) => fs.writeFile(`${root}/c`, 'x', { flush: true }, done));
      await viaCallback((done) => fs.appendFile(`${root}/c`, 'y', { flush: true }, done));
      await fs.promises.writeFile(`${root}/p`, 'x', { flush: true });
      return calls;
    }),
    stream: await spying(fs, 'fsync', (calls) => new Promise((resolve, reject) => {
      fs.createWriteStream(`${root}/w`, { flush: true } as never).on('error', reject).on('close', () => resolve(calls)).end('z');
    })),
    content: [fs.readFileSync(`${root}/s`, 'utf8'), fs.readFileSync(`${root}/c`, 'utf8'), fs.readFileSync(`${root}/w`, 'utf8')],
  }))).toEqual({
    sync: [['number'], ['number']],
    callback: [['number', 'function'], ['number', 'function']],
    stream: [['number', 'function']],
    content: ['xy', 'xy', 'z'],
  }));

  test("a stream's I/O goes through fs.write as it is when it writes (replaced after the stream was made)", async () => expect(await shieldOnly(async (fs, root) => {
    const stream = fs.createWriteStream(`${root}/out`, { highWaterMark: 10 });
    const failure = new Error('BAM');
    const target = fs as unknown as Record<string, unknown>;
    const write = target.write as (...args: unknown[]) => void;
    let calls = 0;
    target.write = (...args: unknown[]) => {
      if (calls++ === 0) return write(...args);
      const callback = args[args.length - 1] as (error: Error) => void;
      process.nextTick(() => callback(failure));
      return undefined;
    };
    try {
      const first = await new Promise((resolve) => stream.write(Buffer.alloc(256), (error) => resolve(error ?? null)));
      const second = await new Promise((resolve) => { stream.on('error', () => {}); stream.write(Buffer.alloc(256), (error) => resolve(error === failure)); });
      return { first, second, calls };
    } finally {
      target.write = write;
    }
  })).toEqual({ first: null, second: true, calls: 2 }));
});

describe('FileHandle', () => {
  test('fs.promises.readFile, writeFile and appendFile take a FileHandle', () => same(async (fs, root) => {
    const handle = await fs.promises.open(`${root}/f`, 'a+');
    try {
      await fs.promises.writeFile(handle, 'one ');
      await fs.promises.appendFile(handle, 'two');
      return { read: await fs.promises.readFile(`${root}/f`, 'utf8'), flag: await settle(() => fs.promises.readFile(handle, { flag: 'bad' } as never)) };
    } finally {
      await handle.close();
    }
  }));

  test('an abort on the next tick stops readFile and writeFile of a FileHandle', () => same(async (fs, root) => {
    fs.writeFileSync(`${root}/f`, 'x'.repeat(100_000));
    const handle = await fs.promises.open(`${root}/f`, 'r+');
    const abortSoon = () => {
      const controller = new AbortController();
      process.nextTick(() => controller.abort());
      return controller.signal;
    };
    try {
      return {
        read: await settle(() => fs.promises.readFile(handle, { signal: abortSoon() })),
        write: await settle(() => fs.promises.writeFile(handle, Buffer.alloc(2 * 1024 * 1024), { signal: abortSoon() })),
      };
    } finally {
      await handle.close();
    }
  }));

  test('a stream over a handle reads through handle.read, writes through handle.write; close() waits for it', () => same(async (fs, root) => {
    fs.writeFileSync(`${root}/f`, 'hello world');
    const reader = await fs.promises.open(`${root}/f`, 'r');
    const methodCalls: string[] = [];
    const read = reader.read;
    reader.read = function (this: unknown, ...args: unknown[]) { methodCalls.push('read'); return (read as (...a: unknown[]) => unknown).apply(this, args); } as never;
    let closed = false;
    (reader as unknown as NodeJS.EventEmitter).on('close', () => { closed = true; });
    const output = await new Promise((resolve, reject) => {
      let text = '';
      const stream = fs.createReadStream(null as never, { fd: reader as never, encoding: 'utf8', highWaterMark: 4 });
      stream.on('data', (chunk) => { text += chunk; if (text.length === 4) void reader.close(); });
      stream.on('error', reject).on('close', () => resolve(text));
    });
    const writer = await fs.promises.open(`${root}/w`, 'w+');
    const write = writer.write;
    writer.write = function (this: unknown, ...args: unknown[]) { methodCalls.push('write'); return (write as (...a: unknown[]) => unknown).apply(this, args); } as never;
    await new Promise((resolve, reject) => fs.createWriteStream(null as never, { fd: writer as never }).on('error', reject).on('close', () => resolve(null)).end('written'));
    return { output, closed, fd: reader.fd, methods: [...new Set(methodCalls)], written: fs.readFileSync(`${root}/w`, 'utf8') };
  }));
});

describe('argument checks and kernel errors before a refusal', () => {
  test("watch: node's checks, then ENOENT for a missing path", () => same(async (fs, root) => {
    const attempt = (run: () => unknown) => { try { run(); return 'no error'; } catch (e) { return { ...errorOf(e), path: (e as { path?: string }).path, filename: (e as { filename?: string }).filename }; } };
    return {
      encoding: attempt(() => fs.watch(`${root}`, 'bad' as never, () => {})),
      recursive: attempt(() => fs.watch(`${root}`, { recursive: '1' } as never)),
      missing: attempt(() => fs.watch(`${root}/missing`, () => {})),
      listener: attempt(() => fs.watchFile(`${root}/missing`, {} as never)),
    };
  }));

  test('link and symlink: ENOENT and EEXIST as the kernel gives them', () => same(async (fs, root) => {
    fs.writeFileSync(`${root}/a`, 'x');
    fs.writeFileSync(`${root}/b`, 'x');
    return {
      linkMissing: await settle(async () => fs.linkSync(`${root}/missing`, `${root}/new`)),
      linkMissingCallback: await viaCallback((done) => fs.link(`${root}/missing`, `${root}/new`, done)),
      linkExists: await settle(async () => fs.linkSync(`${root}/a`, `${root}/b`)),
      linkNoParent: await settle(() => fs.promises.link(`${root}/a`, `${root}/nodir/x`)),
      symlinkExists: await settle(async () => fs.symlinkSync(`${root}/a`, `${root}/b`)),
      symlinkExistsPromise: await settle(() => fs.promises.symlink(`${root}/a`, `${root}/b`)),
    };
  }));

  test("writeSync(fd, string, position, 'hex') with an odd length is refused", () => same(async (fs, root) => {
    const fd = fs.openSync(`${root}/f`, 'w');
    try {
      return {
        odd: await settle(async () => fs.writeSync(fd, 'abc', 0, 'hex')),
        even: fs.writeSync(fd, 'abcd', 0, 'hex'),
      };
    } finally {
      fs.closeSync(fd);
    }
  }));

  test('a null length is refused by truncate, ftruncate and FileHandle.truncate (only undefined means 0)', () => same(async (fs, root) => {
    fs.writeFileSync(`${root}/f`, 'Hi');
    const fd = fs.openSync(`${root}/f`, 'r+');
    const handle = await fs.promises.open(`${root}/f`, 'r+');
    try {
      return {
        truncate: await settle(async () => fs.truncate(`${root}/f`, null as never, () => {})),
        ftruncateSync: await settle(async () => fs.ftruncateSync(fd, null as never)),
        promise: await settle(() => fs.promises.truncate(`${root}/f`, null as never)),
        handle: await settle(() => handle.truncate(null as never)),
        content: fs.readFileSync(`${root}/f`, 'utf8'),
      };
    } finally {
      fs.closeSync(fd);
      await handle.close();
    }
  }));

  test('truncate and truncateSync given a descriptor: as the running node (DEP0081, or refused on Node 24)', () => same(async (fs, root) => {
    fs.writeFileSync(`${root}/f`, 'hello world');
    const fd = fs.openSync(`${root}/f`, 'r+');
    // Node 24's refusal names the descriptor, whose number differs (a mount's are its own).
    const unnumbered = (outcome: unknown) => JSON.parse(JSON.stringify(outcome).split(`(${fd})`).join('(<fd>)')) as unknown;
    try {
      return {
        sync: unnumbered(await settle(async () => fs.truncateSync(fd as never, 8))),
        callback: unnumbered(await settle(() => new Promise((resolve, reject) => fs.truncate(fd as never, 5, (e) => (e ? reject(e) : resolve(null)))))),
        content: fs.readFileSync(`${root}/f`, 'utf8'),
      };
    } finally {
      fs.closeSync(fd);
    }
  }));
});

describe('Dir, paths and times', () => {
  test("Dir: a callback that is not a function, and node's rules for concurrent operations", () => same(async (fs, root) => {
    fs.writeFileSync(`${root}/a`, '');
    fs.writeFileSync(`${root}/b`, '');
    const dir = fs.opendirSync(root);
    const badCallback = await settle(async () => dir.read('x' as never));
    const pending = dir.read();
    const closeSync = await settle(async () => dir.closeSync());
    const readSync = await settle(async () => dir.readSync());
    const first = (await pending)?.name;
    const second = dir.read();
    const closing = dir.close();
    const secondName = (await second)?.name;
    await closing;
    return {
      badCallback, closeSync, readSync, names: [first, secondName].sort(), closedAgain: await settle(() => dir.close()),
      isDir: dir instanceof fs.Dir, path: dir.path,
    };
  }));

  test('a Uint8Array is a path (mkdtemp, writeFile, readFile)', () => same(async (fs, root) => {
    const encode = (text: string) => new TextEncoder().encode(text);
    const made = fs.mkdtempSync(encode(`${root}/u-`) as never);
    fs.writeFileSync(encode(`${root}/file`) as never, 'bytes');
    return { made: String(made).replace(/[A-Za-z0-9]{6}$/, 'XXXXXX'), read: fs.readFileSync(encode(`${root}/file`) as never, 'utf8') };
  }));

  test('times before 1970 are kept (and the volume still commits)', () => same(async (fs, root) => {
    fs.writeFileSync(`${root}/f`, 'x');
    fs.utimesSync(`${root}/f`, new Date(-40691), new Date(-355));
    const before = fs.statSync(`${root}/f`);
    const started = Date.now();
    await fs.promises.utimes(`${root}/f`, -1, '-2' as never);  // a negative number is now; a numeric string is kept
    const after = fs.statSync(`${root}/f`);
    return { atimeMs: before.atimeMs, mtimeMs: before.mtimeMs, atimeIsNow: after.atimeMs >= started - 1000, mtime: after.mtimeMs };
  }));
});
