// SCONE's stateful-service example end to end: a counter whose code is a protected tree and whose
// state (/V1/num) is a volume whose tag the policy service keeps, started with `shield run --cas`
// as a user would, and every attack of `shield demo` performed on the real files and processes.
import { cpSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CasClient } from '../lib/cas/client.js';
import { cliRunner, expectFailure, expectSuccess, type CliResult } from './support/cli-run.js';
import { startCasService, type CasService } from './support/cas-service.js';
import { useTempDir } from './support/temp.js';

const temp = useTempDir('shieldfs-cas-run-');
const shield = cliRunner({ SHIELD_CAS: undefined, SHIELD_CAS_KEY: undefined, SHIELD_IDENTITY: undefined, SHIELD_CONFIG: undefined });
const STORE = temp('store');
const TREE = temp('tree'), VOLUME = temp('v1');
let cas: CasService;
let owner: string;

const COUNTER = `const fs = require('fs');
const file = process.argv[2];
let n = 0;
try { n = Number(fs.readFileSync(file, 'utf8')); } catch (e) { if (e.code !== 'ENOENT') throw e; }
console.log(n);
fs.writeFileSync(file, String(n + 1));
`;
const CHILDREN = `const { spawnSync } = require('child_process');
const script = "try { require('fs').writeFileSync('/V1/leak', 'plaintext'); console.log('wrote') } catch (e) { console.log(e.code) }";
const child = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8' });
console.log('child ' + child.stdout.trim() + ' ' + child.stderr.trim());
const { Worker } = require('worker_threads');
const source = "import fs from 'node:fs'; import { parentPort } from 'node:worker_threads'; try { fs.writeFileSync('/V1/leak', 'plaintext'); parentPort.postMessage('wrote'); } catch (e) { parentPort.postMessage(e.code); }";
const worker = new Worker(new URL('data:text/javascript,' + encodeURIComponent(source)));
worker.on('message', (code) => { console.log('worker ' + code); });
worker.on('error', (error) => { console.log('worker failed ' + (error.code || error.message)); });
`;
const POLICIES = `const fs = require('fs');
const read = (p) => { try { return fs.readFileSync(p, 'utf8'); } catch (e) { return e.code; } };
console.log('E=' + read('/E/n') + ' N=' + read('/N/n'));
const next = String(Number(read('/N/n')) + 1 || 1);
fs.writeFileSync('/E/n', 'w' + next);
fs.writeFileSync('/N/n', next);
`;
const LOOP = `const fs = require('fs');
for (let i = 0; i < 1e6; i++) {
  const n = Number(fs.readFileSync('/V1/num', 'utf8'));
  console.log(n);
  fs.writeFileSync('/V1/num', String(n + 1));
}
`;
const ENV_REPORT = `console.log(JSON.stringify({ env: process.env, execPath: process.execPath, cwd: process.cwd() }));\n`;

function run(service: string, extra: string[] = [], env: Record<string, string> = {}): CliResult {
  return shield(['run', '--bind', `/app=${TREE}`, ...(service === 'counter' ? ['--bind', `/V1=${VOLUME}`] : []), ...extra], {
    env: { SHIELD_CAS: cas.url, SHIELD_CAS_KEY: cas.key, SHIELD_SESSION: 'demo/counter', SHIELD_SERVICE: service, ...env },
  });
}

function snapshot(name: string): string {
  const copy = temp(name);
  rmSync(copy, { recursive: true, force: true });
  cpSync(VOLUME, copy, { recursive: true });
  return copy;
}

function restore(copy: string): void {
  rmSync(VOLUME, { recursive: true, force: true });
  cpSync(copy, VOLUME, { recursive: true });
}

