// fs.glob, fs.globSync and fs.promises.glob (Node 22 and later) for patterns inside mounts. Node's own
// glob reads directories with functions it captured from node:fs when it loaded, so it never sees a
// mount; here the directories a pattern can reach are listed through the shield and each path is
// matched with path.matchesGlob, which is the matcher (minimatch, with node's options) Node's glob
// uses. Patterns outside every mount still go to Node's glob.
import type * as nodeFs from 'node:fs';
import { isAbsolute, join, matchesGlob, relative, resolve } from 'node:path';
import type { Steps } from '../file/sync-or-async.js';
import { pathText } from './mount-table.js';
import { invalidArgType } from './node-errors.js';
import type { ShieldOperations } from './operations.js';

export interface GlobOptions {
  cwd?: string | URL;
  exclude?: ((entry: string | nodeFs.Dirent) => boolean) | readonly string[];
  withFileTypes?: boolean;
}

const MAGIC = /[*?[\]{}()!+@]/;

/** The patterns, checked as node checks them. */
export function globPatterns(patterns: unknown): string[] {
  const list = Array.isArray(patterns) ? patterns : [patterns];
  for (const pattern of list) if (typeof pattern !== 'string') throw invalidArgType('pattern', 'of type string', pattern);
  return list as string[];
}

export function globDirectory(options: GlobOptions | undefined): string {
  return options?.cwd === undefined ? process.cwd() : resolve(pathText(options.cwd) ?? String(options.cwd));
}

/** Where a pattern starts listing: its directories up to the first one with a wildcard. */
export function globBase(pattern: string, cwd: string): string {
  const absolute = isAbsolute(pattern) ? pattern : join(cwd, pattern);
  const parts = absolute.split('/');
  const firstMagic = parts.findIndex((part) => MAGIC.test(part));
  return firstMagic === -1 ? absolute : parts.slice(0, firstMagic).join('/') || '/';
}

/**
 * The entries inside mounts that `patterns` match, named as Node's glob names them: relative to
 * `cwd` for a relative pattern, absolute for an absolute one; each once.
 */
export function* globInMounts(ops: ShieldOperations, patterns: string[], options: GlobOptions | undefined): Steps<(string | nodeFs.Dirent)[]> {
  const cwd = globDirectory(options);
  const exclude = options?.exclude;
  const found = new Map<string, string | nodeFs.Dirent>();
  for (const pattern of patterns) {
    const absolutePattern = isAbsolute(pattern);
    const full = absolutePattern ? pattern : join(cwd, pattern);
    const base = globBase(pattern, cwd);
    if (ops.locate(base) === null) continue;
    const shown = (path: string) => (absolutePattern ? path : relative(cwd, path) || '.');
    const excluded = (path: string, entry: nodeFs.Dirent | null): boolean => {
      if (typeof exclude === 'function') return exclude(options?.withFileTypes && entry ? entry : shown(path));
      return Array.isArray(exclude) && exclude.some((p: string) => matchesGlob(shown(path), p));
    };
    // As Node's glob: a trailing /** also matches the directory it starts from ('**' lists '.').
    const matches = (path: string) => matchesGlob(path, full) || (full.endsWith('/**') && matchesGlob(path, full.slice(0, -3)));
    const baseStats = (yield* ops.stat(base, { throwIfNoEntry: false })) as nodeFs.Stats | undefined;
    if (!baseStats) continue;
    if (matches(base) && !excluded(base, null)) found.set(shown(base), shown(base));
    if (!baseStats.isDirectory()) continue;
    const depth = full.includes('**') ? Infinity : full.split('/').length - base.split('/').length;
    const pending: [string, number][] = [[base, 1]];
    while (pending.length > 0) {
      const [directory, level] = pending.shift()!;
      for (const entry of (yield* ops.readdir(directory, { withFileTypes: true })) as nodeFs.Dirent[]) {
        const path = join(directory, entry.name);
        if (excluded(path, entry)) continue;
        if (matches(path) && !found.has(shown(path))) found.set(shown(path), options?.withFileTypes ? entry : shown(path));
        if (entry.isDirectory() && level < depth) pending.push([path, level + 1]);
      }
    }
  }
  return [...found.values()];
}
