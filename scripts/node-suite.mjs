#!/usr/bin/env node
// Node's own fs tests as the yardstick (issue 10, part 2; README, "Node's own fs tests").
//
//   NODE_SOURCE=~/src/node npm run test:node-suite [-- options] [filter]
//
// Runs each test/parallel/test-fs-*.{js,mjs,cjs} of a checkout of nodejs/node (or a fork that holds
// test/parallel and test/common), with Node's own test/common helpers, from NODE_SOURCE as Node's
// test runner does (`node [// Flags: of the test] test/parallel/test-fs-x.js`), in three modes:
//
//   baseline  plain node; the test's scratch directory (NODE_TEST_DIR) a plain temporary directory;
//   register  shieldfs/register preloaded (-r, or --import for .mjs) with a configuration that mounts
//             a fresh volume somewhere else; the scratch directory still on the real disk. Nothing
//             mounted is touched: every test that passes on baseline must pass;
//   mount     the same, with NODE_TEST_DIR the mount path of a fresh volume (one per test), so
//             test/common/tmpdir.js puts its .tmp.N directory inside the volume.
//
// Register and mount run only the tests that pass on baseline. A test that passes on baseline and
// fails in a mode is listed with the first error line, and, for mount, classified: a documented
// unsupported feature (DOCUMENTED below, README "Not supported inside a mount") or a
// DIVERGENCE (not documented). In register mode nothing is documented: every failure is a divergence.
//
// Nothing of Node's is copied into this repository: the tests and helpers are read from NODE_SOURCE.
// Without NODE_SOURCE (or with one that has no test/parallel) the script says so and exits 0.
// Exit status: 0, also when tests fail; with --strict, 1 when a test that passes on baseline fails in
// register mode or fails in mount mode without a documented reason. 2 for a usage error.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const REGISTER = path.join(REPO, 'dist', 'register.js');
const KEY_ENV = 'SHIELD_NODE_SUITE_KEY';
const MODES = ['baseline', 'register', 'mount'];
const OUTPUT_LIMIT = 1 << 20;  // bytes of stdout and of stderr kept per run

