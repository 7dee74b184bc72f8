// `npm run build`, after tsc: rewrites the package's entry modules in dist/ as bundles that share
// their code through chunks in dist/chunks/, so that `--import shieldfs/register` loads a handful of
// files instead of some seventy ES modules (Node resolves, reads, compiles and links each one: about
// 0.5 ms apiece on Node 22, more than mounting a tree). README, "Start-up per Node line".
//
// One copy of the code per thread. The entries are bundled together (esbuild's code splitting): the
// register, `shieldfs` and `shieldfs/fs` import the same chunk, so an application that imports
// `shieldfs` or `shieldfs/fs` under the register gets the register's process shield, mount table and
// descriptor tables, not a second set (test/register-bundle.test.ts). Everything else in dist/ stays
// as tsc wrote it: the CLI, and the modules that run on threads of their own (tag-store workers),
// which share no state with the main thread anyway.
//
// The input is tsc's output (so the code is what tsc compiled; esbuild only joins modules), and the
// source maps chain back to lib/. Chunks sit in dist/chunks/, as deep as dist/file/ or dist/register/:
// the code that finds files through its own import.meta.url (the addon's package root `../..`, the
// register `../register.js`, hooks and workers named through their folder) finds the same files
// from a chunk. Running it twice is harmless: a bundled entry bundles again to the same modules.
//
// Node's builtins are taken with process.getBuiltinModule() instead of `import`: an ES import of a
// builtin builds its module namespace, which reads every export, lazy ones too. `import … from
// 'node:fs'` alone loaded fs/promises, the fs streams and with them all of node:stream, and
// 'node:util' its argument parser and diff; some fifty internal modules in all, a few ms per line.
// esbuild treats the builtin as a CommonJS module then, and reads each export where it is used, as
// the live binding an import would be (the register's patch of node:fs is seen as before).
import { build } from 'esbuild';
import { mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const dist = fileURLToPath(new URL('../dist/', import.meta.url));
const entries = [
  'index.js',               // shieldfs
  'shieldfs-fs.js',         // shieldfs/fs
  'register/install.js',    // what shieldfs/register (dist/register.js, left as it is) requires when SHIELD_CONFIG is set
  'register/esm-hooks.js',  // module.register() hooks on Node 20's hooks thread (its own copy there)
  'register/volume-code-hooks.js',
];

const builtinsAsRequired = {
  name: 'builtins-as-required',
  setup(build) {
    build.onResolve({ filter: /^node:/ }, (args) => ({ path: args.path, namespace: 'builtin' }));
    build.onLoad({ filter: /.*/, namespace: 'builtin' }, (args) => ({
      contents: `module.exports = process.getBuiltinModule(${JSON.stringify(args.path)});`,
      loader: 'js',
    }));
  },
};

const result = await build({
  entryPoints: entries.map((entry) => join(dist, entry)),
  outdir: dist,
  outbase: dist,
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  packages: 'external',  // dependencies load from node_modules as they are
  chunkNames: 'chunks/[name]-[hash]',
  sourcemap: true,
  legalComments: 'none',
  logLevel: 'warning',
  plugins: [builtinsAsRequired],
  write: false,
});

// Old chunks go only now: a second run reads the previous run's bundled entries, which import them.
rmSync(join(dist, 'chunks'), { recursive: true, force: true });
for (const file of result.outputFiles) {
  mkdirSync(dirname(file.path), { recursive: true });
  writeFileSync(file.path, file.contents);
}
const chunks = readdirSync(join(dist, 'chunks')).filter((name) => name.endsWith('.js'));
console.log(`bundled ${entries.length} entries of dist/ with ${chunks.length} shared chunk(s) in dist/chunks/`);
