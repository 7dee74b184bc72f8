// require() of code inside protected trees, on the thread that mounted them.
//
// Node's CommonJS loader reads sources with fs.readFileSync, which the shield has already replaced,
// but it finds files with internal bindings that read the disk directly (internalModuleStat, its
// package.json reader), where a tree holds only ciphertext under random names. So for requests that
// lead into a tree (or are made from inside one) three monkey-patchable steps are taken over, and
// everything else is left to Node untouched:
//   Module._findPath         which file a request names: extensions, directories, package "main",
//                            node_modules inside the tree, package "exports"
//   Module._resolveFilename  "#imports" and a package requiring itself by name, from tree files;
//                            and what code in a tree may load at all: packages only from trees and
//                            the mount's allowHostModules, never from the host's disk (host-modules.ts)
//   Module._extensions.js    the format of a .js file from its package "type" in the tree (Node
//                            would look for the package.json on the disk)
import Module, { isBuiltin } from 'node:module';
import { dirname, isAbsolute, normalize, resolve } from 'node:path';
import { allowedHostDirectories, fileRefused, mayLoad, packageRefused } from './host-modules.js';
import { detectFormat, formatOf, parsePackageSpecifier, resolveCommonJsFile, resolvePackageExports, resolvePackageImports, selfReference } from './tree-resolution.js';
import type { MountedTree, TreeFiles } from './tree-files.js';

// The parts of the CommonJS loader that are public in practice (monkey-patched by tools for years)
// but not in @types/node.
interface LoaderModule {
  id?: string;
  filename?: string | null;
  _compile(source: string, filename: string, format?: 'module' | 'commonjs'): unknown;
}
interface CommonJsLoader {
  _findPath(request: string, paths: string[] | null, isMain: boolean): string | false;
  _nodeModulePaths(from: string): string[];
  _resolveFilename(request: string, parent: LoaderModule | null | undefined, isMain: boolean, options?: unknown): string;
  _extensions: Record<string, (module: LoaderModule, filename: string) => void>;
  _pathCache: Record<string, string>;
}

