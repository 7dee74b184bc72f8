// Issue 11, item 5: host code inside tree code. The host plants packages where Node's resolution
// would look for them from a tree's files (node_modules above the mount point, NODE_PATH, the real
// disk under the mount point with a symlinked package or a "main" that climbs out) and files beside
// the tree; code in the tree asks for them every way it can (require, require.resolve, createRequire,
// import(), import.meta.resolve, the require of a CommonJS module imported from ESM). Each must be
// refused with Node's not-found code and a message saying why, and none of the host's code may run.
// Real node processes, started the way a user starts them (`node -r`/`--import` shieldfs/register).
// Build first: `npx tsc -p tsconfig.build.json`.
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, realpathSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import Module from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { beforeAll, describe, expect, it } from 'vitest';
import { generateKey } from '../lib/file/keys.js';
import { parseMountSpecs } from '../lib/fs/mount-config.js';
import { protectTree } from '../lib/tree/protect.js';
import { useTempDir } from './support/temp.js';

const REGISTER = fileURLToPath(new URL('../dist/register.js', import.meta.url));
const temp = useTempDir('shieldfs-host-modules-');

// The host's side: R/host is a directory the host owns, and the tree is mounted at R/host/app, a
// directory that also exists on the real disk (where the host plants packages under the mount point).
// Real paths, as resolution compares them (the temporary directory might lie behind a symbolic link).
const ROOT = join(realpathSync(dirname(temp('r'))), 'r');
const HOST = join(ROOT, 'host');
const MOUNT = join(HOST, 'app');
const RAN = join(ROOT, 'ran');            // every host module that runs leaves its name here
const NODE_PATH_DIR = join(ROOT, 'node-path');
const ALLOWED = join(ROOT, 'allowed', 'node_modules');
const OUTSIDE = join(HOST, 'outside.js');

/** A CommonJS module of the host's that records that it ran. */
function hostModule(path: string, name: string): void {
  mkdirSync(dirname(path), { recursive: true });
  writeFileSync(path, `require('node:fs').writeFileSync(${JSON.stringify(join(RAN, name))}, '');\nmodule.exports = 'HOST CODE ${name}';\n`);
}

function plantHostFiles(): void {
  mkdirSync(RAN, { recursive: true });
  // Above the mount point, where Node's walk up from /…/app/x.js looks next.
  hostModule(join(HOST, 'node_modules', 'planted', 'index.js'), 'planted');
  writeFileSync(join(HOST, 'node_modules', 'planted', 'package.json'), JSON.stringify({ name: 'planted' }));
  // In NODE_PATH, which CommonJS searches last.
  hostModule(join(NODE_PATH_DIR, 'viapath', 'index.js'), 'viapath');
  // Beside the tree: a relative '../outside.js' or an absolute path leads here; so does the "main" of
  // the tree's own package `escaper` ("../../../outside.js").
  hostModule(OUTSIDE, 'outside');
  // The target of a "main": "../../.." from the disk under the mount point (R/host/index.js).
  hostModule(join(HOST, 'index.js'), 'host-index');
  // Under the mount point, on the real disk: a symlinked package and one whose "main" climbs out.
  hostModule(join(ROOT, 'evil', 'index.js'), 'symlinked');
  mkdirSync(join(MOUNT, 'node_modules', 'mainout'), { recursive: true });
  symlinkSync(join(ROOT, 'evil'), join(MOUNT, 'node_modules', 'undermount'));
  writeFileSync(join(MOUNT, 'node_modules', 'mainout', 'package.json'), JSON.stringify({ name: 'mainout', main: '../../..' }));
  // A decoy on the real disk under the mount point, where the tree has esm/sibling.mjs.
  mkdirSync(join(MOUNT, 'esm'), { recursive: true });
  writeFileSync(join(MOUNT, 'esm', 'sibling.mjs'), `import { writeFileSync } from 'node:fs';\nwriteFileSync(${JSON.stringify(join(RAN, 'decoy'))}, '');\nexport default 'HOST CODE decoy';\n`);
  // What the allow-list test names: a package in an allowed directory, and a file beside it that is not.
  hostModule(join(ALLOWED, 'allowedpkg', 'index.js'), 'allowedpkg');
  hostModule(join(ROOT, 'allowed', 'sibling.js'), 'sibling');
  // …and a package there that is a symbolic link out of it.
  symlinkSync(join(ROOT, 'evil'), join(ALLOWED, 'linked'));
}

