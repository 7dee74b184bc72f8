// How the CLI fails: one line `shield: CODE: message` on stderr and an exit status per class of
// failure, so scripts can tell an attack from a typo (README, "Exit status").
export const EXIT_STATUS: Record<string, number> = {
  EINTEGRITY: 3,
  EROLLBACK: 4,
  EBADKEY: 5,
  EBUSY: 6,
};
export const USAGE_STATUS = 2;
export const OTHER_STATUS = 1;

export function exitStatusOf(code: string): number {
  return EXIT_STATUS[code] ?? OTHER_STATUS;
}

/** The single stderr line for an error: `shield: CODE: message` (the message without a repeated code). */
export function errorLine(error: unknown): { line: string; code: string } {
  const e = error as NodeJS.ErrnoException;
  const code = typeof e?.code === 'string' && /^E[A-Z0-9_]+$/.test(e.code) ? e.code : 'EIO';
  let message = e instanceof Error ? e.message : String(error);
  if (message.startsWith(`${code}: `)) message = message.slice(code.length + 2);
  return { line: `shield: ${code}: ${message.replace(/\s*\n\s*/g, ' ')}`, code };
}