// Failures in a mount that exercise a feature the README documents as unsupported there. A failure
// is documented when its test's name matches `tests` (a test about that feature) or its first error
// line matches `errors` (the ENOTSUP, EBUSY, … the shield gives for it, whatever the test). The
// name patterns are the test files of nodejs/node known to be about the feature; review them after
// a run against a new Node line: a name match hides whatever else goes wrong in that test, so the
// report says which of the two matched.
export const DOCUMENTED = [
  {
    feature: 'symlinks',
    readme: '"Not supported inside a mount": `symlink`, `link` (all forms)',
    tests: /^test-fs-symlink/,
    errors: /ENOTSUP\b.*(symbolic links cannot be created|\bsymlink ')/,
  },
  {
    feature: 'hard links',
    readme: '"Not supported inside a mount": `symlink`, `link` (all forms)',
    tests: /^test-fs-link\./,
    errors: /ENOTSUP\b.*(hard links cannot be created|\blink ')/,
  },
  {
    feature: 'watch/watchFile',
    readme: '"Not supported inside a mount": `watch`, `watchFile`, `unwatchFile`, `fs.promises.watch`',
    tests: /^test-fs-(promises-)?(un)?watch/,
    errors: /ENOTSUP\b.*cannot be watched/,
  },
  {
    // The kernel's chdir: a directory inside a mount that is not also on the disk underneath is ENOENT.
    feature: 'chdir into a mount',
    readme: '"Not supported inside a mount": `process.chdir` into a directory of a mount',
    tests: null,
    errors: /\bENOENT\b.*\bchdir '/,
  },
  {
    feature: 'non-Node child processes',
    readme: '"Not supported inside a mount": programs other than Node, and Node children started without the register',
    tests: /^test-fs-(readfile-pipe-large|readfilesync-pipe-large|write-sigxfsz)\./,
    errors: null,
  },
  {
    // test-fs-read-stream makes a FIFO with mkfifo(1); readdir-recursive and the cp tests listen on a socket.
    feature: 'sockets and FIFOs',
    readme: '"Not supported inside a mount": sockets and FIFOs (`net.Server.listen(path)`, `mkfifo`)',
    // It copies a socket it made with listen(), which fails first inside a mount.
    tests: /^test-fs-cp-sync-copy-socket-error\./,
    errors: /\bENOENT\b.*\bopen '[^']*\/foo\.pipe'|\blisten E[A-Z]+\b.*\.sock\b/,
  },
  {
    // These replace a function of Node's internals (internal/fs/promises' FileHandle, the fs binding),
    // which a mount's FileHandle and calls do not go through.
    feature: "Node's internals",
    readme: '"Not supported inside a mount": patches to Node\'s internals (`--expose-internals`)',
    tests: /^test-fs-(promises-file-handle-(aggregate|close|op)-errors|readdir-types|promises-readfile)\./,
    errors: null,
  },
  {
    feature: 'a mounted descriptor handed to the kernel',
    readme: '"Not supported inside a mount": a mounted descriptor handed to the kernel or to a non-Node process',
    tests: null,
    errors: /\bspawn(Sync)?\b.*\bEBADF\b|ERR_INVALID_FD_TYPE/,
  },
  {
    feature: 'openAsBlob',
    readme: '"Not supported inside a mount": `openAsBlob`',
    tests: /^test-fs-openasblob/i,
    errors: /ENOTSUP\b.*\bopenAsBlob\b/,
  },
  {
    feature: 'Utf8Stream',
    readme: '"Not supported inside a mount": `Utf8Stream` (Node 24) on a mounted path',
    tests: /^test-fs-(utf8-stream|fastutf8stream)/,
    errors: null,
  },
  {
    feature: 'names that are not valid UTF-8',
    readme: '"Not supported inside a mount": names that are not valid UTF-8',
    tests: null,
    errors: /must be valid UTF-8/,
  },
  {
    feature: 'volume I/O in worker threads / a volume held by another process',
    readme: '"Worker threads and child processes": volumes are held by the main thread; a child finds its parent\'s volume EBUSY',
    // It transfers a mounted FileHandle to a worker, which could not use it.
    tests: /^test-fs-promises-file-handle-read-worker\./,
    errors: /held by the main thread|EBUSY\b.*in use by pid/,
  },
];

const USAGE = `Usage: NODE_SOURCE=/path/to/node-checkout npm run test:node-suite -- [options] [filter]

Runs Node's own test/parallel/test-fs-* tests in three modes: baseline (plain node), register
(shieldfs/register preloaded, a volume mounted elsewhere) and mount (the tests' scratch directory
inside a mounted volume).

  filter, --filter REGEX  run only the tests whose file name matches REGEX (default: all)
  --source PATH           the checkout (default: NODE_SOURCE)
  --node PATH             the node to run (default: NODE, else the node running this script)
  --jobs N                tests run at once (default 2)
  --timeout SECONDS       per test and mode (default 60)
  --modes LIST            a comma-separated subset of baseline,register,mount (default all three)
  --json FILE             write every result to FILE
  --strict                exit 1 when a baseline-passing test fails in register mode, or in mount
                          mode for a reason the README does not document
  --keep                  keep the scratch directories (printed at the end)
  --quiet                 no line per test, only the summary
`;

function fail(message) {
  process.stderr.write(`node-suite: ${message}\n`);
  process.exit(2);
}

export function parseArgs(argv, env = process.env) {
  const options = {
    source: env.NODE_SOURCE || '', node: env.NODE || process.execPath, jobs: 2, timeout: 60,
    filter: null, json: null, strict: false, keep: false, quiet: false, modes: [...MODES],
  };
  const value = (i, name) => {
    if (i + 1 >= argv.length) fail(`${name} needs a value`);
    return argv[i + 1];
  };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    const eq = arg.startsWith('--') ? arg.indexOf('=') : -1;
    const name = eq > 0 ? arg.slice(0, eq) : arg;
    const takes = ['--filter', '--source', '--node', '--jobs', '--timeout', '--modes', '--json'].includes(name);
    const given = takes ? (eq > 0 ? arg.slice(eq + 1) : value(i++, name)) : undefined;
    switch (name) {
      case '--help': case '-h': process.stdout.write(USAGE); process.exit(0); break;
      case '--filter': options.filter = given; break;
      case '--source': options.source = given; break;
      case '--node': options.node = given; break;
      case '--json': options.json = given; break;
      case '--jobs': options.jobs = Number(given); break;
      case '--timeout': options.timeout = Number(given); break;
      case '--modes': options.modes = given.split(',').map((m) => m.trim()).filter(Boolean); break;
      case '--strict': options.strict = true; break;
      case '--keep': options.keep = true; break;
      case '--quiet': options.quiet = true; break;
      default:
        if (arg.startsWith('-')) fail(`unknown option ${arg}\n\n${USAGE}`);
        if (options.filter !== null) fail(`one filter only (got ${options.filter} and ${arg})`);
        options.filter = arg;
    }
  }
  if (!Number.isInteger(options.jobs) || options.jobs < 1) fail('--jobs must be a positive integer');
  if (!(options.timeout > 0)) fail('--timeout must be a positive number of seconds');
  for (const mode of options.modes) if (!MODES.includes(mode)) fail(`unknown mode ${mode} (baseline, register, mount)`);
  if (!options.modes.includes('baseline')) options.modes.unshift('baseline');  // the other two are measured against it
  if (options.filter !== null) {
    try { options.filterRegExp = new RegExp(options.filter); } catch (error) { fail(`bad filter: ${error.message}`); }
  }
  if (options.source.startsWith('~/')) options.source = path.join(os.homedir(), options.source.slice(2));
  return options;
}

