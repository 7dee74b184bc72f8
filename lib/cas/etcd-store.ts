// etcd://HOST:PORT[,HOST:PORT…][/PREFIX]: the policy service's state in an etcd v3 cluster, for
// several service replicas that must never disagree. Every state change is one etcd transaction:
// it compares the modification revision of every record the change read and, only if none moved,
// applies all its writes. A replica that loses the race reads again and decides again.
import { Etcd3, type IOptions } from 'etcd3';
import { casError } from './errors.js';
import type { Decision, StateStore } from './store.js';

const CALL_TIMEOUT_MS = 3000;
const MAX_ATTEMPTS = 64;
const ENDPOINT = /^(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]+):(\d{1,5})$/;

export class EtcdStateStore implements StateStore {
  readonly location: string;
  readonly #client: Etcd3;
  readonly #prefix: string;

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

  async transact<T>(names: string[], decide: (values: Map<string, Buffer | undefined>) => Decision<T>): Promise<T> {
    for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
      let read: { name: string; value: Buffer | undefined; revision: string }[];
      try {
        read = await Promise.all(names.map(async (name) => {
          const response = await this.#client.get(this.#prefix + name).exec();
          const kv = response.kvs[0];
          return { name, value: kv ? Buffer.from(kv.value) : undefined, revision: kv ? kv.mod_revision : '0' };
        }));
      } catch (error) {
        throw this.#unreachable(error);
      }
      const decision = decide(new Map(read.map((r) => [r.name, r.value])));
      let transaction = this.#client.if(this.#prefix + '\0', 'Create', '==', 0);  // a key never written: always true
      for (const r of read) transaction = transaction.and(this.#prefix + r.name, 'Mod', '==', r.revision);
      const operations = [...decision.writes].map(([name, value]) => value === null
        ? this.#client.delete().key(this.#prefix + name)
        : this.#client.put(this.#prefix + name).value(Buffer.from(value.buffer, value.byteOffset, value.byteLength)));
      try {
        const result = await transaction.then(...operations).commit();
        if (result.succeeded) return decision.result;
      } catch (error) {
        throw this.#unreachable(error);
      }
      await new Promise((resolve) => setTimeout(resolve, Math.random() * Math.min(50, 2 ** attempt)));
    }
    throw casError('EBUSY', `the store ${this.location} stayed contended for ${MAX_ATTEMPTS} attempts; retry`, 503);
  }

  async close(): Promise<void> {
    this.#client.close();
  }

  #unreachable(error: unknown): Error {
    return casError('EIO', `the policy service's etcd store ${this.location} did not answer (${(error as Error).message}); retry, or check the cluster`, 503);
  }
}
