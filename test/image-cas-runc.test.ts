// The sconify round trip for real, as an owner and an operator run it: a native image of the counter
// service (this machine's node and its libraries, as an OCI layout), `shield sconify --cas` against the
// policy service on loopback (a child process over HTTPS), the result unpacked by umoci and run by runc
// as its entrypoint (`node /opt/shieldfs/dist/cli/shield.js run`, attested release from the policy
// service) with the volume's directory bind-mounted at /V1. Then the stateful-service example's
// attacks on that deployment, and the multi-stakeholder example's edit (`-v 20`, sconified again).
//
// No TEE here: the runtime's evidence is simulation evidence (named so, and accepted only because the
// session says `tolerate: [simulation]`); everything else is the real thing.
import * as fs from 'node:fs';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cliRunner, expectSuccess } from './support/cli-run.js';
import { startCasService, type CasService } from './support/cas-service.js';
import { buildCounterImage, runBundle, toolsUnavailable, unpackBundle, type BundleRun, type CounterImage } from './support/oci-bundle.js';
import { useTempDir } from './support/temp.js';

const temp = useTempDir('shieldfs-image-cas-');
const shield = cliRunner({ SHIELD_CAS: undefined, SHIELD_CAS_KEY: undefined, SHIELD_IDENTITY: undefined, SHIELD_CONFIG: undefined, SHIELD_TAG_STORE: undefined });
const SESSION = 'demo/counter';
const unavailable = toolsUnavailable();
if (unavailable && process.env.SHIELDFS_REQUIRE_CONTAINER_TOOLS === '1') throw new Error(`SHIELDFS_REQUIRE_CONTAINER_TOOLS=1 but ${unavailable}`);
if (unavailable) console.warn(`skipping the sconify round trip under runc: ${unavailable}`);

interface Summary {
  session: string; sessionHash: string; predecessor: string | null; measurement: string; imageDigest: string;
  trees: { path: string; tag: string }[];
}
interface SessionFile { predecessor?: string; services: { command: string; measurement: string; trees: { path: string; key: string; tag: string }[] }[] }

let cas: CasService;
let owner: string;
let native: CounterImage;

function sconify(from: string, tag: string): { summary: Summary; session: SessionFile; bundle: string } {
  const out = temp('confidential');
  const sessionFile = temp(`${tag}.yaml`);
  const result = shield(['sconify', '--from', from, '--to', `oci:${out}:${tag}`, '--name', SESSION, '--service-name', 'counter',
    '--dir', '/app', '--volume', 'V1:/V1', '--tolerate', 'simulation', '--cas', cas.url, '--cas-key', cas.key, '--identity', owner,
    '--session-file', sessionFile, '--json']);
  const summary = JSON.parse(expectSuccess(result).out) as Summary;
  const bundle = temp(`bundle-${tag}`);
  unpackBundle(out, tag, bundle);
  return { summary, session: parseYaml(fs.readFileSync(sessionFile, 'utf8')) as SessionFile, bundle };
}

/** Runs the bundle as its image says (entrypoint `shield run`), with the volume at /V1 and the host's loopback. */
function runCounter(bundle: string, v1: string, args?: string[]): BundleRun {
  return runBundle(bundle, { binds: { '/V1': v1 }, hostNetwork: true, ...(args ? { args } : {}) });
}

function expectRefused(run: BundleRun, code: string, message?: RegExp): void {
  expect(run.stdout, `a refused start prints nothing of the service (stderr: ${run.stderr})`).toBe('');
  expect(run.status).not.toBe(0);
  expect(run.stderr).toMatch(new RegExp(`^shield: ${code}: `, 'm'));
  if (message) expect(run.stderr).toMatch(message);
}

/** The volume directory's files and their bytes (to show a refused start changed nothing). */
function snapshot(dir: string): Record<string, string> {
  const files: Record<string, string> = {};
  for (const name of fs.readdirSync(dir, { recursive: true }) as string[]) {
    const path = join(dir, name);
    if (fs.statSync(path).isFile() && !name.endsWith('lock')) files[name] = fs.readFileSync(path).toString('base64');
  }
  return files;
}

beforeAll(async () => {
  if (unavailable) return;
  cas = await startCasService(temp('cas-store'));
  owner = temp('owner.pem');
  expectSuccess(shield(['identity', 'create', '--identity', owner]));
  native = await buildCounterImage(temp('work'), temp('layout'));
}, 180_000);

afterAll(async () => {
  await cas?.stop();
});

