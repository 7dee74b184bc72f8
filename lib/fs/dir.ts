// fs.Dir over a directory of a mount: the entries are read when it opens (a volume's directory is
// in memory), and handed out one by one as node's Dir does.
import type * as nodeFs from 'node:fs';

export class ShieldDir implements nodeFs.Dir {
  readonly #entries: nodeFs.Dirent[];
  #closed = false;

  constructor(readonly path: string, entries: nodeFs.Dirent[]) {
    this.#entries = [...entries];
  }

  readSync(): nodeFs.Dirent | null {
    if (this.#closed) throw dirClosed();
    return this.#entries.shift() ?? null;
  }

  read(): Promise<nodeFs.Dirent | null>;
  read(callback: (error: NodeJS.ErrnoException | null, entry: nodeFs.Dirent | null) => void): void;
  read(callback?: (error: NodeJS.ErrnoException | null, entry: nodeFs.Dirent | null) => void): Promise<nodeFs.Dirent | null> | void {
    if (!callback) return new Promise((resolve, reject) => this.read((error, entry) => (error ? reject(error) : resolve(entry))));
    let entry: nodeFs.Dirent | null = null, failure: NodeJS.ErrnoException | null = null;
    try {
      entry = this.readSync();
    } catch (error) {
      failure = error as NodeJS.ErrnoException;
    }
    process.nextTick(() => callback(failure, entry));
  }

  closeSync(): void {
    if (this.#closed) throw dirClosed();
    this.#closed = true;
  }

  close(): Promise<void>;
  close(callback: nodeFs.NoParamCallback): void;
  close(callback?: nodeFs.NoParamCallback): Promise<void> | void {
    if (!callback) return new Promise((resolve, reject) => this.close((error) => (error ? reject(error) : resolve())));
    let failure: NodeJS.ErrnoException | null = null;
    try {
      this.closeSync();
    } catch (error) {
      failure = error as NodeJS.ErrnoException;
    }
    process.nextTick(() => callback(failure));
  }

  async *[Symbol.asyncIterator](): AsyncGenerator<nodeFs.Dirent> {
    try {
      for (let entry = this.readSync(); entry; entry = this.readSync()) yield entry;
    } finally {
      if (!this.#closed) this.closeSync();
    }
  }
}

function dirClosed(): Error {
  return Object.assign(new Error('Directory handle was closed'), { code: 'ERR_DIR_CLOSED' });
}