/** The `// Flags:` and `// Env:` lines of a test, as Node's tools/test.py reads them. */
export function testDirectives(source) {
  const flags = /\/\/\s+Flags:(.*)/.exec(source)?.[1].trim().split(/\s+/).filter(Boolean) ?? [];
  const env = {};
  for (const match of source.matchAll(/\/\/\s+Env:(.*)/g)) {
    for (const pair of match[1].trim().split(/\s+/).filter(Boolean)) {
      const eq = pair.indexOf('=');
      if (eq > 0) env[pair.slice(0, eq)] = pair.slice(eq + 1);
    }
  }
  return { flags, env };
}

/** One line saying why a run failed: the first error line of its stderr (the error code added). */
export function failureReason(run, timeoutSeconds) {
  if (run.timedOut) return `timed out after ${timeoutSeconds} s`;
  if (run.spawnError) return `could not start: ${run.spawnError}`;
  const lines = run.stderr.split(/\r?\n/);
  const isError = (line) => /^\s*(Uncaught )?([A-Z][\w$]*)?(Error|Exception)( \[[A-Z0-9_]+\])?: /.test(line);
  let index = lines.findIndex((line) => /^shield: /.test(line));
  if (index < 0) index = lines.findIndex(isError);
  // Node's common.mustCall reports on stdout ("Mismatched <anonymous> function calls. Expected …").
  const onStdout = run.stdout.split(/\r?\n/).find((line) => /^Mismatched .* function calls\b/.test(line) || isError(line));
  // node:test (TAP on stdout): the first failing subtest's `error:` line (or the line after `|-`).
  const tap = run.stdout.split(/\r?\n/);
  const notOk = tap.findIndex((line) => /^\s*not ok \d+/.test(line));
  const errorAt = notOk < 0 ? -1 : tap.findIndex((line, i) => i > notOk && /^\s+error: /.test(line));
  let tapError = errorAt < 0 ? null : tap[errorAt].replace(/^\s+error: /, '').trim();
  if (tapError && /^[|>]-?$/.test(tapError)) tapError = tap.slice(errorAt + 1).find((line) => line.trim())?.trim() ?? null;
  if (tapError) tapError = `${tap[notOk].trim()}: ${tapError.replace(/^'(.*)'$/, '$1')}`;
  let reason;
  if (index >= 0) {
    reason = lines[index].trim();
    // AssertionError: "Expected values to be strictly equal:" says little; its next line says what.
    // (up to two lines: `2 !== 3`, or a diff's `+ 2` and `- 3`; not the stack or the error's fields).
    if (reason.endsWith(':')) {
      const next = [];
      for (const line of lines.slice(index + 1)) {
        if (/^\s+at |^\s*[{}]|^\s*\w+: /.test(line) || next.length === 2) break;
        if (line.trim() && !/^\s*\+ actual - expected/.test(line)) next.push(line.trim());
      }
      if (next.length) reason += ` ${next.join(' ')}`;
    }
  } else if (onStdout) {
    reason = onStdout.trim();
  } else if (tapError) {
    reason = tapError;
  } else {
    reason = lines.map((line) => line.trim()).filter(Boolean).pop()
      ?? (run.signal ? '' : `exit status ${run.status}, nothing on stderr`);
  }
  const code = /^\s*code: '([^']+)'/m.exec(run.stderr)?.[1];
  if (code && !reason.includes(code)) reason += ` (code ${code})`;
  if (run.signal) reason = `killed by ${run.signal}${reason ? `: ${reason}` : ''}`;
  return reason.length > 240 ? `${reason.slice(0, 237)}...` : reason;
}

