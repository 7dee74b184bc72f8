// What a compatibility case may observe: everything two correct `fs` implementations must agree
// on, nothing that legitimately differs between two directories (the absolute root, inode and
// device numbers, clock readings, block counts). Every helper returns plain JSON-able data.
import { createHash } from 'node:crypto';
import type * as NodeFs from 'node:fs';
import type { Readable, Writable } from 'node:stream';

export type Fs = typeof NodeFs;

/** A path as the case sees it: relative to its own directory ('.' for the directory itself). */
export function rel(root: string, p: unknown): unknown {
  if (Buffer.isBuffer(p)) p = p.toString();
  if (p instanceof URL) p = p.pathname;
  if (typeof p !== 'string') return p === undefined ? null : p;
  if (p === root) return '.';
  if (p.startsWith(root + '/')) return p.slice(root.length + 1);
  return `<outside root> ${p}`;
}

/** The parts of an error a caller can rely on; the message is left out (it names absolute paths). */
export function errorOf(root: string, e: unknown): unknown {
  if (!(e instanceof Error)) return { thrownNonError: String(e) };
  const x = e as NodeJS.ErrnoException & { dest?: string };
  return {
    name: x.name,
    code: x.code ?? null,
    syscall: x.syscall ?? null,
    errno: x.errno ?? null,
    path: rel(root, x.path),
    dest: rel(root, x.dest),
  };
}

/** `{ ok: map(value) }` or `{ error }`, for a call that may throw or reject. */
export async function outcome<T>(root: string, fn: () => T | Promise<T>, map: (value: T) => unknown = (v) => v ?? null): Promise<unknown> {
  try {
    return { ok: map(await fn()) };
  } catch (e) {
    return { error: errorOf(root, e) };
  }
}

/**
 * Calls a callback-style function and resolves with the callback's arguments after the error.
 * node:fs never calls back synchronously; an implementation that does gets a marker in front of the
 * arguments, so the difference shows.
 */
export function callback(start: (done: (err: NodeJS.ErrnoException | null, ...values: unknown[]) => void) => void): Promise<unknown[]> {
  return new Promise((resolve, reject) => {
    let returned = false;
    start((err, ...values) => {
      if (err) reject(err);
      else resolve(returned ? values : ['CALLED BACK SYNCHRONOUSLY', ...values]);
    });
    returned = true;
  });
}

export const hex = (b: Uint8Array): string => Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('hex');
export const sha256 = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');

/** File type by mode bits, for stats and Dirents. */
function typeOf(x: { isFile(): boolean; isDirectory(): boolean; isSymbolicLink(): boolean; isFIFO(): boolean; isSocket(): boolean; isBlockDevice(): boolean; isCharacterDevice(): boolean }): string {
  const types = [
    x.isFile() && 'file', x.isDirectory() && 'directory', x.isSymbolicLink() && 'symlink', x.isFIFO() && 'fifo',
    x.isSocket() && 'socket', x.isBlockDevice() && 'block', x.isCharacterDevice() && 'char',
  ].filter(Boolean);
  return types.join('+') || 'none';
}

/**
 * Type, permission bits, size and link count of a file. A directory's size and link count depend on
 * the host file system (ext4 4096, tmpfs varies, btrfs nlink 1), so they are left out.
 */
export function statOf(s: NodeFs.Stats | NodeFs.BigIntStats): unknown {
  const directory = s.isDirectory();
  const mode = Number(s.mode);
  return {
    bigint: typeof s.size === 'bigint',
    type: typeOf(s),
    format: (mode & 0o170000).toString(8),
    perm: (mode & 0o7777).toString(8),
    size: directory ? null : String(s.size),
    nlink: directory ? null : Number(s.nlink),
  };
}

export function direntOf(root: string, d: NodeFs.Dirent | NodeFs.Dirent<Buffer>): unknown {
  const name = d.name as string | Buffer;
  return {
    name: Buffer.isBuffer(name) ? `hex:${name.toString('hex')}` : name,
    parentPath: rel(root, d.parentPath),
    type: typeOf(d),
  };
}

