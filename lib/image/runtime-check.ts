// Can the image run the shieldfs runtime? Told from the image's files alone (nothing of the image is
// executed here): its `node` (found as the container would find it), that node's version, and its C
// library (the ELF interpreter names glibc or musl; glibc's version is the highest symbol version
// libc.so.6 defines), against what the runtime's native addons reference.
import * as fs from 'node:fs';
import { posix } from 'node:path';
import { shieldError } from '../file/fs-errors.js';
import { compareVersions, libcOfInterpreter, machineName, parseElf, SymbolVersionScanner, type SymbolVersions } from './elf.js';

export const MINIMUM_NODE: readonly number[] = [20, 19, 0];
const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
const MAX_SYMLINKS = 40;
const ELF_HEAD_BYTES = 64 << 10;
// A node binary is about 100 MB; more than this is not one (and bounds the scan).
const MAX_SCANNED_BYTES = 1 << 30;
const LIBRARY_DIRECTORIES = ['/lib', '/lib64', '/usr/lib', '/usr/lib64', '/usr/local/lib'];

export interface ImageRuntime {
  /** The image path of the node binary the entrypoint runs (symlinks resolved). */
  node: string;
  nodeVersion: string;
  libc: { kind: 'glibc'; version: string } | { kind: 'musl' };
  architecture: string;
}

export interface AddonRequirements {
  machine: number;
  glibc: number[] | null;
  glibcxx: number[] | null;
  needsLibstdcxx: boolean;
  /** The files these come from (for messages). */
  files: string[];
}

/** Finds `node` in the image (the command's own when it names one, else PATH) and checks it against the addons' needs. */
export function checkImageRuntime(rootfs: string, command: readonly string[], env: readonly string[], addons: AddonRequirements): ImageRuntime {
  const node = findNode(rootfs, command, env);
  const version = nodeVersion(rootfs, node);
  if (compareVersions(version, MINIMUM_NODE) < 0) {
    throw refusal(`its node (${node}) is version ${version.join('.')}; shieldfs needs ${MINIMUM_NODE.join('.')} or later: build the image FROM a newer node`);
  }
  const elf = parseElf(readHead(hostPath(rootfs, node)), `the image's ${node}`);
  if (elf.machine !== addons.machine) {
    throw refusal(`its node is built for ${machineName(elf.machine)} and shieldfs's addon for ${machineName(addons.machine)}: sconify on a machine of the image's architecture`);
  }
  const kind = libcOfInterpreter(elf.interpreter);
  if (kind === 'musl') {
    throw refusal(`its node uses the musl C library (interpreter ${elf.interpreter}) and shieldfs's addon is built for glibc` +
      `${addons.glibc ? ' ' + addons.glibc.join('.') : ''}: use a glibc-based image (e.g. node:22-bookworm-slim) or build shieldfs on musl (npm install inside an Alpine container)`);
  }
  if (kind !== 'glibc') throw refusal(`cannot tell the C library of its node (${elf.interpreter === null ? 'statically linked' : `interpreter ${elf.interpreter}`}): shieldfs's addon needs glibc`);
  const libc = findLibrary(rootfs, 'libc.so.6');
  if (!libc) throw refusal(`its node needs glibc (interpreter ${elf.interpreter}) but the image has no libc.so.6 in ${LIBRARY_DIRECTORIES.join(', ')}`);
  const provided = scanVersions(hostPath(rootfs, libc));
  if (!provided.glibc) throw refusal(`cannot tell the glibc version of ${libc}`);
  if (addons.glibc && compareVersions(provided.glibc, addons.glibc) < 0) {
    throw refusal(`its glibc is ${provided.glibc.join('.')} (${libc}) and shieldfs's addon needs glibc ${addons.glibc.join('.')} ` +
      `(${addons.files.join(', ')}): use an image with a newer glibc, or build shieldfs on a system with glibc ${provided.glibc.join('.')}`);
  }
  if (addons.needsLibstdcxx) {
    const libstdcxx = findLibrary(rootfs, 'libstdc++.so.6');
    if (!libstdcxx) throw refusal('it has no libstdc++.so.6, which shieldfs\'s addon needs: install libstdc++6 in the image');
    const cxx = scanVersions(hostPath(rootfs, libstdcxx)).glibcxx;
    if (addons.glibcxx && (!cxx || compareVersions(cxx, addons.glibcxx) < 0)) {
      throw refusal(`its libstdc++ (${libstdcxx}) provides GLIBCXX ${cxx?.join('.') ?? 'unknown'} and shieldfs's addon needs ${addons.glibcxx.join('.')}`);
    }
  }
  return { node, nodeVersion: version.join('.'), libc: { kind: 'glibc', version: provided.glibc.join('.') }, architecture: machineName(elf.machine) };
}

