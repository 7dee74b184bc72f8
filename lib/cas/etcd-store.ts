// etcd://HOST:PORT[,HOST:PORT…][/PREFIX]: the policy service's state in an etcd v3 cluster, for
// several service replicas that must never disagree. Every state change is one etcd transaction:
// it compares the modification revision of every record the change read and, only if none moved,
// applies all its writes. A replica that loses the race reads again and decides again.
import { Etcd3, type IOptions } from 'etcd3';
import { casError } from './errors.js';
import type { Decision, StateStore } from './store.js';

const CALL_TIMEOUT_MS = 3000;
const MAX_ATTEMPTS = 64;
const MAX_BATCH = 64;
// etcd's default --max-txn-ops is 128, for the compares and for the operations each; stay below it.
const MAX_TXN_OPERATIONS = 120;

interface Pending {
  names: string[];
  decide: (values: Map<string, Buffer | undefined>) => Decision<unknown>;
  resolve: (value: unknown) => void;
  reject: (error: unknown) => void;
}
const ENDPOINT = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/;

export class EtcdStateStore implements StateStore {
  readonly location: string;
  readonly #client: Etcd3;
  readonly #prefix: string;
  #queue: Pending[] = [];
  #flushing = false;

  private constructor(location: string, hosts: string[], prefix: string) {
    this.location = location;
    this.#prefix = prefix;
    const options: IOptions = { hosts: hosts.map((h) => `http://${h}`), defaultCallOptions: () => ({ deadline: new Date(Date.now() + CALL_TIMEOUT_MS) }) };
    this.#client = new Etcd3(options);
  }

  static open(url: string): EtcdStateStore {
    const rest = url.slice('etcd://'.length);
    const slash = rest.indexOf('/');
    const hosts = (slash < 0 ? rest : rest.slice(0, slash)).split(',');
    for (const host of hosts) {
      if (!ENDPOINT.test(host)) throw casError('EINVAL', `store ${JSON.stringify(url)}: "${host}" is not HOST:PORT; expected etcd://HOST:PORT[,HOST:PORT…][/PREFIX]`, 500);
    }
    const path = slash < 0 ? 'shieldfs/cas/' : rest.slice(slash + 1);
    return new EtcdStateStore(url, hosts, path.endsWith('/') ? path : `${path}/`);
  }

  async get(name: string): Promise<Buffer | null> {
    try {
      return await this.#client.get(this.#prefix + name).buffer();
    } catch (error) {
      throw this.#unreachable(error);
    }
  }

