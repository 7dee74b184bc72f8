// Node's module resolution algorithms, run over TreeFiles instead of Node's internal file checks
// (which read the disk directly and cannot see a protected tree). Written to match Node 20's own
// (lib/internal/modules/cjs/loader.js and esm/resolve.js) so that an application resolves the same
// modules whether its code is protected or not:
//   CommonJS  a file, the request with each registered extension, a directory's package.json
//             "main" or index; package "exports" and "imports"
//   ESM       exact file URLs only; "exports", "imports", and the legacy "main" of a package
//   format    .mjs module, .cjs commonjs, .json json, .js by the package "type" (or, with none, by
//             the syntax the source uses, as Node detects it)
import { realpathSync } from 'node:fs';
import { extname, resolve } from 'node:path';
import { compileFunction } from 'node:vm';
import type { PackageJson, TreeFiles } from './tree-files.js';

/** An error as Node's loaders throw it: `code`, and `Error [CODE]: message` on the first line of the stack. */
export function loaderError(code: string, message: string, Type: ErrorConstructor | TypeErrorConstructor = Error): Error {
  const error = new Type(message) as NodeJS.ErrnoException;
  error.code = code;
  if (error.stack) error.stack = error.stack.replace(/^(\w*Error)/, `$1 [${code}]`);
  return error;
}

// ---------------------------------------------------------------------------------------------
// CommonJS: files, extensions, directories

/**
 * CommonJS resolution of `basePath` (an absolute path, from a relative or absolute request or a
 * node_modules directory + request): the file itself, then with each extension, then as a
 * directory (package.json "main", index). Inside a tree, paths are final (a tree has no symbolic
 * links); elsewhere they are made real, as Node does. Null when nothing matches.
 */
export function resolveCommonJsFile(files: TreeFiles, basePath: string, extensions: readonly string[], trailingSlash: boolean, request: string): string | null {
  if (!trailingSlash) {
    const found = tryFile(files, basePath) ?? tryExtensions(files, basePath, extensions);
    if (found) return found;
  }
  if (files.kind(basePath) === 'directory') return tryPackage(files, basePath, extensions, request);
  return null;
}

function tryFile(files: TreeFiles, path: string): string | null {
  if (files.kind(path) !== 'file') return null;
  return files.contains(path) ? path : realpathSync(path);
}

function tryExtensions(files: TreeFiles, basePath: string, extensions: readonly string[]): string | null {
  for (const extension of extensions) {
    const found = tryFile(files, basePath + extension);
    if (found) return found;
  }
  return null;
}

function tryPackage(files: TreeFiles, directory: string, extensions: readonly string[], request: string): string | null {
  const main = files.packageJson(directory)?.main;
  const index = resolve(directory, 'index');
  if (!main) return tryExtensions(files, index, extensions);
  const filename = resolve(directory, main);
  const found = tryFile(files, filename) ?? tryExtensions(files, filename, extensions) ?? tryExtensions(files, resolve(filename, 'index'), extensions);
  if (found) return found;
  const fallback = tryExtensions(files, index, extensions);
  const packageFile = resolve(directory, 'package.json');
  if (!fallback) {
    throw Object.assign(new Error(`Cannot find module '${filename}'. Please verify that the package.json has a valid "main" entry`),
      { code: 'MODULE_NOT_FOUND', path: packageFile, requestPath: request });
  }
  process.emitWarning(`Invalid 'main' field in '${packageFile}' of '${main}'. Please either fix that or report it to the module author`,
    'DeprecationWarning', 'DEP0128');
  return fallback;
}

// ---------------------------------------------------------------------------------------------
// Packages: "exports", "imports", the name of a package

// `name` or `@scope/name`, then the subpath.
const PACKAGE_SPECIFIER = /^((?:@[^/\\%]+\/)?[^./\\%][^/\\%]*)(\/.*)?$/;

/** Splits a bare specifier into the package name and the subpath ('.' or './…'), or null. */
export function parsePackageSpecifier(specifier: string): { name: string; subpath: string } | null {
  const match = PACKAGE_SPECIFIER.exec(specifier);
  if (!match) return null;
  return { name: match[1]!, subpath: `.${match[2] ?? ''}` };
}

/**
 * The file a package's "exports" maps `subpath` to (an absolute path, not yet checked to exist).
 * Not exported: ERR_PACKAGE_PATH_NOT_EXPORTED, as Node reports it.
 */
export function resolvePackageExports(pkg: PackageJson, subpath: string, conditions: ReadonlySet<string>, base: string): string {
  const exports = isConditionalSugar(pkg, pkg.exports) ? { '.': pkg.exports } : pkg.exports as Record<string, unknown>;
  const resolved = resolveMapped(pkg, exports, subpath, conditions, false);
  if (typeof resolved === 'string') return resolved;
  throw loaderError('ERR_PACKAGE_PATH_NOT_EXPORTED', subpath === '.'
    ? `No "exports" main defined in ${resolve(pkg.directory, 'package.json')}`
    : `Package subpath '${subpath}' is not defined by "exports" in ${resolve(pkg.directory, 'package.json')} imported from ${base}`);
}