/** What the runtime's native addons (`.node` files) reference: the highest glibc and libstdc++ versions. */
export function addonRequirements(files: readonly string[]): AddonRequirements {
  let glibc: number[] | null = null;
  let glibcxx: number[] | null = null;
  let needsLibstdcxx = false;
  let machine: number | null = null;
  for (const file of files) {
    const elf = parseElf(readHead(file), file);
    if (machine !== null && elf.machine !== machine) throw shieldError('EINVAL', `the runtime's addons are built for different architectures (${file})`);
    machine = elf.machine;
    const versions = scanVersions(file);
    if (versions.glibc && (!glibc || compareVersions(versions.glibc, glibc) > 0)) glibc = versions.glibc;
    if (versions.glibcxx && (!glibcxx || compareVersions(versions.glibcxx, glibcxx) > 0)) glibcxx = versions.glibcxx;
    needsLibstdcxx ||= versions.mentionsLibstdcxx;
  }
  if (machine === null) throw shieldError('EIO', 'shieldfs\'s native addon was not found: run npm install (it builds the addon)');
  return { machine, glibc, glibcxx, needsLibstdcxx, files: [...files] };
}

// ---------------------------------------------------------------------------------------------

function findNode(rootfs: string, command: readonly string[], env: readonly string[]): string {
  const first = command[0];
  const named = first !== undefined && /^node(js)?(\d+)?$/.test(posix.basename(first));
  if (named && first!.startsWith('/')) return resolveInRootfs(rootfs, first!) ?? missing(`${first} (the command's node) does not exist in the image`);
  const pathVariable = env.find((e) => e.startsWith('PATH='))?.slice(5) ?? DEFAULT_PATH;
  for (const directory of pathVariable.split(':')) {
    if (!directory.startsWith('/')) continue;
    for (const name of named ? [first!] : ['node', 'nodejs']) {
      const found = resolveInRootfs(rootfs, posix.join(directory, name));
      if (found && fs.statSync(hostPath(rootfs, found)).isFile()) return found;
    }
  }
  return missing(`it has no node in its PATH (${pathVariable}): shieldfs runs the service with the image's own node ${MINIMUM_NODE.join('.')} or later`);
}

function missing(what: string): never {
  throw refusal(what);
}

/** Resolves symlinks as the container would (absolute targets from the image's root); null when missing. */
export function resolveInRootfs(rootfs: string, imagePath: string): string | null {
  let pending = imagePath.split('/').filter((p) => p !== '' && p !== '.');
  const done: string[] = [];
  let links = 0;
  while (pending.length > 0) {
    const part = pending.shift()!;
    if (part === '..') {
      done.pop();
      continue;
    }
    const candidate = '/' + [...done, part].join('/');
    let stats: fs.Stats;
    try {
      stats = fs.lstatSync(hostPath(rootfs, candidate));
    } catch {
      return null;
    }
    if (stats.isSymbolicLink()) {
      if (++links > MAX_SYMLINKS) return null;
      const target = fs.readlinkSync(hostPath(rootfs, candidate));
      pending = [...target.split('/').filter((p) => p !== '' && p !== '.'), ...pending];
      if (target.startsWith('/')) done.length = 0;
    } else {
      done.push(part);
    }
  }
  return '/' + done.join('/');
}