  async list(prefix: string, limit: number): Promise<[string, Buffer][]> {
    try {
      const all = await this.#client.getAll().prefix(this.#prefix + prefix).sort('Key', 'Ascend').limit(limit).buffers();
      return Object.entries(all).map(([key, value]) => [key.slice(this.#prefix.length), value] as [string, Buffer]).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    } catch (error) {
      throw this.#unreachable(error);
    }
  }

  // Group commit, as in the embedded store: transactions queued while one etcd transaction is in
  // flight are decided together, one after another over the values the earlier ones wrote, and
  // committed as one etcd transaction that compares the revisions of everything the batch read. So a
  // replica never conflicts with itself, and a conflict with another replica re-decides the batch.
  transact<T>(names: string[], decide: (values: Map<string, Buffer | undefined>) => Decision<T>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.#queue.push({ names, decide, resolve: resolve as (value: unknown) => void, reject });
      if (!this.#flushing) void this.#flush();
    });
  }

  async #flush(): Promise<void> {
    this.#flushing = true;
    try {
      while (this.#queue.length > 0) {
        const batch = this.#queue.splice(0, MAX_BATCH);
        const left = await this.#commitBatch(batch);
        this.#queue.unshift(...left);
      }
    } finally {
      this.#flushing = false;
    }
  }

  /** Commits as many of `batch` as fit in one etcd transaction; returns the ones left for the next. */
  async #commitBatch(batch: Pending[]): Promise<Pending[]> {
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      const revisions = new Map<string, string>();
      const current = new Map<string, Buffer | undefined>();
      const writes = new Map<string, Uint8Array | null>();
      const outcomes: { pending: Pending; ok: boolean; value: unknown }[] = [];
      let left: Pending[] = [];
      try {
        // Everything the batch names, read at once.
        const every = [...new Set(batch.flatMap((pending) => pending.names))];
        const fetched = await Promise.all(every.map(async (name) => {
          const response = await this.#client.get(this.#prefix + name).exec();
          const kv = response.kvs[0];
          return { name, value: kv ? Buffer.from(kv.value) : undefined, revision: kv ? kv.mod_revision : '0' };
        }));
        const prefetched = new Map(fetched.map((r) => [r.name, r]));
        for (const [index, pending] of batch.entries()) {
          const unread = pending.names.filter((name) => !revisions.has(name));
          const read = await Promise.all(unread.map(async (name) => {
            const known = prefetched.get(name);
            if (known) return known;
            const response = await this.#client.get(this.#prefix + name).exec();
            const kv = response.kvs[0];
            return { name, value: kv ? Buffer.from(kv.value) : undefined, revision: kv ? kv.mod_revision : '0' };
          }));
          for (const r of read) {
            revisions.set(r.name, r.revision);
            if (!current.has(r.name)) current.set(r.name, r.value);
          }
          const values = new Map(pending.names.map((name) => [name, current.get(name)]));
          let decision: Decision<unknown>;
          try {
            decision = pending.decide(values);
          } catch (error) {
            outcomes.push({ pending, ok: false, value: error });
            continue;
          }
          const touched = new Set([...writes.keys(), ...decision.writes.keys()]);
          if (outcomes.length > 0 && (revisions.size > MAX_TXN_OPERATIONS || touched.size > MAX_TXN_OPERATIONS)) {
            left = batch.slice(index);
            break;
          }
          for (const [name, value] of decision.writes) {
            writes.set(name, value);
            current.set(name, value === null ? undefined : Buffer.from(value.buffer, value.byteOffset, value.byteLength));
          }
          outcomes.push({ pending, ok: true, value: decision.result });
        }
      } catch (error) {
        const failure = this.#unreachable(error);
        for (const pending of batch) pending.reject(failure);
        return [];
      }
      let transaction = this.#client.if(this.#prefix + '\0', 'Create', '==', 0);  // a key never written: always true
      for (const [name, revision] of revisions) transaction = transaction.and(this.#prefix + name, 'Mod', '==', revision);
      const operations = [...writes].map(([name, value]) => value === null
        ? this.#client.delete().key(this.#prefix + name)
        : this.#client.put(this.#prefix + name).value(Buffer.from(value.buffer, value.byteOffset, value.byteLength)));
      let succeeded: boolean;
      try {
        succeeded = writes.size === 0 ? true : (await transaction.then(...operations).commit()).succeeded;
      } catch (error) {
        // Unknown whether it was applied: the callers must not be told either way as a success.
        const failure = this.#unreachable(error);
        for (const pending of batch) pending.reject(failure);
        return [];
      }
      if (succeeded) {
        for (const outcome of outcomes) {
          if (outcome.ok) outcome.pending.resolve(outcome.value);
          else outcome.pending.reject(outcome.value);
        }
        return left;
      }
      await new Promise((resolve) => setTimeout(resolve, Math.random() * Math.min(50, 2 ** attempt)));
    }
    const busy = casError('EBUSY', `the store ${this.location} stayed contended for ${MAX_ATTEMPTS} attempts; retry`, 503);
    for (const pending of batch) pending.reject(busy);
    return [];
  }

  async close(): Promise<void> {
    this.#client.close();
  }

  #unreachable(error: unknown): Error {
    return casError('EIO', `the policy service's etcd store ${this.location} did not answer (${(error as Error).message}); retry, or check the cluster`, 503);
  }
}
