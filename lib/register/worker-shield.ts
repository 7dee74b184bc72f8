// Every worker thread of a shielded process gets the shield. A worker is a new JavaScript
// environment whose node:fs is unpatched until the register runs in it, and Node decides per worker
// whether preloads run: an `eval` worker skips `--import` preloads on Node 20, `execArgv: []` drops
// the command line's, and `env: {…}` replaces the NODE_OPTIONS (and the SHIELD_CONFIG) the worker
// reads. Any of these would leave a worker with plain node:fs, writing plaintext under a volume's
// mount path. So `Worker` is wrapped, before any application code runs, to start every worker with
// the register as its first `--require` preload (which Node runs in eval workers too) and with this
// process's configuration in its environment, whatever options the caller gave. In the worker the
// register mounts the trees and guards the volumes' paths with EBUSY (install.ts). A worker that
// cannot run the register (too small `resourceLimits`, a missing configuration) fails to start with
// the register's `shield: CODE: …` error, never without the shield.
import { syncBuiltinESMExports } from 'node:module';
import workerThreads, { type WorkerOptions } from 'node:worker_threads';

/** The variables that tell the register what to mount (mount-config.ts). */
const CONFIGURATION_VARIABLES = ['SHIELD_CONFIG', 'SHIELD_CONFIG_CHECKED'] as const;

let wrapped = false;

/** Wraps worker_threads.Worker so that every worker preloads `registerPath` first. */
export function shieldEveryWorker(registerPath: string): void {
  if (wrapped) return;
  wrapped = true;
  // Taken now, before application code runs: code that later changes or deletes SHIELD_CONFIG in
  // process.env does not take its workers out of the shield.
  const configuration = configurationOf(process.env);
  const Original = workerThreads.Worker;
  class ShieldedWorker extends Original {
    constructor(filename: string | URL, options?: WorkerOptions) {
      super(filename, withShield(options ?? {}, registerPath, configuration));
    }
  }
  Object.defineProperty(ShieldedWorker, 'name', { value: 'Worker' });
  (workerThreads as { Worker: typeof Original }).Worker = ShieldedWorker;
  syncBuiltinESMExports();
}

type Configuration = Partial<Record<(typeof CONFIGURATION_VARIABLES)[number], string>>;

function configurationOf(env: NodeJS.ProcessEnv): Configuration {
  const found: Configuration = {};
  for (const name of CONFIGURATION_VARIABLES) if (env[name] !== undefined) found[name] = env[name];
  return found;
}

/**
 * The caller's options with the register as the worker's first preload and `configuration` (this
 * process's, as the register found it) in the worker's environment.
 */
export function withShield(options: WorkerOptions, registerPath: string, configuration: Configuration): WorkerOptions {
  // execArgv elements are not parsed by a shell: the path needs no quoting.
  const preload = `--require=${registerPath}`;
  const inherited = options.execArgv ?? process.execArgv;
  const execArgv = [preload, ...inherited.filter((arg) => arg !== preload)];
  if (options.env === workerThreads.SHARE_ENV) {
    // The worker reads this very process.env: it must still name the configuration.
    for (const name of CONFIGURATION_VARIABLES) {
      if (process.env[name] !== configuration[name]) {
        throw Object.assign(new Error(`shieldfs: cannot start a worker with env: SHARE_ENV: ${name} was changed in this process ` +
          'since the shield was installed, and the worker would run without it; restore it, or give the worker an env of its own'),
        { code: 'ERR_WORKER_INIT_FAILED' });
      }
    }
    return { ...options, execArgv };
  }
  // The worker's own environment (a copy of process.env by default): every variable as the caller
  // gave it but the shield's, which are this process's (a worker shares the process and its
  // volumes; another configuration there would not guard this process's volume paths).
  const env: Record<string, string | undefined> = { ...((options.env ?? process.env) as Record<string, string | undefined>) };
  for (const name of CONFIGURATION_VARIABLES) {
    if (configuration[name] === undefined) delete env[name];
    else env[name] = configuration[name];
  }
  // Node reads the worker's NODE_OPTIONS from this environment: the register stays first there too.
  const quoted = `--require="${registerPath.replace(/["\\]/g, '\\$&')}"`;
  if (!env.NODE_OPTIONS?.startsWith(quoted)) env.NODE_OPTIONS = env.NODE_OPTIONS ? `${quoted} ${env.NODE_OPTIONS}` : quoted;
  return { ...options, execArgv, env };
}
