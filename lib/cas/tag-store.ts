// `cas://HOST:PORT/VOLUME`: the tag store of a volume named in a session, kept by the policy service
// (PROTOCOL.md, "Volume tags"). Only an attested instance can use it: the URL names the service and
// the volume, and the credential the release gave this process is looked up here, in memory (it
// never appears in a URL, a file or the environment).
//
// The volume layer also commits where no event loop turns (fs.closeSync, process exit), so the
// synchronous twins block this thread on a worker thread that makes the HTTPS call.
import { MessageChannel, receiveMessageOnPort, Worker, type MessagePort } from 'node:worker_threads';
import { registerTagStoreScheme } from '../tag-store/open-tag-store.js';
import { checkTag, checkVolumeId, closedStoreError, tagStoreError, type TagStore, type VolumeBinding } from '../tag-store/tag-store.js';
import { CasClient, type CasLocation } from './client.js';
import { workerBeside } from '../file/worker-beside.js';

export interface CasInstanceAccess extends CasLocation {
  /** The instance credential (hex) from the release. */
  credential: string;
}

const instances = new Map<string, CasInstanceAccess>();
const SYNC_TIMEOUT_MS = 40_000;

/** Lets this process open `cas://` tag stores of the service at `access.url` with the release's credential. */
export function registerCasInstance(access: CasInstanceAccess): void {
  instances.set(new URL(access.url.split(',')[0]!).host, access);
  registerTagStoreScheme('cas', openCasTagStore);
}

/** The URL of `volume`'s tag store at the service `url` (named by its first replica). */
export function casTagStoreUrl(url: string, volume: string): string {
  return `cas://${new URL(url.split(',')[0]!).host}/${encodeURIComponent(volume)}`;
}

function openCasTagStore(url: string): TagStore {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw tagStoreError('EINVAL', `tag store URL ${JSON.stringify(url)}: expected cas://HOST:PORT/VOLUME`);
  }
  const volume = decodeURIComponent(parsed.pathname.slice(1));
  const access = instances.get(parsed.host);
  if (!access || volume === '' || volume.includes('/')) {
    throw tagStoreError('EINVAL', `tag store ${url}: cas:// stores exist only in a service started by \`shield run --cas\` ` +
      '(they need the credential of an attested release)');
  }
  return new CasTagStore(`cas://${parsed.host}/${encodeURIComponent(volume)}`, access, volume);
}

export class CasTagStore implements TagStore {
  readonly url: string;
  readonly #access: CasInstanceAccess;
  readonly #volume: string;
  #client: CasClient | null = null;
  #bridge: SyncBridge | null = null;
  #closed = false;

  constructor(url: string, access: CasInstanceAccess, volume: string) {
    this.url = url;
    this.#access = access;
    this.#volume = volume;
  }

  async get(volumeId: string): Promise<string | null> {
    checkVolumeId(volumeId);
    const { tag } = await this.#call<{ tag: string | null }>('/v1/tags/get', { volumeId });
    return tag;
  }

  async compareAndSet(volumeId: string, expected: string | null, next: string): Promise<boolean> {
    checkVolumeId(volumeId);
    if (expected !== null) checkTag(expected, 'expected tag');
    checkTag(next, 'next tag');
    const { swapped } = await this.#call<{ swapped: boolean }>('/v1/tags/compare-and-set', { volumeId, expected, next });
    return swapped;
  }

  // Volume identity. The policy service binds a volume's id itself, at the volume's first commit
  // (PROTOCOL.md, "Volume tags"), and the runtime pins the id and update policy the release names: a
  // name binding here would only repeat that. So no name is ever bound in this store, binding one is
  // just the creation's first compare-and-set, and a reset is the owner's, through the service.

  async getBinding(): Promise<VolumeBinding | null> {
    return null;
  }

  async bind(_name: string, binding: VolumeBinding, firstTag: string | null): Promise<boolean> {
    return firstTag === null ? true : this.compareAndSet(binding.id, null, firstTag);
  }

  async unbind(): Promise<boolean> {
    return this.unbindSync();
  }

  getBindingSync(): VolumeBinding | null {
    return null;
  }

  bindSync(_name: string, binding: VolumeBinding, firstTag: string | null): boolean {
    return firstTag === null ? true : this.compareAndSetSync(binding.id, null, firstTag);
  }