const RESULT = `
const seen = {};
const outcome = async (action) => {
  try {
    const value = await action();
    return { value: typeof value === 'string' ? value : typeof value?.default === 'string' ? value.default : 'a module' };
  } catch (error) {
    return { code: error.code, message: error.message };
  }
};
const specifiers = JSON.parse(process.argv[2]);
const probe = async (methods) => {
  for (const [method, action] of Object.entries(methods)) {
    seen[method] = {};
    for (const specifier of specifiers) seen[method][specifier] = await outcome(() => action(specifier));
  }
  console.log(JSON.stringify(seen));
};
`;

const TREE_FILES: Record<string, string> = {
  'package.json': JSON.stringify({ name: 'victim', imports: { '#planted': 'planted' } }),
  'probe.mjs': `import { createRequire } from 'node:module';
import viaImport from './via-import.cjs';
const require = createRequire(import.meta.url);
${RESULT}
await probe({
  import: (s) => import(s),
  'import.meta.resolve': (s) => import.meta.resolve(s),
  'createRequire(import.meta.url)': (s) => require(s),
  'createRequire(import.meta.url).resolve': (s) => require.resolve(s),
  'require of a CommonJS module imported by ESM': (s) => viaImport.load(s),
});
`,
  'probe.cjs': `const { createRequire } = require('node:module');
${RESULT}
probe({
  require: (s) => require(s),
  'require.resolve': (s) => require.resolve(s),
  'createRequire(__filename)': (s) => createRequire(__filename)(s),
  'createRequire(__filename).resolve': (s) => createRequire(__filename).resolve(s),
  'import()': (s) => import(s),
});
`,
  'via-import.cjs': 'exports.load = (s) => require(s);\n',
  // require.resolve with `paths`: lookups start there, and still only trees count.
  'paths.cjs': `${RESULT}
probe({ 'require.resolve(s, { paths: [a host directory, a tree directory] })': (s) => require.resolve(s, { paths: [process.argv[3], __dirname + '/lib'] }) });
`,
  // An ES module of the tree that imports the planted package: required (require(esm)) or imported.
  'esm/uses-planted.mjs': "import planted from 'planted';\nexport default planted;\n",
  'esm/uses-sibling.mjs': "import sibling from './sibling.mjs';\nexport default sibling;\n",
  'esm/sibling.mjs': "export default 'tree sibling';\n",
  'lib/x.js': "module.exports = 'tree x';\n",
  'node_modules/inside/index.js': "module.exports = 'tree package';\n",
  // A package in the tree whose "main" leads out of it, to the host's R/host/outside.js.
  'node_modules/escaper/package.json': JSON.stringify({ name: 'escaper', main: '../../../outside.js' }),
};

let tree = '';
let tag = '';
let hexKey = '';

function writeConfig(name: string, extra = ''): string {
  const file = temp(name);
  writeFileSync(file, `mounts:\n  - path: ${MOUNT}\n    tree: ${tree}\n    key: "${hexKey}"\n    tag: "${tag}"\n${extra}`);
  return file;
}

type Outcome = { value: string } | { code: string; message: string };
type Seen = Record<string, Record<string, Outcome>>;

function probe(entry: 'probe.mjs' | 'probe.cjs' | 'paths.cjs', config: string, specifiers: string[]): Seen {
  if (!existsSync(REGISTER)) throw new Error(`${REGISTER} is missing: run \`npx tsc -p tsconfig.build.json\` first`);
  rmSync(RAN, { recursive: true, force: true });
  mkdirSync(RAN);
  const flag = entry === 'probe.mjs' ? '--import' : '-r';
  const run = spawnSync(process.execPath, [flag, REGISTER, join(MOUNT, entry), JSON.stringify(specifiers), HOST], {
    env: { ...process.env, SHIELD_CONFIG: config, NODE_OPTIONS: '', NODE_PATH: NODE_PATH_DIR }, encoding: 'utf8', timeout: 60_000, cwd: HOST,
  });
  expect(run.stderr, `stderr (stdout: ${run.stdout})`).toBe('');
  expect(run.status).toBe(0);
  return JSON.parse(run.stdout) as Seen;
}