/** Makes require() resolve and load files inside `files`' trees. */
export function installCommonJsResolution(files: TreeFiles): void {
  const loader = Module as unknown as CommonJsLoader;
  const conditions = commonJsConditions();
  const touchesTree = (lookIn: string, request: string) => files.contains(resolve(lookIn, request)) || (lookIn !== '' && files.contains(lookIn));

  const findPath = loader._findPath;
  loader._findPath = function _findPath(request, paths, isMain) {
    const absolute = isAbsolute(request);
    const lookIn = absolute ? [''] : paths;
    if (!lookIn?.length || !lookIn.some((p) => touchesTree(p, request))) return findPath.call(this, request, paths, isMain);
    const cacheKey = `${request}\x00${lookIn.join('\x00')}`;
    const cached = loader._pathCache[cacheKey];
    if (cached) return cached;
    // As Node: a directory named with a trailing slash (or "." / "..") is never a file.
    const trailingSlash = request.endsWith('/') || /(^|\/)\.\.?$/.test(request);
    const insidePath = !(isRelative(request) && normalize(request).startsWith('..'));
    for (const directory of lookIn) {
      let found: string | false | null = null;
      if (!touchesTree(directory, request)) {
        found = findPath.call(this, request, absolute ? paths : [directory], isMain);
      } else {
        if (insidePath && directory !== '' && files.kind(directory) !== 'directory') continue;
        const specifier = absolute ? null : parsePackageSpecifier(request);
        const pkg = specifier ? files.packageJson(resolve(directory, specifier.name)) : null;
        if (specifier && pkg && pkg.exports !== undefined && pkg.exports !== null) {
          found = existingFile(files, resolvePackageExports(pkg, specifier.subpath, conditions, directory), request, pkg.directory);
        } else {
          found = resolveCommonJsFile(files, resolve(directory, request), Object.keys(loader._extensions), trailingSlash, request);
        }
      }
      if (found) {
        loader._pathCache[cacheKey] = found;
        return found;
      }
    }
    return false;
  };

  const resolveFilename = loader._resolveFilename;
  // What a file in `tree` asks for: "#imports", its own package by name, packages in the trees and
  // the allowed host directories only (never node_modules on the host's disk, nor NODE_PATH); and
  // whatever the request, the file it leads to must be one code in the tree may load.
  function resolveFromTree(this: unknown, request: string, parent: LoaderModule, from: string, tree: MountedTree, isMain: boolean, options: unknown): string {
    const confined = (filename: string) => {
      if (!mayLoad(files, tree, filename)) throw fileRefused('MODULE_NOT_FOUND', filename, request, from, tree);
      return filename;
    };
    if (isRelative(request) || isAbsolute(request)) return confined(relativeInTree(request, from, options) || resolveFilename.call(this, request, parent, isMain, options));
    const scope = files.packageScope(from);
    // As Node: "#…" is looked up in the package's "imports" when it has some.
    if (request.startsWith('#') && scope?.imports !== undefined && scope.imports !== null) {
      const target = resolvePackageImports(scope, request, conditions, from);
      // "#dep": "dep" maps to another package, found (and confined) as any other.
      if (!isAbsolute(target)) return loader._resolveFilename(target, parent, isMain, options);
      return confined(existingFile(files, target, request, scope.directory));
    }
    const self = selfReference(scope, request);
    if (self) return confined(existingFile(files, resolvePackageExports(self.pkg, self.subpath, conditions, from), request, self.pkg.directory));
    // Node's lookup directories (from the file's directory, or from each of require.resolve's
    // `paths`), only those in a tree; then the allowed host directories, each a node_modules folder.
    const paths = (options as { paths?: unknown } | undefined)?.paths;
    const starts = Array.isArray(paths) ? paths.filter((p): p is string => typeof p === 'string') : [dirname(from)];
    const inTrees = starts.flatMap((start) => loader._nodeModulePaths(resolve(start))).filter((directory) => files.contains(directory));
    const found = loader._findPath(request, [...new Set([...inTrees, ...allowedHostDirectories(tree)])], isMain);
    if (!found) throw packageRefused('MODULE_NOT_FOUND', request, from, tree);
    return confined(found);
  }

  loader._resolveFilename = function _resolveFilename(request, parent, isMain, options) {
    const from = parent?.filename;
    const tree = typeof request === 'string' && from && !isBuiltin(request) ? files.codeTreeOf(from) : null;
    const filename = tree ? resolveFromTree.call(this, request, parent!, from!, tree, isMain, options) : resolveFilename.call(this, request, parent, isMain, options);
    if (files.contains(filename) && exportNamesMayBeScanned() && calledByExportNameScan()) {
      // Node's ESM loader is listing the names a CommonJS module re-exports from another file, and
      // would read that file with its own copy of fs.readFileSync, which cannot read a tree.
      // Failing here makes it skip the file; the ESM hooks supplied those names (cjs-export-names.ts).
      throw Object.assign(new Error(`shieldfs: ${filename} is inside a protected tree: its export names are not scanned`), { code: 'MODULE_NOT_FOUND' });
    }
    return filename;
  };

  // A relative or absolute request from a file in a tree, found the way Node's own _resolveFilename
  // would find it (_findPath in the parent's directory), without the rest of what Node does first:
  // looking on the disk, upwards from a directory that exists only in the tree, for a package.json
  // that could make the request a self-reference (which a relative or absolute request never is).
  // That walk cost more than everything else about requiring a module from a tree. False when not
  // found: Node then resolves it again and reports the failure as it does.
  function relativeInTree(request: string, from: string | null | undefined, options: unknown): string | false {
    if (typeof request !== 'string' || !from || options !== undefined || !(isRelative(request) || isAbsolute(request))) return false;
    if (!files.contains(from)) return false;
    return loader._findPath(request, [dirname(from)], false);
  }

  const loadJs = loader._extensions['.js']!;
  loader._extensions['.js'] = function (module, filename) {
    if (!files.contains(filename)) return loadJs.call(this, module, filename);
    const format = formatOf(files, filename);
    const source = files.read(filename).toString('utf8');
    if (module.id !== '.' && !hooksInThread() && mayImport(source, format, filename)) throw requiredEsmRefused(filename);
    // No "type" (undefined): Node's own syntax detection decides, while compiling.
    module._compile(source, filename, format === 'module' || format === 'commonjs' ? format : undefined);
  };
}

