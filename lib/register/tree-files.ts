// The protected trees as Node's module resolution needs to see them: does a path exist, is it a file
// or a directory, what does a file (a package.json, a module) hold. Both module loaders use it: the
// CommonJS patches on the main thread (over the volumes the shield mounted) and the ESM hooks on
// their own thread (over volumes they open themselves). Trees never change once made, so what is
// learnt about them is cached for the life of the process.
import * as fs from 'node:fs';
import { dirname, join } from 'node:path';
import { shieldError } from '../file/fs-errors.js';
import type { Volume } from '../volume/volume.js';

/** A tree mounted at `path` (absolute, normalized). */
export interface MountedTree {
  path: string;
  volume: Volume;
  /** Host directories (absolute, real paths) its code may load modules from: the mount's allowHostModules (host-modules.ts). */
  allowHostModules?: readonly string[];
}

export type PathKind = 'file' | 'directory';

/** A parsed package.json: the fields module resolution reads. */
export interface PackageJson {
  /** The directory holding it. */
  directory: string;
  name?: string;
  main?: string;
  type?: string;
  exports?: unknown;
  imports?: unknown;
}

// What a lookup of a missing name gives (the volume refuses `.shieldfs` at its root with EACCES).
const MISSING = new Set(['ENOENT', 'ENOTDIR', 'EACCES', 'ENAMETOOLONG']);

export class TreeFiles {
  readonly #trees: MountedTree[];
  readonly #kinds = new Map<string, PathKind | null>();
  readonly #packages = new Map<string, PackageJson | null>();

  constructor(trees: MountedTree[]) {
    this.#trees = trees;
  }

  get empty(): boolean {
    return this.#trees.length === 0;
  }

  /** The tree `path` (absolute, normalized) lies in, its mount point included, or null. */
  treeOf(path: string): MountedTree | null {
    for (const tree of this.#trees) {
      if (path === tree.path || (path.startsWith(tree.path) && path.charCodeAt(tree.path.length) === 47 /* / */)) return tree;
    }
    return null;
  }

  /**
   * The tree whose code `file` is, or null: only a file of a tree is tree code. A directory (the
   * working directory a command line's `--import` resolves from: `file:///app/`) or a name Node made
   * up there (`/app/[eval1]` for `node -e`) is the command line's code, which its user (or the
   * policy, under `shield run --cas`) chose, not the tree's.
   */
  codeTreeOf(file: string): MountedTree | null {
    const tree = this.treeOf(file);
    return tree !== null && this.kind(file) === 'file' ? tree : null;
  }

  contains(path: string): boolean {
    return this.treeOf(path) !== null;
  }

  /**
   * What `path` is: inside a tree, what the tree holds; elsewhere, what the file system holds
   * (through node:fs, which on the main thread is the shield).
   */
  kind(path: string): PathKind | null {
    const tree = this.treeOf(path);
    if (!tree) {
      const stats = fs.statSync(path, { throwIfNoEntry: false });
      return stats?.isFile() ? 'file' : stats?.isDirectory() ? 'directory' : null;
    }
    let kind = this.#kinds.get(path);
    if (kind === undefined) {
      try {
        kind = tree.volume.typeAt(inside(tree, path));
      } catch (error) {
        if (!MISSING.has((error as NodeJS.ErrnoException).code ?? '')) throw relabel(error, tree, path);
        kind = null;
      }
      this.#kinds.set(path, kind);
    }
    return kind;
  }

  /** The plaintext of a file inside a tree, verified (EINTEGRITY when the host changed it). */
  read(path: string): Buffer {
    const tree = this.treeOf(path);
    if (!tree) throw new Error(`shieldfs: ${path} is not inside a protected tree`);
    const inner = inside(tree, path);
    try {
      const file = tree.volume.openFileSync(inner, 'r');
      try {
        const out = Buffer.allocUnsafe(file.size);
        let done = 0;
        while (done < out.length) {
          const got = file.readSync(out, done, out.length - done, done);
          if (got === 0) break;
          done += got;
        }
        return out.subarray(0, done);
      } finally {
        file.closeSync();
      }
    } catch (error) {
      throw relabel(error, tree, path);
    }
  }

  /**
   * The package.json in `directory`, or null. Inside a tree it is read from the tree; elsewhere
   * from the file system. Not valid JSON: ERR_INVALID_PACKAGE_CONFIG, as Node reports it.
   */
  packageJson(directory: string): PackageJson | null {
    let found = this.#packages.get(directory);
    if (found !== undefined) return found;
    const file = join(directory, 'package.json');
    found = null;
    if (this.kind(file) === 'file') {
      const text = this.treeOf(file) ? this.read(file).toString('utf8') : fs.readFileSync(file, 'utf8');
      let parsed: unknown;
      try {
        parsed = JSON.parse(text.charCodeAt(0) === 0xfeff ? text.slice(1) : text);
      } catch (error) {
        throw Object.assign(new Error(`Invalid package config ${file}: ${(error as Error).message}`), { code: 'ERR_INVALID_PACKAGE_CONFIG' });
      }
      const value = (typeof parsed === 'object' && parsed !== null ? parsed : {}) as Record<string, unknown>;
      found = {
        directory,
        ...(typeof value.name === 'string' ? { name: value.name } : {}),
        ...(typeof value.main === 'string' ? { main: value.main } : {}),
        ...(typeof value.type === 'string' ? { type: value.type } : {}),
        ...('exports' in value ? { exports: value.exports } : {}),
        ...('imports' in value ? { imports: value.imports } : {}),
      };
    }
    this.#packages.set(directory, found);
    return found;
  }

  /**
   * The package a file inside a tree belongs to: the nearest package.json above it, looking no
   * further than its tree's root and stopping at a node_modules directory, as Node does.
   */
  packageScope(file: string): PackageJson | null {
    const tree = this.treeOf(file);
    if (!tree) return null;
    for (let directory = dirname(file); ; directory = dirname(directory)) {
      if (directory.endsWith('/node_modules')) return null;
      const found = this.packageJson(directory);
      if (found) return found;
      if (directory === tree.path) return null;
    }
  }
}

function inside(tree: MountedTree, path: string): string {
  return path === tree.path ? '/' : path.slice(tree.path.length);
}

// Errors from the volume name the path inside it; the application knows the file by its mounted path.
function relabel(error: unknown, tree: MountedTree, path: string): unknown {
  if (!(error instanceof Error)) return error;
  const e = error as NodeJS.ErrnoException;
  const inner = inside(tree, path);
  if (e.path === inner) {
    e.message = e.message.split(`'${inner}'`).join(`'${path}'`);
    e.path = path;
  } else if (typeof e.code === 'string' && !e.message.includes(path)) {
    // A content failure (EINTEGRITY) names the object file: say which module it is.
    return shieldError(e.code, `${e.message.replace(/^E[A-Z]+: /, '')} (reading ${path} from the protected tree at ${tree.path})`, path);
  }
  return e;
}
