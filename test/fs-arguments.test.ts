// Node's argument validation, inside a mount (issue 10): every function of the fs surface, in every
// form, called with wrong arguments (test/fs-arguments/signatures.ts) on node:fs in a temporary
// directory and on shieldfs/fs inside a mounted volume. Both must do the same: throw synchronously,
// reject, or call back, with an error of the same class, `code` and message (paths in messages are
// compared relative to each side's directory). Calls that are not errors must succeed on both.
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import {
  argumentLists, BAD_CALLBACKS, FILE_HANDLE, SIGNATURES, STREAMS, type CallContext, type Parameter,
} from './fs-arguments/signatures.js';
import { randomBytes } from 'node:crypto';
import * as nodeFs from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { mount } from '../lib/index.js';
import { nodeTarget, type FsSession } from './fs-compat/targets.js';
import type { Fs } from './fs-compat/observe.js';

type Outcome = Record<string, unknown>;

/**
 * Calls where the mount knowingly differs, each with its reason:
 * - fs.opendir and fs.promises.opendir with a bad `bufferSize`: node never calls back or settles;
 *   inside a mount the call throws node's ERR_OUT_OF_RANGE / ERR_INVALID_ARG_TYPE at once.
 * - open with flags -1 (every O_* bit): the kernel reports ENOTDIR for O_DIRECTORY before
 *   O_EXCL's EEXIST; a volume checks O_EXCL first.
 */
const KNOWN_DIFFERENCES: Record<string, string[]> = {
  'fs.opendir': ['argument 1 (options) #6', 'argument 1 (options) #7', 'argument 1 (options) #8'],
  'fs.promises.opendir': ['argument 1 (options) #6', 'argument 1 (options) #7', 'argument 1 (options) #8'],
  'fs.openSync': ['argument 1 (flags) #4'],
  'fs.open': ['argument 1 (flags) #4'],
};

function shape(root: string, error: unknown): unknown {
  if (!(error instanceof Error)) return { nonError: String(error) };
  const e = error as NodeJS.ErrnoException;
  return { class: e.constructor?.name, name: e.name, code: e.code ?? null, message: e.message.split(root).join('<root>').replace(/<Buffer[ 0-9a-f]*(?:>|\.\.\.)/g, '<Buffer>') };
}

