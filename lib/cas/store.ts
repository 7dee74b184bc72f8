// Where the policy service keeps its state: a key-value store with optimistic transactions. Each state
// change of the service is one call of transact(): it names the records it reads, decides from their
// values, and its writes land atomically, and only if none of those records changed in between. The
// embedded SQLite store (sqlite-store.ts) serializes and groups transactions; an etcd store would run
// one etcd transaction guarded by the records' revisions. The service seals every value (crypto.ts)
// before it reaches a store, so a store only ever sees names and ciphertext.

export interface Decision<T> {
  /** Record name → new value, or null to delete it. */
  writes: Map<string, Uint8Array | null>;
  result: T;
}

export interface StateStore {
  /** For messages: the directory or URL. */
  readonly location: string;
  get(name: string): Promise<Buffer | null>;
  /** Every record whose name starts with `prefix`, in name order, at most `limit`. */
  list(prefix: string, limit: number): Promise<[string, Buffer][]>;
  /**
   * Reads `names`, calls `decide` with their values (absent: undefined) and applies its writes
   * atomically and durably before resolving. `decide` may run more than once (after a conflict) and
   * must not have side effects; an exception in it rejects this call and writes nothing.
   */
  transact<T>(names: string[], decide: (values: Map<string, Buffer | undefined>) => Decision<T>): Promise<T>;
  close(): Promise<void>;
}

export function noWrites<T>(result: T): Decision<T> {
  return { writes: new Map(), result };
}
