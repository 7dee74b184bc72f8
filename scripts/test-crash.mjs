#!/usr/bin/env node
// The long randomized crash run (`npm run test:crash`), DESIGN.md §2 promise 5 and FORMAT.md "Commit
// protocol": random multi-operation commits on a volume that evolves over the run, each killed at a
// random durable step (SHIELDFS_CRASH_AT=<op>:<k>, native core, undo journal and file tag store alike);
// sometimes two commits in one process, sometimes a second crash during recovery. After every crash
// the volume must open at the last committed state or the one in flight (computed by a reference run
// of the same seeded workload that does not crash, itself checked against a model), with every byte
// reading back; the run then goes on from the recovered volume.
//
// Environment:
//   CRASH_POINTS    stop after this many crash points (default: none, run for CRASH_MINUTES)
//   CRASH_MINUTES   stop after this many minutes (default 10 without CRASH_POINTS, else no limit)
//   CRASH_SEED      seed of lane 0 (lane i uses CRASH_SEED + i); default random, always printed
//   CRASH_JOBS      lanes (volumes crashed in parallel); default min(2, cores)
//   CRASH_DIR       work directory (default a fresh one in /dev/shm, else in the temp directory;
//                   removed at the end unless a check failed)
//   CRASH_VERBOSE=1 print every crash point
// Uses a copy of dist/ and of the addon taken at the start (build dist/ first: `npm run build`;
// `npm run test:crash` does).
//
// Replaying one crash point from the base copy a failure keeps:
//   node scripts/test-crash.mjs --replay BASE_DIR KEY_HEX WORK_SEED COMMITS CRASH_SPEC [RECOVERY_SPEC…]
import { spawn } from 'node:child_process';
import { createHash, randomInt } from 'node:crypto';
import { accessSync, constants, copyFileSync, cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

delete process.env.SHIELDFS_CRASH_AT;  // this process must never crash itself (the addon reads it lazily)
const ROOT = fileURLToPath(new URL('..', import.meta.url));
const CHILD = join(ROOT, 'test/support/crash-random-child.mjs');
const { AUTH, digestOf, listTree, prng, volumeLines } = await import(join(ROOT, 'test/support/crash-random.mjs'));
let Volume;

/**
 * Runs this process and its children on a private copy of dist/ and of the addon in `pkg`, so that a
 * rebuild of the working tree during a long run (tsc, node-gyp rebuild) cannot pull either from
 * under it. Without `pkg`, on the working tree's own.
 */
async function useBuild(pkg) {
  if (!existsSync(join(ROOT, 'dist/index.js'))) {
    console.error('test-crash: dist/ is missing; build it with `npm run build`');
    process.exit(2);
  }
  let dist = join(ROOT, 'dist');
  if (pkg) {
    dist = join(pkg, 'dist');
    cpSync(join(ROOT, 'dist'), dist, { recursive: true });
    writeFileSync(join(pkg, 'package.json'), '{ "type": "module" }\n');
    symlinkSync(join(ROOT, 'node_modules'), join(pkg, 'node_modules'));
    if (!process.env.SHIELDFS_ADDON) {
      const addon = join(pkg, 'shieldfs.node');
      copyFileSync(createRequire(import.meta.url)('node-gyp-build').path(ROOT), addon);
      process.env.SHIELDFS_ADDON = addon;  // lib/file/native.ts loads this one (here and in the children)
    }
  }
  process.env.SHIELDFS_CRASH_DIST = dist;  // crash-random-child.mjs imports from here
  ({ Volume } = await import(join(dist, 'index.js')));
}

const CRASH_OPS = { any: 40, write: 15, fdatasync: 15, ftruncate: 10, rename: 10, unlink: 10 };
// How many durable steps of each kind a workload takes is not known before it runs (the counter is
// the addon's); the crash points are picked uniformly below an estimate that each workload corrects.
const FIRST_ESTIMATE = { any: 60, write: 25, fdatasync: 15, ftruncate: 4, rename: 3, unlink: 3 };
const RUNS_PER_REFERENCE = 4;
const CHILD_TIMEOUT_MS = 120_000;

class Violation extends Error {}

// ---------------------------------------------------------------------------------------------
// Volumes and children

const volumeOf = (dir) => ({ dir, vol: join(dir, 'vol'), tags: join(dir, 'tags.json') });

function copyTree(from, to) {
  rmSync(to, { recursive: true, force: true });
  cpSync(from, to, { recursive: true });
}

function runChild(args, crashAt) {
  const started = Date.now();
  return new Promise((resolve) => {
    const env = { ...process.env };
    if (crashAt) env.SHIELDFS_CRASH_AT = crashAt;
    const child = spawn(process.execPath, [CHILD, ...args], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '', stderr = '';
    child.stdout.setEncoding('utf8').on('data', (s) => { stdout += s; });
    child.stderr.setEncoding('utf8').on('data', (s) => { stderr += s; });
    const timer = setTimeout(() => child.kill('SIGTERM'), CHILD_TIMEOUT_MS);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr, ms: Date.now() - started });
    });
  });
}

