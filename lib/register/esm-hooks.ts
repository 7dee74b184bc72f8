// import of code inside protected trees: module.register() hooks.
//
// On Node 20 these hooks run on a thread of their own, where node:fs is not the shield and the
// application's mounts do not exist. So the register module hands this thread what it needs to
// open the trees itself (directory, tag, and the key as a transferred buffer), and the trees are
// opened here read-only and pinned to their tags, as on the main thread (read-only opens share the
// volume's lock). Everything outside the trees goes to the next hook (Node's own) untouched.
//
//   resolve  file: URLs, relative and absolute specifiers into a tree (exact files, as ESM wants;
//            the main entry also with CommonJS's extensions and directories, as `node app` does);
//            bare specifiers from tree files: the tree's node_modules ("exports", "main"),
//            "#imports", self-references, then the mount's allowHostModules; never the host's
//            disk beyond those (host-modules.ts), nor the disk under a mount point.
//   load     the decrypted source, with the format Node would give the file (.mjs, .cjs, .json,
//            .js by the package "type" in the tree, or by its syntax). CommonJS is returned with
//            its source, so that Node's ESM loader runs it without reading the disk (plus the names
//            it re-exports from other tree files: cjs-export-names.ts); a CommonJS main entry runs
//            through the CommonJS loader instead, exactly as `node app.cjs` does.
import { realpathSync } from 'node:fs';
import { isBuiltin, type InitializeHook, type LoadHook, type ResolveHook } from 'node:module';
import { dirname, extname, isAbsolute, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { Volume } from '../volume/volume.js';
import { withReexportedNames } from './cjs-export-names.js';
import { allowedHostDirectories, fileRefused, mayLoad, packageRefused } from './host-modules.js';
import { TreeFiles, type MountedTree } from './tree-files.js';
import {
  detectFormat, formatOf, loaderError, parsePackageSpecifier, resolveCommonJsFile, resolveLegacyMain,
  resolvePackageExports, resolvePackageImports, selfReference, type ModuleFormat,
} from './tree-resolution.js';

/** What the register module sends: one entry per tree, the key as its own transferred buffer. */
export interface EsmHooksData {
  trees: { path: string; directory: string; tag: string; key: ArrayBuffer; allowHostModules?: string[] }[];
}

let trees = new TreeFiles([]);
// URLs resolved as the main entry: a CommonJS one runs through the CommonJS loader.
const mainEntries = new Set<string>();
// The extensions `node app` tries for a main entry (Module._extensions' defaults).
const MAIN_EXTENSIONS = ['.js', '.json', '.node'];
const FORMATS: ReadonlySet<unknown> = new Set(['module', 'commonjs', 'json']);

/**
 * The in-thread form (module.registerHooks, Node 22.15 and later): the hooks run on the thread that
 * mounted the trees and use its open trees; nothing is opened twice.
 */
export function useTrees(files: TreeFiles): void {
  trees = files;
}

export const initialize: InitializeHook<EsmHooksData> = (data) => {
  const opened: MountedTree[] = [];
  for (const tree of data.trees) {
    const key = new Uint8Array(tree.key);
    try {
      opened.push({
        path: tree.path, volume: Volume.openSync(tree.directory, { key, readOnly: true, expectedTag: tree.tag }),
        ...(tree.allowHostModules ? { allowHostModules: tree.allowHostModules } : {}),
      });
    } finally {
      key.fill(0);  // the volume keeps its own copy in secure memory
    }
  }
  trees = new TreeFiles(opened);
};

export const resolve: ResolveHook = (specifier, context, nextResolve) => {
  const { parentURL } = context;
  if (trees.empty || isBuiltin(specifier)) return nextResolve(specifier, context);
  const parent = parentURL?.startsWith('file:') ? fileURLToPath(parentURL) : null;
  // Code in a tree loads only from trees and the host directories its mount allows (host-modules.ts).
  const tree = parent === null ? null : trees.codeTreeOf(parent);
  const notFound = context.conditions.includes('require') ? 'MODULE_NOT_FOUND' : 'ERR_MODULE_NOT_FOUND';
  const confined = (path: string) => {
    if (tree && !mayLoad(trees, tree, path)) throw fileRefused(notFound, path, specifier, parent!, tree);
    return path;
  };

  if (specifier.startsWith('file:') || specifier.startsWith('/') || isRelative(specifier)) {
    const base = parentURL ?? pathToFileURL(`${process.cwd()}/`).href;
    let url: URL;
    let path: string;
    try {
      url = new URL(specifier, base);
      path = fileURLToPath(url);
    } catch {
      return nextResolve(specifier, context);  // not a file URL Node accepts: let Node say why
    }
    if (!trees.contains(path)) {
      if (tree === null) return nextResolve(specifier, context);
      confined(path);
      // An allowed host file: Node resolves it (and makes it real, which must stay allowed).
      return afterNext(nextResolve(specifier, context), (result) => {
        if (result.url.startsWith('file:')) confined(fileURLToPath(result.url));
        return result;
      });
    }
    if (parentURL === undefined) return mainEntry(url, path);
    return resolved(url, existingFile(path, parent ?? parentURL));
  }

  if (parent === null || tree === null || /^[a-z][a-z0-9+.-]*:/i.test(specifier)) return nextResolve(specifier, context);
  const conditions = new Set(context.conditions);
  const scope = trees.packageScope(parent);
  if (specifier.startsWith('#')) {
    const target = resolvePackageImports(scope, specifier, conditions, parent);
    if (!isAbsolute(target)) return resolve(target, context, nextResolve);  // "#dep": "dep"
    return resolved(pathToFileURL(target), confined(existingFile(target, parent)));
  }
  const self = selfReference(scope, specifier);
  if (self) {
    const target = resolvePackageExports(self.pkg, self.subpath, conditions, parent);
    return resolved(pathToFileURL(target), confined(existingFile(target, parent)));
  }
  const target = packageInTree(specifier, parent, conditions) ?? packageInHostDirectories(specifier, parent, allowedHostDirectories(tree), conditions);
  if (target === null) throw packageRefused(notFound, specifier, parent, tree);
  const file = existingFile(target, parent);
  // As Node's resolver: a file on the disk by its real path (a tree has no symbolic links).
  const real = trees.contains(file) ? file : realpathSync(file);
  return resolved(pathToFileURL(real), confined(real));
};

export const load: LoadHook = (url, context, nextLoad) => {
  if (!url.startsWith('file:')) return nextLoad(url, context);
  const path = fileURLToPath(url);
  if (!trees.contains(path)) return nextLoad(url, context);
  let format = FORMATS.has(context.format) ? context.format as ModuleFormat : formatOf(trees, path);
  if (format === undefined) {
    const why = extname(path) === '.node' ? ' (a native addon cannot be imported, and inside a protected tree not required either: ' +
      'see README, "Running code from protected trees")' : '';
    throw loaderError('ERR_UNKNOWN_FILE_EXTENSION', `Unknown file extension "${extname(path)}" for ${path}${why}`, TypeError);
  }
  const source = trees.read(path);
  if (format === null) format = detectFormat(source.toString('utf8'), path);
  checkAttributes(url, format, context.importAttributes);
  if (format !== 'commonjs') return { format, source, shortCircuit: true };
  if (mainEntries.has(url)) {
    // As Node runs a CommonJS main entry: through the CommonJS loader, as require.main.
    return { format: 'module', source: `import { Module } from 'node:module';\nModule._load(${JSON.stringify(path)}, undefined, true);\n`, shortCircuit: true };
  }
  return { format, source: withReexportedNames(trees, path, source.toString('utf8')), shortCircuit: true };
};

// ---------------------------------------------------------------------------------------------

function resolved(url: URL, path: string): { url: string; format?: ModuleFormat; shortCircuit: true } {
  const format = formatOf(trees, path);
  return { url: url.href, ...(format ? { format } : {}), shortCircuit: true };
}

// `node app` resolves its main entry as CommonJS would (extensions, a directory's index or "main"),
// whatever the entry turns out to be.
function mainEntry(url: URL, path: string): ReturnType<typeof resolved> {
  const found = trees.kind(path) === 'file' ? path : resolveCommonJsFile(trees, path, MAIN_EXTENSIONS, false, path);
  if (!found) throw loaderError('ERR_MODULE_NOT_FOUND', `Cannot find module '${path}'`);
  const target = found === path ? url : pathToFileURL(found);
  mainEntries.add(target.href);
  return resolved(target, found);
}

// Missing and directory: with the `url` import.meta.resolve() returns anyway, as Node's errors carry it.
function existingFile(path: string, base: string): string {
  const kind = trees.kind(path);
  if (kind === 'file') return path;
  const error = kind === 'directory'
    ? loaderError('ERR_UNSUPPORTED_DIR_IMPORT', `Directory import '${path}' is not supported resolving ES modules imported from ${base}`)
    : loaderError('ERR_MODULE_NOT_FOUND', `Cannot find module '${path}' imported from ${base}`);
  throw Object.assign(error, { url: pathToFileURL(path).href });
}

// The first node_modules/<name> directory above the importing file that lies in a tree; null when
// the trees have none (the host's disk above the tree and under its mount point is never looked at).
function packageInTree(specifier: string, parent: string, conditions: ReadonlySet<string>): string | null {
  const parsed = parsePackageSpecifier(specifier);
  if (!parsed) throw loaderError('ERR_INVALID_MODULE_SPECIFIER', `Invalid module "${specifier}" is not a valid package name imported from ${parent}`, TypeError);
  for (let directory = dirname(parent); ; directory = dirname(directory)) {
    if (trees.contains(directory) && !directory.endsWith('/node_modules')) {
      const packageDirectory = join(directory, 'node_modules', parsed.name);
      if (trees.kind(packageDirectory) === 'directory') return packageEntry(packageDirectory, parsed.subpath, parent, conditions);
    }
    if (directory === dirname(directory)) return null;
  }
}

// The package in the first of the host directories a mount allows (each a node_modules folder), or null.
function packageInHostDirectories(specifier: string, parent: string, directories: readonly string[], conditions: ReadonlySet<string>): string | null {
  const parsed = parsePackageSpecifier(specifier)!;
  for (const directory of directories) {
    const packageDirectory = join(directory, parsed.name);
    if (trees.kind(packageDirectory) === 'directory') return packageEntry(packageDirectory, parsed.subpath, parent, conditions);
  }
  return null;
}

// The file `subpath` of the package in `packageDirectory` names: "exports", else the path itself or the legacy "main".
function packageEntry(packageDirectory: string, subpath: string, parent: string, conditions: ReadonlySet<string>): string {
  const pkg = trees.packageJson(packageDirectory) ?? { directory: packageDirectory };
  if (pkg.exports !== undefined && pkg.exports !== null) return resolvePackageExports(pkg, subpath, conditions, parent);
  if (subpath !== '.') return join(packageDirectory, subpath);
  const main = resolveLegacyMain(trees, pkg);
  if (!main) throw loaderError('ERR_MODULE_NOT_FOUND', `Cannot find package '${packageDirectory}' imported from ${parent}`);
  return main;
}

// A check on what the next hook resolved, whether it answers at once (module.registerHooks) or with a
// promise (module.register's hooks thread).
function afterNext<T>(result: T | Promise<T>, check: (value: T) => T): T | Promise<T> {
  return result instanceof Promise ? result.then(check) : check(result);
}

function isRelative(specifier: string): boolean {
  return specifier === '.' || specifier === '..' || specifier.startsWith('./') || specifier.startsWith('../');
}

// What Node's default load checks (internal/modules/esm/assert.js): a hook that returns a source
// must check it too.
function checkAttributes(url: string, format: ModuleFormat, attributes: Record<string, string | undefined> = {}): void {
  for (const key of Object.keys(attributes)) {
    if (key !== 'type') throw loaderError('ERR_IMPORT_ATTRIBUTE_UNSUPPORTED', `Import attribute "${key}" with value "${attributes[key]}" is not supported`, TypeError);
  }
  const { type } = attributes;
  if (format === 'json' ? type === 'json' : type === undefined) return;
  if (type === undefined) throw loaderError('ERR_IMPORT_ASSERTION_TYPE_MISSING', `Module "${url}" needs an import attribute of type "json"`, TypeError);
  if (type !== 'json') throw loaderError('ERR_IMPORT_ASSERTION_TYPE_UNSUPPORTED', `Import attribute type "${type}" is unsupported`, TypeError);
  throw loaderError('ERR_IMPORT_ASSERTION_TYPE_FAILED', `Module "${url}" is not of type "${type}"`, TypeError);
}
