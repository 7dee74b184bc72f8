// `shield run [--config <file>] -- <command> [args…]`: runs a program with the mounts of a shieldfs
// configuration. The configuration is checked here first (so a typo fails before the program
// starts, as one `shield:` line), then the program runs with
//   SHIELD_CONFIG  the configuration's absolute path, and
//   SHIELD_CONFIG_CHECKED  the configuration as checked (so that no process reads the file again),
//   NODE_OPTIONS   `--require="<shieldfs/register>"` in front of what was there (the first preload of all),
// so that every Node process it starts (and their children) mounts the configuration before any
// application code runs. Programs that are not Node get the environment and nothing else.
//
// `shield run` is transparent: stdio is the program's own (inherited, not piped), the signals a
// terminal or supervisor sends are passed on, and it ends as the program ended: the same exit
// code, or death by the same signal.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { constants } from 'node:os';
import { resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Command } from 'commander';
import { shieldError } from '../file/fs-errors.js';
import { errorLine, usageError } from '../file/exit-status.js';
import { collectBind, runWithCas, wantsCas, type CasRunOptions } from './cas-run.js';

// What a terminal (Ctrl-C, Ctrl-\, hang-up) or a supervisor (stop) sends to end a program.
const FORWARDED_SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT'] as const;
// The shell's statuses for a command that cannot be run.
const NOT_FOUND_STATUS = 127;
const NOT_EXECUTABLE_STATUS = 126;

export function runCommand(): Command {
  return new Command('run')
    .summary('run a command with the mounts of a shieldfs configuration, or a service as its policy (--cas) says')
    .description('run a command with the mounts of a shieldfs configuration: checks the configuration and its keys, then runs ' +
      'the command with SHIELD_CONFIG set and shieldfs/register added to NODE_OPTIONS; exits as the command does')
    .option('--config <file>', 'the configuration (YAML or JSON) (default: $SHIELD_CONFIG)')
    .option('--cas <url>', 'instead: ask this policy service for the service\'s policy by attested release (default: $SHIELD_CAS)')
    .option('--cas-key <fingerprint>', 'the policy service\'s pinned key (default: $SHIELD_CAS_KEY)')
    .option('--session <name>', 'with --cas: the session (default: $SHIELD_SESSION)')
    .option('--service <name>', 'with --cas: the service of the session (default: $SHIELD_SERVICE)')
    .option('--bind <path=dir>', 'with --cas: the host directory holding a mount path\'s bytes (default: the path itself); repeatable', collectBind, [] as string[])
    .argument('[command]', 'the program to run (looked up in PATH); with --cas optional, and refused unless it is the policy\'s')
    .argument('[args...]', 'its arguments (put `--` before the command so that its options are not taken for shield\'s)')
    // Everything from the command on is the command's, options included.
    .passThroughOptions()
    .action((command: string | undefined, args: string[], options: { config?: string } & CasRunOptions) => run(command, args, options));
}

async function run(command: string | undefined, args: string[], options: { config?: string } & CasRunOptions): Promise<void> {
  if (wantsCas(options)) {
    if (options.config !== undefined) throw usageError(shieldError('EINVAL', '--config and --cas exclude each other: a service started by the policy service gets its mounts from it'));
    const ended = await runWithCas(command, args, options);
    if (ended.signal) dieOf(ended.signal);
    process.exitCode = ended.code ?? 1;
    return;
  }
  if (command === undefined) throw usageError(shieldError('EINVAL', "missing required argument 'command': give the program to run after `--`"));
  const given = options.config ?? process.env.SHIELD_CONFIG;
  if (!given) throw usageError(shieldError('EINVAL', 'no configuration: give --config <file> or set SHIELD_CONFIG'));
  const configPath = resolve(given);
  const checked = await checkConfig(configPath);
  const register = registerModuleUrl();
  const registerPath = fileURLToPath(register);
  if (!existsSync(registerPath)) {
    throw shieldError('EIO', `shieldfs's register module is missing (${registerPath}); reinstall shieldfs (or build it: npm run build)`, registerPath);
  }
  const env = {
    ...process.env, SHIELD_CONFIG: configPath, [checked.variable]: checked.text,
    NODE_OPTIONS: nodeOptionsWith(process.env.NODE_OPTIONS, register),
  };
  const ended = await runChild(command, args, env);
  if ('spawnError' in ended) {
    const { code } = ended.spawnError;
    if (code !== 'ENOENT' && code !== 'EACCES') throw ended.spawnError;
    const why = code === 'ENOENT' ? 'command not found' : 'permission denied (not an executable file?)';
    process.stderr.write(errorLine(shieldError(code, `cannot run ${command}: ${why}`, command)).line + '\n');
    process.exitCode = code === 'ENOENT' ? NOT_FOUND_STATUS : NOT_EXECUTABLE_STATUS;
    return;
  }
  if (ended.signal) dieOf(ended.signal);
  process.exitCode = ended.code ?? 1;
}