/**
 * What a package's "imports" maps `#name` to: an absolute path, or a bare specifier to resolve as a
 * package. Not mapped: ERR_PACKAGE_IMPORT_NOT_DEFINED.
 */
export function resolvePackageImports(pkg: PackageJson | null, specifier: string, conditions: ReadonlySet<string>, base: string): string {
  if (specifier === '#' || specifier.startsWith('#/')) {
    throw loaderError('ERR_INVALID_MODULE_SPECIFIER', `Invalid module "${specifier}" is not a valid internal imports specifier name imported from ${base}`, TypeError);
  }
  const imports = pkg?.imports;
  if (pkg && typeof imports === 'object' && imports !== null && !Array.isArray(imports)) {
    const resolved = resolveMapped(pkg, imports as Record<string, unknown>, specifier, conditions, true);
    if (typeof resolved === 'string') return resolved;
  }
  throw loaderError('ERR_PACKAGE_IMPORT_NOT_DEFINED', `Package import specifier "${specifier}" is not defined` +
    `${pkg ? ` in package ${resolve(pkg.directory, 'package.json')}` : ''} imported from ${base}`, TypeError);
}

// "exports": "./x.js", ["./x.js"], or { "node": …, "default": … } stand for { ".": … }.
function isConditionalSugar(pkg: PackageJson, exports: unknown): boolean {
  if (typeof exports === 'string' || Array.isArray(exports)) return true;
  if (typeof exports !== 'object' || exports === null) return false;
  let sugar: boolean | undefined;
  for (const key of Object.keys(exports)) {
    const isSugar = key === '' || key[0] !== '.';
    if (sugar === undefined) sugar = isSugar;
    else if (sugar !== isSugar) {
      throw loaderError('ERR_INVALID_PACKAGE_CONFIG', `Invalid package config ${resolve(pkg.directory, 'package.json')}. ` +
        '"exports" cannot contain some keys starting with \'.\' and some not. The exports object must either be an object of ' +
        'package subpath keys or an object of main entry condition name keys only.');
    }
  }
  return sugar ?? false;
}

// The exact key first; then the pattern key with the longest prefix ("./lib/*.js").
function resolveMapped(pkg: PackageJson, map: Record<string, unknown>, key: string, conditions: ReadonlySet<string>, isImports: boolean): string | null | undefined {
  if (Object.hasOwn(map, key) && !key.includes('*')) return resolveTarget(pkg, map[key], '', isImports, conditions);
  let best = '';
  let match = '';
  for (const candidate of Object.keys(map)) {
    const star = candidate.indexOf('*');
    if (star === -1 || star !== candidate.lastIndexOf('*') || !key.startsWith(candidate.slice(0, star))) continue;
    const trailer = candidate.slice(star + 1);
    if (key.length >= candidate.length && key.endsWith(trailer) && comparePatternKeys(best, candidate) === 1) {
      best = candidate;
      match = key.slice(star, key.length - trailer.length);
    }
  }
  return best ? resolveTarget(pkg, map[best], match, isImports, conditions) : undefined;
}

function comparePatternKeys(a: string, b: string): number {
  const aStar = a.indexOf('*'), bStar = b.indexOf('*');
  const aBase = aStar === -1 ? a.length : aStar + 1, bBase = bStar === -1 ? b.length : bStar + 1;
  if (aBase !== bBase) return aBase > bBase ? -1 : 1;
  if (aStar === -1) return 1;
  if (bStar === -1) return -1;
  if (a.length !== b.length) return a.length > b.length ? -1 : 1;
  return 0;
}

// A target: a "./" path inside the package, a list (first that works), conditions (first that
// applies, in the package's order), or null (explicitly not exported). undefined: no match.
function resolveTarget(pkg: PackageJson, target: unknown, match: string, isImports: boolean, conditions: ReadonlySet<string>): string | null | undefined {
  if (typeof target === 'string') return resolveTargetString(pkg, target, match, isImports);
  if (Array.isArray(target)) {
    let failure: unknown;
    for (const item of target) {
      let result: string | null | undefined;
      try {
        result = resolveTarget(pkg, item, match, isImports, conditions);
      } catch (error) {
        failure = error;
        if ((error as NodeJS.ErrnoException).code === 'ERR_INVALID_PACKAGE_TARGET') continue;
        throw error;
      }
      if (result === undefined) continue;
      if (result === null) {
        failure = null;
        continue;
      }
      return result;
    }
    if (failure === undefined || failure === null) return failure as null | undefined;
    throw failure;
  }
  if (typeof target === 'object' && target !== null) {
    for (const key of Object.keys(target)) {
      if (key === 'default' || conditions.has(key)) {
        const result = resolveTarget(pkg, (target as Record<string, unknown>)[key], match, isImports, conditions);
        if (result !== undefined) return result;
      }
    }
    return undefined;
  }
  if (target === null) return null;
  throw invalidTarget(pkg, target);
}

