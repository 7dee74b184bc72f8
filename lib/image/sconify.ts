// sconify: a native container image in, a confidential image out, and everything a session needs to
// run it (the trees' keys and tags, the service's command, environment and working directory, the
// volumes). Without Docker: images are read and written by read-image.ts and write-image.ts.
//
// What the output image is:
//   - the source's layers, unchanged (same blobs) except those holding files under a protected path,
//     which are written again without them: no plaintext of a protected file stays in any layer;
//   - a layer with the protected trees: each --dir (and each --authenticated path outside every
//     --dir) becomes a tree (protectTree, a fresh random key per run) stored at its own path, as a
//     volume's storage is its own path, so the runtime mounts tree /app backed by /app;
//   - a layer with the shieldfs runtime under /opt/shieldfs, run by the image's own node;
//   - a configuration whose entrypoint is `shield run` and whose environment names the session and
//     service (SHIELD_SESSION, SHIELD_SERVICE, and SHIELD_CAS, SHIELD_CAS_KEY when known) as defaults.
// The keys leave this function only in its result (for the session), never in the image.
import * as fs from 'node:fs';
import { tmpdir } from 'node:os';
import { join, posix } from 'node:path';
import type { Readable } from 'node:stream';
import { Pack, extract as extractTar } from 'tar';
import { measureRuntimeFiles } from '../cas/measurement.js';
import { shieldError } from '../file/fs-errors.js';
import { generateKey, wipeKey } from '../file/keys.js';
import type { Region } from '../volume/regions.js';
import { protectTree } from '../tree/protect.js';
import { applyLayer, isWithin, imagePathOfEntry, rewriteLayer, writeLayerBlob, type LayerScan, type WrittenLayer } from './layer-tar.js';
import { MEDIA_TYPES, type ImageConfig } from './oci-format.js';
import { formatImageReference, openImage, parseImageReference, type ImageReference, type SourceImage } from './read-image.js';
import { addonRequirements, checkImageRuntime, resolveInRootfs, type ImageRuntime } from './runtime-check.js';
import { RUNTIME_CLI, RUNTIME_DIRECTORY, runtimeFiles, writeRuntimeLayer } from './runtime-layer.js';
import { writeImage, type LayerBlob } from './write-image.js';

export const VOLUME_POLICIES = ['rollback_protected', 'ephemeral', 'no_rollback_protection'] as const;
export type VolumePolicy = (typeof VOLUME_POLICIES)[number];

export interface VolumeSpec {
  name: string;
  /** Where the volume appears in the container; also its storage (the chart mounts the claim there). */
  path: string;
  updatePolicy: VolumePolicy;
}

export interface SconifyOptions {
  from: string | ImageReference;
  to: string | ImageReference;
  /** NAMESPACE/SESSION */
  sessionName: string;
  serviceName: string;
  /** Replaces the image's Entrypoint + Cmd. */
  command?: string[];
  /** Added to (and overriding) the image's environment. */
  env?: Record<string, string>;
  /** Replaces the image's WorkingDir. */
  pwd?: string;
  /** false: the image's own environment is not copied into the service's (--no-copy-env). */
  copyEnv?: boolean;
  /** Encrypted into protected trees. */
  dirs?: string[];
  /** Readable but verified. */
  authenticated?: string[];
  /** Copied as they are (inside a --dir: a not-protected region of its tree). */
  plain?: string[];
  volumes?: VolumeSpec[];
  /** The policy service's address and key fingerprint, baked into the image's environment as defaults. */
  cas?: string;
  casKey?: string;
  /** Name of the image in a docker archive (RepoTags), e.g. `counter:confidential`. */
  repoTag?: string;
  onProgress?: (progress: SconifyProgress) => void;
  /** Stops the work (what was made is removed; an output written already stays). */
  signal?: AbortSignal;
}

export interface SconifyProgress {
  phase: 'read' | 'protect' | 'layers' | 'write';
  done: number;
  total: number;
}

export interface TreeSecret {
  path: string;
  /** 64 hex: goes into the session only. */
  key: string;
  /** 64 hex */
  tag: string;
}

export interface SconifyResult {
  image: { reference: string; manifestDigest: string; configDigest: string };
  session: { name: string; service: string };
  /** What the service runs, as the session states it. */
  service: { command: string[]; environment: Record<string, string>; pwd: string };
  trees: TreeSecret[];
  volumes: VolumeSpec[];
  runtime: ImageRuntime & { shieldfs: string; cli: string };
  /** The runtime's measurement (64 hex): the image's node and the runtime layer, as `shield run` measures itself in the container. */
  measurement: string;
  /** What was left as it was, on request (--plain outside every tree). */
  plain: string[];
}