/** Waits for what a returned value does: a promise settles, a stream opens or fails, a callback is called. */
async function settle(root: string, run: (callback: (error: unknown) => void) => unknown, withCallback: boolean, lingers = false): Promise<Outcome> {
  let calledBack: (value: Outcome) => void = () => {};
  const called = new Promise<Outcome>((resolve) => { calledBack = resolve; });
  // node:fs validates some callbacks only when it calls them (fs.rm(path, options, 'x') throws
  // "callback is not a function" later, from the event loop): such an uncaught exception is an
  // outcome to compare like any other, caught here instead of by the test runner.
  let uncaught: Promise<Outcome> = new Promise(() => {});
  let restoreUncaught = () => {};
  if (withCallback || lingers) {
    const runners = process.rawListeners('uncaughtException') as ((...args: unknown[]) => void)[];
    process.removeAllListeners('uncaughtException');
    uncaught = new Promise<Outcome>((resolve) => process.once('uncaughtException', (error) => resolve({ uncaught: shape(root, error) })));
    restoreUncaught = () => {
      process.removeAllListeners('uncaughtException');
      for (const listener of runners) process.on('uncaughtException', listener);
    };
  }
  let returned: unknown;
  try {
    returned = run((error) => calledBack({ calledBack: error ? shape(root, error) : 'ok' }));
  } catch (error) {
    restoreUncaught();
    return { thrown: shape(root, error) };
  }
  if (withCallback) {
    try {
      return await Promise.race([called, uncaught, timeout(WAIT_MS, { calledBack: 'never' })]);
    } finally {
      restoreUncaught();
    }
  }
  if (returned instanceof Promise) {
    try {
      const value = await Promise.race([returned, timeout(WAIT_MS, { never: true })]);
      if ((value as Outcome | undefined)?.never === true) return { resolved: 'never' };
      if (value && typeof (value as { close?: unknown }).close === 'function') await (value as { close(): Promise<void> }).close();
      return { resolved: true };
    } catch (error) {
      return { rejected: shape(root, error) };
    }
  }
  if (returned && typeof (returned as NodeJS.EventEmitter).on === 'function' && typeof (returned as { destroy?: unknown }).destroy === 'function') {
    const stream = returned as NodeJS.EventEmitter & { destroy(): void };
    const result = await Promise.race([
      new Promise<Outcome>((resolve) => stream.once('ready', () => resolve({ stream: 'ready' }))),
      new Promise<Outcome>((resolve) => stream.once('error', (error) => resolve({ stream: shape(root, error) }))),
      timeout(WAIT_MS, { stream: 'neither ready nor failed' }),
    ]);
    stream.on('error', () => {});
    stream.destroy();
    await new Promise((resolve) => setTimeout(resolve, 5));
    return result;
  }
  if (returned && typeof (returned as { close?: unknown }).close === 'function') (returned as { close(): void }).close();
  const outcome = { returned: returned === undefined ? 'undefined' : typeof returned };
  if (!lingers) return outcome;
  // A call without a callback (fs.close(fd) may omit it), or with one that is no function, finishes
  // on its own: let it, before the descriptor is released (closing it twice could close an
  // unrelated file), and see whether it throws from the event loop.
  try {
    return { ...outcome, ...await Promise.race([uncaught, timeout(LINGER_MS, {})]) };
  } finally {
    restoreUncaught();
  }
}

// How long a call may take to call back, settle or open before it counts as never doing so: the
// calls are on small files in a temporary directory and a mounted volume (milliseconds each).
const WAIT_MS = 750;
const LINGER_MS = 100;
const timeout = (ms: number, value: Outcome) => new Promise<Outcome>((resolve) => setTimeout(() => resolve(value), ms).unref());

let counter = 0;
/** A fresh directory with a file, a directory and a descriptor open on the file. */
function prepare(session: FsSession): CallContext {
  const root = `${session.root}/call-${++counter}`;
  const fs = session.fs;
  fs.mkdirSync(root);
  fs.writeFileSync(`${root}/file`, 'hello world');
  fs.mkdirSync(`${root}/dir`);
  return { root, file: `${root}/file`, dir: `${root}/dir`, fd: fs.openSync(`${root}/file`, 'r+') };
}

function release(fs: Fs, c: CallContext): void {
  try {
    fs.closeSync(c.fd);
  } catch {
    // closed by the call
  }
}

type Call = { label: string; run(fs: Fs, c: CallContext, callback: (error: unknown) => void): unknown; withCallback?: boolean; lingers?: boolean };

/** Every call of one function in one form, as labels and runners (the same list on both sides). */
function callsOf(name: string, form: string, params: Parameter[]): Call[] {
  const probe = { root: '/r', file: '/r/file', dir: '/r/dir', fd: 3 };
  const calls: Call[] = [];
  argumentLists(params, probe).forEach(({ label }, index) => {
    const argsFor = (c: CallContext) => argumentLists(params, c)[index]!.args;
    const fn = (fs: Fs) => form === 's' ? (fs as unknown as Record<string, Function>)[`${name}Sync`]!
      : form === 'p' ? (fs.promises as unknown as Record<string, Function>)[name]! : (fs as unknown as Record<string, Function>)[name]!;
    calls.push({
      label, withCallback: form === 'c',
      run: (fs, c, callback) => form === 'c' ? fn(fs)(...argsFor(c), callback)
        : form === 'x' ? (fs as unknown as Record<string, Function>)[name]!(...argsFor(c)) : fn(fs)(...argsFor(c)),
    });
  });
  if (form === 'c') {
    const goods = (c: CallContext) => argumentLists(params, c)[0]!.args;
    calls.push({ label: 'no callback', lingers: true, run: (fs, c) => (fs as unknown as Record<string, Function>)[name]!(...goods(c)) });
    BAD_CALLBACKS.forEach((bad, i) => calls.push({
      label: `callback #${i}`, lingers: true, run: (fs, c) => (fs as unknown as Record<string, Function>)[name]!(...goods(c), bad),
    }));
  }
  return calls;
}

