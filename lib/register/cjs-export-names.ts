// Named exports of CommonJS files in trees that re-export other tree files, for import from ESM.
//
// When ESM imports a CommonJS file, Node lists its named exports by lexing its source
// (cjs-module-lexer). For `module.exports = require('./x')` or TypeScript's
// `__exportStar(require('./x'), exports)` it lexes ./x too, but reads ./x with its own copy of
// fs.readFileSync, which cannot read a tree; the shield makes it skip such files
// (cjs-resolution.ts), and their names would be missing: `import { a } from './index.cjs'` fails.
// So the hooks thread finds those names itself and appends them to the source as a statement that
// never runs (`0 && (exports.a = 0)`), which the lexer reads like any other export. The values
// still come from the module itself when it runs. The names are found by pattern, not by a full
// lexer: a name that is not really exported becomes an export whose value is undefined.
import { dirname, extname, isAbsolute, join, resolve } from 'node:path';
import type { TreeFiles } from './tree-files.js';
import { parsePackageSpecifier, resolveCommonJsFile, resolvePackageExports } from './tree-resolution.js';

const EXTENSIONS = ['.js', '.json', '.node'];
const REQUIRE_CONDITIONS: ReadonlySet<string> = new Set(['require', 'node', 'node-addons', 'module-sync']);
// What cjs-module-lexer takes as a re-export: `module.exports = require(…)`, `__exportStar(require(…)`,
// `__export(require(…)`.
const REEXPORT = /(?:\bmodule\.exports\s*=\s*|\b__exportStar\(\s*|\b__export\(\s*)require\(\s*(['"])([^'"\n]+)\1\s*\)/g;
// `exports.a =`, `module.exports.a =`, `exports['a'] =`, `Object.defineProperty(exports, 'a'`.
const ASSIGNED = /(?:^|[^.\w$])(?:module\.)?exports\s*(?:\.\s*([A-Za-z_$][\w$]*)|\[\s*(['"])([^'"\n]+)\2\s*\])\s*=(?!=)/g;
const DEFINED = /\bObject\.defineProperty\(\s*(?:module\.)?exports\s*,\s*(['"])([^'"\n]+)\1/g;
const IDENTIFIER = /^[A-Za-z_$][\w$]*$/;

/**
 * `source` (a CommonJS file at `path` inside a tree) with a never-run statement naming what it
 * re-exports from other tree files, or `source` itself when it re-exports none.
 */
export function withReexportedNames(files: TreeFiles, path: string, source: string): string {
  const names = new Set<string>();
  for (const target of reexportedTreeFiles(files, path, source)) collectNames(files, target, names, new Set([path]));
  names.delete('default');
  if (names.size === 0) return source;
  const assignments = [...names].map((name) => (IDENTIFIER.test(name) ? `exports.${name} = ` : `exports[${JSON.stringify(name)}] = `));
  return `${source}\n;0 && (${assignments.join('')}0);\n`;
}

function collectNames(files: TreeFiles, path: string, names: Set<string>, seen: Set<string>): void {
  if (seen.has(path)) return;
  seen.add(path);
  let source: string;
  try {
    source = files.read(path).toString('utf8');
  } catch {
    return;  // the module itself reports it when it is required
  }
  for (const match of source.matchAll(ASSIGNED)) names.add(match[1] ?? match[3]!);
  for (const match of source.matchAll(DEFINED)) names.add(match[2]!);
  for (const target of reexportedTreeFiles(files, path, source)) collectNames(files, target, names, seen);
}

// The tree files `source` re-exports that Node's lexer would read (.js, .cjs, unknown extensions).
function reexportedTreeFiles(files: TreeFiles, path: string, source: string): string[] {
  const targets: string[] = [];
  for (const match of source.matchAll(REEXPORT)) {
    let target: string | null = null;
    try {
      target = requireTarget(files, match[2]!, path);
    } catch {
      // not found or not exported: the module fails or skips it when it runs
    }
    if (target && files.contains(target) && !['.json', '.node', '.mjs'].includes(extname(target))) targets.push(target);
  }
  return targets;
}

// require()'s resolution, within the tree: relative and absolute requests, and packages in the
// tree's node_modules. Null for anything else (a builtin, a package on the disk).
function requireTarget(files: TreeFiles, request: string, from: string): string | null {
  const trailingSlash = request.endsWith('/') || /(^|\/)\.\.?$/.test(request);
  if (isAbsolute(request) || request.startsWith('./') || request.startsWith('../') || request === '.' || request === '..') {
    return resolveCommonJsFile(files, resolve(dirname(from), request), EXTENSIONS, trailingSlash, request);
  }
  const parsed = parsePackageSpecifier(request);
  if (!parsed) return null;
  for (let directory = dirname(from); files.contains(directory); directory = dirname(directory)) {
    if (directory.endsWith('/node_modules')) continue;
    const packageDirectory = join(directory, 'node_modules', parsed.name);
    if (files.kind(packageDirectory) !== 'directory') continue;
    const pkg = files.packageJson(packageDirectory);
    if (pkg && pkg.exports !== undefined && pkg.exports !== null) return resolvePackageExports(pkg, parsed.subpath, REQUIRE_CONDITIONS, from);
    return resolveCommonJsFile(files, join(directory, 'node_modules', request), EXTENSIONS, trailingSlash, request);
  }
  return null;
}
