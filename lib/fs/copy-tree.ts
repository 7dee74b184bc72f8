// fs.cp for copies that start or end inside a mount: files, and directories with `recursive`, each
// side read and written through the shield's fs calls (so either side may be real or protected).
import type * as nodeFs from 'node:fs';
import { constants } from 'node:fs';
import { join } from 'node:path';
import type { Steps } from '../sync-or-async.js';
import { nodeSteps, type ShieldOperations } from './operations.js';

export function* copyTree(ops: ShieldOperations, source: string, destination: string, options: nodeFs.CopyOptions = {}): Steps<void> {
  const stats = (yield* statEither(ops, source))!;
  if (stats.isDirectory()) {
    if (!options.recursive) {
      throw Object.assign(new Error(`Recursive option is required to copy a directory: ${source}`), {
        code: 'ERR_FS_EISDIR', syscall: 'cp', path: source,
      });
    }
    if (!(yield* statEither(ops, destination, true))) yield* mkdirEither(ops, destination);
    for (const name of (yield* readdirEither(ops, source))) {
      yield* copyTree(ops, join(source, name), join(destination, name), options);
    }
    return;
  }
  const existing = yield* statEither(ops, destination, true);
  if (existing) {
    if (options.errorOnExist && options.force === false) {
      throw Object.assign(new Error(`Target already exists: cp returned EEXIST (${destination} already exists)`), {
        code: 'ERR_FS_CP_EEXIST', syscall: 'cp', path: destination,
      });
    }
    if (options.force === false) return;
  }
  yield* ops.copyFile(source, destination, 0 & constants.COPYFILE_EXCL);
}

function* statEither(ops: ShieldOperations, path: string, mayBeMissing = false): Steps<nodeFs.Stats | undefined> {
  if (ops.locate(path)) return (yield* ops.stat(path, { throwIfNoEntry: !mayBeMissing })) as nodeFs.Stats | undefined;
  return yield* nodeSteps.stat(path, mayBeMissing);
}

function* mkdirEither(ops: ShieldOperations, path: string): Steps<void> {
  if (ops.locate(path)) yield* ops.mkdir(path, { recursive: true });
  else yield* nodeSteps.mkdir(path);
}

function* readdirEither(ops: ShieldOperations, path: string): Steps<string[]> {
  if (ops.locate(path)) return (yield* ops.readdir(path)) as string[];
  return yield* nodeSteps.readdir(path);
}
