// The measurement of a shielded Node service's runtime (PROTOCOL.md, "Measurement"): one SHA-256
// over what the runtime is — the node binary and every file of the shieldfs package and of its
// production dependencies that Node can load. `shield measure` computes it for the owner's policy,
// and `shield run` computes it the same way at start and puts it in its evidence. The service's own
// code is not part of it: the policy pins that by the trees' tags.
import { createHash } from 'node:crypto';
import { closeSync, fstatSync, openSync, readdirSync, readFileSync, readSync, realpathSync, statSync, constants as fsConstants } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { shieldError } from '../file/fs-errors.js';

const LABEL = 'shieldfs-measurement-v1\n';
// What Node loads: code, the JSON next to it (package.json decides how code loads), addons, wasm.
const LOADABLE = /\.(js|cjs|mjs|json|node|wasm)$/;
const PIECE = 1 << 20;

export interface MeasureOptions {
  /** The node binary (default: this process's). Inside `rootfs` when that is given. */
  node?: string;
  /** Measure an image's root file system: node and the shieldfs package are looked up inside it. */
  rootfs?: string;
  /**
   * The shieldfs package's directory (default: this process's own, as `shield run` measures itself).
   * Inside `rootfs` when that is given: an image made by `shield sconify` has it at /opt/shieldfs.
   */
  packageRoot?: string;
}

export interface Measurement {
  measurement: string;
  node: string;
  packageRoot: string;
  files: number;
  bytes: number;
}

/** The installed shieldfs package's root (dist/cas/measurement.js → the directory with package.json). */
export function packageRoot(): string {
  return resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
}

export function measureRuntime(options: MeasureOptions = {}): Measurement {
  const rootfs = options.rootfs === undefined ? null : resolve(options.rootfs);
  const inRoot = (path: string) => (rootfs ? join(rootfs, resolve(path)) : resolve(path));
  return measureRuntimeFiles({
    node: inRoot(options.node ?? process.execPath),
    packageRoot: inRoot(options.packageRoot ?? packageRoot()),
    boundary: rootfs ?? '/',
  });
}

export interface RuntimeFiles {
  /** The node binary, a path on this machine. */
  node: string;
  /** The shieldfs package's directory, a path on this machine. */
  packageRoot: string;
  /** Dependencies are looked up in node_modules from packageRoot up to here, never above (an image's root). */
  boundary: string;
}

/** The measurement of a runtime whose files are at these paths of this machine (see measureRuntime). */
export function measureRuntimeFiles(files: RuntimeFiles): Measurement {
  const { node, packageRoot: root } = files;
  const entries: [label: string, path: string][] = [['node', node]];
  for (const file of packageFiles(root)) entries.push([`shieldfs/${relative(root, file).split(sep).join('/')}`, file]);
  for (const dependency of dependencyClosure(root, resolve(files.boundary))) {
    for (const file of packageFiles(dependency.path)) {
      entries.push([`node_modules/${dependency.name}/${relative(dependency.path, file).split(sep).join('/')}`, file]);
    }
  }
  const unique = new Map(entries.map(([label, path]) => [label, path]));
  const labels = [...unique.keys()].sort();
  const digest = createHash('sha256').update(LABEL);
  let bytes = 0;
  for (const label of labels) {
    const { hash, size } = fileDigest(unique.get(label)!);
    bytes += size;
    digest.update(`${hash} ${size} ${label}\n`);
  }
  return { measurement: digest.digest('hex'), node, packageRoot: root, files: labels.length, bytes };
}

// The package's own runtime: package.json, the compiled code, the native addon (built or prebuilt).
function packageFiles(root: string): string[] {
  const files: string[] = [];
  const walk = (directory: string, top: boolean) => {
    let names: string[];
    try {
      names = readdirSync(directory).sort();
    } catch {
      return;
    }
    for (const name of names) {
      if (name === 'node_modules' || (top && ['test', 'tests', 'bench', 'src', 'deps', 'docs', 'native', 'lib'].includes(name) && existsDir(join(root, 'dist')))) continue;
      const path = join(directory, name);
      const stats = statSync(path, { throwIfNoEntry: false });
      if (!stats) continue;
      if (stats.isDirectory()) walk(path, false);
      else if (stats.isFile() && LOADABLE.test(name) && !/\.d\.[cm]?ts$/.test(name) && !name.endsWith('.map')) files.push(path);
    }
  };
  walk(root, true);
  return files;
}

function existsDir(path: string): boolean {
  return statSync(path, { throwIfNoEntry: false })?.isDirectory() ?? false;
}

// The production dependencies, found as Node finds them (node_modules of the package and above).
function dependencyClosure(root: string, boundary: string): { name: string; path: string }[] {
  const found = new Map<string, { name: string; path: string }>();
  const visit = (from: string) => {
    let manifest: { dependencies?: Record<string, string>; optionalDependencies?: Record<string, string> };
    try {
      manifest = JSON.parse(readFileSync(join(from, 'package.json'), 'utf8'));
    } catch {
      return;
    }
    for (const name of Object.keys({ ...manifest.dependencies, ...manifest.optionalDependencies })) {
      const path = locate(from, name, boundary);
      if (path === null || found.has(path)) continue;
      found.set(path, { name, path });
      visit(path);
    }
  };
  visit(root);
  return [...found.values()].sort((a, b) => (a.path < b.path ? -1 : 1));
}

function locate(from: string, name: string, boundary: string): string | null {
  for (let directory = from; ; directory = dirname(directory)) {
    const candidate = join(directory, 'node_modules', name);
    if (existsDir(candidate)) return realpathSync(candidate);
    if (directory === boundary || dirname(directory) === directory) return null;
  }
}

function fileDigest(path: string): { hash: string; size: number } {
  let fd: number;
  try {
    fd = openSync(path, fsConstants.O_RDONLY | fsConstants.O_NONBLOCK);
  } catch (error) {
    throw shieldError((error as NodeJS.ErrnoException).code ?? 'EIO', `cannot measure ${path}: ${(error as Error).message}`, path);
  }
  try {
    if (!fstatSync(fd).isFile()) throw shieldError('EINVAL', `cannot measure ${path}: not a regular file`, path);
    const hash = createHash('sha256');
    const piece = Buffer.allocUnsafe(PIECE);
    let size = 0;
    for (;;) {
      const n = readSync(fd, piece, 0, PIECE, null);
      if (n === 0) break;
      hash.update(piece.subarray(0, n));
      size += n;
    }
    return { hash: hash.digest('hex'), size };
  } finally {
    closeSync(fd);
  }
}
