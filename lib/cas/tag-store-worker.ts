// The worker thread behind CasTagStore's synchronous twins (tag-store.ts): one pinned client, each
// request answered with the same HTTPS call the async path makes.
import { workerData } from 'node:worker_threads';
import { CasClient } from './client.js';
import type { CasWorkerData, CasWorkerReply } from './tag-store.js';

const { access, port, replyCount } = workerData as CasWorkerData;
const client = new CasClient(access);

port.on('message', async (request: { id: number; path: string; body: Record<string, unknown> }) => {
  let reply: CasWorkerReply;
  try {
    reply = { id: request.id, value: await client.call('POST', request.path, request.body) };
  } catch (error) {
    const e = error as { message?: string; code?: string; refusedByPolicyService?: boolean };
    reply = { id: request.id, error: { message: String(e?.message ?? error), code: e?.code, refused: e?.refusedByPolicyService === true } };
  }
  // Post first, count second: the waiting thread reads the count before it looks at the port.
  port.postMessage(reply);
  Atomics.add(replyCount, 0, 1);
  Atomics.notify(replyCount, 0);
});
