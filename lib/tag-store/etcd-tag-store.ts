// `etcd://HOST:PORT[,HOST:PORT...][/PREFIX]`: tags kept in an etcd v3 cluster, for volumes used from
// several machines. Key = PREFIX + volume id, value = tag; a compare-and-set is one etcd transaction.
import type { Etcd3, IOptions } from 'etcd3';
import { EtcdSyncBridge, type EtcdSyncCall } from './etcd-sync-bridge.js';
import { checkTag, checkVolumeId, closedStoreError, isTag, tagStoreError, type TagStore } from './tag-store.js';

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
