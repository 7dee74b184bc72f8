// The process-wide shield: the one `shieldfs/register` installs (from SHIELD_CONFIG), patched into
// node:fs itself so that unmodified code, and Node's own module loader, read through it.
// The default export is node:fs's own module object (a namespace import would be read-only).
import nodeFs from 'node:fs';
import { syncBuiltinESMExports } from 'node:module';
import { errorLine, exitStatusOfError } from '../file/exit-status.js';
import type { Shield } from './mount.js';
import { reportUncaughtShieldFailures } from './shield-failures.js';

let installed: Shield | null = null;

/** The shield register installed, or null. */
export function processShield(): Shield | null {
  return installed;
}

/**
 * Makes `shield` the process's file system: replaces the functions of node:fs and node:fs/promises
 * in place (so `require('fs')`, `import fs from 'node:fs'` and named ESM imports all see it), and
 * commits every volume when the process exits or is told to stop.
 */
export function installProcessShield(shield: Shield): void {
  if (installed) throw new Error('shieldfs: a process-wide shield is already installed');
  installed = shield;
  const target = nodeFs as unknown as Record<string, unknown>;
  const promises = nodeFs.promises as unknown as Record<string, unknown>;
  for (const [name, value] of Object.entries(shield.fs)) {
    if (name !== 'promises' && typeof value === 'function' && target[name] !== value) target[name] = value;
  }
  for (const [name, value] of Object.entries(shield.promises)) {
    if (typeof value === 'function' && promises[name] !== value) promises[name] = value;
  }
  syncBuiltinESMExports();
  shield.reachedThrough(nodeFs);
  commitAtExit(shield);
  reportUncaughtShieldFailures();
}

function commitAtExit(shield: Shield): void {
  const unmount = () => {
    try {
      shield.unmountSync();
    } catch (error) {
      reportFailure(error);
    }
  };
  process.on('exit', unmount);
  for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) {
    const onSignal = () => {
      // The application has its own handler: it decides whether to stop; make its data durable now.
      if (process.listenerCount(signal) > 1) {
        try {
          shield.commitSync();
        } catch (error) {
          reportFailure(error);
        }
        return;
      }
      unmount();
      process.removeListener(signal, onSignal);
      process.kill(process.pid, signal);  // the default action: the caller sees the same termination
    };
    process.on(signal, onSignal);
  }
}

/** A shield failure: one line `shield: CODE: message` on stderr, and the CLI's exit status. */
export function reportFailure(error: unknown): void {
  process.stderr.write(errorLine(error).line + '\n');
  process.exitCode = exitStatusOfError(error);
}
