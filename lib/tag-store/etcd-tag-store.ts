// `etcd://HOST:PORT[,HOST:PORT...][/PREFIX]`: tags kept in an etcd v3 cluster, for volumes used from
// several machines. Key = PREFIX + volume id, value = tag; a compare-and-set is one etcd transaction.
// A volume name is the key PREFIX + "names/" + name, value {"id":…,"updatePolicy":…} (volume ids are
// hex, so the two kinds of key never meet); binding a name with the volume's first tag is one transaction.
import type { Etcd3, IOptions } from 'etcd3';
import { EtcdSyncBridge, type EtcdSyncCall } from './etcd-sync-bridge.js';
import {
  checkBinding, checkTag, checkVolumeId, checkVolumeName, closedStoreError, isTag, isVolumeBinding, tagStoreError,
  type TagStore, type VolumeBinding,
} from './tag-store.js';

// etcd3 documents a dialTimeout option but never reads it, and without a deadline a call to a host
// that accepts TCP but never answers waits forever. A per-attempt deadline bounds every call: etcd3
// makes up to three attempts, so an unreachable cluster fails within about 3 × this; a refused
// connection fails at once.
const CALL_TIMEOUT_MS = 1500;

// A synchronous call waits for the worker's etcd call, bounded as above, plus, on the first call,
// the start of the thread and the load of etcd3 and gRPC. Past that the worker is taken for dead.
const SYNC_CALL_TIMEOUT_MS = 3 * CALL_TIMEOUT_MS + 5_000;

export class EtcdTagStore implements TagStore {
  readonly url: string;
  readonly #hosts: string[];
  readonly #prefix: string;
  #client: Promise<Etcd3> | null = null;
  /** The worker thread of the synchronous twins, started by the first of them. */
  #syncBridge: EtcdSyncBridge | null = null;
  #closed = false;
  /** The code of the last failure seen, to explain a later "not retried yet" refusal. */
  #lastFailureCode = 'EIO';

  constructor(hosts: string[], prefix: string) {
    this.#hosts = hosts;
    this.#prefix = prefix;
    this.url = `etcd://${hosts.join(',')}/${prefix}`;
  }

  async get(volumeId: string): Promise<string | null> {
    checkVolumeId(volumeId);
    const client = await this.#connect();
    const key = this.#prefix + volumeId;
    let stored: string | null;
    try {
      stored = await client.get(key).string();
    } catch (error) {
      throw this.#unreachable('read the tag of volume ' + volumeId, error);
    }
    if (stored === null || isTag(stored)) return stored;
    const shown = JSON.stringify((stored as string).slice(0, 80));
    throw tagStoreError('EINVAL', `tag store ${this.url}: key ${key} holds ${shown}, not a tag; something other ` +
      'than shieldfs wrote it. It is the trusted record of that volume: repair it by hand');
  }

  // etcd3 retries an attempt that timed out. If that attempt had in fact been applied, the retry
  // finds `next` already stored and this returns false: a spurious conflict, never a lost update.
  async compareAndSet(volumeId: string, expected: string | null, next: string): Promise<boolean> {
    checkVolumeId(volumeId);
    if (expected !== null) checkTag(expected, 'expected tag');
    checkTag(next, 'next tag');
    const client = await this.#connect();
    const key = this.#prefix + volumeId;
    try {
      const transaction = expected === null
        ? client.if(key, 'Create', '==', 0) // the key does not exist
        : client.if(key, 'Value', '==', expected);
      const result = await transaction.then(client.put(key).value(next)).commit();
      return result.succeeded;
    } catch (error) {
      throw this.#unreachable('update the tag of volume ' + volumeId, error);
    }
  }

  async getBinding(name: string): Promise<VolumeBinding | null> {
    checkVolumeName(name);
    const stored = await this.#readBinding(name);
    return stored && stored.binding;
  }

  async bind(name: string, binding: VolumeBinding, firstTag: string | null): Promise<boolean> {
    checkVolumeName(name);
    checkBinding(binding);
    if (firstTag !== null) checkTag(firstTag, 'first tag');
    const client = await this.#connect();
    const nameKey = this.#nameKey(name), tagKey = this.#prefix + binding.id;
    const value = bindingValue(binding);
    try {
      let transaction = client.if(nameKey, 'Create', '==', 0);
      if (firstTag === null) return (await transaction.then(client.put(nameKey).value(value)).commit()).succeeded;
      transaction = transaction.and(tagKey, 'Create', '==', 0);
      return (await transaction.then(client.put(nameKey).value(value), client.put(tagKey).value(firstTag)).commit()).succeeded;
    } catch (error) {
      throw this.#unreachable(`bind the volume name ${JSON.stringify(name)}`, error);
    }
  }

  async unbind(name: string, expectedId: string): Promise<boolean> {
    checkVolumeName(name);
    checkVolumeId(expectedId);
    const stored = await this.#readBinding(name);
    if (!stored || stored.binding.id !== expectedId) return false;
    const client = await this.#connect();
    const nameKey = this.#nameKey(name);
    try {
      // Deleted only if still the record just read: a concurrent rebind is not undone.
      const result = await client.if(nameKey, 'Value', '==', stored.raw).then(client.delete().key(nameKey)).commit();
      return result.succeeded;
    } catch (error) {
      throw this.#unreachable(`forget the volume name ${JSON.stringify(name)}`, error);
    }
  }

  async close(): Promise<void> {
    await this.#shutDown();
  }

  getSync(volumeId: string): string | null {
    checkVolumeId(volumeId);
    return this.#callSync({ method: 'get', args: [volumeId] }) as string | null;
  }

