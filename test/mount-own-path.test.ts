// A volume or tree stored at its own mount path, as in a container image: the tree of /app in
// /app/.shieldfs, the volume /V1 backed by the directory /V1 (lib/file/host-fs.ts: the volume's own
// I/O goes to the host's disk, never back through the patched node:fs). Run with `shield run` as a
// user runs it.
import * as fs from 'node:fs';
import Module from 'node:module';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { cliRunner, expectFailure, expectSuccess } from './support/cli-run.js';
import { useTempDir } from './support/temp.js';

const temp = useTempDir('shieldfs-own-path-');
const shield = cliRunner({ SHIELD_TAG_STORE: undefined, SHIELDFS_CRASH_AT: undefined });
const VOLUME_KEY = '5e'.repeat(32);

// The service: lists the tree, and counts in the volume.
const SERVICE = `const fs = require('fs');
const [tree, volume] = process.argv.slice(2);
let n = 0;
try { n = Number(fs.readFileSync(volume + '/num', 'utf8')); } catch (error) { if (error.code !== 'ENOENT') throw error; }
console.log(JSON.stringify({ n, tree: fs.readdirSync(tree).sort(), volume: fs.readdirSync(volume).sort() }));
fs.writeFileSync(volume + '/num', String(n + 1));
`;

function setUp() {
  const root = temp(`case-${Math.random().toString(36).slice(2, 8)}`);
  fs.mkdirSync(join(root, 'src'), { recursive: true });
  fs.writeFileSync(join(root, 'src/service.cjs'), SERVICE);
  const app = join(root, 'app');
  const tag = expectSuccess(shield(['protect', '--key-file', join(root, 'tree.key'), join(root, 'src'), app])).out.trim();
  const v1 = join(root, 'V1');
  fs.mkdirSync(v1);
  return { root, app, v1, tag, treeKey: fs.readFileSync(join(root, 'tree.key'), 'utf8').trim() };
}

function writeConfig(root: string, mounts: string[]): string {
  const file = join(root, 'shield.yaml');
  fs.writeFileSync(file, ['mounts:', ...mounts.map((m) => `  - ${m}`), ''].join('\n'));
  return file;
}