const childArgs = (mode, v, key) => [mode, v.vol, v.tags, key.toString('hex')];

/** Opens the volume (recovering it), reads every byte back, closes it; the state's lines and facts. */
async function openAndRead(v, key) {
  const volume = await Volume.open(v.vol, { key: Buffer.from(key), tagStore: `file:${v.tags}` });
  try {
    const { lines, bytes, files } = await volumeLines(volume);
    return { lines, digest: digestOf(lines), bytes, files, tree: listTree(volume) };
  } finally {
    await volume.close();
  }
}

async function createBase(v, key) {
  const volume = await Volume.create(v.vol, { key: Buffer.from(key), tagStore: `file:${v.tags}`, regions: [{ path: AUTH, kind: 'authenticated' }] });
  const rng = prng(0xba5e);
  volume.mkdir(AUTH);
  volume.mkdir('/d');
  await volume.writeFile('/a', rng.bytes(3 * 4096 + 100));
  await volume.writeFile('/big', rng.bytes(40_000));
  await volume.writeFile('/d/x', 'x in d');
  await volume.writeFile(`${AUTH}/p`, rng.bytes(10_000));
  await volume.writeFile(`${AUTH}/q`, rng.bytes(4096));
  await volume.close();
}

/** What a writable open must leave in .shieldfs: no journal, no backups, only referenced objects. */
function leftovers(v, tree) {
  const meta = join(v.vol, '.shieldfs');
  const found = readdirSync(meta).filter((n) => !['volume', 'manifest', 'objects', 'lock'].includes(n)).map((n) => `.shieldfs/${n}`);
  let objects = 0;
  for (const fan of readdirSync(join(meta, 'objects'))) objects += readdirSync(join(meta, 'objects', fan)).length;
  const expected = tree.filter((e) => e.type === 'file').reduce((n, e) => n + (e.path.startsWith(`${AUTH}/`) ? 2 : 1), 0);
  if (objects !== expected) found.push(`${objects} object files for ${expected} referenced`);
  const tagTemps = readdirSync(v.dir).filter((n) => n.endsWith('.tmp'));
  return { found, tagTemps: tagTemps.length };
}

// ---------------------------------------------------------------------------------------------
// One workload: the reference, then crash runs against it

/**
 * Runs the workload on a copy of `base` without crashing; returns the states it goes through
 * (states[0] = base, states[i] = after commit i), each read back from a copy taken right after the
 * commit and checked against the workload's model.
 */
async function reference(base, baseState, key, workSeed, commits, scratch) {
  const ref = volumeOf(join(scratch, 'ref'));
  const snaps = join(scratch, 'snap');
  copyTree(base.dir, ref.dir);
  for (let i = 1; i <= 2; i++) rmSync(`${snaps}-${i}`, { recursive: true, force: true });
  const run = await runChild([...childArgs('work', ref, key), String(workSeed), String(commits), snaps]);
  const expectedOut = [...Array.from({ length: commits }, (_, i) => `committed ${i + 1}`), 'done', ''].join('\n');
  if (run.code !== 0 || run.stdout !== expectedOut) {
    throw new Violation(`the reference run (no crash) failed: exit ${run.code} ${run.signal ?? ''}\n${run.stdout}${run.stderr}`);
  }
  const states = [baseState];
  const ops = [];
  for (let i = 1; i <= commits; i++) {
    const snap = volumeOf(`${snaps}-${i}`);
    const state = await openAndRead(snap, key).catch((error) => {
      throw new Violation(`the reference's commit ${i} does not open: ${error.code ?? ''} ${error.message}`);
    });
    const model = JSON.parse(readFileSync(join(snap.dir, 'model.json'), 'utf8'));
    ops.push(`commit ${i}:\n${readFileSync(join(snap.dir, 'ops.txt'), 'utf8')}`);
    if (digestOf(model) !== state.digest) {
      throw new Violation(`the reference's commit ${i} reads back other than the model says:\n${diffLines(model, state.lines)}\nops:\n${ops.join('')}`);
    }
    states.push(state);
  }
  return { states, ops: ops.join(''), ms: run.ms };
}