/** For a mount failure: the documented feature it exercises, if any, and what matched. */
export function classify(name, reason) {
  for (const entry of DOCUMENTED) {
    if (entry.tests?.test(name)) return { documented: true, feature: entry.feature, readme: entry.readme, by: 'test name' };
  }
  for (const entry of DOCUMENTED) {
    if (entry.errors?.test(reason)) return { documented: true, feature: entry.feature, readme: entry.readme, by: 'error' };
  }
  return { documented: false };
}

function listTests(source, filterRegExp) {
  const dir = path.join(source, 'test', 'parallel');
  return fs.readdirSync(dir)
    .filter((name) => /^test-fs-.*\.(js|mjs|cjs)$/.test(name))
    .filter((name) => !filterRegExp || filterRegExp.test(name))
    .sort()
    .map((name) => {
      const file = path.join(dir, name);
      const text = fs.readFileSync(file, 'utf8');
      return { name, file: path.join('test', 'parallel', name), ...testDirectives(text), usesTmpdir: /common\/tmpdir/.test(text) };
    });
}

// Process groups of the runs under way, so that an interrupted suite leaves no test running.
const running = new Set();

function runChild(nodeBin, args, { cwd, env, timeoutMs }) {
  return new Promise((resolve) => {
    const started = Date.now();
    const out = { stdout: '', stderr: '' };
    let child;
    try {
      child = spawn(nodeBin, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
    } catch (error) {
      resolve({ status: null, signal: null, timedOut: false, spawnError: error.message, stdout: '', stderr: '', durationMs: 0 });
      return;
    }
    const collect = (stream) => (chunk) => { if (out[stream].length < OUTPUT_LIMIT) out[stream] += chunk; };
    child.stdout.setEncoding('utf8').on('data', collect('stdout'));
    child.stderr.setEncoding('utf8').on('data', collect('stderr'));
    // The test's process group: the test and whatever it started, so that nothing outlives its run.
    const killGroup = () => { try { process.kill(-child.pid, 'SIGKILL'); } catch { /* gone already */ } };
    running.add(killGroup);
    let timedOut = false;
    let exit = null;
    const timer = setTimeout(() => { timedOut = true; killGroup(); }, timeoutMs);
    child.on('error', (error) => { exit ??= { status: null, signal: null, spawnError: error.message }; });
    child.on('exit', (status, signal) => { exit ??= { status, signal }; killGroup(); });
    child.on('close', () => {
      clearTimeout(timer);
      running.delete(killGroup);
      resolve({ ...exit, timedOut, ...out, durationMs: Date.now() - started });
    });
  });
}

class Worker {
  constructor(index, scratch, key) {
    this.index = index;
    this.root = path.join(scratch, `w${index}`);
    this.disk = path.join(this.root, 'disk');  // NODE_TEST_DIR of baseline and register
    this.runs = 0;
    fs.mkdirSync(this.disk, { recursive: true });
    // Register mode: a volume of this worker's, mounted where no test looks, created by the first run.
    const elsewhere = path.join(this.root, 'register');
    fs.mkdirSync(path.join(elsewhere, 'mnt'), { recursive: true });
    this.registerConfig = path.join(elsewhere, 'shield.json');
    writeConfig(this.registerConfig, elsewhere);
    this.key = key;
  }

  async run(test, mode, options) {
    const env = { ...process.env };
    for (const name of ['NODE_OPTIONS', 'SHIELD_CONFIG', 'NODE_TEST_DIR', 'TEST_SERIAL_ID', KEY_ENV]) delete env[name];
    Object.assign(env, test.env, { TEST_THREAD_ID: String(this.index) });
    const args = [...test.flags];
    let volumeDir = null;
    if (mode === 'baseline') {
      env.NODE_TEST_DIR = this.disk;
    } else {
      args.push(...(test.name.endsWith('.mjs') ? ['--import', pathToFileURL(REGISTER).href] : ['-r', REGISTER]));
      env[KEY_ENV] = this.key;
      if (mode === 'register') {
        env.SHIELD_CONFIG = this.registerConfig;
        env.NODE_TEST_DIR = this.disk;
      } else {
        // A fresh volume per test: its mount path, an empty directory on the real disk (tmpdir.js
        // takes its realpath and chdirs there at exit), is the tests' scratch root.
        volumeDir = path.join(this.root, `mount-${++this.runs}`);
        fs.mkdirSync(path.join(volumeDir, 'mnt'), { recursive: true });
        env.SHIELD_CONFIG = path.join(volumeDir, 'shield.json');
        writeConfig(env.SHIELD_CONFIG, volumeDir);
        env.NODE_TEST_DIR = path.join(volumeDir, 'mnt');
      }
    }
    args.push(test.file);
    const run = await runChild(options.node, args, { cwd: options.source, env, timeoutMs: options.timeout * 1000 });
    if (volumeDir && !options.keep) fs.rmSync(volumeDir, { recursive: true, force: true });
    const passed = run.status === 0 && !run.signal && !run.timedOut && !run.spawnError;
    const result = {
      passed, status: run.status, signal: run.signal, timedOut: run.timedOut, durationMs: run.durationMs,
      skipped: passed && /^1\.\.0 # Skipped:/m.test(run.stdout),
    };
    if (!passed) {
      result.reason = failureReason(run, options.timeout);
      result.stderr = run.stderr.slice(0, 4000);
    }
    return result;
  }
}

function writeConfig(file, dir) {
  fs.writeFileSync(file, JSON.stringify({
    mounts: [{
      path: path.join(dir, 'mnt'), volume: path.join(dir, 'volume'), keyEnv: KEY_ENV, create: true,
      tagStore: `file:${path.join(dir, 'tags.json')}`,
    }],
  }, null, 2));
}

function pad(text, width) { return text.length >= width ? `${text} ` : text + ' '.repeat(width - text.length); }

async function main() {
  const options = parseArgs(process.argv.slice(2));
  if (!options.source) {
    console.log('node-suite: skipped: NODE_SOURCE is not set. Set it to a checkout of nodejs/node (or a fork that ' +
      'holds test/parallel and test/common), e.g. NODE_SOURCE=~/src/node npm run test:node-suite');
    return 0;
  }
  options.source = path.resolve(options.source);
  if (!fs.existsSync(path.join(options.source, 'test', 'parallel'))) {
    console.log(`node-suite: skipped: NODE_SOURCE=${options.source} has no test/parallel. Set NODE_SOURCE to a ` +
      'checkout of nodejs/node (or a fork that holds test/parallel and test/common).');
    return 0;
  }
  if (!fs.existsSync(path.join(options.source, 'test', 'common'))) {
    console.log(`node-suite: warning: ${options.source} has no test/common; Node's tests need its helpers`);
  }
  if (options.modes.length > 1 && !fs.existsSync(REGISTER)) fail(`${REGISTER} is missing: run \`npm run build\` first`);

  const tests = listTests(options.source, options.filterRegExp);
  const nodeVersion = await new Promise((resolve) => {
    const child = spawn(options.node, ['--version'], { stdio: ['ignore', 'pipe', 'ignore'] });
    let text = '';
    child.stdout.on('data', (chunk) => { text += chunk; });
    child.on('error', (error) => fail(`cannot run ${options.node}: ${error.message}`));
    child.on('close', () => resolve(text.trim()));
  });
  console.log(`node-suite: ${tests.length} test(s) from ${options.source}/test/parallel` +
    `${options.filter !== null ? ` matching /${options.filter}/` : ''}; node ${nodeVersion} (${options.node}); ` +
    `modes ${options.modes.join(', ')}; ${options.jobs} job(s), ${options.timeout} s per run`);
  if (tests.length === 0) return 0;

  const scratch = fs.mkdtempSync(path.join(fs.realpathSync(os.tmpdir()), 'shieldfs-node-suite-'));
  const key = randomBytes(32).toString('hex');
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP']) {
    process.once(signal, () => {
      for (const killGroup of running) killGroup();
      if (!options.keep) fs.rmSync(scratch, { recursive: true, force: true });
      process.stderr.write(`node-suite: interrupted by ${signal}\n`);
      process.exit(130);
    });
  }
  const started = Date.now();
  const queue = [...tests];
  const results = new Map();
  const width = Math.max(...tests.map((test) => test.name.length)) + 1;
  const workers = Array.from({ length: Math.min(options.jobs, tests.length) }, (_, i) => new Worker(i, scratch, key));
  await Promise.all(workers.map(async (worker) => {
    for (let test = queue.shift(); test; test = queue.shift()) {
      const entry = { baseline: await worker.run(test, 'baseline', options) };
      if (entry.baseline.passed) {
        for (const mode of options.modes.slice(1)) entry[mode] = await worker.run(test, mode, options);
      }
      results.set(test.name, entry);
      if (!options.quiet) {
        const shown = options.modes.map((mode) => `${mode} ${entry[mode] ? (entry[mode].passed ? 'ok' : 'FAIL') : '-'}`);
        console.log(`  ${pad(test.name, width)}${shown.join('  ')}`);
      }
    }
  }));
  if (!options.keep) fs.rmSync(scratch, { recursive: true, force: true });

  const report = summarize(tests, results, options);
  print(report, options);
  if (options.keep) console.log(`\nscratch directories kept in ${scratch}`);
  if (options.json) {
    fs.writeFileSync(options.json, JSON.stringify({
      source: options.source, node: { path: options.node, version: nodeVersion }, register: REGISTER,
      filter: options.filter, modes: options.modes, jobs: options.jobs, timeoutSeconds: options.timeout,
      durationMs: Date.now() - started, ...report,
      documented: DOCUMENTED.map((entry) => ({
        feature: entry.feature, readme: entry.readme, tests: entry.tests?.source ?? null, errors: entry.errors?.source ?? null,
      })),
    }, null, 2));
    console.log(`results written to ${options.json}`);
  }
  const bad = report.failures.register.length + report.failures.mount.filter((failure) => !failure.documented).length;
  return options.strict && bad > 0 ? 1 : 0;
}