const INVALID_SEGMENT = /(^|\\|\/)((\.|%2e)(\.|%2e)?|(n|%6e|%4e)(o|%6f|%4f)(d|%64|%44)(e|%65|%45)(_|%5f)(m|%6d|%4d)(o|%6f|%4f)(d|%64|%44)(u|%75|%55)(l|%6c|%4c)(e|%65|%45)(s|%73|%53))?(\\|\/|$)/i;

function resolveTargetString(pkg: PackageJson, target: string, match: string, isImports: boolean): string {
  if (!target.startsWith('./')) {
    // "imports" may map to another package: "#dep": "dep".
    if (isImports && !target.startsWith('../') && !target.startsWith('/') && !/^[a-z][a-z0-9+.-]*:/i.test(target)) {
      return match ? target.replaceAll('*', match) : target;
    }
    throw invalidTarget(pkg, target);
  }
  if (INVALID_SEGMENT.test(target.slice(2))) throw invalidTarget(pkg, target);
  if (match && INVALID_SEGMENT.test(match)) {
    throw loaderError('ERR_INVALID_MODULE_SPECIFIER', `Invalid module "${match}" request is not a valid match in pattern for ${resolve(pkg.directory, 'package.json')}`, TypeError);
  }
  return resolve(pkg.directory, match ? target.replaceAll('*', match) : target);
}

function invalidTarget(pkg: PackageJson, target: unknown): Error {
  return loaderError('ERR_INVALID_PACKAGE_TARGET', `Invalid "exports" or "imports" target ${JSON.stringify(target)} defined in the package config ` +
    `${resolve(pkg.directory, 'package.json')}`);
}

/** The package `pkg` a file of which asks for `name` by its own name (a self-reference), or null. */
export function selfReference(pkg: PackageJson | null, specifier: string): { pkg: PackageJson; subpath: string } | null {
  if (!pkg?.name || pkg.exports === undefined || pkg.exports === null) return null;
  if (specifier === pkg.name) return { pkg, subpath: '.' };
  if (specifier.startsWith(`${pkg.name}/`)) return { pkg, subpath: `.${specifier.slice(pkg.name.length)}` };
  return null;
}

/** ESM's resolution of a package without "exports": its "main" with the legacy extensions, or index. */
export function resolveLegacyMain(files: TreeFiles, pkg: PackageJson): string | null {
  const candidates = pkg.main
    ? [pkg.main, `${pkg.main}.js`, `${pkg.main}.json`, `${pkg.main}.node`, `${pkg.main}/index.js`, `${pkg.main}/index.json`, `${pkg.main}/index.node`]
    : [];
  for (const candidate of [...candidates, 'index.js', 'index.json', 'index.node']) {
    const path = resolve(pkg.directory, candidate);
    if (files.kind(path) === 'file') return path;
  }
  return null;
}

// ---------------------------------------------------------------------------------------------
// Formats

export type ModuleFormat = 'module' | 'commonjs' | 'json';

/**
 * The format of a file inside a tree, as Node decides it: by extension, then by the package "type"
 * of .js and extension-less files. Null for a .js or extension-less file whose package has no
 * "type" (the source decides: detectFormat); undefined for an extension Node does not load as a module.
 */
export function formatOf(files: TreeFiles, path: string): ModuleFormat | null | undefined {
  const extension = extname(path);
  if (extension === '.mjs') return 'module';
  if (extension === '.cjs') return 'commonjs';
  if (extension === '.json') return 'json';
  if (extension !== '.js' && extension !== '') return undefined;
  const type = files.packageScope(path)?.type;
  return type === 'module' ? 'module' : type === 'commonjs' ? 'commonjs' : null;
}

// What V8 says when ES module syntax is compiled as a CommonJS function body (Node's list in
// src/node_contextify.cc): the file is then an ES module.
const ESM_SYNTAX_ERRORS = [
  'Cannot use import statement outside a module',
  "Unexpected token 'export'",
  "Cannot use 'import.meta' outside a module",
  'await is only valid in async functions and the top level bodies of modules',
  "Identifier 'module' has already been declared",
  "Identifier 'exports' has already been declared",
  "Identifier 'require' has already been declared",
  "Identifier '__filename' has already been declared",
  "Identifier '__dirname' has already been declared",
];

/** Node's syntax detection for a .js file with no package "type": ES module syntax makes it a module. */
export function detectFormat(source: string, filename: string): 'module' | 'commonjs' {
  try {
    compileFunction(source, ['exports', 'require', 'module', '__filename', '__dirname'], { filename });
    return 'commonjs';
  } catch (error) {
    return error instanceof SyntaxError && ESM_SYNTAX_ERRORS.includes(error.message) ? 'module' : 'commonjs';
  }
}