/** The protection plan: which trees, with which regions. */
export interface ProtectionPlan {
  trees: { path: string; regions: Region[] }[];
  /** --plain paths outside every tree: nothing to do, recorded. */
  plainOutside: string[];
}

const SESSION_NAME = /^[A-Za-z0-9_.-]{1,128}\/[A-Za-z0-9_.-]{1,128}$/;
const SERVICE_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/;
// A volume's name also names its Kubernetes volume and claim (lower-cased): letters, digits and '-'.
const VOLUME_NAME = /^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/;
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

/** Checks the paths and works out the trees and their regions (also what --dry-run shows). */
export function planProtection(options: Pick<SconifyOptions, 'dirs' | 'authenticated' | 'plain' | 'volumes'>): ProtectionPlan {
  const dirs = (options.dirs ?? []).map((p) => imagePath(p, '--dir'));
  const authenticated = (options.authenticated ?? []).map((p) => imagePath(p, '--authenticated'));
  const plain = (options.plain ?? []).map((p) => imagePath(p, '--plain'));
  const all = [...dirs.map((p) => ['--dir', p]), ...authenticated.map((p) => ['--authenticated', p]), ...plain.map((p) => ['--plain', p])];
  for (let i = 0; i < all.length; i++) {
    for (let j = i + 1; j < all.length; j++) {
      if (all[i]![1] === all[j]![1]) throw shieldError('EINVAL', `${all[i]![1]} is given twice (${all[i]![0]} and ${all[j]![0]})`);
    }
  }
  for (const [option, path] of all) {
    if (path === '/') throw shieldError('EINVAL', `${option} /: the whole image cannot be a tree (the runtime and node must stay outside): name directories such as /app`);
  }
  const protectedRoots = [...dirs, ...authenticated];
  const roots = protectedRoots.filter((p) => !protectedRoots.some((other) => other !== p && isWithin(p, other))).sort();
  const trees = roots.map((root) => {
    const regions: Region[] = [];
    if (authenticated.includes(root)) regions.push({ path: '/', kind: 'authenticated' });
    const inside = (list: string[]) => list.filter((p) => p !== root && isWithin(p, root)).map((p) => '/' + posix.relative(root, p));
    for (const p of inside(dirs)) regions.push({ path: p, kind: 'encrypted' });
    for (const p of inside(authenticated)) regions.push({ path: p, kind: 'authenticated' });
    for (const p of inside(plain)) regions.push({ path: p, kind: 'not-protected' });
    return { path: root, regions };
  });
  for (const volume of options.volumes ?? []) {
    const clash = roots.find((root) => isWithin(volume.path, root) || isWithin(root, volume.path));
    if (clash) throw shieldError('EINVAL', `--volume ${volume.name}:${volume.path} overlaps the protected path ${clash}: a volume needs its own directory`);
  }
  const names = new Set<string>();
  for (const volume of options.volumes ?? []) {
    if (names.has(volume.name)) throw shieldError('EINVAL', `--volume ${volume.name} is given twice`);
    names.add(volume.name);
  }
  return { trees, plainOutside: plain.filter((p) => !roots.some((root) => isWithin(p, root))) };
}

/** Parses `NAME:PATH[:policy]` (policy default rollback_protected). */
export function parseVolumeSpec(text: string): VolumeSpec {
  const [name = '', path = '', policy = 'rollback_protected', ...extra] = text.split(':');
  if (!VOLUME_NAME.test(name) || extra.length > 0) throw shieldError('EINVAL', `--volume ${text}: give NAME:PATH[:${VOLUME_POLICIES.join('|')}] (NAME: letters, digits and -, as it also names the Kubernetes volume)`);
  if (!(VOLUME_POLICIES as readonly string[]).includes(policy)) throw shieldError('EINVAL', `--volume ${text}: the policy must be one of ${VOLUME_POLICIES.join(', ')}`);
  return { name, path: imagePath(path, `--volume ${name}`), updatePolicy: policy as VolumePolicy };
}

