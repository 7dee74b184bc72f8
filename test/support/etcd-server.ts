// A real single-member etcd for the tag store tests: the Debian package etcd-server's binary, on free
// loopback ports, with a throw-away data directory. Tests talk to it exactly as production would.
import { spawn } from 'node:child_process';
import { accessSync, constants, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';

export interface EtcdServer {
  /** `127.0.0.1:PORT`, the client endpoint. */
  readonly endpoint: string;
  /** `etcd://127.0.0.1:PORT`, a tag store URL for this server. */
  readonly url: string;
  stop(): Promise<void>;
}

export const ETCD_INSTALL_HINT = 'install the Debian package etcd-server (apt-get install etcd-server)';

/** The etcd binary on PATH, or null when there is none. */
export function findEtcdBinary(): string | null {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (!dir) continue;
    const candidate = join(dir, 'etcd');
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not in this directory
    }
  }
  return null;
}

/** A loopback port that nothing listened on a moment ago (another process may still take it). */
export async function unusedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (address === null || typeof address === 'string') throw new Error('no TCP address from listen(0)');
  return address.port;
}

const STARTUP_TIMEOUT_MS = 20_000;
const STARTUP_ATTEMPTS = 3;

/**
 * Starts etcd and resolves once /health says it serves requests. Retries on fresh ports, since a
 * port found free by unusedPort() can be taken by someone else before etcd binds it.
 */
export async function startEtcdServer(binary = findEtcdBinary()): Promise<EtcdServer> {
  if (binary === null) throw new Error(`no etcd binary on PATH: ${ETCD_INSTALL_HINT}`);
  let lastError: unknown;
  for (let attempt = 1; attempt <= STARTUP_ATTEMPTS; attempt++) {
    try {
      return await startOnce(binary);
    } catch (error) {
      lastError = error;
    }
  }
  throw lastError;
}

async function startOnce(binary: string): Promise<EtcdServer> {
  const clientPort = await unusedPort();
  const peerPort = await unusedPort();
  const dataDir = mkdtempSync(join(tmpdir(), 'shieldfs-etcd-'));
  const clientUrl = `http://127.0.0.1:${clientPort}`;
  const peerUrl = `http://127.0.0.1:${peerPort}`;
  const child = spawn(binary, [
    '--name', 'shieldfs-test',
    '--data-dir', dataDir,
    '--listen-client-urls', clientUrl,
    '--advertise-client-urls', clientUrl,
    '--listen-peer-urls', peerUrl,
    '--initial-advertise-peer-urls', peerUrl,
    '--initial-cluster', `shieldfs-test=${peerUrl}`,
    '--initial-cluster-state', 'new',
    '--log-level', 'error',
  ], { stdio: ['ignore', 'ignore', 'pipe'] });

  // Keep the end of etcd's log for the error message when it does not come up.
  let log = '';
  child.stderr!.setEncoding('utf8');
  child.stderr!.on('data', (text: string) => { log = (log + text).slice(-4000); });
  let exited = false;
  const exit = new Promise<void>((resolve) => child.once('exit', () => { exited = true; resolve(); }));
  child.once('error', (error) => { log += `\nspawn failed: ${error.message}`; exited = true; });

  const stop = async () => {
    if (!exited) {
      child.kill('SIGTERM');
      const killTimer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exit;
      clearTimeout(killTimer);
    }
    rmSync(dataDir, { recursive: true, force: true });
  };

  const deadline = Date.now() + STARTUP_TIMEOUT_MS;
  while (!(await isHealthy(clientUrl))) {
    if (exited || Date.now() > deadline) {
      await stop();
      throw new Error(`etcd did not become healthy on ${clientUrl} (${exited ? 'it exited' : 'timed out'}):\n${log}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return { endpoint: `127.0.0.1:${clientPort}`, url: `etcd://127.0.0.1:${clientPort}`, stop };
}

async function isHealthy(clientUrl: string): Promise<boolean> {
  try {
    const response = await fetch(`${clientUrl}/health`, { signal: AbortSignal.timeout(1000) });
    const body = (await response.json()) as { health?: string };
    return response.ok && body.health === 'true';
  } catch {
    return false;
  }
}
