// scripts/node-suite.mjs (Node's own fs tests in three modes) against a NODE_SOURCE of our own
// writing: a tiny test/common (index.js, tmpdir.js, written here, not Node's) and a handful of
// test/parallel/test-fs-*.js whose outcome per mode is known: one that passes everywhere, one that
// fails on plain node (not counted), one that makes a symlink (fails only in a mount: the documented
// symlink limitation), one with `// Flags:` and `// Env:` lines, one in ESM (the register through
// --import), one that sees the mount's device number (an undocumented divergence) and one that
// never ends (the timeout).
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { beforeAll, describe, expect, test } from 'vitest';
import { useTempDir } from './support/temp.js';

const SCRIPT = fileURLToPath(new URL('../scripts/node-suite.mjs', import.meta.url));
const REGISTER = fileURLToPath(new URL('../dist/register.js', import.meta.url));
const temp = useTempDir('shieldfs-node-suite-test-');

// Our own stand-ins for the helpers Node's tests use: the same interface, nothing more.
const COMMON_INDEX = String.raw`'use strict';
const calls = [];
function mustCall(fn = () => {}, expected = 1) {
  const record = { name: fn.name || '<anonymous>', expected, actual: 0 };
  calls.push(record);
  return function (...args) { record.actual++; return fn.apply(this, args); };
}
process.on('exit', () => {
  for (const { name, expected, actual } of calls) {
    if (actual !== expected) {
      console.error('Error: ' + name + ' was called ' + actual + ' times, expected ' + expected);
      process.exitCode = 1;
    }
  }
});
function skip(why) { console.log('1..0 # Skipped: ' + why); process.exit(0); }
module.exports = { mustCall, skip };
`;

const COMMON_TMPDIR = String.raw`'use strict';
const fs = require('fs');
const path = require('path');
const root = process.env.NODE_TEST_DIR ? fs.realpathSync(process.env.NODE_TEST_DIR) : path.resolve(__dirname, '..');
const tmpPath = path.join(root, '.tmp.' + (process.env.TEST_SERIAL_ID || process.env.TEST_THREAD_ID || '0'));
let first = true;
function refresh() {
  fs.rmSync(tmpPath, { recursive: true, force: true });
  fs.mkdirSync(tmpPath);
  if (first) {
    first = false;
    process.on('exit', () => { process.chdir(root); fs.rmSync(tmpPath, { recursive: true, force: true }); });
  }
}
module.exports = { path: tmpPath, refresh, resolve: (...parts) => path.resolve(tmpPath, ...parts) };
`;

const TESTS: Record<string, string> = {
  'test-fs-basic.js': String.raw`'use strict';
const common = require('../common');
const tmpdir = require('../common/tmpdir');
const assert = require('assert');
const fs = require('fs');
tmpdir.refresh();
const file = tmpdir.resolve('hello.txt');
fs.writeFileSync(file, 'hello');
assert.strictEqual(fs.readFileSync(file, 'utf8'), 'hello');
fs.readFile(file, 'utf8', common.mustCall((error, text) => {
  assert.ifError(error);
  assert.strictEqual(text, 'hello');
}));
`,
  'test-fs-broken.js': String.raw`'use strict';
require('../common');
const assert = require('assert');
assert.strictEqual(1 + 1, 3);
`,
  'test-fs-makes-symlink.js': String.raw`'use strict';
require('../common');
const tmpdir = require('../common/tmpdir');
const assert = require('assert');
const fs = require('fs');
tmpdir.refresh();
fs.writeFileSync(tmpdir.resolve('target'), 'x');
fs.symlinkSync('target', tmpdir.resolve('link'));
assert.strictEqual(fs.readlinkSync(tmpdir.resolve('link')), 'target');
`,
  'test-fs-flags.js': String.raw`// Copyright notice first, as in Node's files.

// Flags: --expose-gc --no-deprecation
// Env: SUITE_PROBE=from-env-line
'use strict';
require('../common');
const assert = require('assert');
assert.strictEqual(typeof globalThis.gc, 'function');
assert.ok(process.execArgv.includes('--no-deprecation'));
assert.strictEqual(process.env.SUITE_PROBE, 'from-env-line');
`,
  'test-fs-esm.mjs': String.raw`import { createRequire } from 'node:module';
import assert from 'node:assert';
import fs from 'node:fs';
const require = createRequire(import.meta.url);
require('../common');
const tmpdir = require('../common/tmpdir');
tmpdir.refresh();
fs.writeFileSync(tmpdir.resolve('m.txt'), 'esm');
assert.strictEqual(fs.readFileSync(tmpdir.resolve('m.txt'), 'utf8'), 'esm');
`,
  'test-fs-same-device.js': String.raw`'use strict';
require('../common');
const tmpdir = require('../common/tmpdir');
const assert = require('assert');
const fs = require('fs');
tmpdir.refresh();
// The scratch directory and this file are on one file system here (both under os.tmpdir()).
assert.strictEqual(fs.statSync(tmpdir.path).dev, fs.statSync(__filename).dev);
`,
  'test-fs-hangs.js': String.raw`'use strict';
require('../common');
setInterval(() => {}, 1000);
`,
};

