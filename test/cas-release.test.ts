// Attested release against a real `shield cas serve` over HTTPS: the instance side is the client
// library (lib/cas/instance.ts) as `shield run` uses it; owners and signers use the CLI.
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CasClient } from '../lib/cas/client.js';
import { exchangeRelease, requestRelease, simulationEvidenceSource } from '../lib/cas/instance.js';
import { ephemeralKeyPair } from '../lib/cas/release.js';
import { cliRunner, expectFailure, expectSuccess } from './support/cli-run.js';
import { startCasService, type CasService } from './support/cas-service.js';
import { useTempDir } from './support/temp.js';

const temp = useTempDir('shieldfs-cas-release-');
const shield = cliRunner({ SHIELD_CAS: undefined, SHIELD_CAS_KEY: undefined, SHIELD_IDENTITY: undefined });
const STORE = temp('store');
const MEASUREMENT = 'cd'.repeat(32);
const TREE_KEY = '5e'.repeat(32);
let cas: CasService;
const owner = temp('owner.pem');
const signers = [temp('s1.pem'), temp('s2.pem'), temp('s3.pem')];
let signerKeys: string[] = [];

function as(identity: string) {
  return (args: string[]) => shield(args, { env: { SHIELD_CAS: cas.url, SHIELD_CAS_KEY: cas.key, SHIELD_IDENTITY: identity } });
}

function writeSession(name: string, options: { maxExecutions?: number; tolerate?: string; predecessor?: string; approvals?: string } = {}): string {
  const file = temp(`${name.replace(/\//g, '_')}-${randomBytes(4).toString('hex')}.yaml`);
  writeFileSync(file, [
    `name: ${name}`, 'version: "0.3"', ...(options.predecessor ? [`predecessor: ${options.predecessor}`] : []),
    'services:', '  - name: counter', '    image_name: counter_image', '    command: ["node", "/app/app.cjs", "/V1/num"]',
    '    environment: { LANG: C.UTF-8, MODE: policy }', '    pwd: /app', `    measurement: ${MEASUREMENT}`,
    ...(options.maxExecutions ? [`    max_executions: ${options.maxExecutions}`] : []),
    '    trees:', `      - { path: /app, key: ${TREE_KEY}, tag: ${'7a'.repeat(32)} }`,
    'volumes:', '  - { name: V1 }', 'images:', '  - { name: counter_image, volumes: [ { name: V1, path: /V1 } ] }',
    'security:', `  attestation: { tolerate: [${options.tolerate ?? 'simulation'}] }`, options.approvals ?? '',
  ].join('\n') + '\n');
  return file;
}

function create(name: string, options: Parameters<typeof writeSession>[1] = {}): string {
  return expectSuccess(as(owner)(['session', 'create', writeSession(name, options)])).out.trim();
}

function executions(name: string): number {
  return JSON.parse(expectSuccess(as(owner)(['session', 'show', name, '--json'])).out).executions.counter;
}

function client(): CasClient {
  return new CasClient({ url: cas.url, key: cas.key });
}

async function release(name: string, options: { measurement?: string; hostCommand?: string[] | null } = {}) {
  const c = client();
  try {
    return await requestRelease(c, { session: name, service: 'counter', hostCommand: options.hostCommand ?? null, evidence: simulationEvidenceSource(options.measurement ?? MEASUREMENT) });
  } finally {
    c.close();
  }
}

async function refusalOf(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (error) {
    return `${(error as NodeJS.ErrnoException).code}: ${(error as Error).message}`;
  }
  throw new Error('expected a refusal, got a release');
}

beforeAll(async () => {
  cas = await startCasService(STORE);
  expectSuccess(shield(['identity', 'create', '--identity', owner]));
  signerKeys = signers.map((file) => expectSuccess(shield(['identity', 'create', '--identity', file])).out.trim());
});
afterAll(async () => {
  await cas?.stop();
});