/** Host modules that ran in the last probe. */
function ran(): string[] {
  return readdirSync(RAN).sort();
}

// Node's code for a module not found: ESM's for import and import.meta.resolve, CommonJS's for every require.
const ESM_METHODS = new Set(['import', 'import.meta.resolve', 'import()']);
const codeFor = (method: string) => ESM_METHODS.has(method) ? 'ERR_MODULE_NOT_FOUND' : 'MODULE_NOT_FOUND';

const refusedPackage = (name: string) => `'${name}' is not in a protected tree, and code in the protected tree ${MOUNT} loads packages only from protected trees`;
const refusedFile = (path: string) => `${path} is not in a protected tree, and code in the protected tree ${MOUNT} loads modules only from protected trees`;

// What each planted specifier must give: the fragment its message must hold.
const ATTACKS: Record<string, string> = {
  planted: refusedPackage('planted'),
  'planted/index.js': refusedPackage('planted/index.js'),
  '#planted': refusedPackage('planted'),
  viapath: refusedPackage('viapath'),
  undermount: refusedPackage('undermount'),
  mainout: refusedPackage('mainout'),
  escaper: refusedFile(OUTSIDE),
  '../outside.js': refusedFile(OUTSIDE),
  [OUTSIDE]: refusedFile(OUTSIDE),
};
// What loads and what it resolves to (a fragment of the path or URL).
const LEGITIMATE: Record<string, [value: string, resolved: string]> = {
  './lib/x.js': ['tree x', `${MOUNT}/lib/x.js`],
  inside: ['tree package', `${MOUNT}/node_modules/inside/index.js`],
  fs: ['a module', 'fs'],
  'node:fs': ['a module', 'fs'],
  'node:test': ['a module', 'node:test'],
};

beforeAll(async () => {
  plantHostFiles();
  const source = temp('src');
  for (const [name, text] of Object.entries(TREE_FILES)) {
    mkdirSync(dirname(join(source, name)), { recursive: true });
    writeFileSync(join(source, name), text);
  }
  const key = generateKey();
  hexKey = key.toString('hex');
  tree = temp('app.protected');
  ({ tag } = await protectTree(source, tree, { key }));
});

// Every mismatch at once: which method and specifier, and what came instead.
type Fragment = string | { esm: string; require: string };

function expectRefusals(seen: Seen, attacks: Record<string, Fragment>): void {
  const wrong: string[] = [];
  for (const [method, outcomes] of Object.entries(seen)) {
    for (const [specifier, fragments] of Object.entries(attacks)) {
      const fragment = typeof fragments === 'string' ? fragments : ESM_METHODS.has(method) ? fragments.esm : fragments.require;
      const outcome = outcomes[specifier] as { code?: string; message?: string; value?: string };
      if (outcome.code !== codeFor(method) || !outcome.message?.includes(fragment)) wrong.push(`${method}('${specifier}'): ${JSON.stringify(outcome)}`);
    }
  }
  expect(wrong).toEqual([]);
}

function expectLoaded(seen: Seen, legitimate: Record<string, [value: string, resolved: string]>): void {
  const wrong: string[] = [];
  for (const [method, outcomes] of Object.entries(seen)) {
    for (const [specifier, [value, resolved]] of Object.entries(legitimate)) {
      const outcome = outcomes[specifier] as { value?: string; message?: string };
      const ok = /resolve/.test(method) ? outcome.value?.includes(resolved) : outcome.value === value;
      if (!ok) wrong.push(`${method}('${specifier}'): ${JSON.stringify(outcome)}`);
    }
  }
  expect(wrong).toEqual([]);
}

