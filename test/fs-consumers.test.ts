// Real consumers of `fs`, unmodified: fs-extra (copy, move, outputJson, remove, …, through
// graceful-fs) and tar v7 (extract into /V1, create archives from it). Each script runs twice as a
// separate node process: against a real temporary directory, and under `node --import
// shieldfs/register` against a volume mounted at /V1. Both runs must print the same summary.
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { expect, test } from 'vitest';
import { Volume } from '../lib/volume/volume.js';
import { useTempDir } from './support/temp.js';

const REGISTER_JS = fileURLToPath(new URL('../dist/register.js', import.meta.url));
const temp = useTempDir('shieldfs-consumers-');

function run(script: string, root: string, env: Record<string, string> = {}): { status: number | null; stdout: string; stderr: string } {
  const path = fileURLToPath(new URL(`./fs-consumers/${script}`, import.meta.url));
  const args = env.SHIELD_CONFIG ? ['--import', REGISTER_JS, path, root] : [path, root];
  const result = spawnSync(process.execPath, args, { env: { ...process.env, NODE_OPTIONS: '', ...env }, encoding: 'utf8', timeout: 60_000 });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

test.each(['fs-extra.mjs', 'tar.mjs'])('%s gives the same results on a mounted volume as on a real directory', async (script) => {
  const real = temp(`${script}-real`);
  mkdirSync(real);
  const plain = run(script, real);
  expect(plain.stderr).toBe('');
  expect(plain.status).toBe(0);

  const key = randomBytes(32), tags = temp(`${script}-tags.json`), directory = temp(`${script}-volume`);
  await (await Volume.create(directory, { key, tagStore: `file:${tags}` })).close();
  const config = temp(`${script}.yaml`);
  writeFileSync(config, `mounts:\n  - { path: /V1, volume: ${directory}, key: "${key.toString('hex')}", tagStore: "file:${tags}" }\n`);
  const shielded = run(script, '/V1', { SHIELD_CONFIG: config });
  expect(shielded.stderr).toBe('');
  expect(shielded.status).toBe(0);
  expect(JSON.parse(shielded.stdout)).toEqual(JSON.parse(plain.stdout));

  // What the consumer left in /V1 is in the volume, committed (the process exited normally).
  const volume = await Volume.open(directory, { key, tagStore: `file:${tags}`, readOnly: true });
  expect(volume.info().files).toBeGreaterThan(0);
  await volume.close();
}, 120_000);