describe('attested release', () => {
  it('gives an attested instance its policy: command, environment, pwd, mounts with keys, a credential', async () => {
    const hash = create('rel/basic');
    const config = await release('rel/basic');
    expect(config.sessionHash).toBe(hash);
    expect(config.command).toEqual(['node', '/app/app.cjs', '/V1/num']);
    expect(config.environment).toEqual({ LANG: 'C.UTF-8', MODE: 'policy' });
    expect(config.pwd).toBe('/app');
    expect(config.mounts).toEqual([
      { kind: 'tree', path: '/app', key: TREE_KEY, tag: '7a'.repeat(32) },
      { kind: 'volume', path: '/V1', volume: 'V1', key: expect.stringMatching(/^[0-9a-f]{64}$/), updatePolicy: 'rollback_protected', volumeId: null, tag: null },
    ]);
    expect(config.credential).toMatch(/^[0-9a-f]{64}$/);
    // The volume key is the service's, the same for every release of the session.
    const again = await release('rel/basic');
    expect(again.mounts[1]).toEqual(config.mounts[1]);
    expect(again.credential).not.toBe(config.credential);
    expect(executions('rel/basic')).toBe(2);
  });

  it('refuses replayed evidence (a used nonce) with EATTEST', async () => {
    create('rel/replay');
    const c = client();
    try {
      const first = await exchangeRelease(c, { session: 'rel/replay', service: 'counter', hostCommand: null, evidence: simulationEvidenceSource(MEASUREMENT) });
      first.open();
      const replay = await refusalOf(c.call('POST', '/v1/release', first.request));
      expect(replay).toMatch(/^EATTEST: .*nonce was used already/);
    } finally {
      c.close();
    }
    expect(executions('rel/replay')).toBe(1);
  });

  it('refuses evidence bound to another instance\'s key with EATTEST', async () => {
    create('rel/bound');
    const c = client();
    try {
      const theirs = await exchangeRelease(c, { session: 'rel/bound', service: 'counter', hostCommand: null, evidence: simulationEvidenceSource(MEASUREMENT) });
      // Another instance takes that evidence, with a fresh nonce and its own key.
      const { nonce } = await c.call<{ nonce: string }>('GET', '/v1/nonce');
      const stolen = { ...theirs.request, nonce, publicKey: ephemeralKeyPair().publicKey.toString('base64') };
      expect(await refusalOf(c.call('POST', '/v1/release', stolen))).toMatch(/^EATTEST: .*report data/);
    } finally {
      c.close();
    }
  });

  it('detects a tampered response (ciphertext, key or signature changed) with EATTEST', async () => {
    create('rel/tamper');
    const c = client();
    try {
      for (const field of ['ciphertext', 'servicePublicKey', 'signature', 'iv'] as const) {
        const exchange = await exchangeRelease(c, { session: 'rel/tamper', service: 'counter', hostCommand: null, evidence: simulationEvidenceSource(MEASUREMENT) });
        const bytes = Buffer.from(exchange.response[field], 'base64');
        bytes[bytes.length >> 1]! ^= 0x01;
        exchange.response[field] = bytes.toString('base64');
        expect(() => exchange.open(), field).toThrow(/EATTEST/);
      }
    } finally {
      c.close();
    }
  });

  it('refuses a measurement the policy does not list, and simulation where not tolerated (EATTEST), consuming no execution', async () => {
    create('rel/measure', { maxExecutions: 1 });
    expect(await refusalOf(release('rel/measure', { measurement: 'ee'.repeat(32) }))).toMatch(/^EATTEST: .*measurement/);
    create('rel/hardware-only', { tolerate: '' });
    expect(await refusalOf(release('rel/hardware-only'))).toMatch(/^EATTEST: .*simulation evidence proves nothing/);
    expect(executions('rel/measure')).toBe(0);
    await release('rel/measure');
    expect(await refusalOf(release('rel/measure'))).toMatch(/^ELIMIT/);
  });

  it('refuses a host command that differs from the policy\'s (EPOLICY), consuming no execution', async () => {
    create('rel/command', { maxExecutions: 1 });
    expect(await refusalOf(release('rel/command', { hostCommand: ['node', '/app/app.cjs', '/tmp/num'] }))).toMatch(/^EPOLICY: .*policy/);
    const config = await release('rel/command', { hostCommand: ['node', '/app/app.cjs', '/V1/num'] });
    expect(config.executions).toEqual({ count: 1, max: 1 });
  });

  it('releases nothing until threshold signers signed the current hash; an update voids the approvals', async () => {
    const approvals = `approvals: { signers: [${signerKeys.join(', ')}], threshold: 2 }`;
    const hash = create('rel/approved', { approvals });
    expect(await refusalOf(release('rel/approved'))).toMatch(/^EPOLICY: .*0 of the 2 approvals/);
    expectFailure(as(owner)(['session', 'sign', 'rel/approved']), 'EACCES', 7, /not a signer/);
    expect(expectSuccess(as(signers[0]!)(['session', 'sign', 'rel/approved'])).out).toMatch(/1 of 2 approvals/);
    expect(await refusalOf(release('rel/approved'))).toMatch(/^EPOLICY: .*1 of the 2 approvals/);
    expect(expectSuccess(as(signers[2]!)(['session', 'sign', 'rel/approved', '--hash', hash])).out).toMatch(/2 of 2 approvals/);
    await release('rel/approved');
    // An update: the approvals of the old hash do not carry over.
    const updated = expectSuccess(as(owner)(['session', 'update', writeSession('rel/approved', { approvals, predecessor: hash })])).out.trim();
    expect(await refusalOf(release('rel/approved'))).toMatch(/^EPOLICY: .*0 of the 2 approvals/);
    expectFailure(as(signers[1]!)(['session', 'sign', 'rel/approved', '--hash', hash]), 'EPOLICY', 7, /approvals are for the current version/);
    expectSuccess(as(signers[1]!)(['session', 'sign', 'rel/approved', '--hash', updated]));
    expectSuccess(as(signers[0]!)(['session', 'sign', 'rel/approved']));
    await release('rel/approved');
  });

  it('execution limit: of 20 simultaneous starts with max_executions 3, exactly 3 run; an update raises the limit, the count is kept', async () => {
    const hash = create('rel/limit', { maxExecutions: 3 });
    const outcomes = await Promise.allSettled(Array.from({ length: 20 }, () => release('rel/limit')));
    const granted = outcomes.filter((o) => o.status === 'fulfilled');
    const refused = outcomes.filter((o): o is PromiseRejectedResult => o.status === 'rejected');
    expect(granted).toHaveLength(3);
    expect(refused.map((o) => (o.reason as NodeJS.ErrnoException).code)).toEqual(Array(17).fill('ELIMIT'));
    expect(executions('rel/limit')).toBe(3);
    expectSuccess(as(owner)(['session', 'update', writeSession('rel/limit', { maxExecutions: 4, predecessor: hash })]));
    expect((await release('rel/limit')).executions).toEqual({ count: 4, max: 4 });
    expect(await refusalOf(release('rel/limit'))).toMatch(/^ELIMIT/);
  });

  it('the audit log records releases and refusals with the measurement and the reason', () => {
    const log = JSON.parse(expectSuccess(shield(['cas', 'audit', '--store', STORE, '--verify', '--json'])).out);
    expect(log.ok).toBe(true);
    const releases = log.entries.map((e: { record: Record<string, string> }) => e.record).filter((r: Record<string, string>) => r.action === 'release');
    expect(releases.some((r: Record<string, string>) => r.outcome === 'ok' && r.measurement === MEASUREMENT && r.session === 'rel/basic')).toBe(true);
    expect(releases.some((r: Record<string, string>) => r.outcome === 'refused' && r.code === 'ELIMIT' && r.session === 'rel/limit')).toBe(true);
    expect(releases.some((r: Record<string, string>) => r.outcome === 'refused' && r.code === 'EATTEST' && r.measurement === 'ee'.repeat(32))).toBe(true);
  });
});

