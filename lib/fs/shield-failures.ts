// A shield failure that nobody catches — a module of a protected tree changed on the disk
// (EINTEGRITY), a volume rolled back under a running service (EROLLBACK), a wrong key (EBADKEY) —
// ends the process the way the README promises for every shield failure of a program under
// `shield run` or `shieldfs/register`: one `shield: CODE: message` line on stderr and the CLI's exit
// status (3, 4, 5), instead of Node's stack trace and status 1, which a supervisor cannot tell from
// an ordinary crash.
//
// It watches 'uncaughtExceptionMonitor', which sees every uncaught error (also an unhandled
// rejection, and an ES module that failed to load) before Node's own handler, without changing
// anything for the errors it leaves alone. A program with its own 'uncaughtException' handler, or a
// capture callback, has chosen to deal with uncaught errors itself: then nothing changes.
import { errorLine, exitStatusOfError } from '../file/exit-status.js';

const SHIELD_FAILURES = ['EINTEGRITY', 'EROLLBACK', 'EBADKEY'];

let installed = false;

export function reportUncaughtShieldFailures(): void {
  if (installed) return;
  installed = true;
  process.on('uncaughtExceptionMonitor', (error) => {
    if (process.listenerCount('uncaughtException') > 0 || process.hasUncaughtExceptionCaptureCallback()) return;
    const failure = shieldFailure(error);
    if (!failure) return;
    process.stderr.write(`${errorLine(failure).line}\n`);
    process.exit(exitStatusOfError(failure));
  });
}

/**
 * The shield failure an uncaught error is, or null. An error that crossed a thread (Node 20's
 * module-hooks thread) may have lost its `code` but keeps the message, which starts with it.
 */
function shieldFailure(error: unknown): NodeJS.ErrnoException | null {
  if (!(error instanceof Error)) return null;
  const found = error as NodeJS.ErrnoException;
  if (typeof found.code === 'string' && SHIELD_FAILURES.includes(found.code)) return found;
  const code = /^(E[A-Z]+): /.exec(found.message)?.[1];
  if (code === undefined || !SHIELD_FAILURES.includes(code)) return null;
  return Object.assign(new Error(found.message), { code });
}
