// Issue 11, items about running services: the host edits a tree's code under `shield run` (item 18),
// plants preloads (item 7) and decoys (item 16). Each test runs real processes through the compiled
// `shield` and the register module, as a user runs them.
import { spawnSync } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { generateKey } from '../lib/file/keys.js';
import { protectTree } from '../lib/tree/protect.js';
import { Volume } from '../lib/volume/volume.js';
import { cliRunner } from './support/cli-run.js';
import { useTempDir } from './support/temp.js';

const temp = useTempDir('shieldfs-processes-');
const shield = cliRunner({});

/**
 * Flips a byte near the end of the object of a tree file of `plaintextBytes` bytes (4 KiB chunks, one
 * leaf: the header block, the chunks and the leaf node; FORMAT.md "Layout"); exactly one must fit.
 */
function flipObjectOf(tree: string, plaintextBytes: number): void {
  const expected = 4096 + Math.ceil(plaintextBytes / 4096) * 4096 + 4096;
  const objects = join(tree, '.shieldfs', 'objects');
  const fitting: string[] = [];
  for (const fan of readdirSync(objects)) {
    for (const name of readdirSync(join(objects, fan))) if (statSync(join(objects, fan, name)).size === expected) fitting.push(join(objects, fan, name));
  }
  expect(fitting).toHaveLength(1);
  const bytes = readFileSync(fitting[0]!);
  bytes[bytes.length - 100]! ^= 0x01;
  writeFileSync(fitting[0]!, bytes);
}

describe('item 18: tree code changed on the disk under `shield run`', () => {
  const libJs = `module.exports = ${JSON.stringify('x'.repeat(50_000))}.length;\n`;
  const libMjs = `export default ${JSON.stringify('y'.repeat(60_000))}.length;\n`;
  let config = '';
  let tree = '';
  beforeAll(async () => {
    const source = temp('app');
    mkdirSync(source);
    // lib.js is by far the largest module: its object is the one the host edits.
    writeFileSync(join(source, 'lib.js'), libJs);
    writeFileSync(join(source, 'main.js'), "console.log('started'); console.log(require('./lib.js'));\n");
    writeFileSync(join(source, 'lib.mjs'), libMjs);
    writeFileSync(join(source, 'main.mjs'), "console.log('started'); const { default: n } = await import('./lib.mjs'); console.log(n);\n");
    const key = generateKey();
    const keyFile = temp('app.key');
    writeFileSync(keyFile, key.toString('hex'), { mode: 0o600 });
    tree = temp('app.protected');
    const { tag } = await protectTree(source, tree, { key });
    config = temp('app.yaml');
    writeFileSync(config, `mounts:\n  - { path: /app, tree: ${tree}, keyFile: ${keyFile}, tag: "${tag}" }\n`);
    const before = shield(['run', '--config', config, '--', process.execPath, '/app/main.js']);
    expect(before).toMatchObject({ status: 0, out: 'started\n50000\n', stderr: '' });
  });

  it('a CommonJS module: one `shield: EINTEGRITY: …` line naming the module, status 3', () => {
    flipObjectOf(tree, libMjs.length);  // for the next test
    flipObjectOf(tree, libJs.length);
    const run = shield(['run', '--config', config, '--', process.execPath, '/app/main.js']);
    expect(run.out).toBe('started\n');
    expect(run.stderr).toMatch(/^shield: EINTEGRITY: [^\n]*\/app\/lib\.js[^\n]*\n$/);
    expect(run.status).toBe(3);
  });

  it('an ES module imported at run time: the same line, status 3', () => {
    const run = shield(['run', '--config', config, '--', process.execPath, '/app/main.mjs']);
    expect(run.out).toBe('started\n');
    expect(run.stderr).toMatch(/^shield: EINTEGRITY: [^\n]*\/app\/lib\.mjs[^\n]*\n$/);
    expect(run.status).toBe(3);
  });

  it('a program that handles uncaught errors itself keeps doing so', () => {
    const script = "process.on('uncaughtException', (e) => { console.log('handled', e.code); process.exit(7); }); require('/app/lib.js');";
    const run = shield(['run', '--config', config, '--', process.execPath, '-e', script]);
    expect(run).toMatchObject({ status: 7, out: 'handled EINTEGRITY\n', stderr: '' });
  });
});


