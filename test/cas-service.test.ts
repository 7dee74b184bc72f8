// The policy service as users meet it: `shield cas serve` as a child process over real HTTPS, and
// `shield identity|session|cas …` as separate processes.
import { randomBytes } from 'node:crypto';
import { statSync, writeFileSync, readFileSync, readdirSync } from 'node:fs';
import { connect } from 'node:tls';
import { request } from 'node:https';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cliRunner, expectFailure, expectSuccess } from './support/cli-run.js';
import { startCasService, type CasService } from './support/cas-service.js';
import { useTempDir } from './support/temp.js';

const temp = useTempDir('shieldfs-cas-');
const shield = cliRunner({ SHIELD_CAS: undefined, SHIELD_CAS_KEY: undefined, SHIELD_IDENTITY: undefined });
let cas: CasService;
let alice: string, bob: string, aliceKey: string, bobKey: string;
const STORE = temp('store');
const MEASUREMENT = 'ab'.repeat(32);

function as(identity: string) {
  return (args: string[]) => shield(args, { env: { SHIELD_CAS: cas.url, SHIELD_CAS_KEY: cas.key, SHIELD_IDENTITY: identity } });
}

function sessionYaml(name: string, extra = '', predecessor?: string): string {
  const file = temp(`${name.replace(/\//g, '_')}-${randomBytes(4).toString('hex')}.yaml`);
  writeFileSync(file, [
    `name: ${name}`, 'version: "0.3"', ...(predecessor ? [`predecessor: ${predecessor}`] : []),
    'services:', '  - name: counter', '    image_name: counter_image', '    command: "node /app/app.cjs"',
    `    measurement: ${MEASUREMENT}`, '    trees:', `      - { path: /app, key: ${'5e'.repeat(32)}, tag: ${'7a'.repeat(32)} }`,
    'volumes:', '  - { name: V1 }', 'images:', '  - { name: counter_image, volumes: [ { name: V1, path: /V1 } ] }',
    'security:', '  attestation: { tolerate: [simulation] }', extra,
  ].join('\n') + '\n');
  return file;
}

beforeAll(async () => {
  cas = await startCasService(STORE);
  alice = temp('alice.pem');
  bob = temp('bob.pem');
  aliceKey = expectSuccess(shield(['identity', 'create', '--identity', alice])).out.trim();
  bobKey = expectSuccess(shield(['identity', 'create', '--identity', bob])).out.trim();
});
afterAll(async () => {
  await cas?.stop();
});

describe('the service identity and pinning', () => {
  it('prints `listening on https://HOST:PORT key FP`, and `cas id` prints the same key without starting', async () => {
    expect(cas.url).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
    expect(cas.key).toMatch(/^[0-9a-f]{64}$/);
    const other = temp('plain-store');
    const service = await startCasServiceText(other);
    expect(service.line).toMatch(/^listening on https:\/\/127\.0\.0\.1:\d+ key [0-9a-f]{64}\n$/);
    await service.stop();
    expect(expectSuccess(shield(['cas', 'id', '--store', other])).out.trim()).toBe(service.line.trim().split(' ').pop());
  });

  it('refuses a service whose key is not the pinned one, before sending anything (exit 7, EACCES)', () => {
    const result = shield(['session', 'show', 'x/y'], { env: { SHIELD_CAS: cas.url, SHIELD_CAS_KEY: randomBytes(32).toString('hex'), SHIELD_IDENTITY: alice } });
    expectFailure(result, 'EACCES', 7, /not the pinned/);
  });

  it('refuses to run without a pinned key (usage error)', () => {
    expectFailure(shield(['session', 'show', 'x/y'], { env: { SHIELD_CAS: cas.url, SHIELD_IDENTITY: alice } }), 'EINVAL', 2, /--cas-key/);
  });

  it('keeps its state encrypted at rest: no session name, key or YAML in the store files', () => {
    expectSuccess(as(alice)(['session', 'create', sessionYaml('secret/plans')]));
    for (const name of readdirSync(STORE)) {
      const bytes = readFileSync(`${STORE}/${name}`);
      expect(bytes.includes('secret/plans'), name).toBe(false);
      expect(bytes.includes('5e'.repeat(32)), name).toBe(false);
      expect(bytes.includes('counter_image'), name).toBe(false);
    }
  });
});