describe('crashes of the service', () => {
  it('kill -9 during a load of releases never grants more than max_executions, and the session stays usable', async () => {
    const limit = 20;  // above what the 8 starters can reach between the 4th grant and the kill
    create('rel/crash', { maxExecutions: limit });
    let granted = 0, failures = 0, killed = false;
    // Eight instances start again and again; the service is killed while they are in the middle of releases.
    const load = Array.from({ length: 8 }, async () => {
      while (!killed) {
        try {
          await release('rel/crash');
          granted++;
        } catch {
          failures++;
        }
      }
    });
    while (granted < 4 && failures === 0) await new Promise((resolve) => setImmediate(resolve));
    await cas.stop('SIGKILL');
    killed = true;
    await Promise.all(load);
    expect(granted).toBeLessThan(limit);  // the kill came while executions were left
    expect(failures).toBeGreaterThan(0);  // and releases were in flight
    cas = await startCasService(STORE);
    const counted = executions('rel/crash');
    expect(counted).toBeGreaterThanOrEqual(granted);
    expect(counted).toBeLessThanOrEqual(limit);
    for (let more = counted; more < limit; more++) {
      await release('rel/crash');
      granted++;
    }
    expect(await refusalOf(release('rel/crash'))).toMatch(/^ELIMIT/);
    expect(granted).toBeLessThanOrEqual(limit);
    expect(executions('rel/crash')).toBe(limit);
    expectSuccess(shield(['cas', 'audit', '--store', STORE, '--verify']));
  });
});

describe('volume tags through the service', () => {
  it('compare-and-set binds the volume id at the first commit, then accepts only that id and the current tag; one of 20 racers wins', async () => {
    create('rel/tags');
    const config = await release('rel/tags');
    const c = client();
    const tag = (n: number) => n.toString(16).padStart(64, '0');
    const cas = (volumeId: string, expected: string | null, next: string) =>
      c.call<{ swapped: boolean }>('POST', '/v1/tags/compare-and-set', { credential: config.credential, volume: 'V1', volumeId, expected, next }).then((r) => r.swapped);
    const get = (volumeId: string) => c.call<{ tag: string | null }>('POST', '/v1/tags/get', { credential: config.credential, volume: 'V1', volumeId }).then((r) => r.tag);
    const first = 'a1'.repeat(16), other = 'b2'.repeat(16);
    try {
      expect(await get(first)).toBeNull();
      expect(await cas(first, tag(1), tag(2))).toBe(false);  // nothing to compare with yet
      expect(await cas(first, null, tag(1))).toBe(true);
      expect(await cas(other, null, tag(9))).toBe(false);    // a second volume under the name: initialised once
      expect(await get(other)).toBeNull();
      expect(await get(first)).toBe(tag(1));
      const racers = await Promise.all(Array.from({ length: 20 }, (_, i) => cas(first, tag(1), tag(100 + i))));
      expect(racers.filter(Boolean)).toHaveLength(1);
      const winner = await get(first);
      expect(winner).toBe(tag(100 + racers.indexOf(true)));
      await expect(c.call('POST', '/v1/tags/get', { credential: config.credential, volume: 'V2', volumeId: first })).rejects.toMatchObject({ code: 'EACCES' });
      // The next release tells the instance which volume and tag the service knows.
      const next = await release('rel/tags');
      expect(next.mounts[1]).toMatchObject({ volumeId: first, tag: winner });
    } finally {
      c.close();
    }
  });
});