async function observe(session: FsSession, call: Call, handle: boolean, method?: string): Promise<Outcome> {
  const c = prepare(session);
  try {
    if (!handle) return await settle(c.root, (callback) => call.run(session.fs, c, callback), call.withCallback ?? false, call.lingers);
    const fh = await session.fs.promises.open(c.file, 'r+');
    try {
      const outcome = await settle(c.root, () => call.run(fh as unknown as Fs, c, () => {}), false);
      return { ...outcome, handleFd: fh.fd === -1 ? 'closed' : 'open', method };
    } finally {
      try {
        await fh.close();
      } catch {
        // closed by the call (node's own handle may throw here once its stream closed it)
      }
    }
  } finally {
    release(session.fs, c);
  }
}

describe('bad arguments inside a mount: the same errors as node:fs', () => {
  let node: FsSession, shield: FsSession;
  beforeAll(async () => {
    node = await nodeTarget.setup();
    // Thousands of small calls: the volume commits on a timer, not after each change.
    const directory = nodeFs.mkdtempSync(join(tmpdir(), 'shieldfs-arguments-'));
    const mounted = await mount([{
      path: '/V1', volume: join(directory, 'v'), key: randomBytes(32).toString('hex'),
      tagStore: `memory:arguments-${randomBytes(8).toString('hex')}`, create: true, commit: { intervalMs: 60_000 },
    }]);
    shield = {
      fs: mounted.fs, root: '/V1',
      teardown: async () => { await mounted.unmount(); nodeFs.rmSync(directory, { recursive: true, force: true }); },
    };
  });
  afterAll(async () => {
    await shield?.teardown();
    await node?.teardown();
  });

  const compare = async (calls: Call[], handle = false) => {
    const differences: unknown[] = [];
    const title = expect.getState().currentTestName!.split(' > ').pop()!;
    for (const call of calls) {
      if (KNOWN_DIFFERENCES[title]?.includes(call.label)) continue;
      const expected = await observe(node, call, handle);
      const actual = await observe(shield, call, handle);
      if (JSON.stringify(actual) !== JSON.stringify(expected)) differences.push({ call: call.label, node: expected, shield: actual });
    }
    // FS_ARGUMENTS_REPORT=file: every difference as a JSON line, for a look at all of them at once.
    if (process.env.FS_ARGUMENTS_REPORT) {
      (await import('node:fs')).appendFileSync(process.env.FS_ARGUMENTS_REPORT, JSON.stringify({ test: expect.getState().currentTestName, differences }, (_k, v) => typeof v === 'bigint' ? `${v}n` : v) + '\n');
    }
    expect(differences).toEqual([]);
  };

  for (const [name, signature] of Object.entries(SIGNATURES)) {
    for (const form of signature.forms) {
      const title = form === 's' ? `fs.${name}Sync` : form === 'p' ? `fs.promises.${name}` : `fs.${name}`;
      test(title, () => compare(callsOf(name, form, signature.params)));
    }
  }
  for (const [name, params] of Object.entries(STREAMS)) {
    test(`fs.${name}`, () => compare(callsOf(name, 'x', params)));
  }
  for (const [name, params] of Object.entries(FILE_HANDLE)) {
    test(`FileHandle.${name}`, () => compare(callsOf(name, 'x', params), true));
  }
});

