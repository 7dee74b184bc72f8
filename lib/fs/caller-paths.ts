// Errors say the caller's path. A volume names paths inside itself ('/x'); the caller named them
// '/V1/x': every error of an operation is relabelled with the caller's spelling, in the fields and
// in the message, exactly where node:fs would put it, and with the system call node would name.
import { fsError } from '../file/fs-errors.js';
import type { Steps } from '../file/sync-or-async.js';
import type { OpenDescriptor } from './descriptors.js';
import type { MountedPath } from './mount-table.js';

/**
 * The volume names paths inside itself ('/x'); the caller named them '/V1/x'. Errors say the
 * caller's path, in the fields and in the message, exactly where node:fs would put it.
 */
export function relabel(error: unknown, at: Pick<MountedPath, 'inner' | 'virtual'>, syscall?: string, destination?: MountedPath): unknown {
  if (!(error instanceof Error)) return error;
  const e = error as NodeJS.ErrnoException & { dest?: string };
  const swap = (inner: string, virtual: string) => {
    e.message = e.message.split(`'${inner}'`).join(`'${virtual}'`);
  };
  if (e.path === at.inner) {
    swap(at.inner, at.virtual);
    e.path = at.virtual;
  }
  if (destination && (e.dest === destination.inner || e.path === destination.inner)) {
    swap(destination.inner, destination.virtual);
    if (e.dest === destination.inner) e.dest = destination.virtual;
    if (e.path === destination.inner) e.path = destination.virtual;
  }
  if (syscall && e.syscall && e.syscall !== syscall && e.code && /^E[A-Z]+$/.test(e.code) && e.message.startsWith(`${e.code}: `)) {
    e.message = e.message.replace(`, ${e.syscall} '`, `, ${syscall} '`);
    e.syscall = syscall;
  }
  return e;
}

/** A volume call, its error relabelled with the caller's path. */
export function call<T>(action: () => T, at: MountedPath, syscall: string, virtual = at.virtual): T {
  try {
    return action();
  } catch (error) {
    throw relabel(error, { ...at, virtual }, syscall);
  }
}

export function* relabelled<T>(steps: Steps<T>, at: MountedPath | OpenDescriptor): Steps<T> {
  try {
    return yield* steps;
  } catch (error) {
    throw relabel(error, 'inner' in at ? at : { inner: at.file.path, virtual: at.path });
  }
}

/** An error of a system call (ENOENT, EISDIR, …), as opposed to a shield failure or a bad argument. */
export function isErrno(error: unknown): boolean {
  const e = error as NodeJS.ErrnoException;
  return error instanceof Error && typeof e.errno === 'number' && typeof e.syscall === 'string' && /^E[A-Z]+$/.test(e.code ?? '');
}

/** A system call's error made again as node reports it from `syscall` on these paths. */
export function asSyscall(error: unknown, syscall: string, path?: string, dest?: string): unknown {
  return isErrno(error) ? fsError((error as NodeJS.ErrnoException).code!, syscall, path, dest) : error;
}