function diffLines(expected, got) {
  const e = new Set(expected), g = new Set(got);
  return [...expected.filter((l) => !g.has(l)).map((l) => `  - ${l}`), ...got.filter((l) => !e.has(l)).map((l) => `  + ${l}`)].slice(0, 30).join('\n');
}

/**
 * Crashes the workload at `spec`, then (for each of `recoverySpecs`) the recovering open, then opens
 * the volume and checks where it landed. Returns null when `spec` is past the workload's last durable
 * step (the run completed), else { landed: 'old' | 'new' | 'same', commitsDone, recoveryCrashes,
 * recoveryRuns, state, leftovers }.
 */
async function crashRun(base, key, work, spec, recoverySpecs, run) {
  const { workSeed, commits, states } = work;
  copyTree(base.dir, run.dir);
  const result = await runChild([...childArgs('work', run, key), String(workSeed), String(commits)], spec);
  if (result.code === 0 && !result.signal) {
    const state = await openAndRead(run, key).catch((error) => {
      throw new Violation(`a run of the workload that did not crash (${spec} is past its end) does not open: ${error.code ?? ''} ${error.message}`);
    });
    if (state.digest !== states[commits].digest) throw new Violation(`a run of the workload that did not crash (${spec} is past its end) differs from the reference:\n${diffLines(states[commits].lines, state.lines)}`);
    return null;
  }
  if (result.signal !== 'SIGKILL') throw new Violation(`the run crashing at ${spec} failed otherwise: exit ${result.code} ${result.signal ?? ''}\n${result.stderr}`);
  const commitsDone = (result.stdout.match(/^committed \d+$/gm) ?? []).length;
  let recoveryCrashes = 0, recoveryRuns = 0;
  // A crash during recovery needs something to recover (no journal: the open writes nothing).
  for (const recoverySpec of existsSync(join(run.vol, '.shieldfs', 'journal')) ? recoverySpecs : []) {
    recoveryRuns++;
    const recovery = await runChild(childArgs('recover', run, key), recoverySpec);
    if (recovery.code === 0 && !recovery.signal) break;  // past the recovery's last durable step
    if (recovery.signal !== 'SIGKILL') {
      throw new Violation(`after a crash at ${spec}, the recovering open (crashing at ${recoverySpec}) failed: exit ${recovery.code} ${recovery.signal ?? ''}\n${recovery.stderr}`);
    }
    recoveryCrashes++;
  }
  const recovered = recoverySpecs.slice(0, recoveryCrashes).join(', ');
  const after = `after a crash at ${spec}${commitsDone ? ` (commit ${commitsDone} of ${commits} had returned)` : ''}${recovered ? ` and in recovery at ${recovered}` : ''}`;
  const state = await openAndRead(run, key).catch((error) => {
    throw new Violation(`${after} the volume does not open: ${error.code ?? ''} ${error.message}`);
  });
  const old = states[commitsDone], next = states[commitsDone + 1];
  const isOld = state.digest === old.digest, isNew = !!next && state.digest === next.digest;
  if (!isOld && !isNew) {
    const expectation = next ? `state ${commitsDone} or ${commitsDone + 1}` : `state ${commitsDone}`;
    throw new Violation(`${after} the volume opens at a state that is not ${expectation}; against state ${commitsDone}:\n` +
      `${diffLines(old.lines, state.lines)}${next ? `\nagainst state ${commitsDone + 1}:\n${diffLines(next.lines, state.lines)}` : ''}` +
      `${commitsDone > 0 && state.digest === states[commitsDone - 1].digest ? `\nit is state ${commitsDone - 1}: commit ${commitsDone} returned and was lost` : ''}`);
  }
  return { landed: isOld && isNew ? 'same' : isOld ? 'old' : 'new', commitsDone, recoveryCrashes, recoveryRuns, state, leftovers: leftovers(run, state.tree) };
}

