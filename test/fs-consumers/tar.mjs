// A real consumer of `fs`: node-tar (v7). Builds an archive from a temporary directory outside
// ROOT, extracts it into ROOT/x, creates a new archive from ROOT/x (written into ROOT), and lists
// it. Prints a JSON summary that holds no absolute path or clock reading, so a run against a real
// directory and a run against a mounted volume (node --import <repo>/dist/register.js) must print
// the same thing.
//
//   node test/fs-consumers/tar.mjs ROOT
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as tar from 'tar';

const root = process.argv[2];
if (!root) {
  console.error('usage: node tar.mjs ROOT');
  process.exit(2);
}

const T_FILE = 1_400_000_000;   // whole seconds: tar headers keep seconds

function tree(dir) {
  const out = [];
  const walk = (d) => {
    for (const name of fs.readdirSync(d).sort()) {
      const p = path.join(d, name);
      const s = fs.lstatSync(p);
      const entry = { path: path.relative(dir, p), type: s.isDirectory() ? 'dir' : s.isFile() ? 'file' : 'other', mode: (s.mode & 0o777).toString(8) };
      if (s.isFile()) {
        entry.size = s.size;
        entry.sha = createHash('sha256').update(fs.readFileSync(p)).digest('hex').slice(0, 16);
        entry.mtime = s.mtimeMs;
      }
      out.push(entry);
      if (s.isDirectory()) walk(p);
    }
  };
  walk(dir);
  return out;
}

/** An archive's entries, sorted: tar keeps directory order, which differs between file systems. */
async function list(file, options = {}) {
  const entries = [];
  await tar.t({
    file,
    ...options,
    onReadEntry: (e) => {
      entries.push({ path: e.path, type: e.type, size: e.size, mode: (e.mode & 0o777).toString(8), mtime: e.type === 'File' ? e.mtime?.getTime() ?? null : null });
    },
  });
  return entries.sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
}

const errorOf = (e) => ({ name: e.name, code: e.code ?? null, message: String(e.message).split(scratch).join('<scratch>').split(root).join('<root>') });

// The source tree and its archive: a temporary directory outside ROOT.
const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'shieldfs-tar-'));
const src = path.join(scratch, 'src');
const longDir = 'a-directory-name-long-enough/that-the-whole-path/goes-past-one-hundred-bytes/of-ustar-name-field';
const files = {
  'README.md': '# archive\n',
  'bin/tool.sh': '#!/bin/sh\necho tool\n',
  'data/big.bin': Buffer.alloc(200_003, 7).map((_, i) => (i * 13 + (i >> 9)) % 256),
  'data/empty.txt': '',
  'ünïcode/名前 ✓.txt': 'unicode name\n',
  [`${longDir}/leaf.txt`]: 'long path\n',
};
for (const [name, content] of Object.entries(files)) {
  fs.mkdirSync(path.dirname(path.join(src, name)), { recursive: true });
  fs.writeFileSync(path.join(src, name), content);
  fs.utimesSync(path.join(src, name), T_FILE, T_FILE);
}
fs.mkdirSync(path.join(src, 'emptydir'));
fs.chmodSync(path.join(src, 'bin/tool.sh'), 0o755);
fs.chmodSync(path.join(src, 'data/big.bin'), 0o640);
const sourceArchive = path.join(scratch, 'source.tar');
// portable: no owner, so extracting as root does not chown (a volume keeps no owners).
await tar.c({ file: sourceArchive, cwd: src, portable: true }, fs.readdirSync(src).sort());

const summary = {};
try {
  summary.source = await list(sourceArchive);

  // extract into ROOT/x (async), then once more with the sync API into ROOT/y, stripping a level
  fs.mkdirSync(path.join(root, 'x'));
  await tar.x({ file: sourceArchive, cwd: path.join(root, 'x') });
  summary.extracted = tree(path.join(root, 'x'));
  fs.mkdirSync(path.join(root, 'y'));
  tar.x({ file: sourceArchive, cwd: path.join(root, 'y'), sync: true, strip: 1 });
  summary.extractedStripped = tree(path.join(root, 'y'));

  // extracting over existing files replaces them
  fs.writeFileSync(path.join(root, 'x', 'README.md'), 'changed locally, longer than before\n');
  await tar.x({ file: sourceArchive, cwd: path.join(root, 'x') }, ['README.md']);
  summary.reextracted = fs.readFileSync(path.join(root, 'x', 'README.md'), 'utf8');

  // a new archive from ROOT/x, written into ROOT, listed, and extracted back out of ROOT
  const again = path.join(root, 'again.tar');
  await tar.c({ file: again, cwd: path.join(root, 'x'), portable: true }, fs.readdirSync(path.join(root, 'x')).sort());
  summary.recreated = await list(again);
  summary.recreatedSize = fs.statSync(again).size;
  summary.recreatedFiltered = (await list(again, { filter: (p) => p.startsWith('data') })).map((e) => e.path);
  const gz = path.join(root, 'again.tgz');
  await tar.c({ file: gz, cwd: path.join(root, 'x'), portable: true, gzip: true }, ['data', 'README.md']);
  summary.gzipListed = (await list(gz)).map((e) => e.path);
  fs.mkdirSync(path.join(scratch, 'back'));
  await tar.x({ file: again, cwd: path.join(scratch, 'back') });
  summary.roundTrip = JSON.stringify(tree(path.join(scratch, 'back'))) === JSON.stringify(tree(src));

  // streaming: pipe an archive of ROOT/x through tar.t without a file
  const streamed = [];
  await new Promise((resolve, reject) => {
    const parser = tar.t({ onReadEntry: (e) => streamed.push(e.path) });
    parser.on('end', resolve).on('error', reject);
    tar.c({ cwd: path.join(root, 'x'), portable: true }, ['bin', 'emptydir']).pipe(parser);
  });
  summary.streamed = streamed.sort();

  // errors: a missing archive, a missing cwd
  summary.missingArchive = await tar.t({ file: path.join(root, 'none.tar') }).then(() => 'ok', errorOf);
  summary.missingCwd = await tar.x({ file: sourceArchive, cwd: path.join(root, 'no', 'such') }).then(() => 'ok', errorOf);
  summary.finalNames = fs.readdirSync(root).sort();
} catch (e) {
  summary.unexpected = errorOf(e);
  process.exitCode = 1;
} finally {
  fs.rmSync(scratch, { recursive: true, force: true });
}

process.stdout.write(`${JSON.stringify(summary)}\n`);