describe('item 7: under `shield run` the register is the first preload of both kinds', () => {
  it('a -r and an --import preload planted in NODE_OPTIONS read the volume, never the plaintext decoy on the disk under the mount path', async () => {
    const mountPoint = temp('mnt');
    mkdirSync(mountPoint);
    writeFileSync(join(mountPoint, 'num'), 'host plaintext decoy');
    const key = generateKey();
    const keyFile = temp('v.key');
    writeFileSync(keyFile, key.toString('hex'), { mode: 0o600 });
    const tagStore = `file:${temp('v-tags.json')}`;
    const v = await Volume.create(temp('v'), { key, tagStore });
    await v.writeFile('/num', 'volume content');
    await v.close();
    const config = temp('v.yaml');
    writeFileSync(config, `mounts:\n  - { path: ${mountPoint}, volume: ${temp('v')}, keyFile: ${keyFile}, tagStore: "${tagStore}", readOnly: true }\n`);
    // The host sets NODE_OPTIONS for `shield run`, so the preloads also run in the `shield` process
    // itself (which mounts nothing) and, on Node 20, on the module-hooks thread: they report from
    // the program's main thread only, where the mount must be in place before them.
    const planted = (kind: string) => `if (process.env.SHIELD_CONFIG_CHECKED && require('node:worker_threads').isMainThread) ` +
      `process.stdout.write('${kind} preload saw: ' + require('fs').readFileSync(${JSON.stringify(join(mountPoint, 'num'))}, 'utf8') + '\\n');`;
    const early = temp('early.cjs');
    writeFileSync(early, planted('-r'));
    const imported = temp('imported.cjs');
    writeFileSync(imported, planted('--import'));
    const run = cliRunner({ NODE_OPTIONS: `-r ${early} --import=${imported}` })(['run', '--config', config, '--', process.execPath, '-e', '0']);
    expect(run.stderr).toBe('');
    expect(run.out).toBe('-r preload saw: volume content\n--import preload saw: volume content\n');
    expect(run.status).toBe(0);
  });
});

describe('item 1: no worker thread of a shielded process reaches the disk under a mount path', () => {
  it.each([
    ['shield run', 'run'],
    ['node --import register', 'import'],
    ['node -r register', 'require'],
  ] as const)('under %s, every way to start a worker gets the shield: EBUSY under the volume, nothing on the disk', async (_, how) => {
    const id = `${how}-workers`;
    const mountPoint = temp(`${id}-mnt`);
    mkdirSync(mountPoint);
    const key = generateKey();
    const keyFile = temp(`${id}.key`);
    writeFileSync(keyFile, key.toString('hex'), { mode: 0o600 });
    const tagStore = `file:${temp(`${id}-tags.json`)}`;
    await (await Volume.create(temp(`${id}-v`), { key, tagStore })).close();
    const config = temp(`${id}.yaml`);
    writeFileSync(config, `mounts:\n  - { path: ${mountPoint}, volume: ${temp(`${id}-v`)}, keyFile: ${keyFile}, tagStore: "${tagStore}" }\n`);
    const trap = temp(`${id}-trees-only.yaml`);  // a configuration a worker might be handed: it mounts nothing there
    writeFileSync(trap, `mounts:\n  - { path: /elsewhere-${id}, volume: ${temp(`${id}-other`)}, keyFile: ${keyFile}, tagStore: "memory:x", create: true }\n`);
    // Each worker tries to write under the mount path and reports what happened.
    const attempt = `const fs = require('fs'); const { parentPort, workerData } = require('worker_threads');` +
      `let r; try { fs.writeFileSync(${JSON.stringify(mountPoint)} + '/leak-' + workerData, 'plaintext'); r = 'written'; } catch (e) { r = e.code; }` +
      `parentPort.postMessage(r);`;
    const body = temp(`${id}-worker.cjs`);
    writeFileSync(body, attempt);
    const main = temp(`${id}-main.cjs`);
    writeFileSync(main, `
      const { Worker, SHARE_ENV } = require('worker_threads');
      const attempt = ${JSON.stringify(attempt)};
      const nested = "const { Worker, parentPort } = require('worker_threads');" +
        "const w = new Worker(" + JSON.stringify(attempt) + ", { eval: true, env: {}, execArgv: [], workerData: 'nested' });" +
        "w.on('message', (m) => parentPort.postMessage(m)); w.on('error', (e) => parentPort.postMessage('failed: ' + e.message));";
      const ways = {
        file: () => new Worker(${JSON.stringify(body)}, { workerData: 'file' }),
        eval: () => new Worker(attempt, { eval: true, workerData: 'eval' }),
        'execArgv []': () => new Worker(${JSON.stringify(body)}, { execArgv: [], workerData: 'execArgv' }),
        'env {}': () => new Worker(${JSON.stringify(body)}, { env: {}, workerData: 'env' }),
        'env with another SHIELD_CONFIG': () => new Worker(${JSON.stringify(body)}, { env: { SHIELD_CONFIG: ${JSON.stringify(trap)} }, workerData: 'other-config' }),
        'SHARE_ENV': () => new Worker(${JSON.stringify(body)}, { env: SHARE_ENV, workerData: 'share' }),
        'eval, env {}, execArgv [], resourceLimits': () => new Worker(attempt, { eval: true, env: {}, execArgv: [], resourceLimits: { maxOldGenerationSizeMb: 256 }, workerData: 'all' }),
        'a worker started by a worker': () => new Worker(nested, { eval: true, env: {}, execArgv: [], workerData: 'outer' }),
        'new URL(file)': () => new Worker(new URL(${JSON.stringify('file://' + body)}), { execArgv: [], env: {}, workerData: 'url' }),
        'after the program deleted SHIELD_CONFIG from process.env': () => {
          delete process.env.SHIELD_CONFIG;
          delete process.env.SHIELD_CONFIG_CHECKED;
          return new Worker(${JSON.stringify(body)}, { workerData: 'lost' });
        },
        'SHARE_ENV after that': () => new Worker(${JSON.stringify(body)}, { env: SHARE_ENV, workerData: 'share-lost' }),
      };
      (async () => {
        const results = {};
        for (const [name, start] of Object.entries(ways)) {
          results[name] = await new Promise((resolve) => {
            let w;
            try {
              w = start();
            } catch (e) {
              return resolve('refused: ' + e.code + ': ' + e.message);
            }
            w.once('message', resolve);
            w.once('error', (e) => resolve('failed: ' + e.message));
            w.once('exit', () => resolve('exited without an answer'));
          });
        }
        console.log(JSON.stringify(results));
      })();
    `);
    const register = fileURLToPath(new URL('../dist/register.js', import.meta.url));
    const command = how === 'run'
      ? ['run', '--config', config, '--', process.execPath, main]
      : null;
    const result = command
      ? shield(command)
      : (() => {
        const run = spawnSync(process.execPath, [how === 'import' ? `--import=${register}` : `--require=${register}`, main],
          { env: { ...process.env, SHIELD_CONFIG: config, NODE_OPTIONS: '' }, encoding: 'utf8', timeout: 60_000 });
        return { status: run.status, out: run.stdout, stderr: run.stderr };
      })();
    expect(result.stderr).toBe('');
    const results = JSON.parse(result.out) as Record<string, string>;
    const refusedShare = results['SHARE_ENV after that'];
    delete results['SHARE_ENV after that'];
    expect(results).toEqual(Object.fromEntries(Object.keys(results).map((name) => [name, 'EBUSY'])));
    expect(Object.keys(results)).toHaveLength(10);
    // The one worker that would read a process.env without the configuration does not start.
    expect(refusedShare).toBe('refused: ERR_WORKER_INIT_FAILED: shieldfs: cannot start a worker with env: SHARE_ENV: SHIELD_CONFIG ' +
      'was changed in this process since the shield was installed, and the worker would run without it; restore it, or give the worker an env of its own');
    expect(readdirSync(mountPoint)).toEqual([]);
  }, 120_000);
});