beforeAll(async () => {
  cas = await startCasService(STORE);
  owner = temp('owner.pem');
  expectSuccess(shield(['identity', 'create', '--identity', owner]));
  const src = temp('src');
  mkdirSync(src);
  writeFileSync(join(src, 'app.cjs'), COUNTER);
  writeFileSync(join(src, 'env.cjs'), ENV_REPORT);
  writeFileSync(join(src, 'children.cjs'), CHILDREN);
  writeFileSync(join(src, 'policies.cjs'), POLICIES);
  writeFileSync(join(src, 'loop.cjs'), LOOP);
  const keyFile = temp('tree.key');
  const tag = expectSuccess(shield(['protect', src, TREE, '--key-file', keyFile])).out.trim();
  const measurement = expectSuccess(shield(['measure'])).out.trim();
  mkdirSync(VOLUME);
  const session = temp('session.yaml');
  writeFileSync(session, `name: demo/counter
version: "0.3"
services:
  - name: counter
    image_name: counter_image
    command: "node /app/app.cjs /V1/num"
    environment: { LANG: C.UTF-8 }
    measurement: ${measurement}
    trees:
      - { path: /app, key: ${readFileSync(keyFile, 'utf8').trim()}, tag: ${tag} }
  - name: children
    image_name: counter_image
    command: ["node", "/app/children.cjs"]
    environment: { PATH: /usr/bin:/bin }
    measurement: ${measurement}
    trees:
      - { path: /app, key: ${readFileSync(keyFile, 'utf8').trim()}, tag: ${tag} }
  - name: loop
    image_name: counter_image
    command: ["node", "/app/loop.cjs"]
    measurement: ${measurement}
    trees:
      - { path: /app, key: ${readFileSync(keyFile, 'utf8').trim()}, tag: ${tag} }
  - name: policies
    image_name: policies_image
    command: ["node", "/app/policies.cjs"]
    measurement: ${measurement}
    trees:
      - { path: /app, key: ${readFileSync(keyFile, 'utf8').trim()}, tag: ${tag} }
  - name: env
    command: ["node", "/app/env.cjs"]
    environment: { ONLY: from-the-policy }
    pwd: /tmp
    measurement: ${measurement}
    trees:
      - { path: /app, key: ${readFileSync(keyFile, 'utf8').trim()}, tag: ${tag} }
volumes:
  - { name: V1 }
  - { name: E, update_policy: ephemeral }
  - { name: N, update_policy: no_rollback_protection }
images:
  - { name: counter_image, volumes: [ { name: V1, path: /V1 } ] }
  - { name: policies_image, volumes: [ { name: E, path: /E }, { name: N, path: /N } ] }
security:
  attestation: { tolerate: [simulation] }
`);
  expectSuccess(shield(['session', 'create', session], { env: { SHIELD_CAS: cas.url, SHIELD_CAS_KEY: cas.key, SHIELD_IDENTITY: owner } }));
});
afterAll(async () => {
  await cas?.stop();
});

