// Code inside protected trees, loaded by require and import: real node processes started the way a
// user starts them (`node --import shieldfs/register app`, `node -r …`, `shield run`), with an
// application made into a tree by protectTree and a SHIELD_CONFIG file naming it.
// Build first: `npx tsc -p tsconfig.build.json`.
import { spawnSync } from 'node:child_process';
import { cpSync, existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import Module from 'node:module';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { generateKey } from '../lib/file/keys.js';
import { protectTree } from '../lib/tree/protect.js';
import { APP, APP_FILES, MARKER, VOLUME_PATH, writeApp } from './support/module-loading-app.js';
import { cliRunner } from './support/cli-run.js';
import { flipByteInLargestObject } from './support/tamper-objects.js';
import { useTempDir } from './support/temp.js';

const REPO = fileURLToPath(new URL('..', import.meta.url));
const REGISTER = join(REPO, 'dist', 'register.js');
const temp = useTempDir('shieldfs-module-loading-');
// Node 22.15 and later: in-thread hooks (module.registerHooks), which also resolve the imports of a
// require()d ES module; Node 20's hooks thread does not see those (README, "Limits").
const inThreadHooks = typeof (Module as unknown as { registerHooks?: unknown }).registerHooks === 'function';
const selfReferenceExported = (() => {
  const exports = JSON.parse(readFileSync(join(REPO, 'package.json'), 'utf8')).exports ?? {};
  return './register' in exports;
})();

interface Run { status: number | null; stdout: string; stderr: string }

function node(args: string[], config: string, cwd?: string): Run {
  if (!existsSync(REGISTER)) throw new Error(`${REGISTER} is missing: run \`npx tsc -p tsconfig.build.json\` first`);
  const result = spawnSync(process.execPath, args, {
    env: { ...process.env, SHIELD_CONFIG: config, NODE_OPTIONS: '' }, encoding: 'utf8', timeout: 30_000, cwd,
  });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

/** The one JSON line the application printed, after checking it ran cleanly. */
function output(run: Run): unknown {
  expect(run.stderr, `stderr (stdout: ${run.stdout})`).toBe('');
  expect(run.status).toBe(0);
  return JSON.parse(run.stdout);
}

const DATA = { answer: 42 };
const COMMONJS_MAIN = {
  x: 'x', noExtension: true, data: DATA, directoryIndex: 'directory index', packageMain: 'package main', bare: 'pkg for require',
  pattern: 'feature one', legacyMain: 'legacy main', imports: 'util via #imports', big: 'big', isMain: true,
  filename: `${APP}/main.cjs`, resolved: `${APP}/node_modules/pkg/cjs.js`, dynamicImport: 'rel',
};
const ESM_MAIN = {
  rel: 'rel', typed: 'typed rel', data: DATA, helper: { named: 'named', inner: 'inner', data: DATA }, named: 'named', sameHelper: true,
  big: 'big', bare: 'pkg for import', pattern: 'feature one', legacyMain: 'legacy main', imports: 'util via #imports',
  readFileSync: JSON.stringify(DATA), promisesDefault: JSON.stringify(DATA), promisesNamed: JSON.stringify(DATA), url: `file://${APP}/main.mjs`,
};

let tree: string;
let tag: string;
let config: string;          // the tree, key as hex
let keyFileConfig: string;   // the tree, key in a key file
let volumeConfig: string;    // the tree and a writable volume

beforeAll(async () => {
  const source = temp('src');
  writeApp(source);
  const key = generateKey();
  tree = temp('app.protected');
  ({ tag } = await protectTree(source, tree, { key }));
  const hex = key.toString('hex');
  const keyFile = temp('app.key');
  writeFileSync(keyFile, hex, { mode: 0o600 });
  const treeMount = (keyLine: string, tagValue = tag, directory = tree) =>
    `  - path: ${APP}\n    tree: ${directory}\n    ${keyLine}\n    tag: "${tagValue}"\n`;
  config = writeConfig('hex.yaml', treeMount(`key: "${hex}"`));
  keyFileConfig = writeConfig('key-file.yaml', treeMount(`keyFile: ${keyFile}`));
  volumeConfig = writeConfig('volume.yaml', treeMount(`keyFile: ${keyFile}`) +
    `  - path: ${VOLUME_PATH}\n    volume: ${temp('volume')}\n    keyFile: ${keyFile}\n    create: true\n    tagStore: file:${temp('tags.json')}\n`);
});

function writeConfig(name: string, mounts: string): string {
  const file = temp(name);
  writeFileSync(file, `mounts:\n${mounts}`);
  return file;
}

describe('CommonJS and ESM entries inside a tree', () => {
  it('a CommonJS main, with -r and with --import: relative files, JSON, directories, package main, packages and #imports in the tree', () => {
    expect(output(node(['-r', REGISTER, `${APP}/main.cjs`], config))).toEqual(COMMONJS_MAIN);
    expect(output(node(['--import', REGISTER, `${APP}/main.cjs`], keyFileConfig))).toEqual(COMMONJS_MAIN);
  });

  it('an ESM main, with --import and with -r: .mjs, "type": "module", JSON with its attribute, a CommonJS helper by import and createRequire, node:fs', () => {
    expect(output(node(['--import', REGISTER, `${APP}/main.mjs`], config))).toEqual(ESM_MAIN);
    expect(output(node(['-r', REGISTER, `${APP}/main.mjs`], keyFileConfig))).toEqual(ESM_MAIN);
  });

  it('a .js main whose package in the tree says "type": "module"; a main named without its extension', () => {
    const expected = { typed: 'typed rel', cjs: 'x' };
    for (const flag of ['--import', '-r']) {
      expect(output(node([flag, REGISTER, `${APP}/mod/main.js`], config))).toEqual(expected);
      expect(output(node([flag, REGISTER, `${APP}/mod/main`], config))).toEqual(expected);
    }
  });

  it.skipIf(!selfReferenceExported)('through the package name: shieldfs/register', () => {
    expect(output(node(['--import', 'shieldfs/register', `${APP}/main.mjs`], config, REPO))).toEqual(ESM_MAIN);
    expect(output(node(['-r', 'shieldfs/register', `${APP}/main.cjs`], config, REPO))).toEqual(COMMONJS_MAIN);
  });

  it("errors are Node's own; re-exported names of CommonJS files; require(esm) (limited on Node 20)", () => {
    expect(output(node(['--import', REGISTER, `${APP}/probe.mjs`], config))).toEqual({
      missingImport: 'ERR_MODULE_NOT_FOUND',
      metaResolveMissing: `file://${APP}/nope.mjs`,
      metaResolvePackage: `file://${APP}/node_modules/pkg/esm.mjs`,
      directoryImport: 'ERR_UNSUPPORTED_DIR_IMPORT',
      jsonWithoutAttribute: 'ERR_IMPORT_ASSERTION_TYPE_MISSING',
      notExported: 'ERR_PACKAGE_PATH_NOT_EXPORTED',
      missingRequire: 'MODULE_NOT_FOUND',
      typelessDetected: 'detected as ESM',
      requireEsmLeaf: 'rel',
      requireEsmImportingTree: inThreadHooks ? 'uses rel' : 'ERR_REQUIRE_ESM',
      reexportDefault: 'named',
      reexportNamed: 'named',
      typeScriptExportStar: 'hello',
    });
  });
});

describe('the tree stays protected', () => {
  it('the tree directory holds none of the sources in plaintext', () => {
    const texts = [MARKER, 'module.exports', 'pkg for require', 'directory index', '"answer"', 'main.cjs'].map((t) => Buffer.from(t));
    const walk = (directory: string): string[] => readdirSync(directory, { withFileTypes: true })
      .flatMap((entry) => entry.isDirectory() ? walk(join(directory, entry.name)) : [join(directory, entry.name)]);
    const files = walk(tree);
    expect(files.length).toBeGreaterThan(Object.keys(APP_FILES).length);
    for (const file of files) {
      const bytes = readFileSync(file);
      for (const text of texts) expect(bytes.includes(text), `${text} in ${file}`).toBe(false);
    }
  });

  it('a module changed on the disk: EINTEGRITY when it is loaded, by require and by import, and the process fails', () => {
    const copy = temp('tampered');
    cpSync(tree, copy, { recursive: true });
    flipByteInLargestObject(copy);  // lib/big.js, loaded after several good modules
    const tampered = writeConfig('tampered.yaml', `  - path: ${APP}\n    tree: ${copy}\n    key: "${keyOf(config)}"\n    tag: "${tag}"\n`);
    for (const args of [['-r', REGISTER, `${APP}/main.cjs`], ['--import', REGISTER, `${APP}/main.mjs`]]) {
      const run = node(args, tampered);
      expect(run.status).not.toBe(0);
      expect(run.stdout).toBe('');
      expect(run.stderr).toMatch(/EINTEGRITY: .*\/app\/lib\/big\.js/);
    }
  });

  it('a configuration pinning another tag: EROLLBACK before any application code runs', () => {
    const wrong = writeConfig('wrong-tag.yaml', `  - path: ${APP}\n    tree: ${tree}\n    key: "${keyOf(config)}"\n    tag: "${'0'.repeat(64)}"\n`);
    for (const flag of ['-r', '--import']) {
      const run = node([flag, REGISTER, `${APP}/main.cjs`], wrong);
      expect(run.stderr).toMatch(/^shield: EROLLBACK: .*not the pinned 0000000000000000…/);
      expect(run.status).toBe(4);
      expect(run.stdout).toBe('');
    }
  });
});

describe('native addons, worker threads and child processes', () => {
  it('a .node file inside a tree is refused with ENOTSUP and the reason (require, process.dlopen); import does not load .node files', () => {
    const seen = output(node(['-r', REGISTER, `${APP}/native.cjs`], config)) as Record<string, string>;
    expect(seen).toMatchObject({ require: 'ENOTSUP', dlopen: 'ENOTSUP', import: 'ERR_UNKNOWN_FILE_EXTENSION' });
    expect(seen.message).toMatch(/^ENOTSUP: cannot load the native addon \/app\/addon\.node: .*Keep native addons outside protected trees/);
  });

  it('workers see the trees but not the volumes the main thread holds; a forked child runs, and fails with EBUSY naming the holder only where it uses a held volume', () => {
    const report = output(node(['--import', REGISTER, `${APP}/spawn.mjs`], volumeConfig)) as Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
    expect(report.mainVolume).toBe('written');
    expect(report[`${APP}/worker.mjs`]).toEqual({ rel: 'rel', data: DATA, volume: 'EBUSY' });
    expect(report[`${APP}/worker.cjs`]).toEqual({ helper: 'named', volume: 'EBUSY' });
    expect(report.fork).toEqual({ status: 0, out: JSON.stringify({ x: 'x', data: DATA }), err: '' });
    expect(report.forkUsingVolume.status).toBe(0);
    const used = JSON.parse(report.forkUsingVolume.out);
    expect(used.code).toBe('EBUSY');
    expect(used.message).toMatch(new RegExp(`volume .* is in use by pid ${report.pid} `));
    // A node started without the register module (no -r/--import, no NODE_OPTIONS) sees only the disk.
    expect(report.spawn.status).toBe(1);
    expect(report.spawn.err).toMatch(/Cannot find module '\/app\/child\.cjs'/);
  });

  it('under `shield run`, workers, forked and spawned node children all load code from the tree', () => {
    const run = cliRunner({ NODE_OPTIONS: '' })(['run', '--config', keyFileConfig, '--', process.execPath, `${APP}/spawn.mjs`]);
    const report = output({ status: run.status, stdout: run.out, stderr: run.stderr }) as Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
    const child = JSON.stringify({ x: 'x', data: DATA });
    expect(report.mainVolume).toBe('ENOENT');  // no volume in this configuration: the disk's path
    expect(report[`${APP}/worker.mjs`]).toEqual({ rel: 'rel', data: DATA, volume: 'ENOENT' });
    expect(report[`${APP}/worker.cjs`]).toEqual({ helper: 'named', volume: 'ENOENT' });
    expect(report.fork).toEqual({ status: 0, out: child, err: '' });
    expect(report.spawn).toEqual({ status: 0, out: child, err: '' });
  });
});

function keyOf(file: string): string {
  return /key: "([0-9a-f]{64})"/.exec(readFileSync(file, 'utf8'))![1]!;
}
