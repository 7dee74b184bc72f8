// Code inside protected trees loads through `require` and `import`, as if it were on the disk.
// Called by shieldfs/register once node:fs is the shield. Three parts (README, "Running code from
// protected trees"):
//   CommonJS  cjs-resolution.ts: Module._findPath and friends, for requests into trees, on this thread
//   ESM       esm-hooks.ts: where Node has module.registerHooks (22.15 and later), synchronous hooks
//             on this thread over the trees already mounted here; on Node 20, module.register()
//             hooks, which open the trees again on their own thread
//   .node     native-addons.ts: refused inside mounts, with the reason
import Module, { register } from 'node:module';
import { isMainThread } from 'node:worker_threads';
import { shieldError } from '../file/fs-errors.js';
import { wipeKey } from '../file/keys.js';
import { resolveMountKey, type MountSpec } from '../fs/mount-config.js';
import type { Shield } from '../fs/mount.js';
import { installCommonJsResolution, noteCommonJsImported } from './cjs-resolution.js';
import { load, resolve, useTrees, type EsmHooksData } from './esm-hooks.js';
import { refuseNativeAddonsIn } from './native-addons.js';
import { TreeFiles } from './tree-files.js';
import { refuseCommonJsFromVolumes, volumeMountPaths } from './volume-code.js';
import { resolveInThread, type VolumeCodeHooksData } from './volume-code-hooks.js';

/**
 * Lets the process import and require .js, .mjs, .cjs and .json files inside the `trees` that
 * `shield` has mounted (their mount specifications, as the configuration gave them).
 */
export function installModuleLoading(shield: Shield, trees: MountSpec[]): void {
  if (isEsmHooksThread()) return;
  refuseNativeAddonsIn(shield);
  const volumes = volumeMountPaths(shield);
  refuseCommonJsFromVolumes(volumes);
  if (trees.length > 0) {
    refuseCompileCache();
    const mounted = shield.mounts.filter((mount) => mount.kind === 'tree').map((mount) => {
      const allowHostModules = trees.find((spec) => spec.path === mount.path)?.allowHostModules;
      return { path: mount.path, volume: mount.volume, ...(allowHostModules ? { allowHostModules } : {}) };
    });
    const files = new TreeFiles(mounted);
    installCommonJsResolution(files);
    const { registerHooks } = Module as unknown as { registerHooks?: (hooks: InThreadHooks) => unknown };
    if (typeof registerHooks === 'function') registerInThreadHooks(registerHooks, files);
    else registerEsmHooks(trees);
  }
  // After the trees' hooks, so that it runs first: nothing under a volume loads (volume-code.ts). In
  // this thread where Node has registerHooks: a hooks thread beside in-thread hooks breaks `-r` preloads.
  if (volumes.length > 0) {
    const { registerHooks } = Module as unknown as { registerHooks?: (hooks: { resolve: unknown }) => unknown };
    if (typeof registerHooks === 'function') registerHooks({ resolve: resolveInThread(volumes) });
    else registerOnHooksThread('../register/volume-code-hooks.js', { volumes } satisfies VolumeCodeHooksData);
  }
}

// Node's compile cache (NODE_COMPILE_CACHE, module.enableCompileCache; Node 22.1 and later) writes
// the compiled form of every module it loads to a directory of the host's disk: of code from a tree,
// a readable form of that code. A process with trees does not start with it on, and cannot turn it on.
function refuseCompileCache(): void {
  const loader = Module as unknown as { getCompileCacheDir?: () => string | undefined; enableCompileCache?: (directory?: string) => unknown };
  const directory = loader.getCompileCacheDir?.();
  if (directory) {
    throw shieldError('EINVAL', `Node's compile cache is on (NODE_COMPILE_CACHE: ${directory}): it would write the compiled code of the ` +
      'protected trees to the host\'s disk in clear. Unset NODE_COMPILE_CACHE for this service');
  }
  if (typeof loader.enableCompileCache === 'function') {
    loader.enableCompileCache = () => {
      throw shieldError('EINVAL', 'module.enableCompileCache() is refused in a process with protected trees: it would write their compiled code to the host\'s disk in clear');
    };
  }
}