describe('a tree or volume stored at its own mount path', () => {
  it('runs: the tree at /app from /app/.shieldfs and the volume /V1 backed by /V1 count 0, 1, 2; the disk holds only .shieldfs, the service never sees it', () => {
    const { root, app, v1, tag, treeKey } = setUp();
    const config = writeConfig(root, [
      `{ path: ${app}, tree: ${app}, key: "${treeKey}", tag: "${tag}" }`,
      `{ path: ${v1}, volume: ${v1}, keyEnv: V1_KEY, create: true, name: v1, tagStore: "file:${join(root, 'tags.json')}" }`,
    ]);
    const run = () => shield(['run', '--config', config, '--', process.execPath, join(app, 'service.cjs'), app, v1], { env: { V1_KEY: VOLUME_KEY } });
    const outputs = [run(), run(), run()].map((result) => JSON.parse(expectSuccess(result).out) as { n: number; tree: string[]; volume: string[] });
    expect(outputs).toEqual([
      { n: 0, tree: ['service.cjs'], volume: [] },
      { n: 1, tree: ['service.cjs'], volume: ['num'] },
      { n: 2, tree: ['service.cjs'], volume: ['num'] },
    ]);
    expect(fs.readdirSync(app)).toEqual(['.shieldfs']);
    expect(fs.readdirSync(v1)).toEqual(['.shieldfs']);
  });

  it('with the working directory in the tree, the command line\'s own code (--import, -r, -e) may load host files (the tree\'s own code may not: host-attacks-modules.test.ts)', () => {
    const { root, app, tag, treeKey } = setUp();
    fs.writeFileSync(join(root, 'host.cjs'), "globalThis.hostLoaded = true; console.log('host file loaded');\n");
    const config = writeConfig(root, [`{ path: ${app}, tree: ${app}, key: "${treeKey}", tag: "${tag}" }`]);
    const host = join(root, 'host.cjs');
    const inTree = (args: string[]) => shield(['run', '--config', config, '--', process.execPath, ...args], { cwd: app });
    // --import and -r of a host file, resolved from the working directory /app/ (a directory of the tree, not its code).
    // (Node 20 runs preloads in its module-hooks thread too: the host file's line may come twice.)
    const lines = (out: string) => [...new Set(out.split('\n').filter(Boolean))].sort();
    expect(lines(expectSuccess(inTree(['--import', `file://${host}`, '-e', 'console.log(globalThis.hostLoaded === true)'])).out)).toEqual(['host file loaded', 'true']);
    expect(lines(expectSuccess(inTree(['-r', host, '-e', 'console.log(globalThis.hostLoaded === true)'])).out)).toEqual(['host file loaded', 'true']);
    // -e code (Node names it /app/[eval…], a name that is no file of the tree) is the command line's.
    expect(expectSuccess(inTree(['-e', `require(${JSON.stringify(host)})`])).out).toBe('host file loaded\n');
    expect(expectSuccess(inTree(['--input-type=module', '-e', `await import(${JSON.stringify(`file://${host}`)})`])).out).toBe('host file loaded\n');
  });

  it.skipIf(!('getCompileCacheDir' in Module))('Node\'s compile cache, which would write the trees\' compiled code to the disk, is refused (Node 22 and later)', () => {
    const { root, app, tag, treeKey } = setUp();
    const config = writeConfig(root, [`{ path: ${app}, tree: ${app}, key: "${treeKey}", tag: "${tag}" }`]);
    const cache = join(root, 'compile-cache');
    fs.mkdirSync(cache);
    const run = (env: Record<string, string | undefined>, code = '') =>
      shield(['run', '--config', config, '--', process.execPath, '-e', `${code}require(${JSON.stringify(join(app, 'service.cjs'))})`, app, root], { env });
    const refused = run({ NODE_COMPILE_CACHE: cache });
    expect(refused.status).not.toBe(0);
    expect(refused.stderr).toMatch(/shield: EINVAL: Node's compile cache is on \(NODE_COMPILE_CACHE: .*compile-cache[^)]*\): it would write the compiled code of the protected trees/);
    const enabled = run({ NODE_COMPILE_CACHE: undefined }, "require('node:module').enableCompileCache(process.argv[2] + '/compile-cache');");
    expect(enabled.status).not.toBe(0);
    expect(enabled.stderr).toMatch(/EINVAL: module\.enableCompileCache\(\) is refused in a process with protected trees/);
    // Refused before any code of the tree was loaded (what Node cached is the runtime's own modules,
    // files of the host's): the service printed nothing either time.
    expect(refused.stdout.length + enabled.stdout.length).toBe(0);
  });

  it('a directory deeper inside its own mount, or inside another mount, is refused with EINVAL naming both', () => {
    const { root, app, v1, tag, treeKey } = setUp();
    const inner = writeConfig(root, [`{ path: ${v1}, volume: ${join(v1, 'data')}, keyEnv: V1_KEY, create: true, name: v1, tagStore: "file:${join(root, 'tags.json')}" }`]);
    expectFailure(shield(['run', '--config', inner, '--', process.execPath, '-e', `require('fs').readdirSync(${JSON.stringify(v1)})`], { env: { V1_KEY: VOLUME_KEY } }),
      'EINVAL', 1, new RegExp(`mount ${v1}: its directory ${v1}/data lies inside mount ${v1}`));
    const other = writeConfig(root, [
      `{ path: ${app}, tree: ${app}, key: "${treeKey}", tag: "${tag}" }`,
      `{ path: ${v1}, volume: ${join(app, 'data')}, keyEnv: V1_KEY, create: true, name: v1, tagStore: "file:${join(root, 'tags.json')}" }`,
    ]);
    const refused = shield(['run', '--config', other, '--', process.execPath, '-e', `require('fs').readdirSync(${JSON.stringify(v1)})`], { env: { V1_KEY: VOLUME_KEY } });
    expect(refused.status).not.toBe(0);
    expect(refused.stderr).toMatch(new RegExp(`EINVAL: .*mount ${v1}: its directory ${app}/data lies inside mount ${app}`));
  });
});
