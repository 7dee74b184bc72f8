// fs.promises.FileHandle for a descriptor inside a mount: every method is the shield's own fs call
// on the handle's descriptor, so a handle behaves exactly like the callback and sync forms.
import { EventEmitter } from 'node:events';
import type * as nodeFs from 'node:fs';
import type { FileHandle } from 'node:fs/promises';
import type { ReadableStream } from 'node:stream/web';
import { runAsync } from '../file/sync-or-async.js';
import type { ShieldOperations } from './operations.js';
import { HANDLE_CHECKS } from './validate-arguments.js';

// Node's argument checks for a handle's method (validate-arguments.ts); the methods are async, so
// a bad argument rejects, as node's FileHandle does.
const check = (method: string, args: unknown[]): void => HANDLE_CHECKS[method]?.(args, 'handle');

/** A stream over a FileHandle does its I/O through the handle: node refuses `options.fs` with it. */
function refuseCustomFs(options: unknown): void {
  if ((options as { fs?: unknown } | null | undefined)?.fs) {
    throw Object.assign(new Error('The FileHandle with fs method is not implemented'), { code: 'ERR_METHOD_NOT_IMPLEMENTED' });
  }
}

/** A stream over a handle holds a reference (node's kRef/kUnref): a close() meanwhile waits for it. */
export const holdHandle = Symbol('shieldfs.holdHandle');
export const releaseHandle = Symbol('shieldfs.releaseHandle');

/* eslint-disable @typescript-eslint/no-explicit-any */
export class ShieldFileHandle extends EventEmitter implements FileHandle {
  #fd: number;
  #refs = 1;
  #closing: Promise<void> | null = null;
  #closed: { resolve: () => void; reject: (error: unknown) => void } | null = null;

  constructor(fd: number, private readonly fs: typeof nodeFs, private readonly ops: ShieldOperations) {
    super();
    this.#fd = fd;
  }

  /** -1 once closed, as node's FileHandle. */
  get fd(): number {
    return this.#fd;
  }

  // node's FileHandle after close: 'file closed', code EBADF, no errno.
  #open(syscall: string): number {
    if (this.#fd === -1) throw Object.assign(new Error('file closed'), { code: 'EBADF', syscall });
    return this.#fd;
  }

  async appendFile(data: string | Uint8Array, options?: any): Promise<void> {
    check('appendFile', [data, options]);
    await runAsync(this.ops.appendFile(this.#open('write'), data, options, 'promises'));
  }

  async chown(uid?: number, gid?: number): Promise<void> {
    check('chown', [uid, gid]);
    await runAsync(this.ops.fchown(this.#open('fchown')));
  }

  async chmod(mode: nodeFs.Mode): Promise<void> {
    check('chmod', [mode]);
    await runAsync(this.ops.fchmod(this.#open('fchmod'), mode));
  }

  // As node's: a stream with this handle as its fd, doing its I/O through the handle's methods.
  createReadStream(options?: any): nodeFs.ReadStream {
    refuseCustomFs(options);
    return this.fs.createReadStream(undefined as never, { ...options, fd: this });
  }

  createWriteStream(options?: any): nodeFs.WriteStream {
    refuseCustomFs(options);
    return this.fs.createWriteStream(undefined as never, { ...options, fd: this });
  }

  async datasync(): Promise<void> {
    await runAsync(this.ops.fsync(this.#open('fdatasync')));
  }

  async sync(): Promise<void> {
    await runAsync(this.ops.fsync(this.#open('fsync')));
  }

  async read(...args: any[]): Promise<any> {
    check('read', args);
    return runAsync(this.ops.read(this.#open('read'), ...args));
  }

  async readv(buffers: readonly NodeJS.ArrayBufferView[], position?: number | null): Promise<any> {
    check('readv', [buffers, position]);
    return runAsync(this.ops.readv(this.#open('read'), [...buffers], position));
  }

  readableWebStream(): ReadableStream {
    // node:stream and node:readline load when first used: the register installs this class at
    // start-up, and few programs ask a FileHandle for a web stream or for lines.
    const { Readable } = process.getBuiltinModule('node:stream');
    return Readable.toWeb(this.createReadStream({ autoClose: false })) as unknown as ReadableStream;
  }

  async readFile(options?: any): Promise<any> {
    check('readFile', [options]);
    return runAsync(this.ops.readFile(this.#open('read'), options));
  }

  readLines(options?: any): any {
    const { createInterface } = process.getBuiltinModule('node:readline');
    return createInterface({ input: this.createReadStream({ ...options, autoClose: false }), crlfDelay: Infinity });
  }

  stat(options?: nodeFs.StatOptions): Promise<any> {
    return runAsync(this.ops.fstat(this.#open('fstat'), options));
  }

  async truncate(length?: number): Promise<void> {
    check('truncate', [length]);
    await runAsync(this.ops.ftruncate(this.#open('ftruncate'), length));
  }

  async utimes(atime: nodeFs.TimeLike, mtime: nodeFs.TimeLike): Promise<void> {
    check('utimes', [atime, mtime]);
    await runAsync(this.ops.futimes(this.#open('futime'), atime, mtime));
  }

  async writeFile(data: any, options?: any): Promise<void> {
    check('writeFile', [data, options]);
    await runAsync(this.ops.writeFile(this.#open('write'), data, options, 'w', 'promises'));
  }

  async write(data: any, ...args: any[]): Promise<any> {
    check('write', [data, ...args]);
    return runAsync(this.ops.write(this.#open('write'), data, ...args));
  }

  async writev(buffers: readonly NodeJS.ArrayBufferView[], position?: number | null): Promise<any> {
    check('writev', [buffers, position]);
    return runAsync(this.ops.writev(this.#open('write'), [...buffers], position));
  }

  /**
   * As node's FileHandle: 'close' is emitted at once; while a stream holds the handle, the
   * descriptor stays open (the stream still reads or writes through it) until the stream lets go.
   */
  close(): Promise<void> {
    if (this.#fd === -1) return Promise.resolve();
    if (this.#closing) return this.#closing;
    this.#refs--;
    if (this.#refs === 0) {
      this.#closing = this.#closeNow().finally(() => { this.#closing = null; });
    } else {
      this.#closing = new Promise<void>((resolve, reject) => { this.#closed = { resolve, reject }; })
        .finally(() => { this.#closing = null; this.#closed = null; });
    }
    this.emit('close');
    return this.#closing;
  }

  [holdHandle](): void {
    this.#refs++;
  }

  [releaseHandle](): void {
    this.#refs--;
    if (this.#refs !== 0) return;
    const waiting = this.#closed;
    this.#closeNow().then(() => waiting?.resolve(), (error: unknown) => waiting?.reject(error));
  }

  #closeNow(): Promise<void> {
    const fd = this.#fd;
    this.#fd = -1;
    return runAsync(this.ops.close(fd));
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}
