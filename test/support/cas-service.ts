// A real policy service for tests: `shield cas serve` from the compiled CLI as a child process on a
// free loopback port, with a throw-away store. Tests talk to it over HTTPS exactly as users do.
import { spawn, type ChildProcess } from 'node:child_process';
import { SHIELD_JS } from './cli-run.js';

export interface CasService {
  url: string;
  key: string;
  child: ChildProcess;
  /** Everything the service wrote on stderr so far. */
  stderr(): string;
  stop(signal?: NodeJS.Signals): Promise<void>;
}

export async function startCasService(store: string, extraArgs: string[] = [], listen = '127.0.0.1:0'): Promise<CasService> {
  const child = spawn(process.execPath, [SHIELD_JS, 'cas', 'serve', '--store', store, '--listen', listen, '--json', ...extraArgs], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr!.on('data', (piece: Buffer) => { stderr += piece.toString(); });
  const ready = await new Promise<{ url: string; key: string }>((resolve, reject) => {
    let stdout = '';
    const timer = setTimeout(() => reject(new Error(`shield cas serve did not get ready in 20 s; stderr: ${stderr}`)), 20_000);
    child.stdout!.on('data', (piece: Buffer) => {
      stdout += piece.toString();
      const line = stdout.split('\n')[0];
      if (stdout.includes('\n')) {
        clearTimeout(timer);
        try {
          resolve(JSON.parse(line!));
        } catch {
          reject(new Error(`unexpected ready line ${JSON.stringify(line)}`));
        }
      }
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`shield cas serve ended (${code ?? signal}) before it was ready; stderr: ${stderr}`));
    });
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  return {
    ...ready,
    child,
    stderr: () => stderr,
    async stop(signal: NodeJS.Signals = 'SIGTERM') {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      await exited;
    },
  };
}
