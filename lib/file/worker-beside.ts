// Starting a worker thread on a module that sits beside the caller. The caller runs as compiled
// JavaScript from dist/, or as TypeScript from lib/ under the tests (vitest, tsx). A worker inherits
// neither vitest's transform nor, on Node 20, tsx's loader hooks, so from source the worker loads its
// TypeScript through tsx's tsImport() (the ESM build of that API: the CommonJS one registers its
// hooks from a path that does not exist).

export interface WorkerSource {
  /** What `new Worker()` takes: the module's URL, or code to evaluate. */
  entry: URL | string;
  /** The Worker's `eval` option for `entry`. */
  eval: boolean;
}

/**
 * The worker module `name` (without extension) relative to the folder of the module at `from` (its
 * import.meta.url). Callers name it through their own folder (`../tag-store/etcd-sync-worker`):
 * from dist/, the calling code may run from a bundle chunk in dist/chunks/ (scripts/bundle.mjs),
 * one level below dist/ like every subsystem's folder.
 */
export function workerBeside(name: string, from: string): WorkerSource {
  const fromSource = from.endsWith('.ts');
  const worker = new URL(`./${name}.${fromSource ? 'ts' : 'js'}`, from);
  if (!fromSource) return { entry: worker, eval: false };
  const tsxApi = import.meta.resolve('tsx/esm/api');
  return {
    entry: `import(${JSON.stringify(tsxApi)}).then(({ tsImport }) => tsImport(${JSON.stringify(worker.href)}, ${JSON.stringify(from)}))`,
    eval: true,
  };
}
