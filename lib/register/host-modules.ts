// Which files code in a protected tree may load (issue 11, item 5). Left to Node, a bare specifier the
// tree does not hold is looked for on the host's disk: node_modules above the mount point, NODE_PATH,
// and for ESM the disk under the mount point itself, where a symlinked package or a "main" of
// "../../.." leads anywhere. A package the host plants there runs inside the protected service. So
// code in a tree loads only
//   - Node's built-ins (`fs`, `node:test`),
//   - files in a protected tree (its own, or another the process mounted),
//   - files in the host directories its mount names in `allowHostModules` (trusting the host for them),
// and anything else is Node's not-found error, saying why. Bare specifiers are looked for in the
// tree's node_modules and then in those directories, never elsewhere on the disk; a request that
// ends anywhere else (a relative or absolute path, a package "main", a symbolic link) is refused by
// where it ends, as a real path.
import { isWithin } from '../volume/volume-path.js';
import type { MountedTree, TreeFiles } from './tree-files.js';
import { loaderError } from './tree-resolution.js';

/** The host directories code in `tree` may load modules from: its mount's allowHostModules. */
export function allowedHostDirectories(tree: MountedTree): readonly string[] {
  return tree.allowHostModules ?? [];
}

/** Whether code in `tree` may load `path` (absolute, its real path on the host): in a tree, or in an allowed host directory. */
export function mayLoad(files: TreeFiles, tree: MountedTree, path: string): boolean {
  return files.contains(path) || allowedHostDirectories(tree).some((directory) => isWithin(path, directory));
}

/** `specifier`, a package, found neither in a tree nor in the allowed host directories. */
export function packageRefused(code: 'MODULE_NOT_FOUND' | 'ERR_MODULE_NOT_FOUND', specifier: string, parent: string, tree: MountedTree): Error {
  const noun = code === 'ERR_MODULE_NOT_FOUND' ? 'package' : 'module';
  return refusal(code, `Cannot find ${noun} '${specifier}' ${fromWhom(code)} ${parent}: '${specifier}' ${notInTree(tree)} packages ${onlyFrom(tree)}`);
}

/** A request from code in `tree` that leads to `target`, a file on the host outside the allowed directories. */
export function fileRefused(code: 'MODULE_NOT_FOUND' | 'ERR_MODULE_NOT_FOUND', target: string, request: string, parent: string, tree: MountedTree): Error {
  const requested = request === target ? '' : ` (requested as '${request}')`;
  return refusal(code, `Cannot find module '${target}'${requested} ${fromWhom(code)} ${parent}: ${target} ${notInTree(tree)} modules ${onlyFrom(tree)}`);
}

function fromWhom(code: string): string {
  return code === 'ERR_MODULE_NOT_FOUND' ? 'imported from' : 'required from';
}

function notInTree(tree: MountedTree): string {
  const allowed = allowedHostDirectories(tree);
  return allowed.length === 0
    ? `is not in a protected tree, and code in the protected tree ${tree.path} loads`
    : `is neither in a protected tree nor in ${allowed.join(', ')} (the allowHostModules of its mount), and code in the protected tree ${tree.path} loads`;
}

function onlyFrom(tree: MountedTree): string {
  return allowedHostDirectories(tree).length === 0
    ? 'only from protected trees, never from the host\'s disk (to trust host directories for it, name them in the allowHostModules of its mount)'
    : 'only from those, never from elsewhere on the host\'s disk';
}

// As each loader throws it (ESM's with its code in the stack). No `url`: import.meta.resolve() would
// return it instead of throwing.
function refusal(code: string, message: string): Error {
  return code === 'ERR_MODULE_NOT_FOUND' ? loaderError(code, message) : Object.assign(new Error(message), { code });
}
