// The authenticated file's I/O as effects: each operation is written once as a generator that yields
// the system calls it needs; runIoSync performs them on the calling thread, runIoAsync on the libuv
// pool. Every durable step is a crash point of the tests (SHIELDFS_CRASH_AT), counted with the
// native core's.
import * as fs from 'node:fs';
import { native } from '../file/native.js';

export type Effect =
  | { kind: 'open'; path: string; flags: number; mode: number }
  | { kind: 'close'; fd: number }
  | { kind: 'read'; fd: number; buffer: Uint8Array; offset: number; length: number; position: number }
  | { kind: 'write'; fd: number; buffer: Uint8Array; offset: number; length: number; position: number }
  | { kind: 'fstat'; fd: number }
  | { kind: 'ftruncate'; fd: number; length: number }
  | { kind: 'fdatasync'; fd: number }
  | { kind: 'fsync'; fd: number }
  | { kind: 'rename'; from: string; to: string }
  | { kind: 'unlink'; path: string }
  /** Lets other callbacks run between long stretches of hashing (async only). */
  | { kind: 'pause' };

export type Io<T> = Generator<Effect, T, unknown>;

const CRASH_POINTS: Partial<Record<Effect['kind'], 'write' | 'ftruncate' | 'fdatasync' | 'rename' | 'unlink'>> = {
  write: 'write', ftruncate: 'ftruncate', fdatasync: 'fdatasync', fsync: 'fdatasync', rename: 'rename', unlink: 'unlink',
};

function crashPointOf(effect: Effect): void {
  const op = CRASH_POINTS[effect.kind];
  if (op) native.crashPoint(op);
}

function performSync(effect: Effect): unknown {
  crashPointOf(effect);
  switch (effect.kind) {
    case 'open': return fs.openSync(effect.path, effect.flags, effect.mode);
    case 'close': return fs.closeSync(effect.fd);
    case 'read': return fs.readSync(effect.fd, effect.buffer, effect.offset, effect.length, effect.position);
    case 'write': return fs.writeSync(effect.fd, effect.buffer, effect.offset, effect.length, effect.position);
    case 'fstat': return fs.fstatSync(effect.fd);
    case 'ftruncate': return fs.ftruncateSync(effect.fd, effect.length);
    case 'fdatasync': return fs.fdatasyncSync(effect.fd);
    case 'fsync': return fs.fsyncSync(effect.fd);
    case 'rename': return fs.renameSync(effect.from, effect.to);
    case 'unlink': return fs.unlinkSync(effect.path);
    case 'pause': return undefined;
  }
}

function performAsync(effect: Effect): Promise<unknown> {
  crashPointOf(effect);
  return new Promise((resolve, reject) => {
    const done = (error: NodeJS.ErrnoException | null, result?: unknown) => (error ? reject(error) : resolve(result));
    switch (effect.kind) {
      case 'open': return fs.open(effect.path, effect.flags, effect.mode, done);
      case 'close': return fs.close(effect.fd, done);
      case 'read': return fs.read(effect.fd, effect.buffer, effect.offset, effect.length, effect.position, done);
      case 'write': return fs.write(effect.fd, effect.buffer, effect.offset, effect.length, effect.position, done);
      case 'fstat': return fs.fstat(effect.fd, done);
      case 'ftruncate': return fs.ftruncate(effect.fd, effect.length, done);
      case 'fdatasync': return fs.fdatasync(effect.fd, done);
      case 'fsync': return fs.fsync(effect.fd, done);
      case 'rename': return fs.rename(effect.from, effect.to, done);
      case 'unlink': return fs.unlink(effect.path, done);
      case 'pause': return setImmediate(resolve);
    }
  });
}

export function runIoSync<T>(steps: Io<T>): T {
  let step = steps.next();
  while (!step.done) {
    let result: unknown;
    try {
      result = performSync(step.value);
    } catch (error) {
      step = steps.throw(error);
      continue;
    }
    step = steps.next(result);
  }
  return step.value;
}

export async function runIoAsync<T>(steps: Io<T>): Promise<T> {
  let step = steps.next();
  while (!step.done) {
    let result: unknown;
    try {
      result = await performAsync(step.value);
    } catch (error) {
      step = steps.throw(error);
      continue;
    }
    step = steps.next(result);
  }
  return step.value;
}

export function* openFd(path: string, flags: number, mode = 0o600): Io<number> {
  return (yield { kind: 'open', path, flags, mode }) as number;
}

export function* closeFd(fd: number): Io<void> {
  yield { kind: 'close', fd };
}

export function* closeQuietly(fd: number): Io<void> {
  try {
    yield { kind: 'close', fd };
  } catch {
    // Already failing with a better error.
  }
}

export function* unlinkQuietly(path: string): Io<void> {
  try {
    yield { kind: 'unlink', path };
  } catch {
    // Best effort: a leftover is refused by the next create with EEXIST.
  }
}

export function* fstat(fd: number): Io<fs.Stats> {
  return (yield { kind: 'fstat', fd }) as fs.Stats;
}

/** Reads until `length` bytes or end of file; returns the count. */
export function* readFull(fd: number, buffer: Uint8Array, offset: number, length: number, position: number): Io<number> {
  let got = 0;
  while (got < length) {
    const n = (yield { kind: 'read', fd, buffer, offset: offset + got, length: length - got, position: position + got }) as number;
    if (n === 0) break;
    got += n;
  }
  return got;
}

export function* writeAll(fd: number, buffer: Uint8Array, offset: number, length: number, position: number): Io<void> {
  let done = 0;
  while (done < length) {
    done += (yield { kind: 'write', fd, buffer, offset: offset + done, length: length - done, position: position + done }) as number;
  }
}

export function* syncDirectory(path: string): Io<void> {
  const fd = yield* openFd(path, fs.constants.O_RDONLY | fs.constants.O_DIRECTORY, 0);
  try {
    yield { kind: 'fsync', fd };
  } finally {
    yield* closeQuietly(fd);
  }
}