let source: string;

beforeAll(() => {
  if (!existsSync(REGISTER)) throw new Error(`${REGISTER} is missing: run \`npx tsc -p tsconfig.build.json\` first`);
  source = temp('node');
  mkdirSync(join(source, 'test', 'common'), { recursive: true });
  mkdirSync(join(source, 'test', 'parallel'), { recursive: true });
  writeFileSync(join(source, 'test', 'common', 'index.js'), COMMON_INDEX);
  writeFileSync(join(source, 'test', 'common', 'tmpdir.js'), COMMON_TMPDIR);
  for (const [name, text] of Object.entries(TESTS)) writeFileSync(join(source, 'test', 'parallel', name), text);
  // Not a test-fs-* file: never run.
  writeFileSync(join(source, 'test', 'parallel', 'test-http-unrelated.js'), 'process.exit(1);\n');
});

function suite(args: string[], nodeSource: string | null = source) {
  const env: NodeJS.ProcessEnv = { ...process.env, NODE_OPTIONS: '', NODE: process.execPath };  // the node under test: ours
  delete env.SHIELD_CONFIG;
  delete env.NODE_SOURCE;
  if (nodeSource !== null) env.NODE_SOURCE = nodeSource;
  const result = spawnSync(process.execPath, [SCRIPT, ...args], { encoding: 'utf8', env, timeout: 55_000 });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

interface Failure { name: string; reason: string; documented: boolean; feature?: string; by?: string }
interface Report {
  counts: Record<string, number>;
  failures: { register: Failure[]; mount: Failure[] };
  baselineFailures: { name: string; reason: string }[];
  tests: { name: string; flags: string[]; env: Record<string, string>; results: Record<string, { passed: boolean; reason?: string; timedOut: boolean }> }[];
}

describe('scripts/node-suite.mjs', () => {
  test('three modes over a synthetic NODE_SOURCE: counts, reasons, classification, --json', () => {
    const json = temp('report.json');
    const { status, stdout, stderr } = suite(['--jobs', '2', '--timeout', '4', '--json', json]);
    expect(stderr).toBe('');
    expect(status).toBe(0);
    expect(stdout).toContain('node-suite: 7 test(s)');
    expect(stdout).toContain(`node ${process.version} (${process.execPath})`);
    expect(stdout).toContain('baseline passed 5 of 7; register passed 5 of 5; mount passed 3 of 5');
    expect(stdout).toContain('register: 0 test(s) pass on baseline and fail here');
    expect(stdout).toContain('mount: 2 test(s) pass on baseline and fail here (1 documented, 1 not)');
    expect(stdout).toMatch(/test-fs-makes-symlink\.js {2}documented: symlinks \(by error\)\n {6}Error: ENOTSUP: symlink '[^']*\/\.tmp\.\d\/link': symbolic links cannot be created inside a protected mount/);
    expect(stdout).toMatch(/test-fs-same-device\.js {2}DIVERGENCE \(not documented\)\n {6}AssertionError \[ERR_ASSERTION\]: Expected values to be strictly equal: (\d+ !== \d+|\+ \d+ - \d+)$/m);
    expect(stdout).toMatch(/failing on plain node \(not counted\): 2\n {2}test-fs-broken\.js {2}AssertionError \[ERR_ASSERTION\]: Expected values to be strictly equal: 2 !== 3\n {2}test-fs-hangs\.js {2}timed out after 4 s/);
    expect(stdout).not.toContain('test-http-unrelated');

    const report = JSON.parse(readFileSync(json, 'utf8')) as Report;
    expect(report.counts).toMatchObject({ total: 7, baseline: 5, register: 5, mount: 3, baselineUsingTmpdir: 4 });
    expect(report.failures.register).toEqual([]);
    expect(report.failures.mount).toEqual([
      expect.objectContaining({ name: 'test-fs-makes-symlink.js', documented: true, feature: 'symlinks', by: 'error' }),
      expect.objectContaining({ name: 'test-fs-same-device.js', documented: false }),
    ]);
    const byName = Object.fromEntries(report.tests.map((t) => [t.name, t]));
    expect(byName['test-fs-flags.js']!.flags).toEqual(['--expose-gc', '--no-deprecation']);
    expect(byName['test-fs-flags.js']!.env).toEqual({ SUITE_PROBE: 'from-env-line' });
    expect(Object.values(byName['test-fs-flags.js']!.results).map((r) => r.passed)).toEqual([true, true, true]);
    expect(Object.values(byName['test-fs-esm.mjs']!.results).map((r) => r.passed)).toEqual([true, true, true]);
    expect(byName['test-fs-hangs.js']!.results).toEqual({ baseline: expect.objectContaining({ passed: false, timedOut: true }) });
    expect(report.baselineFailures.map((f) => f.name)).toEqual(['test-fs-broken.js', 'test-fs-hangs.js']);

  });

  test('a filter, --strict, and the skip without NODE_SOURCE', () => {
    const documentedOnly = suite(['--strict', '--quiet', 'symlink|basic']);
    expect(documentedOnly.stdout).toContain('baseline passed 2 of 2; register passed 2 of 2; mount passed 1 of 2');
    expect(documentedOnly.status).toBe(0);  // the one mount failure is documented
    const divergent = suite(['--strict', '--quiet', '--modes', 'mount', '--filter', 'same-device']);
    expect(divergent.stdout).toContain('baseline passed 1 of 1; mount passed 0 of 1');
    expect(divergent.status).toBe(1);
    expect(suite(['--modes', 'mount', '--filter', 'same-device']).status).toBe(0);  // not --strict

    const skipped = suite([], null);
    expect(skipped.status).toBe(0);
    expect(skipped.stdout).toMatch(/^node-suite: skipped: NODE_SOURCE is not set\. Set it to a checkout of nodejs\/node/);
    const empty = suite([], temp('empty'));
    expect(empty.status).toBe(0);
    expect(empty.stdout).toContain('has no test/parallel');
  });

  test('reasons, classification and directives, one by one', async () => {
    const scriptUrl: string = new URL('../scripts/node-suite.mjs', import.meta.url).href;
    const runner = await import(scriptUrl) as {
      failureReason(run: { status: number | null; signal: string | null; timedOut: boolean; stdout: string; stderr: string }, timeout: number): string;
      classify(name: string, reason: string): { documented: boolean; feature?: string; by?: string };
      testDirectives(source: string): { flags: string[]; env: Record<string, string> };
    };
    const run = (stderr: string, stdout = '', status: number | null = 1, signal: string | null = null) =>
      runner.failureReason({ status, signal, timedOut: false, stdout, stderr }, 60);
    expect(run('node:internal/fs/utils:347\n    throw err;\n    ^\n\nError: ENOENT: no such file or directory, open \'/x\'\n    at Object.openSync (node:fs:581:18) {\n  errno: -2,\n  code: \'ENOENT\',\n'))
      .toBe("Error: ENOENT: no such file or directory, open '/x'");
    expect(run('TypeError [ERR_INVALID_ARG_TYPE]: The "path" argument must be of type string. Received undefined\n  code: \'ERR_INVALID_ARG_TYPE\''))
      .toBe('TypeError [ERR_INVALID_ARG_TYPE]: The "path" argument must be of type string. Received undefined');
    expect(run('AssertionError [ERR_ASSERTION]: Missing expected exception.\n    at x\n  code: \'ERR_ASSERTION\',\n'))
      .toBe('AssertionError [ERR_ASSERTION]: Missing expected exception.');
    expect(run('Uncaught Error: boom\n  code: \'EBADF\'\n')).toBe('Uncaught Error: boom (code EBADF)');
    expect(run('shield: EROLLBACK: no trusted tag for volume …\n')).toBe('shield: EROLLBACK: no trusted tag for volume …');
    expect(run('', 'Mismatched <anonymous> function calls. Expected exactly 1, actual 0.\n    at Object.<anonymous> (/x.js:3:1)\n'))
      .toBe('Mismatched <anonymous> function calls. Expected exactly 1, actual 0.');
    expect(run('', '', null, 'SIGABRT')).toBe('killed by SIGABRT');
    expect(run('', '', 7)).toBe('exit status 7, nothing on stderr');
    expect(runner.failureReason({ status: null, signal: 'SIGKILL', timedOut: true, stdout: '', stderr: '' }, 60)).toBe('timed out after 60 s');

    expect(runner.classify('test-fs-symlink-dir.js', 'AssertionError: x')).toMatchObject({ documented: true, feature: 'symlinks', by: 'test name' });
    expect(runner.classify('test-fs-rm.js', "Error: ENOTSUP: symlink '/m/.tmp.0/l': symbolic links cannot be created inside a protected mount"))
      .toMatchObject({ documented: true, feature: 'symlinks', by: 'error' });
    expect(runner.classify('test-fs-link.js', 'anything')).toMatchObject({ documented: true, feature: 'hard links' });
    expect(runner.classify('test-fs-watchfile-bigint.js', 'anything')).toMatchObject({ documented: true, feature: 'watch/watchFile' });
    expect(runner.classify('test-fs-x.js', "Error: ENOTSUP: watch '/m': protected paths cannot be watched")).toMatchObject({ feature: 'watch/watchFile', by: 'error' });
    expect(runner.classify('test-fs-x.js', 'Error: spawnSync /usr/bin/node EBADF')).toMatchObject({ feature: 'a mounted descriptor handed to the kernel' });
    expect(runner.classify('test-fs-x.js', 'Error: EBUSY: volume /v is in use by pid 12 (host) since …')).toMatchObject({ documented: true });
    expect(runner.classify('test-fs-write.js', 'TypeError [ERR_INVALID_ARG_TYPE]: …')).toEqual({ documented: false });
    // A symlink error that is not the shield's refusal is no documented limit.
    expect(runner.classify('test-fs-x.js', "Error: EEXIST: file already exists, symlink 'a' -> '/m/b'")).toEqual({ documented: false });

    expect(runner.testDirectives('// Copyright\n\n// Flags: --expose-internals  --no-warnings\n// Env: A=1 B=x=y\n\'use strict\';\n'))
      .toEqual({ flags: ['--expose-internals', '--no-warnings'], env: { A: '1', B: 'x=y' } });
    expect(runner.testDirectives("'use strict';\n")).toEqual({ flags: [], env: {} });
  });
});
