// How the CLI fails: one line `shield: CODE: message` on stderr and an exit status per class of
// failure, so scripts can tell an attack from a typo (README, "Exit status").
export const EXIT_STATUS: Record<string, number> = {
  EINTEGRITY: 3,
  EROLLBACK: 4,
  EBADKEY: 5,
  EBUSY: 6,
  EATTEST: 7,
};
export const USAGE_STATUS = 2;
/** A refusal by the policy service (EACCES, EATTEST, EPOLICY, ELIMIT from lib/cas). */
export const REFUSED_STATUS = 7;
export const OTHER_STATUS = 1;

const USAGE = Symbol('shield.usage');

/** A bad option value found after commander parsed the line (e.g. a tag store URL): status 2. */
export function usageError(error: unknown): Error {
  const e = (error instanceof Error ? error : new Error(String(error))) as Error & { code?: string; [USAGE]?: boolean };
  e.code ??= 'EINVAL';
  e[USAGE] = true;
  return e;
}

export function exitStatusOf(code: string): number {
  return EXIT_STATUS[code] ?? OTHER_STATUS;
}

export function exitStatusOfError(error: unknown): number {
  if ((error as { [USAGE]?: boolean } | null)?.[USAGE]) return USAGE_STATUS;
  if ((error as { refusedByPolicyService?: boolean } | null)?.refusedByPolicyService === true) return REFUSED_STATUS;
  return exitStatusOf(errorLine(error).code);
}

/** The single stderr line for an error: `shield: CODE: message` (the message without a repeated code). */
export function errorLine(error: unknown): { line: string; code: string } {
  const e = error as NodeJS.ErrnoException;
  const raw = typeof e?.code === 'string' ? e.code : '';
  // Node's own ERR_* codes are not errno names: its argument errors (ERR_INVALID_ARG_VALUE, …) are
  // bad input, the rest are reported as I/O failures.
  const code = raw.startsWith('ERR_INVALID_ARG') ? 'EINVAL' : /^E[A-Z0-9]+$/.test(raw) ? raw : 'EIO';
  let message = e instanceof Error ? e.message : String(error);
  if (message.startsWith(`${code}: `)) message = message.slice(code.length + 2);
  message = message.replace(/\s*\n\s*/g, ' ').trim() || 'failed';
  return { line: `shield: ${code}: ${message}`, code };
}