// ---------------------------------------------------------------------------------------------
// The run

const stats = {
  points: 0, old: 0, new: 0, same: 0, secondCommit: 0, twoCommitRuns: 0, recoveryPoints: 0, pastEnd: 0,
  references: 0, ops: Object.fromEntries(Object.keys(CRASH_OPS).map((op) => [op, 0])), leftovers: 0, tagTemps: 0,
  leftoverSamples: [],
};

async function lane(index, config, shouldStop) {
  const laneSeed = (config.seed + index) >>> 0;
  const rng = prng(laneSeed, 0x1a2e);
  const key = createHash('sha256').update(`shieldfs crash run key ${laneSeed}`).digest();
  const scratch = join(config.workdir, `lane-${index}`);
  const cur = volumeOf(join(scratch, 'cur'));
  const run = volumeOf(join(scratch, 'run'));
  const keep = volumeOf(join(scratch, 'keep'));
  mkdirSync(cur.dir, { recursive: true });
  await createBase(cur, key);
  let state = await openAndRead(cur, key);
  const estimate = { ...FIRST_ESTIMATE };
  let recoveryGuess = 8;
  for (let iteration = 1; !shouldStop(); iteration++) {
    const workSeed = rng.u32();
    const commits = rng.chance(0.3) ? 2 : 1;
    const context = () => `lane ${index} (CRASH_SEED=${laneSeed} CRASH_JOBS=1), iteration ${iteration}, workload seed ${workSeed}, ${commits} commit(s)`;
    let ref;
    try {
      ref = await reference(cur, state, key, workSeed, commits, scratch);
    } catch (error) {
      throw annotate(error, context(), cur, key, workSeed, commits);
    }
    stats.references++;
    const work = { workSeed, commits, states: ref.states };
    // Bounds on the number of durable steps of each kind in this workload: lo ≤ n ≤ hi.
    const bounds = Object.fromEntries(Object.keys(CRASH_OPS).map((op) => [op, { lo: 0, hi: Infinity }]));
    // The volume to go on from: a recovered one, preferably one that landed on the new state (most
    // crash points come before the commit point, and the volume should not stand still).
    let kept = null;
    for (let done = 0, tries = 0; done < RUNS_PER_REFERENCE && tries < RUNS_PER_REFERENCE + 8 && !shouldStop(); tries++) {
      let op = rng.weighted(CRASH_OPS);
      // Only a truncation cuts or extends a file in place: without one there is no ftruncate to crash at.
      if (bounds[op].hi === 0 || (op === 'ftruncate' && !/truncate/.test(ref.ops))) op = 'any';
      const { lo, hi } = bounds[op];
      const k = rng.int(1, Math.max(1, Math.min(hi, Math.ceil(1.3 * Math.max(estimate[op], lo)))));
      const spec = `${op}:${k}`;
      const recoverySpecs = [];
      if (rng.chance(0.3)) {
        recoverySpecs.push(`${rng.weighted({ any: 6, write: 2, fdatasync: 1, ftruncate: 1, unlink: 1 })}:${rng.int(1, recoveryGuess)}`);
        if (rng.chance(0.3)) recoverySpecs.push(`any:${rng.int(1, recoveryGuess)}`);
      }
      let result;
      try {
        result = await crashRun(cur, key, work, spec, recoverySpecs, run);
      } catch (error) {
        throw annotate(error, `${context()}, crash at ${spec}${recoverySpecs.length ? `, recovery crashes ${recoverySpecs.join(' ')}` : ''}`,
          cur, key, workSeed, commits, spec, recoverySpecs, run, ref.ops);
      }
      if (result === null) {
        if (config.verbose) console.log(`  lane ${index} it ${iteration} seed ${workSeed} ${commits}c ${spec}: past the end`);
        bounds[op].hi = k - 1;
        stats.pastEnd++;
        continue;
      }
      done++;
      bounds[op].lo = Math.max(bounds[op].lo, k);
      // The same for the recovery: a recovering open that completed had fewer steps than its pick.
      if (result.recoveryCrashes < result.recoveryRuns) recoveryGuess = Math.max(4, Math.ceil(1.5 * (Number(recoverySpecs[result.recoveryCrashes].split(':')[1]) - 1)));
      else if (result.recoveryCrashes > 0) recoveryGuess = Math.min(2000, Math.ceil(recoveryGuess * 1.25));
      stats.points++;
      stats.ops[op]++;
      stats[result.landed]++;
      stats.recoveryPoints += result.recoveryCrashes;
      if (commits === 2) stats.twoCommitRuns++;
      if (result.commitsDone > 0) stats.secondCommit++;
      if (result.leftovers.found.length > 0) {
        stats.leftovers++;
        if (stats.leftoverSamples.length < 5) stats.leftoverSamples.push(`${context()}, crash at ${spec}: ${result.leftovers.found.join('; ')}`);
      }
      stats.tagTemps = Math.max(stats.tagTemps, result.leftovers.tagTemps);
      if (config.verbose) {
        console.log(`  lane ${index} it ${iteration} seed ${workSeed} ${commits}c ${spec}${recoverySpecs.length ? ` rec ${recoverySpecs.slice(0, result.recoveryCrashes).join(',')}` : ''}: ` +
          `commit ${result.commitsDone} returned, landed ${result.landed} (${result.state.files} files, ${result.state.bytes} bytes)`);
      }
      if (!kept || kept.landed === 'old') {
        copyTree(run.dir, keep.dir);
        kept = result;
      }
    }
    for (const op of Object.keys(CRASH_OPS)) {
      // What this workload showed (lo ≤ steps ≤ hi) corrects the estimate for the next one.
      const { lo, hi } = bounds[op];
      if (lo === 0 && hi === Infinity) continue;
      const seen = hi === Infinity ? Math.max(lo, estimate[op]) : (lo + hi) / 2;
      estimate[op] = Math.max(1, (estimate[op] + seen) / 2);
    }
    // Go on from the recovered volume; when every crash rolled back, half of the time from the
    // workload's committed end state instead (a copy of the reference), so that the volume grows.
    if (kept && (kept.landed !== 'old' || rng.chance(0.5))) {
      rmSync(cur.dir, { recursive: true, force: true });
      renameSync(keep.dir, cur.dir);
      state = kept.state;
    } else {
      copyTree(`${join(scratch, 'snap')}-${commits}`, cur.dir);
      state = ref.states[commits];
    }
  }
}

