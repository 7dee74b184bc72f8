// The embedded store: one SQLite database in the store directory, through better-sqlite3.
//
// Why SQLite: its write-ahead log with synchronous=FULL makes every committed transaction durable
// (fsync of the log before the commit returns) and a crash at any instant leaves the last committed
// state, which SQLite's own test suite checks far beyond what we could for a file format of ours.
// better-sqlite3 is synchronous, which suits the service's short transactions, and 12.x supports
// Node 20, 22 and 24.
//
// Group commit: transactions that arrive while the event loop is busy are queued and run together
// in one SQLite transaction at the next turn, so 32 concurrent clients share one fsync instead of
// paying 32. Each queued transaction sees the writes of the ones before it (they run one after
// another inside the batch), so the batch is serializable; a transaction whose decide() throws
// contributes nothing and fails alone.
import Database from 'better-sqlite3';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { casError } from './errors.js';
import type { Decision, StateStore } from './store.js';

interface Pending {
  names: string[];
  decide: (values: Map<string, Buffer | undefined>) => Decision<unknown>;
  resolve: (value: unknown) => void;
  reject: (error: unknown) => void;
}

export const DATABASE_FILE = 'state.sqlite';
// Bounds one batch so a flood of requests cannot hold the database (and the event loop) for long.
const MAX_BATCH = 256;

export class SqliteStateStore implements StateStore {
  readonly location: string;
  readonly #db: Database.Database;
  readonly #select: Database.Statement<[string], { value: Buffer }>;
  readonly #upsert: Database.Statement<[string, Buffer]>;
  readonly #delete: Database.Statement<[string]>;
  readonly #list: Database.Statement<[string, string, number], { name: string; value: Buffer }>;
  #queue: Pending[] = [];
  #scheduled = false;
  #closed = false;

  constructor(directory: string) {
    mkdirSync(directory, { recursive: true, mode: 0o700 });
    this.location = directory;
    try {
      this.#db = new Database(join(directory, DATABASE_FILE));
      this.#db.pragma('journal_mode = WAL');
      this.#db.pragma('synchronous = FULL');
      this.#db.pragma('busy_timeout = 5000');
      this.#db.exec('CREATE TABLE IF NOT EXISTS records (name TEXT PRIMARY KEY, value BLOB NOT NULL) WITHOUT ROWID');
    } catch (error) {
      throw casError('EIO', `cannot open the policy service's store in ${directory}: ${(error as Error).message}`, 500);
    }
    this.#select = this.#db.prepare('SELECT value FROM records WHERE name = ?');
    this.#upsert = this.#db.prepare('INSERT INTO records (name, value) VALUES (?, ?) ON CONFLICT(name) DO UPDATE SET value = excluded.value');
    this.#delete = this.#db.prepare('DELETE FROM records WHERE name = ?');
    this.#list = this.#db.prepare('SELECT name, value FROM records WHERE name >= ? AND name < ? ORDER BY name LIMIT ?');
  }

  async get(name: string): Promise<Buffer | null> {
    this.#checkOpen();
    return this.#select.get(name)?.value ?? null;
  }

  async list(prefix: string, limit: number): Promise<[string, Buffer][]> {
    this.#checkOpen();
    // Every name with the prefix sorts below prefix + U+FFFF.
    return this.#list.all(prefix, `${prefix}\uffff`, limit).map((row) => [row.name, row.value]);
  }

  transact<T>(names: string[], decide: (values: Map<string, Buffer | undefined>) => Decision<T>): Promise<T> {
    this.#checkOpen();
    return new Promise<T>((resolve, reject) => {
      this.#queue.push({ names, decide, resolve: resolve as (value: unknown) => void, reject });
      if (!this.#scheduled) {
        this.#scheduled = true;
        setImmediate(() => this.#flush());
      }
    });
  }

  #flush(): void {
    this.#scheduled = false;
    const batch = this.#queue.splice(0, MAX_BATCH);
    if (this.#queue.length > 0) {
      this.#scheduled = true;
      setImmediate(() => this.#flush());
    }
    if (batch.length === 0) return;
    const outcomes: ({ ok: true; value: unknown } | { ok: false; error: unknown })[] = [];
    try {
      this.#db.transaction(() => {
        for (const pending of batch) {
          const values = new Map<string, Buffer | undefined>();
          for (const name of pending.names) values.set(name, this.#select.get(name)?.value);
          let decision: Decision<unknown>;
          try {
            decision = pending.decide(values);
          } catch (error) {
            outcomes.push({ ok: false, error });
            continue;
          }
          for (const [name, value] of decision.writes) {
            if (value === null) this.#delete.run(name);
            else this.#upsert.run(name, Buffer.from(value.buffer, value.byteOffset, value.byteLength));
          }
          outcomes.push({ ok: true, value: decision.result });
        }
        // IMMEDIATE takes the write lock before the first read: a second service process on the same
        // directory waits for it (busy_timeout) instead of deciding on values that are about to change.
      }).immediate();
    } catch (error) {
      // The commit itself failed (disk full, I/O error): nothing of the batch was applied.
      const failure = casError('EIO', `the policy service's store ${this.location} could not commit: ${(error as Error).message}`, 503);
      for (const pending of batch) pending.reject(failure);
      return;
    }
    batch.forEach((pending, i) => {
      const outcome = outcomes[i]!;
      if (outcome.ok) pending.resolve(outcome.value);
      else pending.reject(outcome.error);
    });
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    while (this.#queue.length > 0 || this.#scheduled) await new Promise((resolve) => setImmediate(resolve));
    this.#closed = true;
    this.#db.close();
  }

  #checkOpen(): void {
    if (this.#closed) throw casError('EBADF', `the policy service's store ${this.location} is closed`, 503);
  }
}