function hostPath(rootfs: string, imagePath: string): string {
  return posix.join(rootfs, posix.normalize('/' + imagePath));
}

/** The node version from the headers installed beside it, else from the release URL compiled into it. */
function nodeVersion(rootfs: string, node: string): number[] {
  const header = resolveInRootfs(rootfs, posix.join(posix.dirname(posix.dirname(node)), 'include/node/node_version.h'));
  if (header) {
    const text = readHeadText(hostPath(rootfs, header), 64 << 10);
    const part = (name: string) => new RegExp(`#define NODE_${name}_VERSION (\\d+)`).exec(text)?.[1];
    const [major, minor, patch] = [part('MAJOR'), part('MINOR'), part('PATCH')];
    if (major && minor && patch) return [Number(major), Number(minor), Number(patch)];
  }
  let found: number[] | null = null;
  scanFile(hostPath(rootfs, node), (text) => {
    const match = /\/release\/v(\d{1,3})\.(\d{1,4})\.(\d{1,4})\//.exec(text);
    if (match) found = [Number(match[1]), Number(match[2]), Number(match[3])];
    return found !== null;
  });
  if (!found) throw refusal(`cannot tell the version of its node (${node}): no include/node/node_version.h beside it and no release URL in the binary`);
  return found;
}

function scanVersions(file: string): SymbolVersions {
  const scanner = new SymbolVersionScanner();
  scanFile(file, (_text, chunk) => {
    scanner.update(chunk);
    return false;
  });
  return scanner.result();
}

// Reads a file in 1 MiB pieces (with some overlap for the text form) until `visit` says stop.
function scanFile(file: string, visit: (text: string, chunk: Buffer) => boolean): void {
  const fd = fs.openSync(file, 'r');
  try {
    const piece = Buffer.alloc(1 << 20);
    let tail = '';
    for (let at = 0; at < MAX_SCANNED_BYTES;) {
      const n = fs.readSync(fd, piece, 0, piece.length, at);
      if (n === 0) return;
      const chunk = piece.subarray(0, n);
      const text = tail + chunk.toString('latin1');
      if (visit(text, chunk)) return;
      tail = text.slice(-128);
      at += n;
    }
  } finally {
    fs.closeSync(fd);
  }
}

// The first `limit` bytes of a file as latin1 (a header file: only its first lines matter).
function readHeadText(file: string, limit: number): string {
  const fd = fs.openSync(file, 'r');
  try {
    const head = Buffer.alloc(limit);
    return head.subarray(0, fs.readSync(fd, head, 0, limit, 0)).toString('latin1');
  } finally {
    fs.closeSync(fd);
  }
}

function readHead(file: string): Buffer {
  const fd = fs.openSync(file, 'r');
  try {
    const head = Buffer.alloc(ELF_HEAD_BYTES);
    return head.subarray(0, fs.readSync(fd, head, 0, head.length, 0));
  } finally {
    fs.closeSync(fd);
  }
}

function findLibrary(rootfs: string, name: string): string | null {
  for (const directory of LIBRARY_DIRECTORIES) {
    const candidates = [posix.join(directory, name)];
    // Debian's multiarch directories: /lib/x86_64-linux-gnu/…
    try {
      for (const sub of fs.readdirSync(hostPath(rootfs, directory))) if (/-linux-gnu/.test(sub)) candidates.push(posix.join(directory, sub, name));
    } catch {
      continue;
    }
    for (const candidate of candidates) {
      const found = resolveInRootfs(rootfs, candidate);
      if (found && fs.statSync(hostPath(rootfs, found)).isFile()) return found;
    }
  }
  return null;
}

function refusal(why: string): Error {
  return shieldError('ENOTSUP', `the image cannot run the shieldfs runtime: ${why}`);
}