  unbindSync(): boolean {
    throw tagStoreError('EINVAL', `tag store ${this.url}: a volume kept by the policy service starts over only by its owner's ` +
      '`shield session reset-volume`, never from the instance');
  }

  async close(): Promise<void> {
    this.closeSync();
  }

  getSync(volumeId: string): string | null {
    checkVolumeId(volumeId);
    return (this.#syncCall('/v1/tags/get', { volumeId }) as { tag: string | null }).tag;
  }

  compareAndSetSync(volumeId: string, expected: string | null, next: string): boolean {
    checkVolumeId(volumeId);
    if (expected !== null) checkTag(expected, 'expected tag');
    checkTag(next, 'next tag');
    return (this.#syncCall('/v1/tags/compare-and-set', { volumeId, expected, next }) as { swapped: boolean }).swapped;
  }

  closeSync(): void {
    this.#closed = true;
    this.#client?.close();
    this.#client = null;
    void this.#bridge?.stop();
    this.#bridge = null;
  }

  async #call<T>(path: string, body: Record<string, unknown>): Promise<T> {
    if (this.#closed) throw closedStoreError(this.url);
    this.#client ??= new CasClient(this.#access);
    return this.#client.call<T>('POST', path, { ...body, credential: this.#access.credential, volume: this.#volume });
  }

  #syncCall(path: string, body: Record<string, unknown>): unknown {
    if (this.#closed) throw closedStoreError(this.url);
    if (!this.#bridge?.running) this.#bridge = new SyncBridge(this.#access);
    return this.#bridge.call(path, { ...body, credential: this.#access.credential, volume: this.#volume });
  }
}

// ---------------------------------------------------------------------------------------------
// The worker behind the synchronous twins (tag-store-worker.ts): requests over a MessageChannel,
// replies counted in a shared Int32 so this thread sleeps in Atomics.wait until one arrives.

export interface CasWorkerData {
  access: CasLocation;
  port: MessagePort;
  replyCount: Int32Array;
}

export type CasWorkerReply = { id: number; value: unknown } | { id: number; error: { message: string; code?: string; refused?: boolean } };

class SyncBridge {
  readonly #worker: Worker;
  readonly #port: MessagePort;
  readonly #replyCount = new Int32Array(new SharedArrayBuffer(4));
  #nextId = 0;
  running = true;

  constructor(access: CasLocation) {
    const { port1, port2 } = new MessageChannel();
    this.#port = port1;
    const data: CasWorkerData = { access: { url: access.url, key: access.key }, port: port2, replyCount: this.#replyCount };
    const worker = workerBeside('../cas/tag-store-worker', import.meta.url);
    this.#worker = new Worker(worker.entry, { eval: worker.eval, execArgv: [], workerData: data, transferList: [port2] });
    this.#worker.unref();
    this.#worker.on('error', () => { this.running = false; });
    this.#worker.on('exit', () => { this.running = false; });
  }

  call(path: string, body: Record<string, unknown>): unknown {
    const id = this.#nextId++;
    this.#port.postMessage({ id, path, body });
    const deadline = Date.now() + SYNC_TIMEOUT_MS;
    for (;;) {
      const seen = Atomics.load(this.#replyCount, 0);
      const reply = receiveMessageOnPort(this.#port)?.message as CasWorkerReply | undefined;
      if (reply?.id === id) {
        if ('error' in reply) {
          const error = tagStoreError(reply.error.code ?? 'EIO', reply.error.message.replace(/^E[A-Z0-9]+: /, ''));
          if (reply.error.refused) (error as { refusedByPolicyService?: boolean }).refusedByPolicyService = true;
          throw error;
        }
        return reply.value;
      }
      if (reply !== undefined) continue;
      const remaining = deadline - Date.now();
      if (remaining <= 0) {
        void this.stop();
        throw tagStoreError('ETIMEDOUT', `the policy service did not answer a tag request within ${SYNC_TIMEOUT_MS / 1000} s`);
      }
      Atomics.wait(this.#replyCount, 0, seen, remaining);
    }
  }

  stop(): Promise<void> {
    this.running = false;
    return this.#worker.terminate().then(() => undefined);
  }
}