describe('item 16: code in a writable volume never loads, decoy on the disk or not', () => {
  it('require, require.resolve, import() and the main entry: MODULE_NOT_FOUND / ERR_MODULE_NOT_FOUND saying why, the same with and without a decoy', async () => {
    const mountPoint = temp('code-mnt');
    const key = generateKey();
    const keyFile = temp('code.key');
    writeFileSync(keyFile, key.toString('hex'), { mode: 0o600 });
    const tagStore = `file:${temp('code-tags.json')}`;
    const v = await Volume.create(temp('code-v'), { key, tagStore });
    await v.writeFile('/x.js', "console.log('VOLUME CODE RAN')");
    await v.writeFile('/x.mjs', "console.log('VOLUME CODE RAN')");
    await v.close();
    const config = temp('code.yaml');
    writeFileSync(config, `mounts:\n  - { path: ${mountPoint}, volume: ${temp('code-v')}, keyFile: ${keyFile}, tagStore: "${tagStore}", readOnly: true }\n`);
    const attempts = `
      const report = (how, run) => { try { run(); console.log(how, 'loaded'); } catch (e) { console.log(how, e.code, e.message.includes('is a writable volume, and code is loaded only from protected trees')); } };
      report('require', () => require(${JSON.stringify(join(mountPoint, 'x.js'))}));
      report('require.resolve', () => require.resolve(${JSON.stringify(join(mountPoint, 'x.js'))}));
      import(${JSON.stringify(join(mountPoint, 'x.mjs'))}).then(() => console.log('import loaded'), (e) => console.log('import', e.code, e.message.includes('is a writable volume, and code is loaded only from protected trees')));
    `;
    const expected = 'require MODULE_NOT_FOUND true\nrequire.resolve MODULE_NOT_FOUND true\nimport ERR_MODULE_NOT_FOUND true\n';
    for (const decoy of [false, true]) {
      if (decoy) {
        mkdirSync(mountPoint, { recursive: true });
        writeFileSync(join(mountPoint, 'x.js'), "console.log('HOST DECOY RAN')");
        writeFileSync(join(mountPoint, 'x.mjs'), "console.log('HOST DECOY RAN')");
      }
      const run = shield(['run', '--config', config, '--', process.execPath, '-e', attempts]);
      expect(run.stderr, `decoy: ${decoy}`).toBe('');
      expect(run.out, `decoy: ${decoy}`).toBe(expected);
      const main = shield(['run', '--config', config, '--', process.execPath, join(mountPoint, 'x.mjs')]);
      expect(main.out, `decoy: ${decoy}`).toBe('');
      expect(main.stderr, `decoy: ${decoy}`).toMatch(/ERR_MODULE_NOT_FOUND|is a writable volume, and code is loaded only from protected trees/);
      expect(main.status).not.toBe(0);
    }
  }, 60_000);
});
