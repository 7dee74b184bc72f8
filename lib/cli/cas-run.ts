// `shield run --cas URL --cas-key FP --session NAME --service SVC [--bind PATH=DIR]… [-- command args…]`
// (or SHIELD_CAS, SHIELD_CAS_KEY, SHIELD_SESSION, SHIELD_SERVICE): runs a service the way its owner's
// policy says, after attested release by the policy service (lib/cas/runtime.ts). A command given
// here is only checked against the policy's, never run instead of it.
import { isAbsolute, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { shieldError } from '../file/fs-errors.js';
import { usageError } from '../file/exit-status.js';

export interface CasRunOptions {
  cas?: string;
  casKey?: string;
  session?: string;
  service?: string;
  bind?: string[];
}

/** True when `shield run` is to ask a policy service rather than read a configuration file. */
export function wantsCas(options: CasRunOptions & { config?: string }): boolean {
  if (options.cas || options.session || options.service || (options.bind?.length ?? 0) > 0) return true;
  return options.config === undefined && !process.env.SHIELD_CONFIG && !!process.env.SHIELD_CAS;
}

export function collectBind(value: string, previous: string[] = []): string[] {
  return [...previous, value];
}

export async function runWithCas(command: string | undefined, args: string[], options: CasRunOptions): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  const { checkCasLocation } = await import('../cas/client.js');
  const { runInstance } = await import('../cas/runtime.js');
  let location, session: string, service: string;
  const binds = new Map<string, string>();
  try {
    location = checkCasLocation(options.cas ?? process.env.SHIELD_CAS, options.casKey ?? process.env.SHIELD_CAS_KEY);
    session = required(options.session ?? process.env.SHIELD_SESSION, '--session NAME (or SHIELD_SESSION)');
    service = required(options.service ?? process.env.SHIELD_SERVICE, '--service NAME (or SHIELD_SERVICE)');
    for (const bind of options.bind ?? []) {
      const at = bind.indexOf('=');
      const path = bind.slice(0, at), directory = bind.slice(at + 1);
      if (at <= 0 || !path.startsWith('/') || directory === '') throw shieldError('EINVAL', `--bind ${JSON.stringify(bind)}: expected MOUNT_PATH=HOST_DIRECTORY, e.g. /V1=/var/lib/counter`);
      if (binds.has(path)) throw shieldError('EINVAL', `--bind: ${path} is bound twice`);
      binds.set(path.replace(/\/+$/, ''), isAbsolute(directory) ? directory : resolve(directory));
    }
  } catch (error) {
    throw usageError(error);
  }
  const preload = new URL('../register/cas-instance.js', import.meta.url);
  if (!existsSync(fileURLToPath(preload))) {
    throw shieldError('EIO', `shieldfs's preload ${fileURLToPath(preload)} is missing; reinstall shieldfs (or build it: npm run build)`);
  }
  return runInstance({
    cas: location, session, service, binds,
    hostCommand: command === undefined ? null : [command, ...args],
    preloadUrl: pathToFileURL(fileURLToPath(preload)).href,
  });
}

function required(value: string | undefined, what: string): string {
  if (!value) throw shieldError('EINVAL', `shield run --cas needs ${what}`);
  return value;
}
