// The policy service on a 3-member etcd cluster with two replicas: they share one state (every change
// one etcd transaction), and under a load of releases and tag updates, with one etcd member and one
// replica killed, no tag update is lost, no execution goes over the limit, and clients that retry on
// the other replica carry on.
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CasClient } from '../lib/cas/client.js';
import { requestRelease, simulationEvidenceSource } from '../lib/cas/instance.js';
import type { ReleasedConfiguration } from '../lib/cas/service.js';
import { cliRunner, expectSuccess } from './support/cli-run.js';
import { startCasService, type CasService } from './support/cas-service.js';
import { startEtcdCluster, type EtcdCluster } from './support/etcd-cluster.js';
import { useTempDir } from './support/temp.js';

const temp = useTempDir('shieldfs-cas-etcd-');
const shield = cliRunner({ SHIELD_CAS: undefined, SHIELD_CAS_KEY: undefined, SHIELD_IDENTITY: undefined });
const MEASUREMENT = 'ef'.repeat(32);
let cluster: EtcdCluster;
let replicas: CasService[] = [];
const owner = temp('owner.pem');

beforeAll(async () => {
  cluster = await startEtcdCluster(3);
  const masterKey = temp('master.key');
  writeFileSync(masterKey, randomBytes(32).toString('hex') + '\n', { mode: 0o600 });
  replicas.push(await startCasService(cluster.url, ['--master-key-file', masterKey]));
  replicas.push(await startCasService(cluster.url, ['--master-key-file', masterKey]));
  expectSuccess(shield(['identity', 'create', '--identity', owner]));
}, 90_000);
afterAll(async () => {
  for (const replica of replicas) await replica.stop('SIGKILL');
  await cluster?.stop();
});

function createSession(name: string, maxExecutions: number): void {
  const file = temp(`${name.replace('/', '_')}.yaml`);
  writeFileSync(file, [`name: ${name}`, 'version: "0.3"', 'services:', '  - name: svc', '    image_name: img', '    command: "node /app/a.cjs"',
    `    measurement: "${MEASUREMENT}"`, `    max_executions: ${maxExecutions}`, 'volumes:', '  - { name: V1 }',
    'images:', '  - { name: img, volumes: [ { name: V1, path: /V1 } ] }', 'security:', '  attestation: { tolerate: [simulation] }', ''].join('\n'));
  expectSuccess(shield(['session', 'create', file], { env: { SHIELD_CAS: replicas[0]!.url, SHIELD_CAS_KEY: replicas[0]!.key, SHIELD_IDENTITY: owner } }));
}

/** A client given both replicas (`--cas A,B`): it moves to the other one when one cannot be reached. */
async function onAnyReplica<T>(call: (client: CasClient) => Promise<T>): Promise<T> {
  let last: unknown;
  // While etcd elects a new leader both replicas may answer 503 for a moment: the caller waits and retries.
  for (let attempt = 0; attempt < 20; attempt++) {
    const client = new CasClient({ url: replicas.map((r) => r.url).join(','), key: replicas[0]!.key });
    try {
      return await call(client);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'ELIMIT' || code === 'EATTEST' || code === 'EPOLICY' || code === 'EACCES') throw error;
      last = error;
    } finally {
      client.close();
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  throw last;
}

describe('replicas on etcd', () => {
  it('share one identity and one state', () => {
    expect(replicas[1]!.key).toBe(replicas[0]!.key);
    createSession('etcd/shared', 5);
    const shown = shield(['session', 'show', 'etcd/shared', '--json'], { env: { SHIELD_CAS: replicas[1]!.url, SHIELD_CAS_KEY: replicas[1]!.key, SHIELD_IDENTITY: owner } });
    expect(JSON.parse(expectSuccess(shown).out).name).toBe('etcd/shared');
  });

  it('a load of releases and tag updates survives a killed etcd member and a killed replica: no lost update, no execution over the limit', async () => {
    const limit = 25;
    createSession('etcd/load', limit);
    const release = () => onAnyReplica((client) => requestRelease(client, { session: 'etcd/load', service: 'svc', hostCommand: null, evidence: simulationEvidenceSource(MEASUREMENT) }));
    const first: ReleasedConfiguration = await release();
    const volumeId = 'a7'.repeat(16);
    const tag = (n: number) => n.toString(16).padStart(64, '0');
    const cas = (expected: string | null, next: string) => onAnyReplica((client) =>
      client.call<{ swapped: boolean }>('POST', '/v1/tags/compare-and-set', { credential: first.credential, volume: 'V1', volumeId, expected, next }).then((r) => r.swapped));
    const get = () => onAnyReplica((client) =>
      client.call<{ tag: string | null }>('POST', '/v1/tags/get', { credential: first.credential, volume: 'V1', volumeId }).then((r) => r.tag));

    let granted = 1, committed = 0, stop = false;
    // One writer commits tag after tag; an unanswered commit is settled by reading the tag back.
    const writer = (async () => {
      let current: string | null = null;
      for (let n = 1; !stop || n <= 40; n++) {
        if (n > 200) break;
        const next = tag(n);
        let swapped: boolean;
        try {
          swapped = await cas(current, next);
        } catch {
          swapped = (await get()) === next;
        }
        if (!swapped && (await get()) === next) swapped = true;  // a retried commit that had landed
        expect(swapped, `commit ${n}`).toBe(true);
        current = next;
        committed = n;
      }
    })();
    const starters = Array.from({ length: 6 }, async () => {
      while (!stop) {
        try {
          await release();
          granted++;
        } catch (error) {
          if ((error as NodeJS.ErrnoException).code === 'ELIMIT') return;
        }
      }
    });
    await new Promise((resolve) => setTimeout(resolve, 400));
    await cluster.kill(1);
    await replicas[0]!.stop('SIGKILL');
    await new Promise((resolve) => setTimeout(resolve, 400));
    stop = true;
    await Promise.all([writer, ...starters]);
    expect(committed).toBeGreaterThanOrEqual(40);
    expect(await get()).toBe(tag(committed));
    expect(granted).toBeLessThanOrEqual(limit);
    // Run to the limit on the surviving replica: exactly `limit` in all, counted by the service.
    for (;;) {
      try {
        await release();
        granted++;
      } catch (error) {
        expect((error as NodeJS.ErrnoException).code).toBe('ELIMIT');
        break;
      }
    }
    expect(granted).toBeLessThanOrEqual(limit);
    // The CLI given both replicas, the first of them dead, answers from the second.
    const both = replicas.map((r) => r.url).join(',');
    const shown = shield(['session', 'show', 'etcd/load', '--json'], { env: { SHIELD_CAS: both, SHIELD_CAS_KEY: replicas[1]!.key, SHIELD_IDENTITY: owner } });
    expect(JSON.parse(expectSuccess(shown).out).executions.svc).toBe(limit);
  }, 120_000);
});
