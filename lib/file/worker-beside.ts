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

/** The worker module `name` (without extension) next to the module at `from` (its import.meta.url). */
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
