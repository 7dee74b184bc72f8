// fs.Dir over a directory of a mount: the entries are read when it opens (a volume's directory is
// in memory), and handed out one by one as node's Dir does, with its rules: the first read (and the
// one that finds the end) is an operation under way, during which readSync and closeSync are
// refused (ERR_DIR_CONCURRENT_OPERATION) and other reads and closes wait their turn.
import * as nodeFs from 'node:fs';
import { validateFunction } from './node-validators.js';

type ReadCallback = (error: NodeJS.ErrnoException | null, entry: nodeFs.Dirent | null) => void;

export class ShieldDir implements nodeFs.Dir {
  readonly #entries: nodeFs.Dirent[];
  /** Entries handed to this Dir so far (node reads them in batches; here all at the first read). */
  #buffered: nodeFs.Dirent[] = [];
  #fetched = false;
  #closed = false;
  /** Calls waiting for the operation under way, or null when none is. */
  #queue: (() => void)[] | null = null;

  readonly #path: string;

  constructor(path: string, entries: nodeFs.Dirent[]) {
    this.#path = path;
    this.#entries = [...entries];
  }

  get path(): string {
    // As node's getter, read from something that is not a Dir (fs.Dir.prototype.path).
    if (!(#path in this)) throw Object.assign(new TypeError('Value of "this" must be of type Dir'), { code: 'ERR_INVALID_THIS' });
    return this.#path;
  }

  readSync(): nodeFs.Dirent | null {
    if (this.#closed) throw dirError('ERR_DIR_CLOSED', 'Directory handle was closed');
    if (this.#queue !== null) throw concurrent();
    this.#fetch();
    return this.#buffered.shift() ?? null;
  }

  read(): Promise<nodeFs.Dirent | null>;
  read(callback: ReadCallback): void;
  read(callback?: ReadCallback): Promise<nodeFs.Dirent | null> | void {
    // Without a callback (a promise), a closed Dir rejects (Node 22 and later; Node 20 threw).
    if (callback === undefined) return new Promise((resolve, reject) => this.read((error, entry) => (error ? reject(error) : resolve(entry))));
    if (this.#closed) throw dirError('ERR_DIR_CLOSED', 'Directory handle was closed');
    validateFunction(callback, 'callback');
    if (this.#queue !== null) {
      this.#queue.push(() => this.read(callback));
      return;
    }
    if (this.#buffered.length > 0) {
      const entry = this.#buffered.shift()!;
      process.nextTick(callback, null, entry);
      return;
    }
    // An operation: the batch (or the end) arrives on a later tick; the calls made meanwhile wait.
    this.#queue = [];
    setImmediate(() => {
      const waiting = this.#queue ?? [];
      this.#queue = null;
      this.#fetch();
      callback(null, this.#buffered.shift() ?? null);
      for (const next of waiting) next();
    });
  }

  closeSync(): void {
    if (this.#closed) throw dirError('ERR_DIR_CLOSED', 'Directory handle was closed');
    if (this.#queue !== null) throw concurrent();
    this.#closed = true;
  }

  close(): Promise<void>;
  close(callback: nodeFs.NoParamCallback): void;
  close(callback?: nodeFs.NoParamCallback): Promise<void> | void {
    if (callback === undefined) {
      if (this.#closed) return Promise.reject(dirError('ERR_DIR_CLOSED', 'Directory handle was closed'));
      return new Promise((resolve, reject) => this.close((error) => (error ? reject(error) : resolve())));
    }
    validateFunction(callback, 'callback');
    if (this.#closed) {
      process.nextTick(callback, dirError('ERR_DIR_CLOSED', 'Directory handle was closed'));
      return;
    }
    if (this.#queue !== null) {
      this.#queue.push(() => this.close(callback));
      return;
    }
    this.#closed = true;
    process.nextTick(callback, null);
  }

  async *entries(): AsyncGenerator<nodeFs.Dirent> {
    try {
      for (let entry = await this.read(); entry; entry = await this.read()) yield entry;
    } finally {
      if (!this.#closed) await this.close();
    }
  }

  [Symbol.asyncIterator](): AsyncGenerator<nodeFs.Dirent> {
    return this.entries();
  }

  // `using` and `await using` (Node 24): closed unless already closed.
  [Symbol.dispose](): void {
    if (!this.#closed) this.closeSync();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    if (!this.#closed) await this.close();
  }

  #fetch(): void {
    if (this.#fetched) return;
    this.#fetched = true;
    this.#buffered = this.#entries;
  }
}

// `dir instanceof fs.Dir` holds, as for node's Dir; every method of node's is replaced above.
Object.setPrototypeOf(ShieldDir.prototype, nodeFs.Dir.prototype);

function dirError(code: string, message: string): Error {
  return Object.assign(new Error(message), { code });
}

function concurrent(): Error {
  return dirError('ERR_DIR_CONCURRENT_OPERATION', 'Cannot do synchronous work on directory handle with concurrent asynchronous operations');
}
