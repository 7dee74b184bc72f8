// The authenticated file's I/O as effects: each operation is written once as a generator that yields
// the system calls it needs; runIoSync performs them on the calling thread, runIoAsync on the libuv
// pool. Every durable step is a crash point of the tests (SHIELDFS_CRASH_AT), counted with the
// native core's.
import type * as fs from 'node:fs';
import { hostFs } from '../file/host-fs.js';
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
    case 'open': return hostFs.openSync(effect.path, effect.flags, effect.mode);
    case 'close': return hostFs.closeSync(effect.fd);
    case 'read': return hostFs.readSync(effect.fd, effect.buffer, effect.offset, effect.length, effect.position);
    case 'write': return hostFs.writeSync(effect.fd, effect.buffer, effect.offset, effect.length, effect.position);
    case 'fstat': return hostFs.fstatSync(effect.fd);
    case 'ftruncate': return hostFs.ftruncateSync(effect.fd, effect.length);
    case 'fdatasync': return hostFs.fdatasyncSync(effect.fd);
    case 'fsync': return hostFs.fsyncSync(effect.fd);
    case 'rename': return hostFs.renameSync(effect.from, effect.to);
    case 'unlink': return hostFs.unlinkSync(effect.path);
    case 'pause': return undefined;
  }
}

function performAsync(effect: Effect): Promise<unknown> {
  crashPointOf(effect);
  return new Promise((resolve, reject) => {
    const done = (error: NodeJS.ErrnoException | null, result?: unknown) => (error ? reject(error) : resolve(result));
    switch (effect.kind) {
      case 'open': return hostFs.open(effect.path, effect.flags, effect.mode, done);
      case 'close': return hostFs.close(effect.fd, done);
      case 'read': return hostFs.read(effect.fd, effect.buffer, effect.offset, effect.length, effect.position, done);
      case 'write': return hostFs.write(effect.fd, effect.buffer, effect.offset, effect.length, effect.position, done);
      case 'fstat': return hostFs.fstat(effect.fd, done);
      case 'ftruncate': return hostFs.ftruncate(effect.fd, effect.length, done);
      case 'fdatasync': return hostFs.fdatasync(effect.fd, done);
      case 'fsync': return hostFs.fsync(effect.fd, done);
      case 'rename': return hostFs.rename(effect.from, effect.to, done);
      case 'unlink': return hostFs.unlink(effect.path, done);
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
  const fd = yield* openFd(path, hostFs.constants.O_RDONLY | hostFs.constants.O_DIRECTORY, 0);
  try {
    yield { kind: 'fsync', fd };
  } finally {
    yield* closeQuietly(fd);
  }
}
