// The application the module-loading tests protect and run: CommonJS and ESM entries, a package
// "type" boundary, JSON, a CommonJS helper imported from ESM, packages in the tree's node_modules
// ("exports" with conditions and patterns, a legacy "main"), "#imports", workers, a child process,
// and a native addon. Every source carries MARKER, which must never appear on the disk.
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

export const MARKER = 'PLAINTEXT-MARKER-5b1e9c';
/** Where the tree is mounted, and the volume of the worker/child tests (a path the disk does not have). */
export const APP = '/app';
export const VOLUME_PATH = '/shieldfs-module-loading-volume';

const mark = `// ${MARKER}\n`;

export const APP_FILES: Record<string, string> = {
  'package.json': JSON.stringify({ name: 'demo-app', imports: { '#util': './lib/util.js' } }),

  // CommonJS main: relative .js (with and without extension), JSON, directory index, package.json
  // "main", bare packages, "#imports", and an ES module through import().
  'main.cjs': `${mark}
const results = {
  x: require('./lib/x.js'),
  noExtension: require('./lib/x') === require('./lib/x.js'),
  data: require('./lib/data.json'),
  directoryIndex: require('./lib/dir'),
  packageMain: require('./lib/pkgdir'),
  bare: require('pkg'),
  pattern: require('pkg/feature/one'),
  legacyMain: require('legacy'),
  imports: require('#util'),
  big: require('./lib/big.js'),
  isMain: require.main === module,
  filename: __filename,
  resolved: require.resolve('pkg'),
};
import('./esm/rel.mjs').then((m) => {
  results.dynamicImport = m.default;
  console.log(JSON.stringify(results));
});
`,

  // ESM main: relative .mjs, a .js under "type": "module", JSON with its attribute, a CommonJS
  // helper by import and by createRequire (one instance), packages, "#imports", node:fs.
  'main.mjs': `${mark}
import rel from './esm/rel.mjs';
import typed from './mod/typed.js';
import data from './lib/data.json' with { type: 'json' };
import helper, { named } from './esm/helper.cjs';
import big from './lib/big.js';
import bare from 'pkg';
import pattern from 'pkg/feature/one';
import legacyMain from 'legacy';
import imports from '#util';
import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';
import fsp from 'node:fs/promises';
import { readFile } from 'node:fs/promises';
const require = createRequire(import.meta.url);
console.log(JSON.stringify({
  rel, typed, data, helper, named, sameHelper: require('./esm/helper.cjs') === helper, big, bare, pattern, legacyMain, imports,
  readFileSync: readFileSync('${APP}/lib/data.json', 'utf8'),
  promisesDefault: await fsp.readFile('${APP}/lib/data.json', 'utf8'),
  promisesNamed: await readFile(new URL('./lib/data.json', import.meta.url), 'utf8'),
  url: import.meta.url,
}));
`,

  'lib/x.js': `${mark}module.exports = 'x';\n`,
  'lib/data.json': JSON.stringify({ answer: 42 }),
  'lib/dir/index.js': `${mark}module.exports = 'directory index';\n`,
  'lib/pkgdir/package.json': JSON.stringify({ main: 'entry.js' }),
  'lib/pkgdir/entry.js': `${mark}module.exports = 'package main';\n`,
  'lib/util.js': `${mark}module.exports = 'util via #imports';\n`,
  // The largest file of the tree (so its object is the one to tamper with).
  'lib/big.js': `${mark}module.exports = 'big';\n/*${'0123456789abcdef'.repeat(2048)}*/\n`,

  'esm/rel.mjs': `${mark}export default 'rel';\n`,
  'esm/helper.cjs': `${mark}exports.named = 'named'; exports.inner = require('./inner.js'); exports.data = require('../lib/data.json');\n`,
  'esm/inner.js': `${mark}module.exports = 'inner';\n`,
  'esm/uses-rel.mjs': `${mark}import rel from './rel.mjs'; export default 'uses ' + rel;\n`,
  'esm/reexport.cjs': `${mark}module.exports = require('./helper.cjs');\n`,
  'esm/typeless.js': `${mark}export default 'detected as ESM';\n`,

  'mod/package.json': JSON.stringify({ type: 'module' }),
  'mod/typed.js': `${mark}import rel from '../esm/rel.mjs'; export default 'typed ' + rel;\n`,
  // A main entry whose package says "type": "module".
  'mod/main.js': `${mark}
import typed from './typed.js';
import { createRequire } from 'node:module';
console.log(JSON.stringify({ typed, cjs: createRequire(import.meta.url)('../lib/x.js') }));
`,

  'node_modules/pkg/package.json': JSON.stringify({
    name: 'pkg',
    exports: { '.': { import: './esm.mjs', require: './cjs.js' }, './feature/*': './features/*.js' },
  }),
  'node_modules/pkg/cjs.js': `${mark}module.exports = 'pkg for require';\n`,
  'node_modules/pkg/esm.mjs': `${mark}export default 'pkg for import';\n`,
  'node_modules/pkg/features/one.js': `${mark}module.exports = 'feature one';\n`,
  'node_modules/pkg/private.js': `${mark}module.exports = 'not exported';\n`,
  // As TypeScript compiles `export * from './greet'` to CommonJS.
  'node_modules/ts-style/package.json': JSON.stringify({ name: 'ts-style', main: 'dist/index.js' }),
  'node_modules/ts-style/dist/index.js': `${mark}"use strict";
var __createBinding = (this && this.__createBinding) || function (o, m, k) { Object.defineProperty(o, k, { enumerable: true, get: function () { return m[k]; } }); };
var __exportStar = (this && this.__exportStar) || function (m, exports) { for (var p in m) if (p !== "default" && !Object.prototype.hasOwnProperty.call(exports, p)) __createBinding(exports, m, p); };
Object.defineProperty(exports, "__esModule", { value: true });
__exportStar(require("./greet"), exports);
`,
  'node_modules/ts-style/dist/greet.js': `${mark}"use strict";
Object.defineProperty(exports, "__esModule", { value: true });
exports.greet = void 0;
const greet = () => 'hello';
exports.greet = greet;
`,
  'node_modules/legacy/package.json': JSON.stringify({ name: 'legacy', main: 'lib/index' }),
  'node_modules/legacy/lib/index.js': `${mark}module.exports = 'legacy main';\n`,

  // Errors, as Node gives them, and the documented limits.
  'probe.mjs': `${mark}
import { createRequire } from 'node:module';
const require = createRequire(import.meta.url);
const seen = {};
const attempt = async (name, action) => {
  try {
    const value = await action();
    seen[name] = value === undefined ? 'ok' : value;
  } catch (error) {
    seen[name] = error.code ?? error.message;
  }
};
await attempt('missingImport', () => import('./nope.mjs'));
await attempt('metaResolveMissing', () => import.meta.resolve('./nope.mjs'));
await attempt('metaResolvePackage', () => import.meta.resolve('pkg'));
await attempt('directoryImport', () => import('./lib/dir'));
await attempt('jsonWithoutAttribute', () => import('./lib/data.json'));
await attempt('notExported', () => import('pkg/private.js'));
await attempt('missingRequire', () => require('./nope'));
await attempt('typelessDetected', async () => (await import('./esm/typeless.js')).default);
await attempt('requireEsmLeaf', () => require('./esm/rel.mjs').default);
await attempt('requireEsmImportingTree', () => require('./esm/uses-rel.mjs').default);
await attempt('reexportDefault', async () => (await import('./esm/reexport.cjs')).default.named);
await attempt('reexportNamed', async () => (await import('./esm/reexport.cjs')).named);
await attempt('typeScriptExportStar', async () => (await import('ts-style')).greet());
console.log(JSON.stringify(seen));
`,

  // Native addons: refused with a reason.
  'addon.node': 'not really an ELF file, and never written to the disk in plaintext',
  'native.cjs': `${mark}
const seen = {};
try { require('./addon.node'); seen.require = 'loaded'; } catch (error) { seen.require = error.code; seen.message = error.message; }
try { process.dlopen({ exports: {} }, __dirname + '/addon.node'); seen.dlopen = 'loaded'; } catch (error) { seen.dlopen = error.code; }
import('./addon.node').then(() => { seen.import = 'loaded'; }, (error) => { seen.import = error.code; }).then(() => console.log(JSON.stringify(seen)));
`,

  // Threads and processes the application starts.
  'spawn.mjs': `${mark}
import { Worker } from 'node:worker_threads';
import { fork, spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
const report = { pid: process.pid };
try { writeFileSync('${VOLUME_PATH}/note.txt', 'written by the main thread'); report.mainVolume = 'written'; } catch (error) { report.mainVolume = error.code; }
for (const entry of ['${APP}/worker.mjs', '${APP}/worker.cjs']) {
  const worker = new Worker(entry);
  report[entry] = await new Promise((done) => {
    worker.once('message', done);
    worker.once('error', (error) => done({ error: error.code ?? error.message }));
  });
}
const child = fork('${APP}/child.cjs', { stdio: 'pipe' });
let out = '', err = '';
child.stdout.on('data', (d) => { out += d; });
child.stderr.on('data', (d) => { err += d; });
report.fork = { status: await new Promise((done) => child.on('exit', done)), out: out.trim(), err: err.trim() };
const volumeChild = fork('${APP}/child-volume.cjs', { stdio: 'pipe' });
let volumeOut = '';
volumeChild.stdout.on('data', (d) => { volumeOut += d; });
report.forkUsingVolume = { status: await new Promise((done) => volumeChild.on('exit', done)), out: volumeOut.trim() };
const spawned = spawnSync(process.execPath, ['${APP}/child.cjs'], { encoding: 'utf8' });
report.spawn = { status: spawned.status, out: spawned.stdout.trim(), err: spawned.stderr.split('\\n').find((line) => /Error|shield:/.test(line)) ?? '' };
console.log(JSON.stringify(report));
`,
  'worker.mjs': `${mark}
import { parentPort } from 'node:worker_threads';
import { readFileSync } from 'node:fs';
import rel from './esm/rel.mjs';
let volume;
try { volume = readFileSync('${VOLUME_PATH}/note.txt', 'utf8'); } catch (error) { volume = error.code; }
parentPort.postMessage({ rel, data: JSON.parse(readFileSync('${APP}/lib/data.json', 'utf8')), volume });
`,
  'worker.cjs': `${mark}
const { parentPort } = require('node:worker_threads');
const { readFileSync } = require('node:fs');
let volume;
try { volume = readFileSync('${VOLUME_PATH}/note.txt', 'utf8'); } catch (error) { volume = error.code; }
parentPort.postMessage({ helper: require('./esm/helper.cjs').named, volume });
`,
  'child.cjs': `${mark}console.log(JSON.stringify({ x: require('./lib/x.js'), data: require('./lib/data.json') }));\n`,
  'child-volume.cjs': `${mark}
const { readFileSync } = require('node:fs');
try { console.log(JSON.stringify({ read: readFileSync('${VOLUME_PATH}/note.txt', 'utf8') })); }
catch (error) { console.log(JSON.stringify({ code: error.code, message: error.message })); }
`,
};

/** Writes the application's sources into `directory`. */
export function writeApp(directory: string): void {
  for (const [path, content] of Object.entries(APP_FILES)) {
    const file = join(directory, path);
    mkdirSync(dirname(file), { recursive: true });
    writeFileSync(file, content);
  }
}
