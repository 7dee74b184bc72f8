// A real 3-member etcd cluster on loopback (the Debian package etcd-server's binary), with throw-away
// data directories, for the policy service's replicated store. Members can be killed one by one.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ETCD_INSTALL_HINT, findEtcdBinary, unusedPort } from './etcd-server.js';

export interface EtcdCluster {
  /** etcd://HOST:PORT,HOST:PORT,HOST:PORT */
  url: string;
  kill(member: number): Promise<void>;
  stop(): Promise<void>;
}

export async function startEtcdCluster(size = 3): Promise<EtcdCluster> {
  const binary = findEtcdBinary();
  if (binary === null) throw new Error(`no etcd binary on PATH: ${ETCD_INSTALL_HINT}`);
  const members: { name: string; client: number; peer: number; dir: string }[] = [];
  for (let i = 0; i < size; i++) members.push({ name: `m${i}`, client: await unusedPort(), peer: await unusedPort(), dir: mkdtempSync(join(tmpdir(), 'shieldfs-etcd-cluster-')) });
  const initial = members.map((m) => `${m.name}=http://127.0.0.1:${m.peer}`).join(',');
  const children: ChildProcess[] = members.map((m) => spawn(binary, [
    '--name', m.name, '--data-dir', m.dir,
    '--listen-client-urls', `http://127.0.0.1:${m.client}`, '--advertise-client-urls', `http://127.0.0.1:${m.client}`,
    '--listen-peer-urls', `http://127.0.0.1:${m.peer}`, '--initial-advertise-peer-urls', `http://127.0.0.1:${m.peer}`,
    '--initial-cluster', initial, '--initial-cluster-state', 'new', '--initial-cluster-token', `shieldfs-${process.pid}`,
    '--log-level', 'error',
  ], { stdio: 'ignore' }));
  const exits = children.map((child) => new Promise<void>((resolve) => child.once('exit', () => resolve())));
  const deadline = Date.now() + 30_000;
  for (const m of members) {
    while (!(await healthy(`http://127.0.0.1:${m.client}`))) {
      if (Date.now() > deadline) throw new Error('the etcd cluster did not become healthy within 30 s');
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  }
  const kill = async (i: number) => {
    const child = children[i]!;
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await exits[i];
  };
  return {
    url: `etcd://${members.map((m) => `127.0.0.1:${m.client}`).join(',')}`,
    kill,
    async stop() {
      for (let i = 0; i < size; i++) await kill(i);
      for (const m of members) rmSync(m.dir, { recursive: true, force: true });
    },
  };
}

async function healthy(url: string): Promise<boolean> {
  try {
    const response = await fetch(`${url}/health`, { signal: AbortSignal.timeout(1000) });
    return response.ok && ((await response.json()) as { health?: string }).health === 'true';
  } catch {
    return false;
  }
}
