// One implementation, two ways to run it. A multi-step operation of the volume layer (open, commit,
// close) is written once as a generator over steps (gensync functions with a sync and an async twin:
// openShieldedFile here, the content steps in volume/file-content.ts, the tag store's in
// tag-store/tag-store.ts); `runSync` runs it on this thread (for fs.*Sync, `node -r` and the process
// 'exit' handler) and `runAsync` runs it with every step on its asynchronous twin (for callbacks and
// promises). gensync (Babel's) does the driving.
import gensync, { type Handler } from 'gensync';
import { ShieldedFile, type OpenOptions } from './shielded-file.js';

export type Steps<R> = Handler<R>;

const drive = gensync(function* (steps: Handler<unknown>): Handler<unknown> {
  return yield* steps;
});

export function runSync<R>(steps: Steps<R>): R {
  return drive.sync(steps) as R;
}

export function runAsync<R>(steps: Steps<R>): Promise<R> {
  return drive.async(steps) as Promise<R>;
}

export const openShieldedFile = gensync({
  sync: (path: string, options: OpenOptions) => ShieldedFile.openSync(path, options),
  async: (path: string, options: OpenOptions) => ShieldedFile.open(path, options),
});