/** What the service runs (the session's command, environment, pwd) from the image's configuration and the overrides. */
export function serviceOf(config: ImageConfig, options: Pick<SconifyOptions, 'command' | 'env' | 'pwd' | 'copyEnv'>): SconifyResult['service'] {
  const fields = config.config ?? {};
  const command = options.command ?? [...(fields.Entrypoint ?? []), ...(fields.Cmd ?? [])];
  if (command.length === 0) throw shieldError('EINVAL', 'the image has no Entrypoint or Cmd: give the service\'s command with --command');
  const environment: Record<string, string> = {};
  if (options.copyEnv !== false) {
    for (const entry of fields.Env ?? []) {
      const cut = entry.indexOf('=');
      if (cut > 0) environment[entry.slice(0, cut)] = entry.slice(cut + 1);
    }
  }
  for (const [name, value] of Object.entries(options.env ?? {})) {
    if (!ENV_NAME.test(name)) throw shieldError('EINVAL', `--env ${name}: not a variable name`);
    environment[name] = value;
  }
  const pwd = options.pwd ?? (fields.WorkingDir || '/');
  if (!pwd.startsWith('/')) throw shieldError('EINVAL', `the working directory ${pwd} is not absolute`);
  return { command, environment, pwd };
}

/** Makes the confidential image. */
export async function sconifyImage(options: SconifyOptions): Promise<SconifyResult> {
  if (!SESSION_NAME.test(options.sessionName)) throw shieldError('EINVAL', `--name ${options.sessionName}: give NAMESPACE/SESSION (letters, digits, _ . -)`);
  if (!SERVICE_NAME.test(options.serviceName)) throw shieldError('EINVAL', `--service-name ${options.serviceName}: letters, digits, _ . - (at most 63)`);
  const from = typeof options.from === 'string' ? parseImageReference(options.from, '--from') : options.from;
  const to = typeof options.to === 'string' ? parseImageReference(options.to, '--to') : options.to;
  const plan = planProtection(options);
  const runtime = runtimeFiles();
  const addons = addonRequirements(runtime.addons);
  const progress = options.onProgress ?? (() => {});
  const { signal } = options;
  signal?.throwIfAborted();

  const source = await openImage(from);
  const work = fs.mkdtempSync(join(workParent(source), 'shieldfs-sconify-'));
  const keys: Buffer[] = [];
  try {
    const service = serviceOf(source.config, options);
    const rootfs = from.kind === 'dir' ? from.rootfs : join(work, 'rootfs');
    const treeRoots = plan.trees.map((t) => t.path);
    const scans = await unpackLayers(source, rootfs, treeRoots, progress, signal);
    const imageRuntime = checkImageRuntime(rootfs, service.command, source.config.config?.Env ?? [], addons);

    // The trees, each with a fresh key.
    const treesDir = join(work, 'trees');
    const trees: TreeSecret[] = [];
    for (const [i, tree] of plan.trees.entries()) {
      // Resolved inside the image, never on this host: a symlink in the image (/app -> /srv/app) would
      // otherwise be followed here, and its target's files would stay in the image unprotected.
      const resolved = resolveInRootfs(rootfs, tree.path);
      if (resolved === null) throw shieldError('ENOENT', `${tree.path} does not exist in the image: nothing to protect there`);
      if (resolved !== tree.path) throw shieldError('EINVAL', `${tree.path} is a symlink in the image (to ${resolved}): protect ${resolved} instead`);
      const src = join(rootfs, tree.path);
      const key = generateKey();
      keys.push(key);
      const made = await protectTree(src, join(treesDir, tree.path), {
        key, regions: tree.regions, signal,
        onProgress: (p) => progress({ phase: 'protect', done: i + (p.bytesTotal ? p.bytesDone / p.bytesTotal : 1), total: plan.trees.length }),
      });
      trees.push({ path: tree.path, key: key.toString('hex'), tag: made.tag });
    }
    makeReadableByAnyone(treesDir);

    // Layers: the source's (rewritten where they hold protected files), the trees, the runtime. They
    // are written at the same time: gzip runs on libuv's thread pool, so the cores share the work.
    const blobsDir = join(work, 'blobs');
    fs.mkdirSync(blobsDir);
    const dropped = (path: string) => treeRoots.some((root) => isWithin(path, root));
    let layersDone = 0;
    const total = (from.kind === 'dir' ? 1 : 0) + source.layers.length + (trees.length > 0 ? 1 : 0) + 1;
    const counted = async <T>(job: Promise<T>): Promise<T> => {
      const result = await job;
      progress({ phase: 'layers', done: ++layersDone, total });
      return result;
    };
    progress({ phase: 'layers', done: 0, total });
    const jobs: Promise<LayerBlob | null>[] = [];
    if (from.kind === 'dir') {
      const pack = new Pack({ cwd: rootfs, portable: true, filter: (name) => { const p = imagePathOfEntry(name); return p === null || !dropped(p); } });
      for (const name of fs.readdirSync(rootfs).sort()) pack.add(name);
      pack.end();
      jobs.push(counted(writeLayerBlob(pack as unknown as Readable, join(blobsDir, 'rootfs.tar.gz'), true, signal).then(asLayerBlob)));
    }
    for (const [i, layer] of source.layers.entries()) {
      const scan = scans[i]!;
      if (scan.watchedEntries > 0) {
        jobs.push(counted(rewriteLayer(layer.blobPath, layer.expected, dropped, join(blobsDir, `layer-${i}.tar.gz`), signal).then(asLayerBlob)));
      } else {
        const mediaType = scan.gzip ? MEDIA_TYPES.ociLayerGzip : MEDIA_TYPES.ociLayer;
        jobs.push(counted(Promise.resolve({ path: layer.blobPath, diffId: scan.diffId, descriptor: { mediaType, digest: scan.blobDigest, size: scan.blobSize } })));
      }
    }
    const treeJob = trees.length > 0 ? counted(writeTreesLayer(treesDir, treeRoots, join(blobsDir, 'trees.tar'), signal)) : Promise.resolve(null);
    const runtimeJob = counted(writeRuntimeLayer(runtime, join(blobsDir, 'runtime.tar.gz'), signal).then(asLayerBlob));
    jobs.push(treeJob, runtimeJob);
    const settled = await Promise.allSettled(jobs);
    const failed = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
    if (failed) throw failed.reason;
    const layers = settled.map((s) => (s as PromiseFulfilledResult<LayerBlob | null>).value).filter((l): l is LayerBlob => l !== null);
    const treeLayer = await treeJob;
    const measurement = await measureImageRuntime(rootfs, imageRuntime.node, (await runtimeJob).path, join(work, 'runtime'));

    signal?.throwIfAborted();
    progress({ phase: 'write', done: 0, total: 1 });
    const config = confidentialConfig(source.config, options, imageRuntime, layers, treeLayer !== null);
    const written = writeImage(to, config, layers, options.repoTag);
    progress({ phase: 'write', done: 1, total: 1 });
    return {
      image: { reference: formatImageReference(to), manifestDigest: written.manifestDigest, configDigest: written.configDigest },
      session: { name: options.sessionName, service: options.serviceName },
      service,
      trees,
      volumes: options.volumes ?? [],
      runtime: { ...imageRuntime, shieldfs: runtime.version, cli: RUNTIME_CLI },
      measurement,
      plain: plan.plainOutside,
    };
  } finally {
    for (const key of keys) wipeKey(key);
    source.close();
    // The unpacked root file system holds the plaintext of what was protected.
    fs.rmSync(work, { recursive: true, force: true });
  }
}

