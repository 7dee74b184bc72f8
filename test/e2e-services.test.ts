// The two services of issue 4, run as a user runs them: separate node processes, the shield preloaded
// by `shield run` or `node -r/--import shieldfs/register`, keys in files, a tag store on disk.
//   1. The counter service of the SCONE stateful-service example (CommonJS, plain require('fs')).
//   2. An ESM service whose code, JSON and CJS helper all live in an encrypted tree.
import { spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { cliRunner, expectSuccess } from './support/cli-run.js';
import { ETCD_INSTALL_HINT, findEtcdBinary, startEtcdServer, type EtcdServer } from './support/etcd-server.js';
import { flipByteInLargestObject } from './support/tamper-objects.js';
import { useTempDir } from './support/temp.js';

const REGISTER_JS = fileURLToPath(new URL('../dist/register.js', import.meta.url));
const temp = useTempDir('shieldfs-e2e-');
const shield = cliRunner({});

interface Run { status: number | null; stdout: string; stderr: string }

function node(args: string[], config: string): Run {
  const result = spawnSync(process.execPath, args, {
    env: { ...process.env, SHIELD_CONFIG: config, NODE_OPTIONS: '' }, encoding: 'utf8', timeout: 30_000,
  });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

function shieldRun(config: string, command: string[]): Run {
  const result = shield(['run', '--config', config, '--', ...command]);
  return { status: result.status, stdout: result.out, stderr: result.stderr };
}

/** A key file path: `shield protect` and `shield volume create` write a fresh key there. */
function keyPath(name: string): string {
  return temp(name);
}

function protect(source: string, out: string, keyFile: string): string {
  const result = expectSuccess(shield(['protect', source, out, '--key-file', keyFile]));
  return result.out.trim();
}

const COUNTER_JS = `'use strict';
// The stateful service: reads /V1/num (0 when missing), prints it, stores it + 1.
const fs = require('fs');
let count = 0;
try {
  count = Number(fs.readFileSync('/V1/num', 'utf8'));
} catch (error) {
  if (error.code !== 'ENOENT') throw error;
  fs.writeFileSync('/V1/num', '0');
}
console.log(count);
fs.writeFileSync('/V1/num', String(count + 1));
`;

describe('the counter service (CommonJS, require("fs"), code in an encrypted tree, state in a volume)', () => {
  let config = '', volume = '', tree = '';

  beforeAll(() => {
    const appKey = keyPath('app.key'), volumeKey = keyPath('v1.key');
    const source = temp('counter-src');
    mkdirSync(source);
    writeFileSync(join(source, 'counter.js'), COUNTER_JS);
    tree = temp('counter-app');
    const tag = protect(source, tree, appKey);
    volume = temp('counter-volume');
    const tags = temp('tags.json');
    expectSuccess(shield(['volume', 'create', volume, '--key-file', volumeKey, '--tag-store', `file:${tags}`]));
    config = temp('counter.yaml');
    writeFileSync(config, [
      'mounts:',
      `  - { path: /V1, volume: ${volume}, keyFile: ${volumeKey}, tagStore: "file:${tags}" }`,
      `  - { path: /app, tree: ${tree}, keyFile: ${appKey}, tag: ${tag} }`,
      '',
    ].join('\n'));
  });

  test('three runs print 0, 1, 2; a restored volume is EROLLBACK; edited code is EINTEGRITY', () => {
    const first = shieldRun(config, [process.execPath, '/app/counter.js']);
    expect(first.stderr).toBe('');
    expect(first).toMatchObject({ status: 0, stdout: '0\n' });
    const afterFirst = temp('counter-volume-after-first');
    cpSync(volume, afterFirst, { recursive: true });

    expect(node(['-r', REGISTER_JS, '/app/counter.js'], config)).toMatchObject({ status: 0, stdout: '1\n', stderr: '' });
    expect(node(['--import', REGISTER_JS, '/app/counter.js'], config)).toMatchObject({ status: 0, stdout: '2\n', stderr: '' });

    // The host puts back the volume as it was after the first run.
    const current = temp('counter-volume-current');
    cpSync(volume, current, { recursive: true });
    rmSync(volume, { recursive: true });
    cpSync(afterFirst, volume, { recursive: true });
    const replayed = shieldRun(config, [process.execPath, '/app/counter.js']);
    expect(replayed.stdout).toBe('');
    expect(replayed.stderr).toMatch(/^shield: EROLLBACK: .*\n$/);
    expect(replayed.status).toBe(4);

    // The real state is back: the service goes on from where it was.
    rmSync(volume, { recursive: true });
    cpSync(current, volume, { recursive: true });
    expect(shieldRun(config, [process.execPath, '/app/counter.js'])).toMatchObject({ status: 0, stdout: '3\n', stderr: '' });

    // The host edits the service's code on disk.
    flipByteInLargestObject(tree);
    const edited = shieldRun(config, [process.execPath, '/app/counter.js']);
    expect(edited.stdout).toBe('');
    expect(edited.stderr).toMatch(/EINTEGRITY/);
    expect(edited.status).not.toBe(0);
  });
});

const etcdBinary = findEtcdBinary();
const etcdMissing = etcdBinary === null && process.env.SHIELDFS_REQUIRE_ETCD !== '1';

describe.skipIf(etcdMissing)(`the counter service with an etcd tag store${etcdMissing ? ` (skipped: ${ETCD_INSTALL_HINT})` : ''}`, () => {
  let server: EtcdServer | undefined;
  beforeAll(async () => {
    if (etcdBinary === null) throw new Error(`SHIELDFS_REQUIRE_ETCD=1 but there is no etcd on PATH: ${ETCD_INSTALL_HINT}`);
    server = await startEtcdServer(etcdBinary);
  });
  afterAll(async () => {
    await server?.stop();
  });

  // The service's synchronous writeFileSync commits through the etcd store's synchronous twin (a
  // worker thread); a restored volume is refused by what etcd holds.
  test('runs 0, 1; a restored volume is EROLLBACK', () => {
    const key = keyPath('etcd-v1.key'), volume = temp('etcd-volume'), store = server!.url;
    expectSuccess(shield(['volume', 'create', volume, '--key-file', key, '--tag-store', store]));
    const source = temp('etcd-src');
    mkdirSync(source);
    writeFileSync(join(source, 'counter.js'), COUNTER_JS);
    const config = temp('etcd.yaml');
    writeFileSync(config, `mounts:\n  - { path: /V1, volume: ${volume}, keyFile: ${key}, tagStore: "${store}" }\n`);
    const counter = join(source, 'counter.js');
    expect(shieldRun(config, [process.execPath, counter])).toMatchObject({ status: 0, stdout: '0\n', stderr: '' });
    const afterFirst = temp('etcd-volume-after-first');
    cpSync(volume, afterFirst, { recursive: true });
    expect(shieldRun(config, [process.execPath, counter])).toMatchObject({ status: 0, stdout: '1\n', stderr: '' });
    rmSync(volume, { recursive: true });
    cpSync(afterFirst, volume, { recursive: true });
    const replayed = shieldRun(config, [process.execPath, counter]);
    expect(replayed.stderr).toMatch(/^shield: EROLLBACK: /);
    expect(replayed.status).toBe(4);
  });
});

describe('commits at exit and at SIGTERM under `shield run`', () => {
  test.each(['exit', 'SIGTERM', 'SIGINT'] as const)('%s: what the service wrote (commit: sync, never fsynced) is committed', async (how) => {
    const key = keyPath(`stop-${how}.key`), volume = temp(`stop-${how}-volume`), tags = temp(`stop-${how}-tags.json`);
    expectSuccess(shield(['volume', 'create', volume, '--key-file', key, '--tag-store', `file:${tags}`]));
    const config = temp(`stop-${how}.yaml`);
    writeFileSync(config, `mounts:\n  - { path: /V1, volume: ${volume}, keyFile: ${key}, tagStore: "file:${tags}", commit: sync }\n`);
    const service = temp(`stop-${how}.cjs`);
    writeFileSync(service, `const fs = require('fs');
fs.writeFileSync('/V1/state', 'written before ${how}');
console.log('ready');
${how === 'exit' ? 'process.exit(0);' : 'setInterval(() => {}, 1000);'}
`);
    const { spawn } = await import('node:child_process');
    const child = spawn(process.execPath, [fileURLToPath(new URL('../dist/cli/shield.js', import.meta.url)),
      'run', '--config', config, '--', process.execPath, service], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (chunk) => (stderr += chunk));
    await new Promise<void>((resolve) => child.stdout.once('data', () => resolve()));
    if (how !== 'exit') child.kill(how);
    const [code, signal] = await new Promise<[number | null, string | null]>((resolve) => child.on('exit', (c, s) => resolve([c, s])));
    expect(stderr).toBe('');
    if (how === 'exit') expect(code).toBe(0);
    else expect(signal ?? code).toBe(signal ? how : 128 + (how === 'SIGTERM' ? 15 : 2));
    const read = shield(['volume', 'read', volume, '/state', '--key-file', key, '--tag-store', `file:${tags}`]);
    expect(read.stderr).toBe('');
    expect(read.out).toBe(`written before ${how}`);
  });
});

describe('an ESM service whose code, JSON and CJS helper live in an encrypted tree', () => {
  const MAIN = `import { readFileSync } from 'node:fs';
import fsp from 'node:fs/promises';
import { createRequire } from 'node:module';
import settings from './settings.json' with { type: 'json' };
const require = createRequire(import.meta.url);
const { greet } = require('./helper.cjs');
const model = readFileSync('/app/model.txt', 'utf8').trim();
const notes = (await fsp.readFile('/app/notes.txt', 'utf8')).trim();
console.log(JSON.stringify({ greeting: greet(settings.name), model, notes }));
`;
  const HELPER = `module.exports.greet = (name) => 'confidential-greeting for ' + name;\n`;
  const SECRET_TEXTS = ['confidential-greeting', 'secret-model-weights-v7', 'private-notes-xyz', 'tenant-alpha-name'];

  test('runs from the tree, and the tree on disk shows none of its source text', () => {
    const key = keyPath('esm.key');
    const source = temp('esm-src');
    mkdirSync(source);
    writeFileSync(join(source, 'main.mjs'), MAIN);
    writeFileSync(join(source, 'helper.cjs'), HELPER);
    writeFileSync(join(source, 'settings.json'), JSON.stringify({ name: 'tenant-alpha-name' }));
    writeFileSync(join(source, 'model.txt'), 'secret-model-weights-v7\n');
    writeFileSync(join(source, 'notes.txt'), 'private-notes-xyz\n');
    const tree = temp('esm-app');
    const tag = protect(source, tree, key);
    const config = temp('esm.yaml');
    writeFileSync(config, `mounts:\n  - { path: /app, tree: ${tree}, keyFile: ${key}, tag: ${tag} }\n`);

    const run = node(['--import', REGISTER_JS, '/app/main.mjs'], config);
    expect(run.stderr).toBe('');
    expect(run.status).toBe(0);
    expect(JSON.parse(run.stdout)).toEqual({
      greeting: 'confidential-greeting for tenant-alpha-name', model: 'secret-model-weights-v7', notes: 'private-notes-xyz',
    });

    const grep = spawnSync('grep', ['-rl', '-e', SECRET_TEXTS.join('\\|'), tree], { encoding: 'utf8' });
    expect(grep.stdout).toBe('');
    expect(grep.status).toBe(1);  // grep: no match (2 would be an error)
    // ... while the same grep finds every text in the plain source (the check itself works).
    for (const text of SECRET_TEXTS) {
      expect(spawnSync('grep', ['-rl', text, source], { encoding: 'utf8' }).status).toBe(0);
    }
  });
});