function annotate(error, context, base, key, workSeed, commits, spec, recoverySpecs = [], run, ops) {
  if (!(error instanceof Violation)) {
    error.message = `${context}: ${error.message}`;
    return error;
  }
  const lines = [`VIOLATION in ${context}`, error.message];
  if (ops) lines.push(`the workload (reference run):\n${ops.trimEnd()}`);
  lines.push(`base volume (the state before the workload): ${base.dir}`);
  if (run) lines.push(`volume after the crash and recovery: ${run.dir}`);
  if (spec) {
    lines.push(`replay: node scripts/test-crash.mjs --replay ${base.dir} ${key.toString('hex')} ${workSeed} ${commits} ${spec} ${recoverySpecs.join(' ')}`.trimEnd());
  }
  return new Violation(lines.join('\n'));
}

function summary(config, elapsedMs, lanes) {
  const s = stats;
  const ops = Object.entries(s.ops).map(([op, n]) => `${op} ${n}`).join(', ');
  return [
    `crash points: ${s.points} in ${(elapsedMs / 1000).toFixed(0)} s (${lanes} lanes; ${s.references} workloads, ${s.pastEnd} picks past the end)`,
    `  landed on the committed state: ${s.old}, on the one in flight: ${s.new}, both equal: ${s.same}`,
    `  two-commit workloads: ${s.twoCommitRuns} crash points, ${s.secondCommit} of them after the first commit returned`,
    `  crashes during recovery: ${s.recoveryPoints}`,
    `  by crash op: ${ops}`,
    `  leftovers after a writable open: ${s.leftovers}${s.leftoverSamples.length ? `\n    ${s.leftoverSamples.join('\n    ')}` : ''}` +
      `; tag store temp files left beside a tag store: up to ${s.tagTemps}`,
    `  seeds: ${Array.from({ length: lanes }, (_, i) => `lane ${i} CRASH_SEED=${(config.seed + i) >>> 0}`).join(', ')}`,
  ].join('\n');
}