async function unpackLayers(source: SourceImage, rootfs: string, watched: string[], progress: (p: SconifyProgress) => void, signal?: AbortSignal): Promise<LayerScan[]> {
  const scans: LayerScan[] = [];
  if (source.layers.length > 0) fs.mkdirSync(rootfs, { recursive: true });
  for (const [i, layer] of source.layers.entries()) {
    progress({ phase: 'read', done: i, total: source.layers.length });
    scans.push(await applyLayer(layer.blobPath, layer.expected, rootfs, watched, signal));
  }
  progress({ phase: 'read', done: source.layers.length, total: source.layers.length });
  return scans;
}

// What `shield run` will measure in the container (cas/measurement.ts): the image's own node, and
// the runtime layer's files as the image holds them (extracted aside from the layer just written, so
// the measurement is of exactly those bytes, not of this machine's installation).
async function measureImageRuntime(rootfs: string, node: string, runtimeLayer: string, into: string): Promise<string> {
  const nodeInImage = resolveInRootfs(rootfs, node);
  if (nodeInImage === null) throw shieldError('ENOENT', `the image's node ${node} cannot be measured: it does not resolve inside the image`);
  fs.mkdirSync(into);
  await extractTar({ file: runtimeLayer, cwd: into, preserveOwner: false });
  return measureRuntimeFiles({ node: join(rootfs, nodeInImage), packageRoot: join(into, RUNTIME_DIRECTORY), boundary: into }).measurement;
}

