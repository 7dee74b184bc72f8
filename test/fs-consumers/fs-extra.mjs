// A real consumer of `fs`: fs-extra (v11, through graceful-fs) copies a tree into ROOT, moves it,
// writes and reads JSON, empties and removes directories. Prints a JSON summary that holds no
// absolute path or clock reading, so a run against a real directory and a run against a mounted
// volume (node --import <repo>/dist/register.js) must print the same thing.
//
//   node test/fs-consumers/fs-extra.mjs ROOT
import { createHash } from 'node:crypto';
import os from 'node:os';
import path from 'node:path';
import fse from 'fs-extra';

const root = process.argv[2];
if (!root) {
  console.error('usage: node fs-extra.mjs ROOT');
  process.exit(2);
}

const T_FILE = 1_500_000_000;       // fixed times, so preserved timestamps can be compared exactly
const T_OTHER = 1_600_000_000.5;

/** The tree under dir: relative path, type, permission bits; for files size, hash and mtime. */
function tree(dir, withTimes = true) {
  const out = [];
  const walk = (d) => {
    for (const name of fse.readdirSync(d).sort()) {
      const p = path.join(d, name);
      const s = fse.lstatSync(p);
      const entry = { path: path.relative(dir, p), type: s.isDirectory() ? 'dir' : s.isFile() ? 'file' : 'other', mode: (s.mode & 0o777).toString(8) };
      if (s.isFile()) {
        entry.size = s.size;
        entry.sha = createHash('sha256').update(fse.readFileSync(p)).digest('hex').slice(0, 16);
        // The time we set, or "recent" for a file written during this run (its clock reading differs).
        if (withTimes) entry.mtime = s.mtimeMs === T_FILE * 1000 ? 'preserved' : Math.abs(s.mtimeMs - Date.now()) < 600_000 ? 'recent' : s.mtimeMs;
      }
      out.push(entry);
      if (s.isDirectory()) walk(p);
    }
  };
  walk(dir);
  return out;
}

const errorOf = (e) => ({ name: e.name, code: e.code ?? null, message: String(e.message).split(scratch).join('<scratch>').split(root).join('<root>') });
async function attempt(f) {
  try {
    return { ok: (await f()) ?? null };
  } catch (e) {
    return { error: errorOf(e) };
  }
}

// The source: a temporary directory outside ROOT, made with plain fs calls.
const scratch = await fse.mkdtemp(path.join(os.tmpdir(), 'shieldfs-fs-extra-'));
const src = path.join(scratch, 'src');
const big = Buffer.alloc(300_000);
for (let i = 0; i < big.length; i++) big[i] = (i * 31 + (i >> 10)) % 256;
await fse.outputFile(path.join(src, 'top.txt'), 'top level\n');
await fse.outputFile(path.join(src, 'a', 'b', 'c', 'deep.txt'), 'deep\n');
await fse.outputFile(path.join(src, 'a', 'big.bin'), big);
await fse.outputFile(path.join(src, 'a', 'empty'), '');
await fse.outputFile(path.join(src, 'ünïcode ✓', '名前.txt'), 'unicode\n');
await fse.ensureDir(path.join(src, 'emptydir'));
await fse.outputFile(path.join(src, 'run.sh'), '#!/bin/sh\necho hi\n');
await fse.chmod(path.join(src, 'run.sh'), 0o755);
await fse.chmod(path.join(src, 'a', 'big.bin'), 0o600);
for (const f of ['top.txt', 'a/b/c/deep.txt', 'a/big.bin', 'a/empty', 'ünïcode ✓/名前.txt', 'run.sh']) {
  await fse.utimes(path.join(src, f), T_OTHER, T_FILE);
}

const summary = {};
try {
  summary.source = tree(src);

  // copy (async, timestamps preserved) and copySync into ROOT
  await fse.copy(src, path.join(root, 'tree'), { preserveTimestamps: true });
  summary.copied = tree(path.join(root, 'tree'));
  fse.copySync(src, path.join(root, 'tree-sync'), { filter: (p) => !p.endsWith('.bin') });
  summary.copiedSync = tree(path.join(root, 'tree-sync'), false);
  summary.copyMissing = await attempt(() => fse.copy(path.join(src, 'nope'), path.join(root, 'x')));
  summary.copyIntoItself = await attempt(() => fse.copy(path.join(root, 'tree'), path.join(root, 'tree', 'a', 'inner')));

  // move: rename within ROOT; onto an existing directory only with overwrite
  await fse.move(path.join(root, 'tree'), path.join(root, 'moved'));
  summary.afterMove = { names: fse.readdirSync(root).sort(), moved: tree(path.join(root, 'moved')) };
  summary.moveOntoExisting = await attempt(() => fse.move(path.join(root, 'tree-sync'), path.join(root, 'moved')));
  await fse.move(path.join(root, 'tree-sync'), path.join(root, 'replaced'), { overwrite: true });
  fse.moveSync(path.join(root, 'replaced', 'top.txt'), path.join(root, 'moved', 'top.txt'), { overwrite: true });
  summary.afterMoveSync = fse.readdirSync(path.join(root, 'replaced')).sort();

  // JSON, files and directories created on demand
  const config = { name: 'shieldfs', version: 1, nested: { list: [1, 2, 3], unicode: 'ü✓' } };
  await fse.outputJson(path.join(root, 'moved', 'new', 'dir', 'config.json'), config, { spaces: 2 });
  summary.json = await fse.readJson(path.join(root, 'moved', 'new', 'dir', 'config.json'));
  summary.jsonText = await fse.readFile(path.join(root, 'moved', 'new', 'dir', 'config.json'), 'utf8');
  fse.writeJsonSync(path.join(root, 'sync.json'), [config, null]);
  summary.jsonSync = fse.readJsonSync(path.join(root, 'sync.json'));
  await fse.outputFile(path.join(root, 'bad.json'), '{ not json');
  summary.badJson = await attempt(() => fse.readJson(path.join(root, 'bad.json')));
  summary.badJsonThrowsFalse = fse.readJsonSync(path.join(root, 'bad.json'), { throws: false });
  await fse.ensureFile(path.join(root, 'e', 'f', 'g.txt'));
  await fse.ensureDir(path.join(root, 'e', 'h'));
  summary.ensured = tree(path.join(root, 'e'), false);
  summary.pathExists = [await fse.pathExists(path.join(root, 'e', 'f', 'g.txt')), await fse.pathExists(path.join(root, 'nope')), fse.pathExistsSync(path.join(root, 'e'))];
  await fse.appendFile(path.join(root, 'e', 'f', 'g.txt'), 'appended');
  summary.appended = await fse.readFile(path.join(root, 'e', 'f', 'g.txt'), 'utf8');

  // empty a directory, copy everything back out of ROOT, compare with the source
  await fse.emptyDir(path.join(root, 'moved', 'a', 'b'));
  summary.emptied = fse.readdirSync(path.join(root, 'moved', 'a', 'b'));
  await fse.copy(path.join(root, 'moved'), path.join(scratch, 'back'), { preserveTimestamps: true });
  summary.copiedBack = tree(path.join(scratch, 'back'));

  // remove
  await fse.remove(path.join(root, 'moved'));
  fse.removeSync(path.join(root, 'e'));
  await fse.remove(path.join(root, 'never-existed'));
  summary.finalNames = fse.readdirSync(root).sort();
  summary.finalTree = tree(root, false);
} catch (e) {
  summary.unexpected = errorOf(e);
  process.exitCode = 1;
} finally {
  await fse.remove(scratch);
}

process.stdout.write(`${JSON.stringify(summary)}\n`);
