// One implementation, two ways to run it. A multi-step operation of the volume layer (open, commit,
// close) is written once as a generator over the steps below; `runSync` runs it on this thread (for
// fs.*Sync, `node -r` and the process 'exit' handler) and `runAsync` runs it with every step on its
// asynchronous twin (for callbacks and promises). gensync (Babel's) does the driving.
import gensync, { type Handler } from 'gensync';
import { AuthenticatedFile, type AuthenticatedOpenOptions } from './authenticated-file.js';
import type { FileContent } from './file-content.js';
import { ShieldedFile, type OpenOptions } from './shielded-file.js';
import type { TagStore } from './tag-store.js';

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

export const openAuthenticatedFile = gensync({
  sync: (data: string, tree: string, options: AuthenticatedOpenOptions) => AuthenticatedFile.openSync(data, tree, options),
  async: (data: string, tree: string, options: AuthenticatedOpenOptions) => AuthenticatedFile.open(data, tree, options),
});

export const readContent = gensync({
  sync: (content: FileContent, buffer: ArrayBufferView, offset: number, length: number, position: number) =>
    content.readSync(buffer, offset, length, position),
  async: (content: FileContent, buffer: ArrayBufferView, offset: number, length: number, position: number) =>
    content.read(buffer, offset, length, position),
});

export const writeContent = gensync({
  sync: (content: FileContent, buffer: ArrayBufferView, offset: number, length: number, position: number) =>
    content.writeSync(buffer, offset, length, position),
  async: (content: FileContent, buffer: ArrayBufferView, offset: number, length: number, position: number) =>
    content.write(buffer, offset, length, position),
});

export const flushContent = gensync({
  sync: (content: FileContent) => content.flushSync(),
  async: (content: FileContent) => content.flush(),
});

export const closeContent = gensync({
  sync: (content: FileContent) => content.closeSync(),
  async: (content: FileContent) => content.close(),
});

export const getTag = gensync({
  sync: (store: TagStore, volumeId: string) => store.getSync(volumeId),
  async: (store: TagStore, volumeId: string) => store.get(volumeId),
});

export const compareAndSetTag = gensync({
  sync: (store: TagStore, volumeId: string, expected: string | null, next: string) => store.compareAndSetSync(volumeId, expected, next),
  async: (store: TagStore, volumeId: string, expected: string | null, next: string) => store.compareAndSet(volumeId, expected, next),
});

export const closeTagStore = gensync({
  sync: (store: TagStore) => store.closeSync(),
  async: (store: TagStore) => store.close(),
});