// module.registerHooks' hooks (not in the @types/node of Node 20): module.register()'s resolve and
// load, called synchronously, for require() as well as import.
type NextResolve = (specifier: string, context?: object) => { url: string; format?: string | null };
type NextLoad = (url: string, context?: object) => { format?: string | null; source?: unknown };
interface InThreadHooks {
  resolve(specifier: string, context: { conditions: string[]; parentURL?: string }, nextResolve: NextResolve): unknown;
  load(url: string, context: { conditions?: string[]; format?: string | null }, nextLoad: NextLoad): unknown;
}

// The same hooks as on Node 20's hooks thread, over the trees this thread mounted. require() is
// left to the CommonJS loader (cjs-resolution.ts has taken over its lookups in trees already), so
// the hooks act for import only: a require is told by its 'require' condition.
function registerInThreadHooks(registerHooks: (hooks: InThreadHooks) => unknown, files: TreeFiles): void {
  useTrees(files);
  type Hook = (...args: unknown[]) => unknown;
  const forImport = (conditions: string[] | undefined) => !conditions?.includes('require');
  registerHooks({
    resolve: (specifier, context, nextResolve) => (forImport(context.conditions)
      ? (resolve as unknown as Hook)(specifier, context, nextResolve) : nextResolve(specifier, context)),
    load: (url, context, nextLoad) => {
      if (!forImport(context.conditions)) return nextLoad(url, context);
      const loaded = (load as unknown as Hook)(url, context, nextLoad) as { format?: string };
      if (loaded.format === 'commonjs') noteCommonJsImported();
      return loaded;
    },
  });
}

// Set in the environment the ESM hooks thread is created with (it gets a copy of it then).
const HOOKS_THREAD_MARK = 'SHIELDFS_ESM_HOOKS_THREAD';

/**
 * True on the thread that runs the module.register() hooks. Node 20 runs the `--require` preloads
 * there too (internal/modules/esm/utils.js, initializeHooks), so `node -r shieldfs/register` runs
 * this module again in that thread, where registering hooks would start yet another hooks thread
 * (and fail).
 */
export function isEsmHooksThread(): boolean {
  if (isMainThread) return false;
  if (process.env[HOOKS_THREAD_MARK] === '1') return true;
  // A hooks thread another preload started before ours: called from within its initialization.
  const limit = Error.stackTraceLimit;
  Error.stackTraceLimit = 200;
  const stack = new Error().stack ?? '';
  Error.stackTraceLimit = limit;
  return / at initializeHooks \(node:internal\/modules\/esm\/utils/.test(stack);
}

// The hooks thread opens the trees itself: it gets each tree's directory and tag, and its key as a
// buffer of its own that is moved (transferred) there, never copied into a string.
function registerEsmHooks(trees: MountSpec[]): void {
  const keys: ArrayBuffer[] = [];
  const data: EsmHooksData = {
    trees: trees.map((spec) => {
      const secure = resolveMountKey(spec);
      const key = new Uint8Array(secure.byteLength);
      key.set(secure);
      wipeKey(secure);
      keys.push(key.buffer);
      return { path: spec.path, directory: spec.tree!, tag: spec.tag!, key: key.buffer, ...(spec.allowHostModules ? { allowHostModules: spec.allowHostModules } : {}) };
    }),
  };
  try {
    registerOnHooksThread('../register/esm-hooks.js', data, keys);
  } finally {
    for (const key of keys) if (key.byteLength > 0) new Uint8Array(key).fill(0);  // still here only if the transfer failed
  }
}

// module.register() with the hooks thread marked in the environment it is created with. `hooks` is
// named through this module's folder (`../register/…`): from dist/, this code may run from a bundle
// chunk in dist/chunks/ (scripts/bundle.mjs), which is as deep as dist/register/.
function registerOnHooksThread(hooks: string, data: unknown, transferList: ArrayBuffer[] = []): void {
  const marked = process.env[HOOKS_THREAD_MARK];
  process.env[HOOKS_THREAD_MARK] = '1';
  try {
    register(new URL(hooks, import.meta.url), { data, transferList });
  } finally {
    if (marked === undefined) delete process.env[HOOKS_THREAD_MARK];
    else process.env[HOOKS_THREAD_MARK] = marked;
  }
}