describe('item 5: code in a tree loads only from trees and built-ins, by default', () => {
  it('from ESM: import(), import.meta.resolve, createRequire(import.meta.url) and .resolve, the require of an imported CommonJS module', () => {
    const seen = probe('probe.mjs', writeConfig('default-esm.yaml'), [...Object.keys(ATTACKS), pathToFileURL(OUTSIDE).href, ...Object.keys(LEGITIMATE)]);
    // require takes no URLs: to it a file: URL is a package name.
    const url = pathToFileURL(OUTSIDE).href;
    expectRefusals(seen, { ...ATTACKS, [url]: { esm: refusedFile(OUTSIDE), require: refusedPackage(url) } });
    expectLoaded(seen, LEGITIMATE);
    expect(ran()).toEqual([]);
  });

  it('from CommonJS: require, require.resolve, createRequire(__filename) and .resolve, import()', () => {
    const seen = probe('probe.cjs', writeConfig('default-cjs.yaml'), [...Object.keys(ATTACKS), ...Object.keys(LEGITIMATE)]);
    expectRefusals(seen, ATTACKS);
    expectLoaded(seen, LEGITIMATE);
    expect(ran()).toEqual([]);
  });

  it('require.resolve with `paths` naming a host directory: its node_modules are not searched either', () => {
    const seen = probe('paths.cjs', writeConfig('paths.yaml'), ['planted', 'inside']);
    expectRefusals(seen, { planted: refusedPackage('planted') });
    expectLoaded(seen, { inside: ['', `${MOUNT}/node_modules/inside/index.js`] });
  });
});

describe('item 5: the imports of an ES module of the tree, imported or required (require(esm))', () => {
  // Node 20 resolves and reads the static imports of a require()d ES module itself, without the hooks
  // and on the disk: the planted package, or the host's decoy under the mount point in place of the
  // tree's esm/sibling.mjs. There such a require is refused; from Node 22.15 the hooks see the imports.
  const hooksInThread = typeof (Module as unknown as { registerHooks?: unknown }).registerHooks === 'function';
  const requiredEsmRefused = 'which imports other modules, is not supported from a protected tree';

  for (const entry of ['probe.mjs', 'probe.cjs'] as const) {
    it(`from ${entry === 'probe.mjs' ? 'ESM' : 'CommonJS'}: the planted package is refused, the tree's own sibling loads (not the decoy), or require() is refused on Node 20`, () => {
      const seen = probe(entry, writeConfig(`imports-${entry}.yaml`), ['./esm/uses-planted.mjs', './esm/uses-sibling.mjs']);
      const wrong: string[] = [];
      for (const [method, outcomes] of Object.entries(seen)) {
        if (/resolve/.test(method)) continue;  // the modules themselves are in the tree
        const planted = outcomes['./esm/uses-planted.mjs'] as { code?: string; message?: string; value?: string };
        const sibling = outcomes['./esm/uses-sibling.mjs'] as { code?: string; message?: string; value?: string };
        if (method === 'require of a CommonJS module imported by ESM') {
          // Node's ESM-side require gives its own link error, with or without the hooks; it must fail, and load the tree's sibling where it can.
          if (planted.value !== undefined) wrong.push(`${method}(planted): ${JSON.stringify(planted)}`);
          if (hooksInThread ? sibling.value !== 'tree sibling' : sibling.value !== undefined) wrong.push(`${method}(sibling): ${JSON.stringify(sibling)}`);
          continue;
        }
        if (ESM_METHODS.has(method) || hooksInThread) {
          if (planted.code !== 'ERR_MODULE_NOT_FOUND' || !planted.message?.includes(refusedPackage('planted'))) wrong.push(`${method}(planted): ${JSON.stringify(planted)}`);
          if (sibling.value !== 'tree sibling') wrong.push(`${method}(sibling): ${JSON.stringify(sibling)}`);
        } else {
          for (const outcome of [planted, sibling]) {
            if (outcome.code !== 'ERR_REQUIRE_ESM' || !outcome.message?.includes(requiredEsmRefused)) wrong.push(`${method}: ${JSON.stringify(outcome)}`);
          }
        }
      }
      expect(wrong).toEqual([]);
      expect(ran()).toEqual([]);
    });
  }
});

