// The ESM half of volume-code.ts: a resolve hook that refuses every module under a volume's mount
// path with ERR_MODULE_NOT_FOUND, before Node's own resolver looks at the disk there (and finds a
// decoy) and after it (a bare specifier that would lead there). Registered after the trees' hooks,
// so it runs first; everything else goes on to the next hook untouched.
import type { InitializeHook, ResolveHook } from 'node:module';
import { fileURLToPath } from 'node:url';
import { codeInVolumeError, volumeHolding } from './volume-code.js';

export interface VolumeCodeHooksData {
  volumes: string[];
}

let volumes: string[] = [];

export const initialize: InitializeHook<VolumeCodeHooksData> = (data) => {
  volumes = data.volumes;
};

export const resolve: ResolveHook = async (specifier, context, nextResolve) => {
  refuse(volumes, specifier, targetOf(specifier, context.parentURL));
  const resolved = await nextResolve(specifier, context);
  refuse(volumes, specifier, resolved.url.startsWith('file:') ? fileURLToPath(resolved.url) : null);
  return resolved;
};

type SyncNextResolve = (specifier: string, context?: object) => { url: string };

/**
 * The same hook for module.registerHooks (Node 22.15 and later): synchronous, in this thread, for
 * import only (require is refused by volume-code.ts in the CommonJS loader itself).
 */
export function resolveInThread(mounted: string[]) {
  return (specifier: string, context: { conditions?: string[]; parentURL?: string }, nextResolve: SyncNextResolve) => {
    if (context.conditions?.includes('require')) return nextResolve(specifier, context);
    refuse(mounted, specifier, targetOf(specifier, context.parentURL));
    const resolved = nextResolve(specifier, context);
    refuse(mounted, specifier, resolved.url.startsWith('file:') ? fileURLToPath(resolved.url) : null);
    return resolved;
  };
}

function refuse(volumes: string[], specifier: string, path: string | null): void {
  if (path === null) return;
  const volume = volumeHolding(volumes, path);
  if (volume !== null) throw codeInVolumeError(specifier, path, volume, 'ERR_MODULE_NOT_FOUND');
}

/** The file a path-like specifier names (file: URL, absolute, relative), or null for a bare one. */
function targetOf(specifier: string, parentURL: string | undefined): string | null {
  if (!(specifier.startsWith('file:') || specifier.startsWith('/') || specifier.startsWith('./') || specifier.startsWith('../'))) return null;
  try {
    const url = new URL(specifier, parentURL ?? `file://${process.cwd()}/`);
    return url.protocol === 'file:' ? fileURLToPath(url) : null;
  } catch {
    return null;
  }
}