// The configuration and every key in it, as the register module will read them in the program: a
// mistake is reported here, once, instead of failing inside the program (or in each of its children).
// What was checked is what the program gets: the variable and its text (mount-config.ts).
async function checkConfig(configPath: string): Promise<{ variable: string; text: string }> {
  let config: typeof import('../fs/mount-config.js');
  let keys: typeof import('../file/keys.js');
  try {
    [config, keys] = await Promise.all([import('../fs/mount-config.js'), import('../file/keys.js')]);
  } catch (error) {
    throw shieldError('EIO', `cannot load shieldfs's native addon: ${(error as Error).message}; ` +
      'reinstall shieldfs (npm install builds or fetches the addon)');
  }
  const checked = config.loadShieldConfig(configPath);
  for (const spec of checked.mounts) keys.wipeKey(config.resolveMountKey(spec));
  return { variable: config.CHECKED_CONFIG_VARIABLE, text: config.checkedConfigText(checked, configPath) };
}

/**
 * Where the register module is: next to the compiled CLI (dist/cli/run-command.js → dist/register.js).
 * SHIELDFS_REGISTER_MODULE (a path or file URL) replaces it, as SHIELDFS_ADDON replaces the addon:
 * for tests and instrumented builds.
 */
export function registerModuleUrl(env: NodeJS.ProcessEnv = process.env): string {
  const replacement = env.SHIELDFS_REGISTER_MODULE;
  if (replacement) return replacement.startsWith('file:') ? replacement : pathToFileURL(resolve(replacement)).href;
  return new URL('../register.js', import.meta.url).href;
}

/**
 * NODE_OPTIONS with the register module as the very first preload. Node runs every `--require`
 * (`-r`) preload before any `--import` one, in order, so `--require` first is the only place where
 * no other preload, of either kind, runs before the shield: a `-r` in NODE_OPTIONS planted by the
 * host would otherwise read the disk at the mount paths before the mounts exist. (The register is an
 * ES module without top-level await, which `require` loads since Node 20.19.) The path is quoted as
 * NODE_OPTIONS quotes (`"…"`, with `\\` and `\"` inside). Added once, however deeply `shield run` is nested.
 */
export function nodeOptionsWith(existing: string | undefined, registerUrl: string): string {
  const path = registerUrl.startsWith('file:') ? fileURLToPath(registerUrl) : registerUrl;
  const ours = `--require="${path.replace(/["\\]/g, '\\$&')}"`;
  const rest = existing?.trim() ?? '';
  if (rest === ours || rest.startsWith(`${ours} `)) return rest;
  return rest ? `${ours} ${rest}` : ours;
}

type ChildEnd = { code: number | null; signal: NodeJS.Signals | null } | { spawnError: NodeJS.ErrnoException };

function runChild(command: string, args: string[], env: NodeJS.ProcessEnv): Promise<ChildEnd> {
  return new Promise((resolvePromise) => {
    const child = spawn(command, args, { stdio: 'inherit', env });
    // A terminal sends Ctrl-C to the whole foreground process group, so the program may get SIGINT
    // twice (from the terminal and from us); a supervisor's `kill <pid>` reaches only us, and
    // without forwarding the program would never hear of it.
    const forward = (signal: NodeJS.Signals) => {
      child.kill(signal);
    };
    for (const signal of FORWARDED_SIGNALS) process.on(signal, forward);
    const stopForwarding = () => {
      for (const signal of FORWARDED_SIGNALS) process.off(signal, forward);
    };
    child.once('exit', (code, signal) => {
      stopForwarding();
      resolvePromise({ code, signal });
    });
    child.on('error', (error: NodeJS.ErrnoException) => {
      // After a successful start, 'error' only reports a signal that could not be delivered (the
      // program had just ended): its 'exit' follows.
      if (child.pid !== undefined) return;
      stopForwarding();
      resolvePromise({ spawnError: error });
    });
  });
}

// The program died of `signal`: so do we (our handlers are gone, so its default action applies),
// and whoever started `shield run` sees the same termination. Where the default action would not
// end the process (Node ignores SIGPIPE, and SIGUSR1 starts its inspector), the shell's 128 + n.
function dieOf(signal: NodeJS.Signals): void {
  if (signal !== 'SIGUSR1') {
    try {
      process.kill(process.pid, signal);
    } catch {
      // falls through to the status
    }
  }
  process.exit(128 + (constants.signals[signal] ?? 0));
}