/** /dev/shm when there is one: a SIGKILL loses nothing the page cache holds, so fsyncs need not wait for a disk. */
function scratchRoot() {
  try {
    accessSync('/dev/shm', constants.W_OK);
    return '/dev/shm';
  } catch {
    return tmpdir();
  }
}

async function main() {
  const env = process.env;
  const points = env.CRASH_POINTS ? Number(env.CRASH_POINTS) : Infinity;
  const minutes = env.CRASH_MINUTES ? Number(env.CRASH_MINUTES) : points === Infinity ? 10 : Infinity;
  const config = {
    seed: env.CRASH_SEED ? Number(env.CRASH_SEED) >>> 0 : randomInt(2 ** 32 - 1),
    jobs: Math.max(1, Number(env.CRASH_JOBS ?? Math.min(2, availableParallelism()))),
    workdir: env.CRASH_DIR ?? mkdtempSync(join(scratchRoot(), 'shieldfs-crash-run-')),
    verbose: env.CRASH_VERBOSE === '1',
  };
  if (!(points > 0) || !(minutes > 0)) throw new Error('CRASH_POINTS and CRASH_MINUTES must be positive numbers');
  mkdirSync(config.workdir, { recursive: true });
  await useBuild(mkdtempSync(join(config.workdir, 'build-')));
  console.log(`test-crash: seed ${config.seed}, ${config.jobs} lanes, until ${points === Infinity ? '' : `${points} crash points`}` +
    `${points !== Infinity && minutes !== Infinity ? ' or ' : ''}${minutes === Infinity ? '' : `${minutes} minutes`}; work directory ${config.workdir}`);
  const started = Date.now();
  let failure = null;
  const shouldStop = () => failure !== null || stats.points >= points || Date.now() - started > minutes * 60_000;
  const progress = setInterval(() => {
    const s = stats;
    console.log(`  ${((Date.now() - started) / 1000).toFixed(0)} s: ${s.points} points (${s.old} old, ${s.new} new, ${s.same} same), ` +
      `${s.recoveryPoints} in recovery, ${s.secondCommit} after a first commit`);
  }, 15_000);
  await Promise.all(Array.from({ length: config.jobs }, (_, i) => lane(i, config, shouldStop).catch((error) => {
    failure ??= error;
  })));
  clearInterval(progress);
  console.log(summary(config, Date.now() - started, config.jobs));
  if (failure) {
    console.error(`\n${failure instanceof Violation ? failure.message : failure.stack}`);
    console.error(`\nwork directory kept: ${config.workdir}`);
    process.exitCode = 1;
    return;
  }
  if (!env.CRASH_DIR) rmSync(config.workdir, { recursive: true, force: true });
  console.log('test-crash: every crash landed on the committed state or the one in flight');
}

async function replay([baseDir, keyHex, workSeed, commits, spec, ...recoverySpecs]) {
  await useBuild(null);
  const key = Buffer.from(keyHex, 'hex');
  const scratch = mkdtempSync(join(scratchRoot(), 'shieldfs-crash-replay-'));
  const base = volumeOf(join(scratch, 'base'));
  copyTree(baseDir, base.dir);
  const state = await openAndRead(base, key);
  const ref = await reference(base, state, key, Number(workSeed), Number(commits), scratch);
  console.log(ref.ops.trimEnd());
  const result = await crashRun(base, key, { workSeed: Number(workSeed), commits: Number(commits), states: ref.states }, spec, recoverySpecs, volumeOf(join(scratch, 'run')));
  console.log(result === null ? `${spec} is past the workload's end` :
    `commit ${result.commitsDone} returned; ${result.recoveryCrashes} crashes in recovery; landed ${result.landed}; leftovers: ${result.leftovers.found.join('; ') || 'none'}`);
  console.log(`scratch: ${scratch}`);
}

try {
  if (process.argv[2] === '--replay') await replay(process.argv.slice(3));
  else await main();
} catch (error) {
  console.error(error instanceof Violation ? error.message : error.stack);
  process.exitCode = 1;
}
