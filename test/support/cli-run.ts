// Runs the compiled `shield` CLI (dist/cli/shield.js) the way a user does: a separate node process
// with arguments, stdin, stdout and stderr, never imported into the test process.
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { expect } from 'vitest';

export const SHIELD_JS = fileURLToPath(new URL('../../dist/cli/shield.js', import.meta.url));
export const DIST_INDEX_JS = new URL('../../dist/index.js', import.meta.url).href;

export interface CliResult {
  status: number | null;
  stdout: Buffer;
  stderr: string;
  /** stdout as UTF-8. */
  out: string;
}

export interface CliOptions {
  input?: Buffer | string;
  /** Extra environment; `undefined` removes a variable. */
  env?: Record<string, string | undefined>;
  cwd?: string;
}

/** A `shield …` runner with a fixed base environment (e.g. SHIELD_TAG_STORE). */
export function cliRunner(baseEnv: Record<string, string | undefined>): (args: string[], options?: CliOptions) => CliResult {
  if (!existsSync(SHIELD_JS)) throw new Error(`${SHIELD_JS} is missing: run \`npx tsc -p tsconfig.build.json\` first`);
  return (args, options = {}) => {
    const env: Record<string, string> = {};
    for (const [name, value] of Object.entries({ ...process.env, ...baseEnv, ...options.env })) {
      if (value !== undefined) env[name] = value;
    }
    const result = spawnSync(process.execPath, [SHIELD_JS, ...args], {
      input: options.input ?? '',
      env,
      cwd: options.cwd,
      maxBuffer: 256 << 20,
      timeout: 30_000,
    });
    if (result.error) throw result.error;
    return { status: result.status, stdout: result.stdout, stderr: result.stderr.toString(), out: result.stdout.toString() };
  };
}

const ERROR_LINE = /^shield: (E[A-Z]+): .+\n$/;

/** The failure contract: exactly one line `shield: CODE: message` on stderr and the documented status. */
export function expectFailure(result: CliResult, code: string, status: number, message?: string | RegExp): string {
  expect(result.stderr, `stderr of a failed command (stdout: ${result.out.slice(0, 200)})`).toMatch(ERROR_LINE);
  expect(ERROR_LINE.exec(result.stderr)![1]).toBe(code);
  expect(result.status).toBe(status);
  if (message !== undefined) expect(result.stderr).toMatch(message);
  return result.stderr;
}

/** Success: status 0 and nothing on stderr (not a terminal: no progress bar). */
export function expectSuccess(result: CliResult): CliResult {
  expect(result.stderr, 'stderr of a successful command').toBe('');
  expect(result.status).toBe(0);
  return result;
}

/** Quotes an argument for sh -c. */
export function shellQuote(arg: string): string {
  return `'${arg.replace(/'/g, `'\\''`)}'`;
}