// Node 20's require(esm) resolves and reads the static imports of the required ES module itself
// (internal/modules/esm/loader.js, getModuleJobForRequire: its default resolver and its own
// readFileSync, no hooks), on the host's disk: the planted package above the tree, or a decoy under
// the mount point in place of the tree's own file. So there, an ES module of a tree that may import
// anything is not required at all (the main entry is imported, through the hooks). Conservative:
// any `import` that is not import() or import.meta, and any `export … from`, counts.
const STATIC_IMPORT = /\bimport\b(?!\s*\(|\s*\.\s*meta\b)/;

function mayImport(source: string, format: ReturnType<typeof formatOf>, filename: string): boolean {
  if (format === 'commonjs' || format === 'json') return false;
  const exportAt = source.search(/\bexport\b/);
  if (!STATIC_IMPORT.test(source) && (exportAt === -1 || !/\bfrom\b/.test(source.slice(exportAt)))) return false;
  return format === 'module' || detectFormat(source, filename) === 'module';
}

function requiredEsmRefused(filename: string): Error {
  return Object.assign(new Error(`require() of the ES module ${filename}, which imports other modules, is not supported from a protected tree ` +
    `on Node ${process.versions.node}: Node 20 resolves and reads the imports of a require()d ES module on the host's disk itself, ` +
    'where the shield can neither find the tree\'s files nor refuse the host\'s. Use import(), or Node 22.15 or later'), { code: 'ERR_REQUIRE_ESM' });
}

function hooksInThread(): boolean {
  return typeof (Module as unknown as { registerHooks?: unknown }).registerHooks === 'function';
}

// A mapped file must exist, as Node's finalizeEsmResolution checks.
function existingFile(files: TreeFiles, path: string, request: string, packageDirectory: string): string {
  if (files.kind(path) === 'file') return path;
  throw Object.assign(new Error(`Cannot find module '${path}'`), { code: 'MODULE_NOT_FOUND', path: resolve(packageDirectory, 'package.json'), requestPath: request });
}

function isRelative(request: string): boolean {
  return request === '.' || request === '..' || request.startsWith('./') || request.startsWith('../');
}

// The CommonJS loader's conditions: require, node, node-addons, module-sync, and --conditions.
function commonJsConditions(): ReadonlySet<string> {
  const conditions = new Set(['require', 'node']);
  const args = [...process.execArgv, ...(process.env.NODE_OPTIONS ?? '').split(/\s+/)];
  if (!args.includes('--no-addons')) conditions.add('node-addons');
  if (!args.includes('--no-experimental-require-module')) conditions.add('module-sync');
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    const inline = /^(?:--conditions|-C)=(.+)$/.exec(arg);
    if (inline) conditions.add(inline[1]!);
    else if ((arg === '--conditions' || arg === '-C') && args[i + 1]) conditions.add(args[++i]!);
  }
  return conditions;
}

let commonJsImported = false;
/**
 * Called by the in-thread ESM hooks when they give Node's ESM loader a CommonJS source from a tree:
 * only from then on can Node scan export names (see calledByExportNameScan), so only then is the
 * stack looked at. (On Node 20 the hooks run on another thread: every time.)
 */
export function noteCommonJsImported(): void {
  commonJsImported = true;
}

function exportNamesMayBeScanned(): boolean {
  return commonJsImported || typeof (Module as unknown as { registerHooks?: unknown }).registerHooks !== 'function';
}

// Node 20's ESM loader lists a CommonJS module's exports, and for `module.exports = require('./x')`
// resolves ./x through Module._resolveFilename, from its function cjsPreparseModuleExports.
function calledByExportNameScan(): boolean {
  const limit = Error.stackTraceLimit;
  Error.stackTraceLimit = 3;
  const probe: { stack?: string } = {};
  Error.captureStackTrace(probe, calledByExportNameScan);
  Error.stackTraceLimit = limit;
  return / at cjsPreparseModuleExports \(node:internal\/modules\/esm\/translators/.test(probe.stack ?? '');
}