describe('the master key and the measurement', () => {
  it('a service started with another master key refuses its store (EBADKEY) and says what to do', () => {
    const wrong = temp('wrong.key');
    writeFileSync(wrong, randomBytes(32).toString('hex'), { mode: 0o600 });
    expectFailure(shield(['cas', 'id', '--store', STORE, '--master-key-file', wrong]), 'EBADKEY', 5, /wrong --master-key-file/);
    const loose = temp('loose.key');
    writeFileSync(loose, randomBytes(32).toString('hex'), { mode: 0o644 });
    expectFailure(shield(['cas', 'id', '--store', STORE, '--master-key-file', loose]), 'EACCES', 1, /readable by others/);
  });

  it('shield measure: 64 hex, the same twice, another for another node binary; --json says what was measured', () => {
    const first = expectSuccess(shield(['measure'])).out.trim();
    expect(first).toMatch(/^[0-9a-f]{64}$/);
    expect(expectSuccess(shield(['measure'])).out.trim()).toBe(first);
    const json = JSON.parse(expectSuccess(shield(['measure', '--json'])).out);
    expect(json).toMatchObject({ measurement: first, node: process.execPath, files: expect.any(Number), bytes: expect.any(Number) });
    expect(json.files).toBeGreaterThan(100);
    expect(expectSuccess(shield(['measure', '--node', '/bin/sh'])).out.trim()).not.toBe(first);
    expectFailure(shield(['measure', '--rootfs', temp('no-such-rootfs')]), 'ENOENT', 1, /cannot measure .*no-such-rootfs/);
  });
});

describe('identities', () => {
  it('are created mode 0600, shown by fingerprint, never overwritten', () => {
    expect(statSync(alice).mode & 0o777).toBe(0o600);
    expect(expectSuccess(shield(['identity', 'show', '--identity', alice])).out.trim()).toBe(aliceKey);
    expectFailure(shield(['identity', 'create', '--identity', alice]), 'EEXIST', 1, /exists already/);
    expect(expectSuccess(shield(['identity', 'show', '--identity', alice])).out.trim()).toBe(aliceKey);
  });
});

