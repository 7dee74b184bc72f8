// The synchronous twins of EtcdTagStore block this thread on a worker thread that makes the call.
// etcd3 speaks gRPC, whose client is asynchronous only, and the volume layer must commit where no
// event loop turns (a process 'exit' handler, fs.closeSync of the drop-in fs).
//
// synckit does this in general, but it keeps one worker per worker file for the whole process and
// offers no way to stop it, so a closed store could not end its thread; and it rewrites the
// worker's NODE_OPTIONS and stdio. What we need fits in this file:
//
// - requests and replies travel over a MessageChannel; this thread takes a reply with
//   receiveMessageOnPort, which reads the port's queue without an event loop;
// - the worker counts its replies in a shared Int32 and notifies after each post, so this thread
//   sleeps in Atomics.wait instead of spinning;
// - the worker is unref'ed: a process whose only activity was a synchronous call still exits.
import { MessageChannel, receiveMessageOnPort, Worker, type MessagePort } from 'node:worker_threads';
import { tagStoreError, type VolumeBinding } from './tag-store.js';
import { workerBeside } from '../file/worker-beside.js';

// Node's own Worker, taken when this module loads: shieldfs/register later wraps Worker so that every
// application worker runs the register first (lib/register/worker-shield.ts). This thread runs only
// shieldfs's etcd client, touches no file, and must not mount anything itself.
const PlainWorker = Worker;

/** What the worker (etcd-sync-worker.ts) is started with. */
export interface EtcdSyncWorkerData {
  hosts: string[];
  prefix: string;
  port: MessagePort;
  /** Index 0 counts the replies the worker has posted. */
  replyCount: Int32Array;
}

/** One of EtcdTagStore's async methods, to be run by the worker's store. */
export type EtcdSyncCall =
  | { method: 'get'; args: [volumeId: string] }
  | { method: 'compareAndSet'; args: [volumeId: string, expected: string | null, next: string] }
  | { method: 'getBinding'; args: [name: string] }
  | { method: 'bind'; args: [name: string, binding: VolumeBinding, firstTag: string | null] }
  | { method: 'unbind'; args: [name: string, expectedId: string] };

export type EtcdSyncRequest = EtcdSyncCall & { id: number };

export type EtcdSyncReply = { id: number; value: unknown } | { id: number; error: TransferredError };

/**
 * An error as it crosses threads. Structured cloning keeps an Error's message but drops `code`,
 * `path` and the cause's class, which callers and messages rely on.
 */
export interface TransferredError {
  name: string;
  message: string;
  properties: Record<string, string | number | boolean>;
  cause?: TransferredError;
}

export class EtcdSyncBridge {
  readonly #url: string;
  readonly #worker: Worker;
  readonly #port: MessagePort;
  readonly #replyCount = new Int32Array(new SharedArrayBuffer(Int32Array.BYTES_PER_ELEMENT));
  #nextId = 0;
  #stopped = false;
  /** How the worker failed, when the event loop has had a chance to tell us. */
  #failure: Error | null = null;

  /** Starts the worker, with its own client for `hosts` and `prefix`. */
  constructor(url: string, hosts: string[], prefix: string) {
    this.#url = url;
    const { port1, port2 } = new MessageChannel();
    this.#port = port1;
    const workerData: EtcdSyncWorkerData = { hosts, prefix, port: port2, replyCount: this.#replyCount };
    const worker = workerBeside('../tag-store/etcd-sync-worker', import.meta.url);
    this.#worker = new PlainWorker(worker.entry, {
      eval: worker.eval,
      // The worker needs nothing from node's command line, and inheriting it can kill the worker
      // before it runs (`node --input-type=module -e ...` does).
      execArgv: [],
      workerData,
      transferList: [port2],
    });
    this.#worker.unref();
    // Without a listener a worker's failure would be rethrown on this thread as an uncaught error.
    this.#worker.on('error', (error) => { this.#failure = error; });
    this.#worker.on('exit', () => { this.#stopped = true; });
  }

  /** False once the worker is gone; the store then starts a new one. */
  get running(): boolean {
    return !this.#stopped;
  }

  /**
   * Runs the request on the worker and blocks until it answers. The worker's etcd calls carry their
   * own deadline; `timeoutMs` only guards against a worker that died or never started.
   */
  call(call: EtcdSyncCall, timeoutMs: number): unknown {
    const id = this.#nextId++;
    const request: EtcdSyncRequest = { ...call, id };
    this.#port.postMessage(request);
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      // Read the count before looking at the port: a reply posted after the look bumps the count
      // after it is queued, so Atomics.wait then returns at once instead of sleeping through it.
      const repliesSeen = Atomics.load(this.#replyCount, 0);
      const received = receiveMessageOnPort(this.#port)?.message as EtcdSyncReply | undefined;
      if (received?.id === id) {
        if ('error' in received) throw restoredError(received.error);
        return received.value;
      }
      // Calls alternate with their replies, so this is never expected; but a stray reply must not
      // be taken for this call's answer.
      if (received !== undefined) continue;
      const remainingMs = deadline - Date.now();
      if (remainingMs <= 0) {
        void this.stop();
        const why = this.#failure ? `it failed: ${this.#failure.message}` : `it did not answer within ${timeoutMs} ms`;
        throw tagStoreError('ETIMEDOUT', `tag store ${this.#url}: the worker thread that makes synchronous calls ` +
          `to etcd stopped working (${why}); it is restarted on the next call`, this.#failure ?? undefined);
      }
      Atomics.wait(this.#replyCount, 0, repliesSeen, remainingMs);
    }
  }

  stop(): Promise<void> {
    this.#stopped = true;
    return this.#worker.terminate().then(() => undefined);
  }
}

/** Called by the worker: the error's class name, message and own plain fields, and its cause's. */
export function transferableError(error: unknown): TransferredError {
  if (!(error instanceof Error)) return { name: 'Error', message: String(error), properties: {} };
  const properties: TransferredError['properties'] = {};
  for (const [key, value] of Object.entries(error)) {
    if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean') properties[key] = value;
  }
  const transferred: TransferredError = { name: error.constructor.name, message: error.message, properties };
  if (error.cause !== undefined) transferred.cause = transferableError(error.cause);
  return transferred;
}

function restoredError(transferred: TransferredError): Error {
  const cause = transferred.cause === undefined ? undefined : { cause: restoredError(transferred.cause) };
  const error = Object.assign(new Error(transferred.message, cause), transferred.properties);
  // The cause's class name is what tells a deadline from a refused connection when debugging.
  if (transferred.name !== 'Error') Object.defineProperty(error, 'name', { value: transferred.name, configurable: true, writable: true });
  return error;
}