function summarize(tests, results, options) {
  const counts = { total: tests.length, baseline: 0, baselineSkipped: 0, baselineUsingTmpdir: 0 };
  const failures = { register: [], mount: [] };
  const baselineFailures = [];
  const entries = tests.map((test) => {
    const entry = results.get(test.name);
    const record = { name: test.name, flags: test.flags, env: test.env, usesTmpdir: test.usesTmpdir, results: entry };
    if (!entry.baseline.passed) {
      baselineFailures.push({ name: test.name, reason: entry.baseline.reason });
      return record;
    }
    counts.baseline++;
    if (entry.baseline.skipped) counts.baselineSkipped++;
    if (test.usesTmpdir) counts.baselineUsingTmpdir++;
    for (const mode of options.modes.slice(1)) {
      const result = entry[mode];
      if (result.passed) continue;
      const classification = mode === 'mount' ? classify(test.name, result.reason) : { documented: false };
      result.classification = classification;
      failures[mode].push({ name: test.name, reason: result.reason, ...classification });
    }
    return record;
  });
  for (const mode of options.modes.slice(1)) counts[mode] = counts.baseline - failures[mode].length;
  return { counts, failures, baselineFailures, tests: entries };
}

function print(report, options) {
  const { counts, failures, baselineFailures } = report;
  const parts = [`baseline passed ${counts.baseline} of ${counts.total}`];
  for (const mode of options.modes.slice(1)) parts.push(`${mode} passed ${counts[mode]} of ${counts.baseline}`);
  console.log(`\n${parts.join('; ')}`);
  console.log(`(of the ${counts.baseline} baseline passes, ${counts.baselineSkipped} skipped themselves and ` +
    `${counts.baselineUsingTmpdir} use test/common/tmpdir, so that mount mode puts their files in a volume)`);
  for (const mode of options.modes.slice(1)) {
    const list = failures[mode];
    console.log(`\n${mode}: ${list.length} test(s) pass on baseline and fail here` +
      (mode === 'mount' ? ` (${list.filter((f) => f.documented).length} documented, ${list.filter((f) => !f.documented).length} not)` : ''));
    for (const failure of list) {
      const label = failure.documented ? `documented: ${failure.feature} (by ${failure.by})` : 'DIVERGENCE (not documented)';
      console.log(`  ${failure.name}  ${label}\n      ${failure.reason}`);
    }
  }
  if (baselineFailures.length) {
    console.log(`\nfailing on plain node (not counted): ${baselineFailures.length}`);
    for (const failure of baselineFailures) console.log(`  ${failure.name}  ${failure.reason}`);
  }
}

// Run, unless imported (the tests import failureReason, classify, testDirectives and parseArgs).
const invoked = (() => { try { return fs.realpathSync(process.argv[1]); } catch { return null; } })();
if (invoked === fileURLToPath(import.meta.url)) process.exitCode = await main();