describe('item 5: the mount option allowHostModules trusts the named host directories, and nothing else', () => {
  const ALLOWED_FILE = join(ALLOWED, 'allowedpkg', 'index.js');
  const SIBLING = join(ROOT, 'allowed', 'sibling.js');
  const refusedPackageAllowing = (name: string) => `'${name}' is neither in a protected tree nor in ${ALLOWED} (the allowHostModules of its mount), ` +
    `and code in the protected tree ${MOUNT} loads packages only from those`;
  const refusedFileAllowing = (path: string) => `${path} is neither in a protected tree nor in ${ALLOWED} (the allowHostModules of its mount), ` +
    `and code in the protected tree ${MOUNT} loads modules only from those`;
  const attacks: Record<string, string> = {
    planted: refusedPackageAllowing('planted'),
    viapath: refusedPackageAllowing('viapath'),
    undermount: refusedPackageAllowing('undermount'),
    mainout: refusedPackageAllowing('mainout'),
    escaper: refusedFileAllowing(OUTSIDE),
    [OUTSIDE]: refusedFileAllowing(OUTSIDE),
    // Beside the allowed directory, and a symbolic link from inside it to elsewhere.
    [SIBLING]: refusedFileAllowing(SIBLING),
    linked: refusedFileAllowing(join(ROOT, 'evil', 'index.js')),
  };
  const allowed: Record<string, [value: string, resolved: string]> = {
    allowedpkg: ['HOST CODE allowedpkg', ALLOWED_FILE],
    [ALLOWED_FILE]: ['HOST CODE allowedpkg', ALLOWED_FILE],
    inside: ['tree package', `${MOUNT}/node_modules/inside/index.js`],
    'node:fs': ['a module', 'fs'],
  };

  for (const entry of ['probe.mjs', 'probe.cjs'] as const) {
    it(`from ${entry === 'probe.mjs' ? 'ESM' : 'CommonJS'}: a package in the allowed directory and a file in it load; the planted ones, a file beside it and a link out of it do not`, () => {
      // Relative to the configuration file's directory, as every path in it.
      const config = writeConfig(`allowing-${entry}.yaml`, `    allowHostModules: [${join('r', 'allowed', 'node_modules')}]\n`);
      const seen = probe(entry, config, [...Object.keys(attacks), ...Object.keys(allowed)]);
      expectRefusals(seen, attacks);
      expectLoaded(seen, allowed);
      expect(ran()).toEqual(['allowedpkg']);
    });
  }

  it('the option is checked: a list of existing host directories, made real, never under or around a mount point; trees only', () => {
    const mount = (extra: Record<string, unknown>) => [{ path: MOUNT, tree, key: hexKey, tag, ...extra }];
    const linkToAllowed = temp('link-to-allowed');
    symlinkSync(ALLOWED, linkToAllowed);
    expect(parseMountSpecs(mount({ allowHostModules: [linkToAllowed] }), 'test')[0]!.allowHostModules).toEqual([ALLOWED]);
    const refusals: [unknown, string][] = [
      [[join(MOUNT, 'node_modules')], `allowHostModules[0]: ${join(MOUNT, 'node_modules')} lies under the mount point ${MOUNT}, where the disk holds the host's files`],
      [[ALLOWED, HOST], `allowHostModules[1]: ${HOST} contains the mount point ${MOUNT}`],
      [['/'], 'allowHostModules[0]: cannot allow the whole disk (/)'],
      [[join(ROOT, 'nope')], `allowHostModules[0]: ${join(ROOT, 'nope')} cannot be used (ENOENT): expected an existing directory`],
      [[OUTSIDE], `allowHostModules[0]: ${OUTSIDE} is not a directory`],
      [ALLOWED, 'allowHostModules: expected a list of host directories'],
      [[''], 'allowHostModules[0]: expected the path of a host directory, got ""'],
    ];
    for (const [value, message] of refusals) {
      expect(() => parseMountSpecs(mount({ allowHostModules: value }), 'test'), JSON.stringify(value)).toThrow(message);
    }
    // A mount point reached through a symbolic link is compared by its real path too.
    symlinkSync(HOST, join(ROOT, 'alias'));
    expect(() => parseMountSpecs([{ path: join(ROOT, 'alias', 'app'), tree, key: hexKey, tag, allowHostModules: [join(MOUNT, 'node_modules')] }], 'test'))
      .toThrow(`allowHostModules[0]: ${join(MOUNT, 'node_modules')} lies under the mount point ${MOUNT}`);
    // A directory under another mount's path is refused too; and volumes take no such option.
    const other = { path: join(ROOT, 'allowed'), tree, key: hexKey, tag };
    expect(() => parseMountSpecs([...mount({ allowHostModules: [ALLOWED] }), other], 'test'))
      .toThrow(`allowHostModules[0]: ${ALLOWED} lies under the mount point ${join(ROOT, 'allowed')}`);
    expect(() => parseMountSpecs([{ path: '/V1', volume: temp('v'), key: hexKey, allowHostModules: [ALLOWED] }], 'test'))
      .toThrow('mounts[0] (/V1): allowHostModules: applies to protected trees only');
  });
});
