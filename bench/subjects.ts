// The things under test, behind one small file-handle interface so every workload is written once:
// shieldfs (async and sync API), node:fs (async and sync, also used on the gocryptfs mount) and the
// JS reference codec (the same format over node:crypto).
import * as fs from 'node:fs';
import { fileURLToPath } from 'node:url';
import { ShieldedFile } from '../lib/index.js';

/** Every method may return a promise (async APIs) or not (sync APIs); the timing loop handles both. */
export interface Handle {
  write(data: Buffer, position: number): unknown;
  read(into: Buffer, length: number, position: number): unknown;
  /** Makes the writes durable: flush() for shieldfs, fdatasync for node:fs. */
  flush(): unknown;
  close(): unknown;
}

export interface Subject {
  name: string;
  /** A new file, for the sequential write. */
  create(path: string): Promise<Handle>;
  /** The file just written, for reads and (when `random`) random writes. */
  open(path: string): Promise<Handle>;
  /** Supports random 4 KiB reads and writes. */
  random: boolean;
}

export function shieldAsync(key: Buffer): Subject {
  const handle = (f: ShieldedFile): Handle => ({
    write: (data, position) => f.write(data, 0, data.length, position),
    read: (into, length, position) => f.read(into, 0, length, position),
    flush: () => f.flush(),
    close: () => f.close(),
  });
  return {
    name: 'shieldfs async',
    create: async (path) => handle(await ShieldedFile.open(path, { key, create: true })),
    open: async (path) => handle(await ShieldedFile.open(path, { key })),
    random: true,
  };
}

export function shieldSync(key: Buffer): Subject {
  const handle = (f: ShieldedFile): Handle => ({
    write: (data, position) => f.writeSync(data, 0, data.length, position),
    read: (into, length, position) => f.readSync(into, 0, length, position),
    flush: () => f.flushSync(),
    close: () => f.closeSync(),
  });
  return {
    name: 'shieldfs sync',
    create: async (path) => handle(ShieldedFile.openSync(path, { key, create: true })),
    open: async (path) => handle(ShieldedFile.openSync(path, { key })),
    random: true,
  };
}

export function nodeAsync(): Subject {
  const handle = (f: fs.promises.FileHandle): Handle => ({
    write: (data, position) => f.write(data, 0, data.length, position),
    read: (into, length, position) => f.read(into, 0, length, position),
    flush: () => f.datasync(),
    close: () => f.close(),
  });
  return {
    name: 'node:fs async',
    create: async (path) => handle(await fs.promises.open(path, 'w+')),
    open: async (path) => handle(await fs.promises.open(path, 'r+')),
    random: true,
  };
}

export function nodeSync(name = 'node:fs sync'): Subject {
  const handle = (fd: number): Handle => ({
    write: (data, position) => fs.writeSync(fd, data, 0, data.length, position),
    read: (into, length, position) => fs.readSync(fd, into, 0, length, position),
    flush: () => fs.fdatasyncSync(fd),
    close: () => fs.closeSync(fd),
  });
  return {
    name,
    create: async (path) => handle(fs.openSync(path, 'w+')),
    open: async (path) => handle(fs.openSync(path, 'r+')),
    random: true,
  };
}

interface ReferenceCodec {
  ReferenceWriter: new (path: string, key: Buffer, options?: { chunkSize?: number }) => {
    append(data: Buffer): void;
    close(): string;
  };
  ReferenceReader: new (path: string, key: Buffer) => {
    read(position: number, length: number): Buffer;
    close(): void;
  };
}

export const referenceCodecPath = fileURLToPath(new URL('../test/support/reference-codec.ts', import.meta.url));

/** The JS reference codec: sequential append and positioned reads only. Throws when it cannot load. */
export async function reference(key: Buffer, chunkSize: number): Promise<Subject> {
  if (!fs.existsSync(referenceCodecPath)) throw new Error('test/support/reference-codec.ts does not exist');
  const { ReferenceWriter, ReferenceReader } = (await import(referenceCodecPath)) as ReferenceCodec;
  if (typeof ReferenceWriter !== 'function' || typeof ReferenceReader !== 'function') {
    throw new Error('test/support/reference-codec.ts does not export ReferenceWriter and ReferenceReader');
  }
  const unsupported = (what: string) => () => {
    throw new Error(`the JS reference has no ${what} here`);
  };
  return {
    name: 'JS reference',
    async create(path) {
      const writer = new ReferenceWriter(path, key, { chunkSize });
      let appended = 0;
      return {
        write(data, position) {
          if (position !== appended) throw new Error('the JS reference writer only appends');
          writer.append(data);
          appended += data.length;
        },
        read: unsupported('reads on a writer'),
        flush() {
          writer.close();
          dataSync(path);  // the same durability as the other subjects, whatever close() does
        },
        close() {},
      };
    },
    async open(path) {
      const reader = new ReferenceReader(path, key);
      return {
        write: unsupported('random writes'),
        read: (into, length, position) => reader.read(position, length).copy(into),
        flush() {},
        close: () => reader.close(),
      };
    },
    random: false,
  };
}

function dataSync(path: string): void {
  const fd = fs.openSync(path, 'r');
  try {
    fs.fdatasyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }
}
