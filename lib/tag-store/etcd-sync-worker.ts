// The worker thread behind EtcdTagStore's synchronous twins (see etcd-sync-bridge.ts). It owns an
// EtcdTagStore of the same hosts and prefix and answers each request with that store's async
// method, so the sync and async paths share one implementation: the transaction, the per-call
// deadline and the error codes and messages.
import { workerData } from 'node:worker_threads';
import { transferableError, type EtcdSyncReply, type EtcdSyncRequest, type EtcdSyncWorkerData } from './etcd-sync-bridge.js';
import { EtcdTagStore } from './etcd-tag-store.js';

const { hosts, prefix, port, replyCount } = workerData as EtcdSyncWorkerData;
const store = new EtcdTagStore(hosts, prefix);

port.on('message', async (request: EtcdSyncRequest) => {
  let reply: EtcdSyncReply;
  try {
    const value = await answer(request);
    reply = { id: request.id, value };
  } catch (error) {
    reply = { id: request.id, error: transferableError(error) };
  }
  // Post first, count second: the waiting thread reads the count before it looks at the port.
  port.postMessage(reply);
  Atomics.add(replyCount, 0, 1);
  Atomics.notify(replyCount, 0);
});

function answer(request: EtcdSyncRequest): Promise<unknown> {
  switch (request.method) {
    case 'get': return store.get(...request.args);
    case 'compareAndSet': return store.compareAndSet(...request.args);
    case 'getBinding': return store.getBinding(...request.args);
    case 'bind': return store.bind(...request.args);
    case 'unbind': return store.unbind(...request.args);
  }
}
