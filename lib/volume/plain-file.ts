// PlainFile: a file of a not-protected region, passed through to the volume directory untouched.
import type * as fs from 'node:fs';
import { hostFs } from '../file/host-fs.js';
import type { FileContent } from './file-content.js';

export class PlainFile implements FileContent {
  readonly tag = '';
  #fd: number;

  private constructor(fd: number, readonly path: string) {
    this.#fd = fd;
  }

  static openSync(path: string, flags: number, mode: number): PlainFile {
    return new PlainFile(hostFs.openSync(path, flags, mode), path);
  }

  static async open(path: string, flags: number, mode: number): Promise<PlainFile> {
    const fd = await new Promise<number>((resolve, reject) => hostFs.open(path, flags, mode, (e, fd) => (e ? reject(e) : resolve(fd))));
    return new PlainFile(fd, path);
  }

  get size(): number {
    return hostFs.fstatSync(this.#fd).size;
  }

  read(buffer: NodeJS.ArrayBufferView, offset = 0, length = buffer.byteLength - offset, position = 0): Promise<number> {
    return new Promise((resolve, reject) => hostFs.read(this.#fd, buffer, offset, length, position, (e, n) => (e ? reject(e) : resolve(n))));
  }

  readSync(buffer: NodeJS.ArrayBufferView, offset = 0, length = buffer.byteLength - offset, position = 0): number {
    return hostFs.readSync(this.#fd, buffer, offset, length, position);
  }

  write(buffer: NodeJS.ArrayBufferView, offset = 0, length = buffer.byteLength - offset, position = 0): Promise<number> {
    return new Promise((resolve, reject) => hostFs.write(this.#fd, buffer, offset, length, position, (e, n) => (e ? reject(e) : resolve(n))));
  }

  writeSync(buffer: NodeJS.ArrayBufferView, offset = 0, length = buffer.byteLength - offset, position = 0): number {
    return hostFs.writeSync(this.#fd, buffer, offset, length, position);
  }

  truncate(length = 0): Promise<void> {
    return new Promise((resolve, reject) => hostFs.ftruncate(this.#fd, length, (e) => (e ? reject(e) : resolve())));
  }

  truncateSync(length = 0): void {
    hostFs.ftruncateSync(this.#fd, length);
  }

  async flush(): Promise<string> {
    await new Promise<void>((resolve, reject) => hostFs.fdatasync(this.#fd, (e) => (e ? reject(e) : resolve())));
    return '';
  }

  flushSync(): string {
    hostFs.fdatasyncSync(this.#fd);
    return '';
  }

  async close(): Promise<string> {
    const fd = this.#take();
    await new Promise<void>((resolve, reject) => hostFs.close(fd, (e) => (e ? reject(e) : resolve())));
    return '';
  }

  closeSync(): string {
    hostFs.closeSync(this.#take());
    return '';
  }

  #take(): number {
    const fd = this.#fd;
    this.#fd = -1;
    return fd;
  }
}