  compareAndSetSync(volumeId: string, expected: string | null, next: string): boolean {
    checkVolumeId(volumeId);
    if (expected !== null) checkTag(expected, 'expected tag');
    checkTag(next, 'next tag');
    return this.#callSync({ method: 'compareAndSet', args: [volumeId, expected, next] }) as boolean;
  }

  getBindingSync(name: string): VolumeBinding | null {
    checkVolumeName(name);
    return this.#callSync({ method: 'getBinding', args: [name] }) as VolumeBinding | null;
  }

  bindSync(name: string, binding: VolumeBinding, firstTag: string | null): boolean {
    checkVolumeName(name);
    checkBinding(binding);
    if (firstTag !== null) checkTag(firstTag, 'first tag');
    return this.#callSync({ method: 'bind', args: [name, { id: binding.id, updatePolicy: binding.updatePolicy }, firstTag] }) as boolean;
  }

  unbindSync(name: string, expectedId: string): boolean {
    checkVolumeName(name);
    checkVolumeId(expectedId);
    return this.#callSync({ method: 'unbind', args: [name, expectedId] }) as boolean;
  }

  #nameKey(name: string): string {
    return `${this.#prefix}names/${name}`;
  }

  /** The binding of `name` and the exact stored text, or null. */
  async #readBinding(name: string): Promise<{ binding: VolumeBinding; raw: string } | null> {
    const client = await this.#connect();
    const key = this.#nameKey(name);
    let raw: string | null;
    try {
      raw = await client.get(key).string();
    } catch (error) {
      throw this.#unreachable(`read the volume name ${JSON.stringify(name)}`, error);
    }
    if (raw === null) return null;
    let parsed: unknown;
    try {
      parsed = JSON.parse(raw);
    } catch {
      parsed = null;
    }
    if (!isVolumeBinding(parsed)) {
      throw tagStoreError('EINVAL', `tag store ${this.url}: key ${key} holds ${JSON.stringify(raw.slice(0, 80))}, not a volume ` +
        'binding; something other than shieldfs wrote it. It is the trusted record of that name: repair it by hand');
    }
    return { binding: { id: parsed.id, updatePolicy: parsed.updatePolicy }, raw };
  }

  closeSync(): void {
    // Nothing to wait for: the client and the worker thread are let go and keep no process alive.
    this.#shutDown().catch(() => {});
  }

  #shutDown(): Promise<void> {
    this.#closed = true;
    const [client, bridge] = [this.#client, this.#syncBridge];
    this.#client = null;
    this.#syncBridge = null;
    return Promise.all([client?.then((etcd) => etcd.close()), bridge?.stop()]).then(() => undefined);
  }

  /** Runs the async method of the same name on the worker thread's own store, and waits for it. */
  #callSync(call: EtcdSyncCall): unknown {
    if (this.#closed) throw closedStoreError(this.url);
    if (!this.#syncBridge?.running) this.#syncBridge = new EtcdSyncBridge(this.url, this.#hosts, this.#prefix);
    return this.#syncBridge.call(call, SYNC_CALL_TIMEOUT_MS);
  }

  /** The client, created on first use: loading etcd3 and gRPC costs a quarter second at startup. */
  #connect(): Promise<Etcd3> {
    if (this.#closed) return Promise.reject(closedStoreError(this.url));
    this.#client ??= import('etcd3').then(({ Etcd3 }) => {
      const options: IOptions = {
        hosts: this.#hosts.map((host) => `http://${host}`),
        defaultCallOptions: (context) => (context.isStream ? {} : { deadline: Date.now() + CALL_TIMEOUT_MS }),
      };
      return new Etcd3(options);
    });
    return this.#client;
  }

  #unreachable(action: string, cause: unknown) {
    const { code, reason } = describeFailure(cause, this.#lastFailureCode);
    this.#lastFailureCode = code;
    return tagStoreError(code, `tag store ${this.url}: could not ${action}: ${reason}. Check that etcd is running ` +
      `and reachable at ${this.#hosts.join(', ')}; volumes cannot be opened or committed without their tag store`, cause);
  }
}

function bindingValue(binding: VolumeBinding): string {
  return JSON.stringify({ id: binding.id, updatePolicy: binding.updatePolicy });
}

/** A Node-style code and a readable reason for a failed etcd3 call. */
function describeFailure(error: unknown, lastFailureCode: string): { code: string; reason: string } {
  const name = error instanceof Error ? error.constructor.name : '';
  const message = error instanceof Error ? error.message : String(error);
  // gRPC buries the socket error in its message: "... Last error: Error: connect ECONNREFUSED 127.0.0.1:1. ...".
  const socketError = /\b(?:connect|getaddrinfo|read|write) (E[A-Z_]+)(?: [^\s,]*[^\s,.])?/.exec(message);
  switch (name) {
    case 'GRPCDeadlineExceededError':
      return { code: 'ETIMEDOUT', reason: `no answer within ${CALL_TIMEOUT_MS} ms (${message})` };
    case 'BrokenCircuitError':
      // etcd3 stops calling a host for a few seconds after consecutive failures.
      return { code: lastFailureCode, reason: 'every endpoint failed moments ago and is not retried yet' };
    case 'EtcdPermissionDeniedError':
    case 'EtcdAuthenticationFailedError':
    case 'GRPCUnauthenticatedError':
      return { code: 'EACCES', reason: message };
    case 'GRPCNotImplementedError':
      return { code: 'EIO', reason: `the endpoint does not speak the etcd v3 API (${message})` };
    default:
      if (socketError) return { code: socketError[1]!, reason: `no connection (${socketError[0]})` };
      if (message.includes('Name resolution failed')) return { code: 'ENOTFOUND', reason: message };
      return { code: 'EIO', reason: message };
  }
}
