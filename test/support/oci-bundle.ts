// Real container images for the sconify tests, built without Docker, and run with real tools:
//   buildCounterImage  a small native image of the counter service: this machine's node and the shared
//                      libraries it links (ldd), the counter in /app, as an OCI image layout
//   unpackBundle       `umoci unpack` of a tag into an OCI runtime bundle (rootfs + config.json)
//   runBundle          `runc run` of a bundle, with bind mounts, its stdout and status back
// Tools missing or unable to run here: toolsUnavailable() says which and why (tests skip with that).
import { execFileSync, spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import { dirname, join } from 'node:path';
import { create as createTar } from 'tar';
import { createHash } from 'node:crypto';
import { MEDIA_TYPES, writeImage, type ImageConfig, type LayerBlob } from '../../lib/image/index.js';

/** The counter service: prints the number in its file (0 when missing) and stores the next one. */
export const COUNTER_SOURCE = `'use strict';
// The counter service of the stateful-service example: confidential state in a file.
const fs = require('fs');
const file = process.argv[2] || '/V1/num';
let n = 0;
try { n = Number(fs.readFileSync(file, 'utf8')) || 0; } catch (error) { if (error.code !== 'ENOENT') throw error; }
console.log(n);
fs.writeFileSync(file, String(n + 1));
`;

export const COUNTER_PATH = '/app/counter.cjs';

export interface CounterImage {
  /** The OCI layout directory. */
  layout: string;
  tag: string;
  /** oci:DIR:TAG */
  reference: string;
  /** The node binary inside the image. */
  node: string;
}

/** Host files (resolved) that node needs: itself and every library `ldd` lists, with the loader. */
export function nodeRuntimeFiles(node = process.execPath): string[] {
  const files = new Set<string>([node]);
  const ldd = execFileSync('ldd', [node], { encoding: 'utf8' });
  for (const line of ldd.split('\n')) {
    const match = /=>\s*(\/\S+)/.exec(line) ?? /^\s*(\/\S+)\s+\(/.exec(line);
    if (match) files.add(match[1]!);
  }
  return [...files];
}

/**
 * Builds the native counter image in `layout` (an OCI image layout; the tag is added to it): layer 1
 * is node and its libraries (an uncompressed tar), layer 2 the counter (gzip), so both kinds of layer
 * are exercised. `command` replaces the image's Cmd (the counter's arguments).
 */
export async function buildCounterImage(work: string, layout: string, tag = 'native', options: { cmd?: string[]; extraFiles?: Record<string, string> } = {}): Promise<CounterImage> {
  const rootfs = join(work, `rootfs-${tag}`);
  const node = process.execPath;
  for (const file of nodeRuntimeFiles(node)) {
    const target = join(rootfs, file);
    fs.mkdirSync(dirname(target), { recursive: true });
    fs.copyFileSync(fs.realpathSync(file), target);
    fs.chmodSync(target, 0o755);
  }
  const appRoot = join(work, `app-${tag}`);
  fs.mkdirSync(join(appRoot, 'app'), { recursive: true });
  fs.writeFileSync(join(appRoot, COUNTER_PATH), COUNTER_SOURCE);
  for (const [path, text] of Object.entries(options.extraFiles ?? {})) {
    fs.mkdirSync(dirname(join(appRoot, path)), { recursive: true });
    fs.writeFileSync(join(appRoot, path), text);
  }
  fs.mkdirSync(join(rootfs, 'tmp'), { recursive: true, mode: 0o1777 });
  fs.mkdirSync(join(rootfs, 'V1'), { recursive: true });

  const blobs = join(work, `blobs-${tag}`);
  fs.mkdirSync(blobs, { recursive: true });
  const runtimeTar = join(blobs, 'runtime.tar');
  createTar({ file: runtimeTar, cwd: rootfs, portable: true, sync: true }, fs.readdirSync(rootfs));
  const runtimeDigest = 'sha256:' + createHash('sha256').update(fs.readFileSync(runtimeTar)).digest('hex');
  const appTar = join(blobs, 'app.tar.gz');
  createTar({ file: appTar, cwd: appRoot, portable: true, gzip: true, sync: true }, fs.readdirSync(appRoot));
  const appDiff = 'sha256:' + createHash('sha256').update((await import('node:zlib')).gunzipSync(fs.readFileSync(appTar))).digest('hex');
  const appDigest = 'sha256:' + createHash('sha256').update(fs.readFileSync(appTar)).digest('hex');
  const layers: LayerBlob[] = [
    { path: runtimeTar, diffId: runtimeDigest, descriptor: { mediaType: MEDIA_TYPES.ociLayer, digest: runtimeDigest, size: fs.statSync(runtimeTar).size } },
    { path: appTar, diffId: appDiff, descriptor: { mediaType: MEDIA_TYPES.ociLayerGzip, digest: appDigest, size: fs.statSync(appTar).size } },
  ];
  const config: ImageConfig = {
    architecture: process.arch === 'x64' ? 'amd64' : process.arch,
    os: 'linux',
    config: {
      Env: ['PATH=/usr/local/bin:/usr/bin:/bin', 'LANG=C.UTF-8'],
      Entrypoint: [node],
      Cmd: options.cmd ?? [COUNTER_PATH, '/V1/num'],
      WorkingDir: '/app',
    },
    rootfs: { type: 'layers', diff_ids: layers.map((l) => l.diffId) },
    history: [{ created_by: 'node and its libraries' }, { created_by: 'the counter service' }],
  };
  writeImage({ kind: 'oci', dir: layout, tag }, config, layers);
  fs.rmSync(rootfs, { recursive: true, force: true });
  fs.rmSync(blobs, { recursive: true, force: true });
  return { layout, tag, reference: `oci:${layout}:${tag}`, node };
}

/** Why umoci/runc cannot be used here, or null when they can. */
export function toolsUnavailable(): string | null {
  for (const tool of ['umoci', 'runc', 'skopeo']) {
    const found = spawnSync(tool, ['--version'], { encoding: 'utf8' });
    if (found.error || found.status !== 0) return `${tool} is not installed (Debian: apt-get install -y umoci skopeo runc)`;
  }
  if (process.getuid?.() !== 0) return 'runc needs root here (rootless containers are not set up)';
  return null;
}

/** `umoci unpack` of `layout:tag` into `bundle` (which must not exist). */
export function unpackBundle(layout: string, tag: string, bundle: string): void {
  execFileSync('umoci', ['unpack', '--image', `${layout}:${tag}`, bundle], { stdio: ['ignore', 'pipe', 'pipe'] });
}

export interface BundleRun {
  status: number | null;
  stdout: string;
  stderr: string;
}

export interface BundleRunOptions {
  /** Container path → host directory, bind-mounted read-write. */
  binds?: Record<string, string>;
  /** Replaces process.args (the image's entrypoint and command). */
  args?: string[];
  /** Added to process.env (`NAME=value`; a later entry wins, as in the image's own list). */
  env?: string[];
  /** Share the host's network namespace (to reach a policy service on the host's loopback). */
  hostNetwork?: boolean;
}

/**
 * Runs a bundle with runc: no terminal, the host's `binds` mounted read-write, optionally other
 * process.args and more environment. The container is removed afterwards.
 */
export function runBundle(bundle: string, options: BundleRunOptions = {}): BundleRun {
  // Each run starts from the configuration umoci wrote (kept aside on the first run), so one run's
  // options do not carry over to the next.
  const configPath = join(bundle, 'config.json');
  const originalPath = join(bundle, 'config.umoci.json');
  if (!fs.existsSync(originalPath)) fs.copyFileSync(configPath, originalPath);
  const config = JSON.parse(fs.readFileSync(originalPath, 'utf8')) as {
    process: { terminal?: boolean; args: string[]; env?: string[] };
    mounts?: { destination: string; type: string; source: string; options: string[] }[];
    root: { path: string; readonly?: boolean };
    linux?: { namespaces?: { type: string }[] };
  };
  config.process.terminal = false;
  if (options.hostNetwork && config.linux?.namespaces) config.linux.namespaces = config.linux.namespaces.filter((n) => n.type !== 'network');
  if (options.args) config.process.args = options.args;
  if (options.env) config.process.env = [...(config.process.env ?? []), ...options.env];
  config.mounts = [
    ...(config.mounts ?? []).filter((m) => !Object.keys(options.binds ?? {}).includes(m.destination)),
    ...Object.entries(options.binds ?? {}).map(([destination, source]) => ({ destination, type: 'bind', source, options: ['rbind', 'rw'] })),
  ];
  fs.writeFileSync(configPath, JSON.stringify(config, null, 2));
  const id = `shieldfs-test-${process.pid}-${Math.random().toString(36).slice(2, 8)}`;
  try {
    const result = spawnSync('runc', ['run', '--bundle', bundle, id], { encoding: 'utf8', timeout: 60_000 });
    if (result.error) throw result.error;
    return { status: result.status, stdout: result.stdout, stderr: result.stderr };
  } finally {
    spawnSync('runc', ['delete', '--force', id], { stdio: 'ignore' });
  }
}
