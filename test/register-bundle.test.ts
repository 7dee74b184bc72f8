// The built package's entry points share one copy of shieldfs's code (scripts/bundle.mjs): the
// register, `shieldfs` and `shieldfs/fs` reach the same modules, so an application that imports the
// package under the register sees the register's process shield, mounts and descriptors, not a
// second set. Checked on what `npm run build` wrote to dist/ (bundled or, after a bare tsc, not).
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, test } from 'vitest';
import { useTempDir } from './support/temp.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const DIST = join(ROOT, 'dist');
const REGISTER = join(DIST, 'register.js');
const temp = useTempDir('shieldfs-register-bundle-');

// The source modules a file of dist/ holds: esbuild marks each bundled module with a `// dist/…`
// line; a file tsc wrote is one module, itself.
function modulesIn(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  const marked = [...text.matchAll(/^\/\/ (dist\/\S+\.js)$/gm)].map((m) => m[1]!);
  return marked.length > 0 ? [...new Set(marked)] : [relative(ROOT, file)];
}

// Every file of dist/ reachable from `entries` through relative static imports (and the register's
// require of register/install.js), with the modules each holds.
function reachable(entries: string[]): Map<string, string[]> {
  const seen = new Map<string, string[]>();
  const visit = (file: string) => {
    if (seen.has(file)) return;
    seen.set(file, modulesIn(file));
    const text = readFileSync(file, 'utf8');
    for (const m of text.matchAll(/(?:^|\n)\s*(?:import|export)\s[^;]*?["'](\.{1,2}\/[^"']+)["']/g)) visit(resolve(dirname(file), m[1]!));
    for (const m of text.matchAll(/createRequire\(import\.meta\.url\)\(["'](\.{1,2}\/[^"']+)["']\)/g)) visit(resolve(dirname(file), m[1]!));
  };
  for (const entry of entries) visit(entry);
  return seen;
}

describe('one copy of shieldfs per thread', () => {
  test('the register, shieldfs and shieldfs/fs reach each module of the process shield, the mounts and the descriptors in one file', () => {
    const files = reachable([REGISTER, join(DIST, 'index.js'), join(DIST, 'shieldfs-fs.js')]);
    const holders = new Map<string, string[]>();
    for (const [file, modules] of files) for (const m of modules) holders.set(m, [...(holders.get(m) ?? []), relative(ROOT, file)]);
    for (const state of ['dist/fs/process-shield.js', 'dist/fs/mount.js', 'dist/fs/mount-table.js', 'dist/fs/descriptors.js', 'dist/file/host-fs.js', 'dist/fs/shield-failures.js']) {
      expect(holders.get(state), state).toHaveLength(1);
    }
    const twice = [...holders].filter(([, where]) => where.length > 1);
    expect(twice).toEqual([]);
  });

  test('an application importing shieldfs and shieldfs/fs under the register shares its mount and descriptors', () => {
    // The application resolves `shieldfs` to this package, as an installed dependency would.
    const app = temp('app');
    mkdirSync(join(app, 'node_modules'), { recursive: true });
    symlinkSync(ROOT, join(app, 'node_modules', 'shieldfs'));
    const config = temp('shield.json');
    writeFileSync(config, JSON.stringify({ mounts: [{
      path: '/V1', volume: temp(`v-${randomBytes(4).toString('hex')}`), key: randomBytes(32).toString('hex'), create: true,
      tagStore: `file:${temp('tags.json')}`,
    }] }));
    writeFileSync(join(app, 'main.mjs'), String.raw`
      import nodeFs from 'node:fs';
      import * as shieldFs from 'shieldfs/fs';
      import { Volume } from 'shieldfs';
      const read = (fs, fd) => { const b = Buffer.alloc(6); fs.readSync(fd, b, 0, 6, 0); fs.closeSync(fd); return b.toString(); };
      nodeFs.writeFileSync('/V1/f', 'shared');
      const out = {
        // a descriptor of the register's shield, read and closed through shieldfs/fs, and the reverse
        nodeToShieldFs: read(shieldFs, nodeFs.openSync('/V1/f', 'r')),
        shieldFsToNode: read(nodeFs, shieldFs.openSync('/V1/f', 'r')),
        listed: shieldFs.readdirSync('/V1'),
        volumeClass: typeof Volume,
        loaded: globalThis.loadedFromDist ?? null,
      };
      console.log(JSON.stringify(out));
    `);
    // Where Node has module.registerHooks, the files of dist/ the process loads are recorded too.
    const recorder = temp('record-loads.cjs');
    writeFileSync(recorder, String.raw`
      const { registerHooks } = require('node:module');
      const dist = ${JSON.stringify(`file://${DIST}/`)};
      if (registerHooks) {
        globalThis.loadedFromDist = [];
        registerHooks({ load(url, context, next) { if (url.startsWith(dist)) globalThis.loadedFromDist.push(url.slice(dist.length)); return next(url, context); } });
      }
    `);
    const run = spawnSync(process.execPath, ['-r', recorder, '--import', REGISTER, join(app, 'main.mjs')], {
      cwd: app, encoding: 'utf8', env: { ...process.env, NODE_OPTIONS: '', SHIELD_CONFIG: config, SHIELD_CONFIG_CHECKED: '' },
    });
    expect(run.stderr).toBe('');
    expect(run.status).toBe(0);
    const out = JSON.parse(run.stdout) as { nodeToShieldFs: string; shieldFsToNode: string; listed: string[]; volumeClass: string; loaded: string[] | null };
    expect(out.nodeToShieldFs).toBe('shared');
    expect(out.shieldFsToNode).toBe('shared');
    expect(out.listed).toEqual(['f']);
    expect(out.volumeClass).toBe('function');
    if (out.loaded) {
      // Each file once, and no source module in two of them.
      expect(new Set(out.loaded).size).toBe(out.loaded.length);
      const holders = new Map<string, number>();
      for (const file of out.loaded) for (const m of modulesIn(join(DIST, file))) holders.set(m, (holders.get(m) ?? 0) + 1);
      expect([...holders].filter(([, n]) => n > 1)).toEqual([]);
      expect(out.loaded).toEqual(expect.arrayContaining(['register.js', 'index.js', 'shieldfs-fs.js']));
    }
    expect(existsSync(join(app, 'node_modules', 'shieldfs', 'package.json'))).toBe(true);
  });
});