async function writeTreesLayer(treesDir: string, roots: string[], outPath: string, signal?: AbortSignal): Promise<LayerBlob> {
  const pack = new Pack({ cwd: treesDir, portable: true });
  for (const root of roots) pack.add(root.slice(1));
  pack.end();
  // Ciphertext: a plain tar (gzip would cost time and save nothing).
  return asLayerBlob(await writeLayerBlob(pack as unknown as Readable, outPath, false, signal));
}

function asLayerBlob(written: WrittenLayer): LayerBlob {
  const mediaType = written.gzip ? MEDIA_TYPES.ociLayerGzip : MEDIA_TYPES.ociLayer;
  return { path: written.path, diffId: written.diffId, descriptor: { mediaType, digest: written.digest, size: written.size } };
}

function confidentialConfig(source: ImageConfig, options: SconifyOptions, runtime: ImageRuntime, layers: LayerBlob[], withTrees: boolean): ImageConfig {
  const config: ImageConfig = structuredClone(source);
  const fields = { ...(config.config ?? {}) };
  const defaults: Record<string, string> = {
    SHIELD_SESSION: options.sessionName,
    SHIELD_SERVICE: options.serviceName,
    ...(options.cas ? { SHIELD_CAS: options.cas } : {}),
    ...(options.casKey ? { SHIELD_CAS_KEY: options.casKey } : {}),
  };
  fields.Env = [...(fields.Env ?? []).filter((e) => !(e.slice(0, e.indexOf('=')) in defaults)), ...Object.entries(defaults).map(([k, v]) => `${k}=${v}`)];
  fields.Entrypoint = [runtime.node, RUNTIME_CLI, 'run'];
  fields.Cmd = null;
  if (options.pwd) fields.WorkingDir = options.pwd;
  if ((options.volumes ?? []).length > 0) fields.Volumes = { ...(fields.Volumes ?? {}), ...Object.fromEntries(options.volumes!.map((v) => [v.path, {}])) };
  fields.Labels = { ...(fields.Labels ?? {}), 'org.shieldfs.session': options.sessionName, 'org.shieldfs.service': options.serviceName };
  config.config = fields;
  config.rootfs = { type: 'layers', diff_ids: layers.map((l) => l.diffId) };
  const created = new Date().toISOString();
  if (config.history) {
    if (withTrees) config.history.push({ created, created_by: 'shield sconify: protected trees', comment: 'shieldfs' });
    config.history.push({ created, created_by: `shield sconify: shieldfs runtime in ${RUNTIME_DIRECTORY}`, comment: 'shieldfs' });
  }
  config.created = created;
  return config;
}

/**
 * Where the unpacked root file system and the trees are made. They are temporary, so the durability a
 * tree normally gets (a flush to the disk per file: thousands of them for a code tree) buys nothing:
 * memory (/dev/shm) is used when it has room for four times the image's blobs and 1 GiB more, else the
 * temporary directory. SHIELDFS_SCONIFY_TMPDIR chooses.
 */
function workParent(source: SourceImage): string {
  const chosen = process.env.SHIELDFS_SCONIFY_TMPDIR;
  if (chosen) return chosen;
  const needed = 4 * source.layers.reduce((sum, l) => sum + fs.statSync(l.blobPath).size, 0) + 2 ** 30;
  try {
    const shm = fs.statfsSync('/dev/shm');
    if (shm.bavail * shm.bsize >= needed && source.reference.kind !== 'dir') return '/dev/shm';
  } catch {
    // no /dev/shm here
  }
  return tmpdir();
}

function makeReadableByAnyone(dir: string): void {
  // Ciphertext and hash lists: nothing secret, and the image's user (often not root) must read them.
  if (!fs.existsSync(dir)) return;
  for (const entry of fs.readdirSync(dir, { withFileTypes: true, recursive: true })) {
    const path = join(entry.parentPath, entry.name);
    if (entry.isDirectory()) fs.chmodSync(path, 0o755);
    else if (entry.isFile()) fs.chmodSync(path, (fs.statSync(path).mode & 0o111) ? 0o755 : 0o644);
  }
  fs.chmodSync(dir, 0o755);
}

function imagePath(path: string, option: string): string {
  if (typeof path !== 'string' || !path.startsWith('/')) throw shieldError('EINVAL', `${option} ${path}: give an absolute path in the image`);
  const normalized = posix.normalize(path).replace(/(.)\/+$/, '$1');
  if (normalized.split('/').includes('..')) throw shieldError('EINVAL', `${option} ${path}: no .. in image paths`);
  return normalized;
}