describe.skipIf(unavailable !== null)('shield sconify --cas, run by runc against the policy service', () => {
  it('three runs print 0, 1, 2; the host\'s attacks are refused; the -v 20 edit sconified again replaces the session', async () => {
    const first = sconify(native.reference, 'v1');
    // The session is on the service, and is what the session file says (keys included).
    expect(first.summary.sessionHash).toMatch(/^[0-9a-f]{64}$/);
    expect(first.summary.predecessor).toBeNull();
    expect(first.session.services[0]!.measurement).toBe(first.summary.measurement);
    const env = { SHIELD_CAS: cas.url, SHIELD_CAS_KEY: cas.key, SHIELD_IDENTITY: owner };
    expect(expectSuccess(shield(['session', 'verify', temp('v1.yaml')], { env })).out.trim()).toBe(first.summary.sessionHash);
    // The measurement is the image's runtime's: `shield measure` of the unpacked image says the same.
    const measured = expectSuccess(shield(['measure', '--rootfs', join(first.bundle, 'rootfs'), '--node', process.execPath, '--package-root', '/opt/shieldfs']));
    expect(measured.out.trim()).toBe(first.summary.measurement);

    // Three runs: 0, 1, 2, from the encrypted code, with the volume's tag kept by the service.
    const v1 = temp('v1');
    fs.mkdirSync(v1);
    const runs: BundleRun[] = [];
    let afterFirst = '';
    for (let i = 0; i < 3; i++) {
      runs.push(runCounter(first.bundle, v1));
      if (i === 0) {
        afterFirst = temp('v1-after-first');
        fs.cpSync(v1, afterFirst, { recursive: true });
      }
    }
    expect(runs.map((r) => `${r.status} ${r.stdout.trim()} ${r.stderr.trim()}`)).toEqual(['0 0 ', '0 1 ', '0 2 ']);
    expect(fs.readdirSync(v1)).toEqual(['.shieldfs']);  // the host sees only the volume's ciphertext

    // The volume directory restored from an old copy: EROLLBACK, and nothing of the service ran.
    const latest = temp('v1-latest');
    fs.cpSync(v1, latest, { recursive: true });
    fs.rmSync(v1, { recursive: true });
    fs.cpSync(afterFirst, v1, { recursive: true });
    expectRefused(runCounter(first.bundle, v1), 'EROLLBACK');
    fs.rmSync(v1, { recursive: true });
    fs.cpSync(latest, v1, { recursive: true });

    // A byte of a code file in the image's layer changed (in the unpacked bundle): refused.
    const objects = join(first.bundle, 'rootfs/app/.shieldfs/objects');
    const codeObject = (fs.readdirSync(objects, { recursive: true }) as string[]).map((p) => join(objects, p))
      .find((p) => fs.statSync(p).isFile())!;
    const original = fs.readFileSync(codeObject);
    const flipped = Buffer.from(original);
    flipped[flipped.length - 20] = flipped[flipped.length - 20]! ^ 0x01;
    fs.writeFileSync(codeObject, flipped);
    const before = snapshot(v1);
    expectRefused(runCounter(first.bundle, v1), 'EINTEGRITY');
    expect(snapshot(v1)).toEqual(before);
    fs.writeFileSync(codeObject, original);
    expect(runCounter(first.bundle, v1).stdout.trim()).toBe('3');

    // The bundle's command changed in config.json: a command other than the policy's is refused by the
    // policy service; the service's own command without the runtime finds only ciphertext.
    const shieldRun = [process.execPath, '/opt/shieldfs/dist/cli/shield.js', 'run'];
    expectRefused(runCounter(first.bundle, v1, [...shieldRun, '--', process.execPath, '/app/counter.cjs', '/V1/other']), 'EPOLICY', /the host asked for the command/);
    const bypass = runCounter(first.bundle, v1, [process.execPath, '/app/counter.cjs', '/V1/num']);
    expect(bypass.status).not.toBe(0);
    expect(bypass.stdout).toBe('');
    expect(bypass.stderr).toMatch(/Cannot find module '\/app\/counter\.cjs'/);
    expect(runCounter(first.bundle, v1).stdout.trim()).toBe('4');  // nothing was spent or changed by those

    // /V1/num deleted by the host (its object files in the volume directory): EINTEGRITY.
    const volumeObjects = join(v1, '.shieldfs/objects');
    const dataFiles = (fs.readdirSync(volumeObjects, { recursive: true }) as string[]).filter((p) => fs.statSync(join(volumeObjects, p)).isFile());
    expect(dataFiles.length).toBeGreaterThan(0);
    const kept = temp('v1-before-delete');
    fs.cpSync(v1, kept, { recursive: true });
    for (const file of dataFiles) fs.rmSync(join(volumeObjects, file));
    expectRefused(runCounter(first.bundle, v1), 'EINTEGRITY', /num/);
    fs.rmSync(v1, { recursive: true });
    fs.cpSync(kept, v1, { recursive: true });

    // The multi-stakeholder edit: the native image's command changed to `-v 20`, sconified again.
    const edited = await buildCounterImage(temp('work-edited'), native.layout, 'native-v20', { cmd: ['/app/counter.cjs', '-v', '20'] });
    const second = sconify(edited.reference, 'v2');
    expect(second.summary.predecessor).toBe(first.summary.sessionHash);  // an update of the session, not a new one
    expect(second.session.predecessor).toBe(first.summary.sessionHash);
    expect(second.session.services[0]!.command).toBe(`${process.execPath} /app/counter.cjs -v 20`);
    expect(second.summary.measurement).toBe(first.summary.measurement);  // the same runtime
    expect(second.summary.trees[0]!.tag).not.toBe(first.summary.trees[0]!.tag);
    expect(second.session.services[0]!.trees[0]!.key).not.toBe(first.session.services[0]!.trees[0]!.key);
    const history = JSON.parse(expectSuccess(shield(['session', 'history', SESSION, '--json'], { env })).out) as { hash: string }[];
    expect(history.map((h) => h.hash)).toEqual([first.summary.sessionHash, second.summary.sessionHash]);
    // The old image no longer runs: its tree is not the one the updated session pins, and the runtime
    // refuses before any of its code runs or its volume is touched.
    const volumeBefore = snapshot(v1);
    expectRefused(runCounter(first.bundle, v1), 'EBADKEY', /\/app/);
    expect(snapshot(v1)).toEqual(volumeBefore);
    // The new image runs, with the new command: the counter's file argument is now `-v` (in its
    // working directory /app, where it finds no count yet: 0; storing the next fails, the tree is read-only).
    const newRun = runCounter(second.bundle, v1);
    expect(newRun.stdout.trim()).toBe('0');
  });
});