export function direntsOf(root: string, list: Array<NodeFs.Dirent | NodeFs.Dirent<Buffer>>): unknown[] {
  const seen = list.map((d) => direntOf(root, d));
  return seen.sort((a, b) => key(a).localeCompare(key(b)));
}
const key = (x: unknown) => JSON.stringify(x);

export const sorted = <T>(list: T[]): T[] => [...list].sort((a, b) => String(a) < String(b) ? -1 : String(a) > String(b) ? 1 : 0);

/** A readable stream, drained: its chunks (strings as given, bytes as hex), events in order, error. */
/** `until: 'end'` for a stream that does not close itself (autoClose: false). */
export function drain(root: string, stream: Readable, options: { chunkText?: boolean; until?: 'close' | 'end' } = {}): Promise<unknown> {
  return new Promise((resolve) => {
    const events: string[] = [];
    const chunks: string[] = [];
    const lengths: number[] = [];
    let error: unknown = null;
    for (const name of ['open', 'ready', 'end', 'close', 'pause', 'resume'] as const) {
      stream.on(name, () => events.push(name));
    }
    stream.on('data', (chunk: Buffer | string) => {
      if (events[events.length - 1] !== 'data') events.push('data');
      lengths.push(chunk.length);
      chunks.push(typeof chunk === 'string' ? chunk : options.chunkText ? chunk.toString('latin1') : chunk.toString('hex'));
    });
    stream.on('error', (e) => {
      events.push('error');
      error = errorOf(root, e);
    });
    const done = () => {
      const s = stream as Readable & { bytesRead?: number; path?: string | Buffer };
      // After the current tick, so a 'close' that follows 'end' immediately is seen consistently.
      setImmediate(() => resolve({
        events, lengths, content: chunks.join(''), error,
        bytesRead: s.bytesRead ?? null, path: rel(root, s.path), destroyed: stream.destroyed,
      }));
    };
    stream.on(options.until ?? 'close', done);
    if (options.until === 'end') stream.on('error', done);
  });
}

/** Writes the pieces to a writable stream (end() after the last), resolves at 'close' with what happened. */
export function fill(root: string, stream: Writable, pieces: Array<string | Buffer>, options: { endWith?: string; until?: 'close' | 'finish' } = {}): Promise<unknown> {
  return new Promise((resolve) => {
    const events: string[] = [];
    let error: unknown = null;
    for (const name of ['open', 'ready', 'finish', 'close'] as const) stream.on(name, () => events.push(name));
    stream.on('error', (e) => {
      events.push('error');
      error = errorOf(root, e);
    });
    const done = () => {
      const s = stream as Writable & { bytesWritten?: number; path?: string | Buffer };
      setImmediate(() => resolve({ events, error, bytesWritten: s.bytesWritten ?? null, path: rel(root, s.path) }));
    };
    stream.on(options.until ?? 'close', done);
    if (options.until === 'finish') stream.on('error', done);
    for (const piece of pieces) stream.write(piece);
    if (options.endWith !== undefined) stream.end(options.endWith);
    else stream.end();
  });
}

const INLINE = 512;

/**
 * The tree under `dir` after a case: every entry's path, type, permission bits, and for files the
 * size and contents (hex when short, else a hash). Compared along with the case's own observation,
 * so a difference a case forgot to look at still shows.
 */
export function snapshot(fs: Fs, root: string, dir: string = root): unknown[] {
  const out: unknown[] = [];
  const names = fs.readdirSync(dir).sort();
  for (const name of names) {
    const p = `${dir}/${name}`;
    const s = fs.lstatSync(p);
    if (s.isDirectory()) {
      out.push({ path: rel(root, p), type: 'directory', perm: (s.mode & 0o7777).toString(8) });
      out.push(...snapshot(fs, root, p));
    } else if (s.isFile()) {
      const data = fs.readFileSync(p);
      out.push({
        path: rel(root, p), type: 'file', perm: (s.mode & 0o7777).toString(8), size: s.size,
        content: data.length <= INLINE ? hex(data) : `sha256:${sha256(data)}`,
      });
    } else {
      out.push({ path: rel(root, p), type: typeOf(s) });
    }
  }
  return out;
}