describe('shield run --cas', () => {
  it('runs the policy\'s command three times: 0, 1, 2, the state kept in the volume whose tag the service holds', () => {
    expect(expectSuccess(run('counter')).out).toBe('0\n');
    expect(expectSuccess(run('counter')).out).toBe('1\n');
    expect(expectSuccess(run('counter')).out).toBe('2\n');
    // On the host's disk there is only ciphertext.
    const onDisk = readdirSync(join(VOLUME, '.shieldfs'));
    expect(onDisk).toContain('manifest');
  });

  it('gives the program exactly the policy\'s environment, the runtime\'s own node and the policy\'s pwd', () => {
    const report = JSON.parse(expectSuccess(run('env', [], { HOST_SECRET: 'leak', PATH: '/host/bin' })).out);
    // The policy's variables, and the runtime's own for the program's children (the pipe's variable is gone).
    expect(report.env).toEqual({ ONLY: 'from-the-policy', NODE_OPTIONS: expect.stringMatching(/^--import=file:.*cas-instance\.js$/), SHIELD_CAS_HELD_PATHS: '["/app"]' });
    expect(report.execPath).toBe(process.execPath);
    expect(report.cwd).toBe('/tmp');
  });

  it('the program\'s Node child processes and worker threads find the mounts held (EBUSY): nothing reaches the volume\'s directory in plaintext', () => {
    const result = run('children', ['--bind', `/V1=${VOLUME}`]);
    expect(expectSuccess(result).out).toBe('child EBUSY \nworker EBUSY\n');
    expect(readdirSync(VOLUME)).toEqual(['.shieldfs']);
  });

  it('ephemeral and no_rollback_protection volumes behave as the volume layer defines them', () => {
    const ephemeral = temp('ephemeral'), unprotected = temp('unprotected');
    mkdirSync(ephemeral);
    mkdirSync(unprotected);
    const binds = ['--bind', `/E=${ephemeral}`, '--bind', `/N=${unprotected}`];
    // The start that creates an ephemeral volume gives it the content every later start begins with;
    // later changes are discarded at the end.
    expect(expectSuccess(run('policies', binds)).out).toBe('E=ENOENT N=ENOENT\n');
    expect(expectSuccess(run('policies', binds)).out).toBe('E=w1 N=1\n');
    const old = temp('unprotected-old');
    cpSync(unprotected, old, { recursive: true });
    expect(expectSuccess(run('policies', binds)).out).toBe('E=w1 N=2\n');
    rmSync(unprotected, { recursive: true, force: true });
    cpSync(old, unprotected, { recursive: true });
    // No rollback protection: an old copy is accepted, as that policy says.
    expect(expectSuccess(run('policies', binds)).out).toBe('E=w1 N=2\n');
    // The update policy is pinned: the ephemeral volume put in place of the unprotected one is refused.
    rmSync(unprotected, { recursive: true, force: true });
    cpSync(ephemeral, unprotected, { recursive: true });
    const swapped = run('policies', binds);
    expect(swapped.status).not.toBe(0);
    expect(swapped.stderr).toMatch(/EINTEGRITY|EBADKEY/);
  });

  it('refuses a host command that differs from the policy\'s before anything runs (EPOLICY, exit 7)', () => {
    const before = snapshot('before-tmp-num');
    expectFailure(run('counter', ['--', 'node', '/app/app.cjs', '/tmp/num']), 'EPOLICY', 7, /runs only its policy's command/);
    expect(readdirSync(join(VOLUME, '.shieldfs', 'objects')).sort()).toEqual(readdirSync(join(before, '.shieldfs', 'objects')).sort());
    // The policy's own command, given on the host, is fine.
    expect(expectSuccess(run('counter', ['--', 'node', '/app/app.cjs', '/V1/num'])).out).toBe('3\n');
  });

  it('an old copy of the volume put back is EROLLBACK', () => {
    const old = snapshot('old-copy');
    expect(expectSuccess(run('counter')).out).toBe('4\n');
    const latest = snapshot('latest');
    restore(old);
    expectFailure(run('counter'), 'EROLLBACK', 4, /rolled back or replaced/);
    restore(latest);
    expect(expectSuccess(run('counter')).out).toBe('5\n');
  });

  it('the counter file\'s content deleted is EINTEGRITY', () => {
    const latest = snapshot('before-delete-file');
    const objects = join(VOLUME, '.shieldfs', 'objects');
    for (const fan of readdirSync(objects)) rmSync(join(objects, fan), { recursive: true });
    const result = run('counter');
    expect(result.status).not.toBe(0);
    expect(result.stderr).toMatch(/EINTEGRITY/);
    expect(result.out).toBe('');
    restore(latest);
  });

  it('the whole volume deleted, emptied or re-created is EROLLBACK, never a fresh start', () => {
    const latest = snapshot('before-wipe');
    rmSync(VOLUME, { recursive: true, force: true });
    expectFailure(run('counter'), 'EROLLBACK', 4, /was deleted or replaced: its directory .* is gone/);
    mkdirSync(VOLUME);
    expectFailure(run('counter'), 'EROLLBACK', 4, /is empty/);
    // A new volume made by the host in its place, under a key of its own.
    rmSync(VOLUME, { recursive: true, force: true });
    expectSuccess(shield(['volume', 'create', VOLUME, '--key-file', temp('host.key'), '--tag-store', `file:${temp('host-tags.json')}`]));
    expectFailure(run('counter'), 'EROLLBACK', 4, /holds another volume/);
    restore(latest);
    expect(expectSuccess(run('counter')).out).toBe('6\n');
  });

  it('a byte of the code changed on disk is refused (EINTEGRITY), and the counter is not touched', () => {
    const tree = temp('tree-copy');
    cpSync(TREE, tree, { recursive: true });
    // Every file of the tree (the counter's app.cjs among them) gets one bit flipped.
    const objects = join(TREE, '.shieldfs', 'objects');
    for (const fan of readdirSync(objects)) {
      for (const name of readdirSync(join(objects, fan))) {
        const bytes = readFileSync(join(objects, fan, name));
        bytes[bytes.length >> 1]! ^= 0x01;
        writeFileSync(join(objects, fan, name), bytes);
      }
    }
    const result = run('counter');
    expect(result.status).not.toBe(0);
    expect(result.stderr).toMatch(/EINTEGRITY/);
    rmSync(TREE, { recursive: true, force: true });
    cpSync(tree, TREE, { recursive: true });
    expect(expectSuccess(run('counter')).out).toBe('7\n');
  });

  it('kill -9 of the service between runs: after a restart on the same store the next run continues the count', async () => {
    await cas.stop('SIGKILL');
    cas = await startCasService(STORE);
    expect(expectSuccess(run('counter')).out).toBe('8\n');
  });

  it('a lost volume starts over only by the owner\'s explicit, audited reset', () => {
    rmSync(VOLUME, { recursive: true, force: true });
    expectFailure(run('counter'), 'EROLLBACK', 4, /is gone/);
    const other = temp('stranger.pem');
    expectSuccess(shield(['identity', 'create', '--identity', other]));
    expectFailure(shield(['session', 'reset-volume', 'demo/counter', 'V1'], { env: { SHIELD_CAS: cas.url, SHIELD_CAS_KEY: cas.key, SHIELD_IDENTITY: other } }), 'EACCES', 7, /may not reset/);
    expectSuccess(shield(['session', 'reset-volume', 'demo/counter', 'V1'], { env: { SHIELD_CAS: cas.url, SHIELD_CAS_KEY: cas.key, SHIELD_IDENTITY: owner } }));
    mkdirSync(VOLUME);
    expect(expectSuccess(run('counter')).out).toBe('0\n');
    const log = JSON.parse(expectSuccess(shield(['cas', 'audit', '--store', STORE, '--verify', '--json'])).out);
    expect(log.entries.some((e: { record: { action: string; outcome: string } }) => e.record.action === 'reset' && e.record.outcome === 'ok')).toBe(true);
  });

  it('kill -9 of the service while the program commits: the program stops, and after a restart the volume continues where its last commit landed', async () => {
    const { spawn } = await import('node:child_process');
    const { SHIELD_JS } = await import('./support/cli-run.js');
    const child = spawn(process.execPath, [SHIELD_JS, 'run', '--bind', `/app=${TREE}`, '--bind', `/V1=${VOLUME}`], {
      env: { ...process.env, SHIELD_CAS: cas.url, SHIELD_CAS_KEY: cas.key, SHIELD_SESSION: 'demo/counter', SHIELD_SERVICE: 'loop', SHIELD_CONFIG: '' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '', err = '';
    child.stderr.on('data', (piece: Buffer) => { err += piece.toString(); });
    const ended = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    await new Promise<void>((resolve) => {
      child.stdout.on('data', (piece: Buffer) => {
        out += piece.toString();
        if (out.split('\n').length > 30) resolve();
      });
    });
    await cas.stop('SIGKILL');  // in the middle of the program's commits
    expect(await ended, err).not.toBe(0);
    const printed = out.trim().split('\n').map(Number);
    const last = printed[printed.length - 1]!;
    cas = await startCasService(STORE);
    const next = Number(expectSuccess(run('counter')).out.trim());
    // The commit in flight either landed or not; nothing older, never a reset, never stuck.
    expect([last, last + 1]).toContain(next);
  });

  it('tag requests need an instance credential the service issued (EACCES)', async () => {
    const client = new CasClient({ url: cas.url, key: cas.key });
    try {
      await expect(client.call('POST', '/v1/tags/get', { credential: 'ab'.repeat(32), volume: 'V1', volumeId: 'cd'.repeat(16) }))
        .rejects.toMatchObject({ code: 'EACCES', refusedByPolicyService: true });
    } finally {
      client.close();
    }
  });
});
