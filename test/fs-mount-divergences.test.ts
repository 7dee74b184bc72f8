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