describe('sessions', () => {
  it('create prints the hash; a second create of the name is EPOLICY; show redacts secrets', () => {
    const file = sessionYaml('team/app');
    const hash = expectSuccess(as(alice)(['session', 'create', file])).out.trim();
    expect(hash).toMatch(/^[0-9a-f]{64}$/);
    expectFailure(as(alice)(['session', 'create', file]), 'EPOLICY', 7, /exists already/);
    const shown = expectSuccess(as(alice)(['session', 'show', 'team/app', '--json']));
    const view = JSON.parse(shown.out);
    expect(view.hash).toBe(hash);
    expect(view.creator).toBe(aliceKey);
    expect(shown.out).not.toContain('5e'.repeat(32));
    expect(view.yaml).toContain('<redacted>');
    expect(expectSuccess(as(alice)(['session', 'verify', file])).out.trim()).toBe(hash);
  });

  it('update needs the current hash as predecessor: missing or stale is EPOLICY, and every version is kept', () => {
    const first = expectSuccess(as(alice)(['session', 'create', sessionYaml('team/versions')])).out.trim();
    expectFailure(as(alice)(['session', 'update', sessionYaml('team/versions', 'approvals: { signers: [' + bobKey + '], threshold: 1 }')]), 'EPOLICY', 7, /needs `predecessor/);
    const second = expectSuccess(as(alice)(['session', 'update', sessionYaml('team/versions', '# v2', first)])).out.trim();
    expect(second).not.toBe(first);  // the predecessor is part of what is hashed: versions form a chain
    const readable = 'access_policy: { read: [CREATOR, ' + bobKey + '], update: [CREATOR] }';
    // Written against the first version, which is no longer the active one.
    expectFailure(as(alice)(['session', 'update', sessionYaml('team/versions', readable, first)]), 'EPOLICY', 7, /is stale/);
    const third = expectSuccess(as(alice)(['session', 'update', sessionYaml('team/versions', readable, second)])).out.trim();
    const history = JSON.parse(expectSuccess(as(alice)(['session', 'history', 'team/versions', '--json'])).out);
    expect(history.map((v: { hash: string }) => v.hash)).toEqual([first, second, third]);
    expect(JSON.parse(expectSuccess(as(bob)(['session', 'show', 'team/versions', '--json'])).out).hash).toBe(third);
    expect(JSON.parse(expectSuccess(as(alice)(['session', 'show', 'team/versions', '--hash', first, '--json'])).out).hash).toBe(first);
    expectFailure(as(alice)(['session', 'verify', sessionYaml('team/versions', '', first)]), 'EPOLICY', 7, /not the active version/);
  });

  it('two identities may not read or update each other\'s sessions (EACCES, exit 7)', () => {
    const hash = expectSuccess(as(alice)(['session', 'create', sessionYaml('alice/private')])).out.trim();
    expectFailure(as(bob)(['session', 'show', 'alice/private']), 'EACCES', 7, /may not read/);
    expectFailure(as(bob)(['session', 'history', 'alice/private']), 'EACCES', 7, /may not read/);
    expectFailure(as(bob)(['session', 'update', sessionYaml('alice/private', '', hash)]), 'EACCES', 7, /may not update/);
    expectSuccess(as(alice)(['session', 'show', 'alice/private']));
  });

  it('bad YAML and invalid sessions fail with EINVAL naming the line or the field', () => {
    const broken = temp('broken.yaml');
    writeFileSync(broken, 'name: x/y\nservices: [ { name: a\n');
    expectFailure(as(alice)(['session', 'create', broken]), 'EINVAL', 1, /broken\.yaml:\d+:\d+: not valid YAML/);
    expectFailure(as(alice)(['session', 'create', sessionYaml('bad/limit', 'approvals: { signers: [' + bobKey + '], threshold: 2 }')]), 'EINVAL', 1, /approvals\.threshold/);
    const typo = sessionYaml('bad/typo').replace(/$/, '');
    writeFileSync(typo, readFileSync(typo, 'utf8').replace('    image_name', '    imagename'));
    expectFailure(as(alice)(['session', 'create', typo]), 'EINVAL', 1, /services\[0\]: unknown field `imagename`/);
  });
});

describe('the service under hostile clients', () => {
  it('answers a huge body with E2BIG and bad JSON with EINVAL, and keeps serving', async () => {
    const huge = await rawRequest('POST', '/v1/sessions', Buffer.alloc(2 << 20, 0x20));
    expect(huge.status).toBe(413);
    expect(JSON.parse(huge.body).error.code).toBe('E2BIG');
    const bad = await rawRequest('POST', '/v1/release', Buffer.from('{not json'));
    expect(bad.status).toBe(400);
    expect(JSON.parse(bad.body).error.code).toBe('EINVAL');
    const long = await rawRequest('POST', '/v1/release', Buffer.from(JSON.stringify({ session: 'x'.repeat(10_000), service: 's', nonce: '', publicKey: '', evidence: { type: 'simulation', data: '' } })));
    expect(long.status).toBe(400);
    expect(JSON.parse(long.body).error.message).toMatch(/field session is 10000 characters; at most/);
    expectSuccess(as(alice)(['session', 'show', 'team/app']));
  });

  it('drops a client that sends its request too slowly, while serving others meanwhile', async () => {
    const socket = connect({ host: '127.0.0.1', port: Number(new URL(cas.url).port), rejectUnauthorized: false, minVersion: 'TLSv1.3' });
    await new Promise<void>((resolve) => socket.once('secureConnect', () => resolve()));
    socket.write('GET /v1/nonce HTTP/1.1\r\nHost: x\r\n');  // and never the end of the headers
    const closed = new Promise<string>((resolve) => {
      let received = '';
      socket.on('data', (piece) => { received += piece.toString(); });
      socket.on('close', () => resolve(received));
      socket.on('error', () => {});
    });
    expectSuccess(as(alice)(['session', 'show', 'team/app']));
    const received = await closed;
    expect(received === '' || /^HTTP\/1\.1 408/.test(received)).toBe(true);
    expectSuccess(as(alice)(['session', 'show', 'team/app']));
  }, 30_000);
});

describe('the audit log', () => {
  it('records creates, updates and refusals, and verifies offline; a deleted entry breaks the chain (EINTEGRITY)', async () => {
    const log = JSON.parse(expectSuccess(shield(['cas', 'audit', '--store', STORE, '--verify', '--json'])).out);
    expect(log.ok).toBe(true);
    expect(log.key).toBe(cas.key);
    const actions = log.entries.map((e: { record: { action: string; outcome: string } }) => `${e.record.action}:${e.record.outcome}`);
    expect(actions).toContain('create:ok');
    expect(actions).toContain('create:refused');
    expect(actions).toContain('update:ok');
    // The host removes one record from the store.
    const copy = temp('audit-copy');
    const { cpSync } = await import('node:fs');
    await cas.stop();
    cpSync(STORE, copy, { recursive: true });
    cas = await startCasService(STORE);
    const db = new Database(`${copy}/state.sqlite`);
    db.prepare("DELETE FROM records WHERE name = 'audit/000000000002'").run();
    db.close();
    expectFailure(shield(['cas', 'audit', '--store', copy, '--verify']), 'EINTEGRITY', 3, /entry 2 is missing/);
    expectFailure(shield(['cas', 'audit', '--store', temp('no-store-here')]), 'ENOENT', 1, /holds no policy service store/);
  });
});

async function startCasServiceText(store: string): Promise<{ line: string; stop(): Promise<void> }> {
  const { spawn } = await import('node:child_process');
  const { SHIELD_JS } = await import('./support/cli-run.js');
  const child = spawn(process.execPath, [SHIELD_JS, 'cas', 'serve', '--store', store, '--listen', '127.0.0.1:0'], { stdio: ['ignore', 'pipe', 'inherit'] });
  const line = await new Promise<string>((resolve) => {
    let out = '';
    child.stdout.on('data', (piece: Buffer) => {
      out += piece.toString();
      if (out.includes('\n')) resolve(out);
    });
  });
  return { line, stop: () => new Promise((resolve) => { child.once('exit', () => resolve()); child.kill('SIGTERM'); }) };
}

function rawRequest(method: string, path: string, body: Buffer): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const url = new URL(cas.url);
    const req = request({ host: url.hostname, port: url.port, method, path, rejectUnauthorized: false, headers: { 'content-type': 'application/json' } }, (res) => {
      let text = '';
      res.on('data', (piece) => { text += piece; });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
    });
    req.on('error', reject);
    req.end(body);
  });
}
