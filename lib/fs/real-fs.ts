// The real node:fs, as it was when the surface was built: what the operations call for the side of
// a copy outside the mounts, and what they ask to emit node's own deprecation warnings (once per
// process, whichever fs the call went through, and not at all under --no-deprecation).
import type * as nodeFs from 'node:fs';
import gensync from 'gensync';

let originals: typeof nodeFs | null = null;

/** Binds node:fs as it is now (it may be patched later, and must not call back into us). */
export function bindRealFs(fs: typeof nodeFs): void {
  originals ??= fs;
}

export function realFs(): typeof nodeFs {
  if (!originals) throw new Error('shieldfs: the real node:fs was not bound');
  return originals;
}

/**
 * A node:fs call on the other side of a copy that leaves or enters a mount, in the form the
 * operation runs in: fs.nameSync(...args), or fs.promises.name(...args).
 */
export const nodeCall = gensync({
  sync: (name: string, ...args: unknown[]): unknown => (realFs() as unknown as Record<string, (...a: unknown[]) => unknown>)[`${name}Sync`]!(...args),
  async: (name: string, ...args: unknown[]): Promise<unknown> =>
    (realFs().promises as unknown as Record<string, (...a: unknown[]) => Promise<unknown>>)[name]!(...args),
});

/**
 * DEP0147 (rmdir with `recursive`). Asked of rmdirSync with a path that cannot exist
 * (/proc/self/fd/-1): it warns, then fails its lstat, and nothing is touched.
 */
export function warnRecursiveRmdir(): void {
  try {
    realFs().rmdirSync('/proc/self/fd/-1', { recursive: true });
  } catch {
    // ENOENT, as intended
  }
}

/**
 * fs.truncate and truncateSync given a descriptor: Node 20 and 22 warn (DEP0081) and truncate it;
 * Node 24 refuses it (ERR_INVALID_ARG_TYPE, the descriptor not being a path). Asked of truncateSync
 * with descriptor -1: it warns where node warns, then fails its descriptor check, touching nothing.
 * Returns the error to throw for `fd`, or null where node takes descriptors.
 */
export function truncateByDescriptor(fd: number): Error | null {
  try {
    realFs().truncateSync(-1 as never);
    return null;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ERR_INVALID_ARG_TYPE') return null;
    try {
      realFs().truncateSync(fd as never);
    } catch (refusal) {
      return refusal as Error;  // node's own message, naming this descriptor
    }
    return null;
  }
}

/**
 * node's warning for a mkdtemp prefix ending with X (once per process). Asked of mkdtempSync with a
 * prefix under a directory that cannot exist: it warns, then fails, and nothing is made.
 */
export function warnMkdtempTemplate(): void {
  try {
    realFs().mkdtempSync('/proc/self/fd/-1/X');
  } catch {
    // ENOENT, as intended
  }
}
