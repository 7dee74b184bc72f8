// The layer with the shieldfs runtime: this package as installed (package.json, the compiled dist/,
// the built addon) and its production dependencies (what package.json's dependencies reach, not the
// development tools), under /opt/shieldfs, so the image's own node runs /opt/shieldfs/dist/cli/shield.js.
import * as fs from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Pack } from 'tar';
import type { Readable } from 'node:stream';
import { shieldError } from '../file/fs-errors.js';
import { writeLayerBlob, type WrittenLayer } from './layer-tar.js';

export const RUNTIME_DIRECTORY = '/opt/shieldfs';
export const RUNTIME_CLI = `${RUNTIME_DIRECTORY}/dist/cli/shield.js`;

export interface RuntimeFiles {
  packageRoot: string;
  version: string;
  /** Paths relative to packageRoot, each copied whole (directories recursively). */
  paths: string[];
  /** The native addons among them (host paths), whose C library needs the image must meet. */
  addons: string[];
}

/** This package's root: the directory of its package.json (lib/image/… or dist/image/… lies two levels below). */
export function packageRoot(): string {
  let at = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 4; i++, at = dirname(at)) {
    const manifest = join(at, 'package.json');
    if (fs.existsSync(manifest) && (JSON.parse(fs.readFileSync(manifest, 'utf8')) as { name?: string }).name === 'shieldfs') return at;
  }
  throw shieldError('EIO', 'cannot find shieldfs\'s package.json above ' + fileURLToPath(import.meta.url));
}

/** What goes into the runtime layer; refuses when the package is not built (no dist/ or no addon). */
export function runtimeFiles(root: string = packageRoot()): RuntimeFiles {
  const manifest = JSON.parse(fs.readFileSync(join(root, 'package.json'), 'utf8')) as { version: string; dependencies?: Record<string, string> };
  if (!fs.existsSync(join(root, 'dist', 'cli', 'shield.js'))) {
    throw shieldError('EIO', `shieldfs is not built (${join(root, 'dist')} is missing): run npm run build first`);
  }
  const addons = [join(root, 'build', 'Release', 'shieldfs.node')].filter((f) => fs.existsSync(f));
  if (addons.length === 0) throw shieldError('EIO', `shieldfs's addon is not built (${addons[0] ?? join(root, 'build/Release/shieldfs.node')}): run npm install`);
  const modules = productionModules(root, Object.keys(manifest.dependencies ?? {}));
  for (const module of modules) addons.push(...nodeFilesFor(join(root, module)));
  return { packageRoot: root, version: manifest.version, paths: ['package.json', 'dist', 'build/Release/shieldfs.node', ...modules], addons };
}

/** Packs the runtime files into a gzip layer blob at `outPath`, under /opt/shieldfs. */
export async function writeRuntimeLayer(files: RuntimeFiles, outPath: string, signal?: AbortSignal): Promise<WrittenLayer> {
  // Source maps and type declarations are for development, not for running.
  const pack = new Pack({ cwd: files.packageRoot, prefix: RUNTIME_DIRECTORY.slice(1), portable: true, filter: (path) => !path.endsWith('.map') && !path.endsWith('.d.ts') && !path.endsWith('.d.mts') && !path.endsWith('.d.cts') });
  for (const path of files.paths) pack.add(path);
  pack.end();
  return writeLayerBlob(pack as unknown as Readable, outPath, true, signal);
}

// The dependency closure, resolved as Node resolves (nearest node_modules upward); each module's
// directory is copied whole, so its nested node_modules come along.
function productionModules(root: string, direct: string[]): string[] {
  const found = new Set<string>();
  const visit = (name: string, from: string): void => {
    for (let at = from; ; at = dirname(at)) {
      const candidate = join(at, 'node_modules', name);
      if (fs.existsSync(join(candidate, 'package.json'))) {
        const rel = relative(root, candidate);
        if (rel.startsWith('..')) return;  // outside the package: a global install, not ours to copy
        if (found.has(rel)) return;
        found.add(rel);
        const manifest = JSON.parse(fs.readFileSync(join(candidate, 'package.json'), 'utf8')) as { dependencies?: Record<string, string>; optionalDependencies?: Record<string, string> };
        for (const dep of Object.keys({ ...manifest.dependencies, ...manifest.optionalDependencies })) visit(dep, candidate);
        return;
      }
      if (at === root || dirname(at) === at) break;
    }
    // An optional dependency may be absent; a required one was checked by npm install.
  };
  for (const name of direct) visit(name, root);
  // Nested modules are inside their parent's directory already.
  const sorted = [...found].sort();
  return sorted.filter((path) => !sorted.some((other) => other !== path && path.startsWith(other + '/')));
}

// The .node files a module may load on Linux (sodium-native's prebuilds for this platform).
function nodeFilesFor(directory: string): string[] {
  const result: string[] = [];
  const walk = (at: string, depth: number): void => {
    if (depth > 6) return;
    for (const entry of fs.readdirSync(at, { withFileTypes: true })) {
      const path = join(at, entry.name);
      if (entry.isDirectory()) {
        if (entry.name.startsWith('linux-') && !entry.name.startsWith(`linux-${process.arch}`)) continue;
        if (['darwin', 'win32', 'android', 'ios'].some((os) => entry.name.startsWith(os + '-'))) continue;
        walk(path, depth + 1);
      } else if (entry.isFile() && entry.name.endsWith('.node')) {
        result.push(path);
      }
    }
  };
  walk(directory, 0);
  return result;
}
