// Mounts: which volumes and protected trees appear where in the process's file system, and with
// which keys. One definition serves the `mount()` API, `shieldfs/register` (env SHIELD_CONFIG) and
// `shield run --config`, so the three accept exactly the same configurations.
//
// Everything here is synchronous: `shieldfs/register` parses the configuration while Node is still
// loading preloads, before any application code runs.
//
// Validation is strict. The configuration decides what is protected, so a typo must fail loudly
// rather than leave a path unprotected or a field silently ignored: every error is EINVAL and names
// the file, the mount (index and path) and the field, and says what is expected.
import { realpathSync, statSync } from 'node:fs';
import { readRegularFile } from '../file/bounded-file.js';
import { createRequire } from 'node:module';
import { dirname, isAbsolute, posix, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { shieldError } from '../file/fs-errors.js';
import { isHexKey, keyFromHex, readKeyFile } from '../file/key-file.js';
import { parseRegion, RegionTable } from '../volume/regions.js';
import { defaultTagStoreUrl, openTagStore } from '../tag-store/open-tag-store.js';
import { isWithin } from '../volume/volume-path.js';

/**
 * When the fs layer commits a writable volume (lib/fs): 'close' when a changed file is closed and after
 * every other change, 'sync' at fsync, or every `intervalMs`; every mode also commits at exit.
 */
export type CommitMode = 'close' | 'sync' | { intervalMs: number };

export interface MountSpec {
  /** Absolute virtual path where the mount appears, e.g. '/V1' (normalized, not '/', no trailing slash). */
  path: string;
  /**
   * Allows `path` over (or around) a directory the process itself depends on: /proc, /sys, /dev, /etc,
   * /usr, /bin, /sbin, /lib*, /boot, node's installation or shieldfs's. Default false: such a mount
   * would hide the system's files from the process (or hand it the volume's in their place).
   */
  allowSystemPath?: boolean;
  /** Directory of a volume (read-write unless readOnly). Exactly one of volume | tree. */
  volume?: string;
  /** Directory of a protected tree (read-only, pinned to `tag`). */
  tree?: string;
  /** The key: exactly one of a key file (as the CLI's --key-file), 64 hex characters, or the name of an environment variable holding 64 hex. */
  keyFile?: string;
  key?: string;
  keyEnv?: string;
  /** Volumes only: tag store URL; default defaultTagStoreUrl(). */
  tagStore?: string;
  /** Trees only, required: the tree's tag (64 hex) as `shield protect` printed it. */
  tag?: string;
  /**
   * Trees only: host directories (absolute real paths, each searched as a node_modules folder) whose
   * files the tree's code may load as modules, trusting the host for them. Default none: code in a
   * tree loads only from protected trees and Node's built-ins (lib/register/host-modules.ts).
   */
  allowHostModules?: string[];
  /** Volumes only. */
  readOnly?: boolean;
  /** Volumes only; default 'close'. */
  commit?: CommitMode;
  /** Volumes only: create the volume if the directory holds none (default false). */
  create?: boolean;
  /** Volumes with create only: "PATH:encrypted|authenticated|not-protected" as in the CLI's --region. */
  regions?: string[];
  /**
   * Volumes only: the name the tag store knows the volume by (default: the volume directory's absolute
   * path). The store binds it to the volume id at creation; another volume there is EINTEGRITY, a
   * wiped directory EROLLBACK.
   */
  name?: string;
  /**
   * Volumes only: the update policy the volume must have (and, with create, is created with); default:
   * the one the tag store bound to the name, else rollback-protected for a new volume.
   */
  updatePolicy?: 'rollback-protected' | 'ephemeral' | 'no-rollback-protection';
  /** Volumes: the id (32 hex) the volume must have; another volume in the directory is EINTEGRITY. */
  volumeId?: string;
}

export interface ShieldConfig {
  mounts: MountSpec[];
}

// Which fields each kind of mount takes; anything else is an error (with a suggestion for typos).
const COMMON_FIELDS = ['path', 'keyFile', 'key', 'keyEnv', 'allowSystemPath'] as const;
const VOLUME_FIELDS = [...COMMON_FIELDS, 'volume', 'tagStore', 'readOnly', 'commit', 'create', 'regions', 'name', 'updatePolicy', 'volumeId'] as const;
const UPDATE_POLICIES = ['rollback-protected', 'ephemeral', 'no-rollback-protection'] as const;
const TREE_FIELDS = [...COMMON_FIELDS, 'tree', 'tag', 'allowHostModules'] as const;
const ALL_FIELDS: readonly string[] = [...new Set<string>([...VOLUME_FIELDS, ...TREE_FIELDS])];
const CONFIG_FIELDS = ['mounts'];
const KEY_FIELDS = ['keyFile', 'key', 'keyEnv'] as const;
// setTimeout's limit: a longer interval would fire at once.
const MAX_INTERVAL_MS = 2 ** 31 - 1;
const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
const TAG = /^[0-9a-fA-F]{64}$/;

/**
 * Validates mount specifications: an array of them (or one). `source` names where they came from in
 * messages; when it is an absolute path (a configuration file), relative directories, key files and
 * `file:` tag stores resolve against that file's directory, otherwise against the working directory.
 * Returns normalized copies: absolute directories, normalized mount paths, lowercase tags, and the
 * defaults of volumes filled in (readOnly, create, tagStore, and commit for writable ones). What it
 * returns parses to itself again (loadShieldConfig's result can be handed to mount()).
 */
export function parseMountSpecs(value: unknown, source: string): MountSpec[] {
  const base = isAbsolute(source) ? dirname(source) : process.cwd();
  const list = Array.isArray(value) ? value : isPlainObject(value) ? [value] : null;
  if (list === null) throw configError(source, 'mounts', `expected a list of mounts, got ${describe(value)}`);
  if (list.length === 0) throw configError(source, 'mounts', 'expected at least one mount, got an empty list');
  const specs = list.map((item, index) => parseMountSpec(item, { source, base, index }));
  checkMountsApart(specs, source);
  checkHostModulesApart(specs, source);
  return specs;
}

// A configuration is a handful of mounts; a bound keeps a planted device or huge file from hanging
// or exhausting the process before it starts.
const MAX_CONFIG_BYTES = 1 << 20;

/** Reads and validates a configuration file (YAML; JSON is YAML too). ENOENT when it does not exist. */
export function loadShieldConfig(file: string): ShieldConfig {
  const path = resolve(file);
  let text: string;
  try {
    text = readRegularFile(path, { what: 'shieldfs configuration', maxBytes: MAX_CONFIG_BYTES }).toString('utf8');
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? 'EIO';
    if (code === 'EINVAL' || code === 'EFBIG') throw error;
    const why = code === 'ENOENT' ? 'does not exist' : code === 'EISDIR' ? 'is a directory' : `cannot be read (${code})`;
    throw shieldError(code, `shieldfs configuration ${path} ${why}`, path);
  }
  const value = parseConfigText(text, path);
  if (!isPlainObject(value)) {
    throw shieldError('EINVAL', `${path}: expected a mapping with a \`mounts\` list at the top, got ${describe(value)}`, path);
  }
  for (const field of Object.keys(value)) {
    if (!CONFIG_FIELDS.includes(field)) {
      throw shieldError('EINVAL', `${path}: unknown top-level field \`${field}\`${suggestion(field, CONFIG_FIELDS)}; expected only \`mounts\``, path);
    }
  }
  if (!('mounts' in value)) throw shieldError('EINVAL', `${path}: no \`mounts\` list: expected \`mounts:\` with at least one mount`, path);
  if (!Array.isArray(value.mounts)) throw configError(path, 'mounts', `expected a list of mounts, got ${describe(value.mounts)}`);
  return { mounts: parseMountSpecs(value.mounts, path) };
}

/**
 * The variable through which `shield run` hands every process it starts the configuration it checked,
 * so that no process reads the file again (the host could change it between the check and the read).
 * It holds JSON `{ "source": <the file's absolute path>, "mounts": [<checked mounts>] }`, and counts
 * only while SHIELD_CONFIG still names that file: a program that gives a child another configuration
 * (SHIELD_CONFIG=trees-only.yaml) gets that one read.
 */
export const CHECKED_CONFIG_VARIABLE = 'SHIELD_CONFIG_CHECKED';

/** What `shield run` puts in CHECKED_CONFIG_VARIABLE. */
export function checkedConfigText(config: ShieldConfig, source: string): string {
  return JSON.stringify({ source: resolve(source), mounts: config.mounts });
}

/** The configuration of this process: the checked one `shield run` handed over, else the SHIELD_CONFIG file. */
export function loadProcessConfig(env: NodeJS.ProcessEnv = process.env): ShieldConfig {
  const file = env.SHIELD_CONFIG;
  if (!file) throw shieldError('EINVAL', 'SHIELD_CONFIG is not set: expected the path of a shieldfs configuration');
  const checked = env[CHECKED_CONFIG_VARIABLE];
  if (checked) {
    let value: unknown;
    try {
      value = JSON.parse(checked);
    } catch {
      value = null;
    }
    if (!isPlainObject(value) || typeof value.source !== 'string' || !Array.isArray(value.mounts)) {
      throw shieldError('EINVAL', `${CHECKED_CONFIG_VARIABLE} is not the checked configuration \`shield run\` writes; unset it`);
    }
    // Checked again all the same: the same rules whichever way a configuration arrives.
    if (value.source === resolve(file)) return { mounts: parseMountSpecs(value.mounts, value.source) };
  }
  return loadShieldConfig(file);
}

/** The mount's key in secure memory (the caller wipes it). */
export function resolveMountKey(spec: MountSpec): Buffer {
  if (spec.keyFile !== undefined) return readKeyFile(spec.keyFile);
  if (spec.key !== undefined) return keyFromHex(spec.key, `the key of mount ${spec.path}`);
  if (spec.keyEnv !== undefined) {
    const text = process.env[spec.keyEnv];
    if (text === undefined || text === '') {
      throw shieldError('EINVAL', `environment variable ${spec.keyEnv} (keyEnv of mount ${spec.path}) is not set: ` +
        'expected it to hold the key as 64 hex characters');
    }
    return keyFromHex(text, `environment variable ${spec.keyEnv} (keyEnv of mount ${spec.path})`);
  }
  throw shieldError('EINVAL', `mount ${spec.path} has no key: expected one of keyFile, key, keyEnv`);
}

// ---------------------------------------------------------------------------------------------
// One mount

interface Where {
  source: string;
  base: string;
  index: number;
}

function parseMountSpec(value: unknown, where: Where): MountSpec {
  const at = { ...where, mountPath: undefined as string | undefined };
  if (!isPlainObject(value)) throw mountError(at, null, `expected a mapping of fields (path, volume or tree, a key, …), got ${describe(value)}`);
  // A field set to undefined (`{ keyFile: options.keyFile }` in the API) is a field not given.
  const item = Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined));
  // The path first, so that every later message can name the mount by it.
  if (!('path' in item)) throw mountError(at, 'path', 'missing: expected the absolute path where the mount appears, e.g. /V1');
  const path = mountPath(item.path, at);
  at.mountPath = path;

  const hasVolume = 'volume' in item, hasTree = 'tree' in item;
  if (hasVolume === hasTree) {
    throw mountError(at, null, hasVolume
      ? 'both `volume` and `tree` given: a mount is either a volume (read-write) or a protected tree (read-only)'
      : 'expected `volume: <directory>` (a volume) or `tree: <directory>` (a protected tree from `shield protect`)');
  }
  const allowed: readonly string[] = hasVolume ? VOLUME_FIELDS : TREE_FIELDS;
  for (const field of Object.keys(item)) {
    if (allowed.includes(field)) continue;
    if (ALL_FIELDS.includes(field)) {
      throw mountError(at, field, hasVolume
        ? 'applies to protected trees only (`tree:`), not to volumes'
        : 'applies to volumes only (`volume:`): a protected tree is read-only and pinned by its `tag`, with no tag store');
    }
    throw mountError(at, field, `unknown field${suggestion(field, allowed)}; expected ${allowed.join(', ')}`);
  }

  const keyFields = KEY_FIELDS.filter((field) => field in item);
  if (keyFields.length !== 1) {
    throw mountError(at, keyFields.length === 0 ? null : keyFields.join('/'), keyFields.length === 0
      ? 'no key: expected one of keyFile (a key file), key (64 hex characters), keyEnv (an environment variable holding them)'
      : 'more than one key given: expected exactly one of keyFile, key, keyEnv');
  }
  const spec: MountSpec = { path };
  if ('allowSystemPath' in item) spec.allowSystemPath = optionalBoolean(item.allowSystemPath, at, 'allowSystemPath');
  if (!spec.allowSystemPath) checkNotSystemPath(path, at);
  if (item.keyFile !== undefined) spec.keyFile = resolve(where.base, nonEmptyString(item.keyFile, at, 'keyFile', 'a key file path'));
  if (item.key !== undefined) {
    // Never shown: a wrong value is still key material.
    if (typeof item.key !== 'string' || !isHexKey(item.key)) {
      throw mountError(at, 'key', `expected 64 hex characters${typeof item.key === 'number' ? ' as a string (quote it)' : ''}, ` +
        `got ${typeof item.key === 'string' ? `${item.key.trim().length} characters` : describe(item.key)}`);
    }
    spec.key = item.key.trim();
  }
  if (item.keyEnv !== undefined) {
    const name = nonEmptyString(item.keyEnv, at, 'keyEnv', 'the name of an environment variable');
    if (!ENV_NAME.test(name)) throw mountError(at, 'keyEnv', `expected the name of an environment variable (letters, digits, _), got ${JSON.stringify(name)}`);
    spec.keyEnv = name;
  }

  if (hasTree) {
    spec.tree = resolve(where.base, nonEmptyString(item.tree, at, 'tree', 'the directory of a protected tree'));
    if (!('tag' in item)) throw mountError(at, 'tag', 'missing: a protected tree is pinned to the tag `shield protect` printed (64 hex characters)');
    if (typeof item.tag !== 'string' || !TAG.test(item.tag)) {
      throw mountError(at, 'tag', `expected the 64 hex characters \`shield protect\` printed${typeof item.tag === 'number' ? ' as a string (quote it)' : ''}, got ${describe(item.tag)}`);
    }
    spec.tag = item.tag.toLowerCase();
    if ('allowHostModules' in item) spec.allowHostModules = hostModuleDirectories(item.allowHostModules, at);
    return spec;
  }

  spec.volume = resolve(where.base, nonEmptyString(item.volume, at, 'volume', 'the directory of a volume'));
  spec.readOnly = optionalBoolean(item.readOnly, at, 'readOnly');
  spec.create = optionalBoolean(item.create, at, 'create');
  if (spec.readOnly && spec.create) throw mountError(at, 'create', 'cannot create a volume mounted read-only: drop one of readOnly, create');
  if (spec.readOnly) {
    if ('commit' in item) throw mountError(at, 'commit', 'a read-only mount never commits: drop commit or readOnly');
  } else {
    spec.commit = 'commit' in item ? commitMode(item.commit, at) : 'close';
  }
  if ('regions' in item) {
    if (!spec.create) throw mountError(at, 'regions', 'regions are fixed when a volume is created: they need `create: true`');
    spec.regions = regionList(item.regions, at);
  }
  if ('name' in item) {
    const name = nonEmptyString(item.name, at, 'name', 'the name the tag store knows the volume by');
    // Control characters would garble messages and the store's record.
    if (name.length > 1024 || /[\u0000-\u001f\u007f]/.test(name)) {
      throw mountError(at, 'name', 'expected at most 1024 characters without control characters');
    }
    spec.name = name;
  }
  if ('updatePolicy' in item) {
    if (!UPDATE_POLICIES.includes(item.updatePolicy as MountSpec['updatePolicy'] & string)) {
      throw mountError(at, 'updatePolicy', `expected one of ${UPDATE_POLICIES.join(', ')}, got ${describe(item.updatePolicy)}`);
    }
    spec.updatePolicy = item.updatePolicy as MountSpec['updatePolicy'];
  }
  if (item.volumeId !== undefined) {
    if (typeof item.volumeId !== 'string' || !/^[0-9a-f]{32}$/.test(item.volumeId)) throw mountError(at, 'volumeId', `expected 32 lowercase hex digits, got ${describe(item.volumeId)}`);
    spec.volumeId = item.volumeId;
  }
  spec.tagStore = tagStoreUrl(item.tagStore, at);
  return spec;
}

// Absolute, normalized, not the root (a mount over / would shadow everything, the shield included).
function mountPath(value: unknown, at: Where & { mountPath?: string }): string {
  const raw = nonEmptyString(value, at, 'path', 'an absolute path such as /V1');
  if (raw.includes('\0')) throw mountError(at, 'path', 'expected a path without NUL characters');
  if (!raw.startsWith('/')) throw mountError(at, 'path', `expected an absolute path such as /V1, got ${JSON.stringify(raw)}`);
  if (raw.split('/').includes('..')) throw mountError(at, 'path', `expected a path without '..', got ${JSON.stringify(raw)}`);
  const normalized = posix.normalize(raw).replace(/\/+$/, '');
  if (normalized === '') throw mountError(at, 'path', 'cannot mount over / itself: expected a directory below it, such as /V1');
  return normalized;
}

// Directories the process itself reads: the kernel's views, the system's programs, libraries and
// configuration, node's own installation and shieldfs's. A mount over one (or around one) would put
// a volume's files in their place for this process, so it needs allowSystemPath: true.
const SYSTEM_DIRECTORIES = ['/proc', '/sys', '/dev', '/etc', '/usr', '/bin', '/sbin', '/lib', '/lib32', '/lib64', '/libx32', '/boot'];

function protectedDirectories(): { path: string; what: string }[] {
  return [
    ...SYSTEM_DIRECTORIES.map((path) => ({ path, what: 'a system directory' })),
    { path: dirname(dirname(process.execPath)), what: `the installation of node (${process.execPath})` },
    // This file is lib/fs/mount-config.ts (or dist/fs/…js): two levels up is the package.
    { path: resolve(fileURLToPath(new URL('../..', import.meta.url))), what: 'the installation of shieldfs' },
  ];
}

function checkNotSystemPath(path: string, at: Where & { mountPath?: string }): void {
  for (const { path: directory, what } of protectedDirectories()) {
    if (directory === '/') continue;
    if (isWithin(path, directory) || isWithin(directory, path)) {
      throw mountError(at, 'path', `${path} ${path === directory ? 'is' : isWithin(path, directory) ? 'lies inside' : 'contains'} ` +
        `${directory}, ${what}: the mount would hide its files from the process. Mount somewhere else (e.g. /V1), ` +
        'or set allowSystemPath: true if that is really what you want');
    }
  }
}

// Directories, made absolute and real (module resolution compares real paths): a typo must fail
// here, not leave a package unloadable at run time.
function hostModuleDirectories(value: unknown, at: Where & { mountPath?: string }): string[] {
  const expected = 'expected a list of host directories whose modules the tree\'s code may load (e.g. [/usr/lib/node_modules])';
  if (!Array.isArray(value)) throw mountError(at, 'allowHostModules', `${expected}, got ${describe(value)}`);
  return value.map((item, i) => {
    const field = `allowHostModules[${i}]`;
    const given = nonEmptyString(item, at, field, 'the path of a host directory');
    if (given.includes('\0')) throw mountError(at, field, 'expected a path without NUL characters');
    const absolute = resolve(at.base, given);
    let real: string;
    try {
      real = realpathSync(absolute);
    } catch (error) {
      throw mountError(at, field, `${absolute} cannot be used (${(error as NodeJS.ErrnoException).code ?? 'EIO'}): expected an existing directory`);
    }
    if (!statSync(real).isDirectory()) throw mountError(at, field, `${absolute} is not a directory`);
    if (real === '/') throw mountError(at, field, 'cannot allow the whole disk (/): name the directories whose modules the tree needs');
    return real;
  });
}

function commitMode(value: unknown, at: Where): CommitMode {
  if (value === 'close' || value === 'sync') return value;
  const expected = "expected 'close' (the default), 'sync' or { intervalMs: N } (a commit every N milliseconds)";
  if (!isPlainObject(value)) throw mountError(at, 'commit', `${expected}, got ${describe(value)}`);
  for (const field of Object.keys(value)) {
    if (field !== 'intervalMs') throw mountError(at, `commit.${field}`, `unknown field${suggestion(field, ['intervalMs'])}; ${expected}`);
  }
  const interval = value.intervalMs;
  if (typeof interval !== 'number' || !Number.isInteger(interval) || interval < 1 || interval > MAX_INTERVAL_MS) {
    throw mountError(at, 'commit.intervalMs', `expected a whole number of milliseconds from 1 to ${MAX_INTERVAL_MS}, got ${describe(interval)}`);
  }
  return { intervalMs: interval };
}

function regionList(value: unknown, at: Where): string[] {
  if (!Array.isArray(value)) throw mountError(at, 'regions', `expected a list of "PATH:KIND" strings, got ${describe(value)}`);
  const regions = value.map((region, i) => {
    if (typeof region !== 'string') throw mountError(at, `regions[${i}]`, `expected "PATH:KIND" (KIND: encrypted, authenticated, not-protected), got ${describe(region)}`);
    try {
      const parsed = parseRegion(region);
      return `${parsed.path}:${parsed.kind}`;
    } catch (error) {
      throw mountError(at, `regions[${i}]`, withoutCode(error));
    }
  });
  try {
    new RegionTable(regions.map(parseRegion));  // duplicates
  } catch (error) {
    throw mountError(at, 'regions', withoutCode(error));
  }
  return regions;
}

// Relative `file:` stores resolve like the other paths of the file; the URL is checked by the code
// that will open it (nothing is contacted).
function tagStoreUrl(value: unknown, at: Where): string {
  if (value === undefined) return defaultTagStoreUrl();
  const url = nonEmptyString(value, at, 'tagStore', 'a tag store URL (file:PATH, etcd://HOST:PORT[,…][/PREFIX])');
  const scheme = /^([a-zA-Z][a-zA-Z0-9+.-]*):/.exec(url)?.[1]?.toLowerCase();
  const filePart = scheme === undefined ? url : scheme === 'file' ? url.slice('file:'.length) : null;
  const rebased = filePart !== null && filePart !== '' && !filePart.startsWith('/') && !filePart.startsWith('~')
    ? `file:${resolve(at.base, filePart)}`
    : url;
  try {
    const store = openTagStore(rebased);
    void store.close().catch(() => {});  // a store that was only opened holds nothing
    return store.url;
  } catch (error) {
    throw mountError(at, 'tagStore', withoutCode(error));
  }
}

// Overlapping mounts would make one volume's files appear inside another's, and a writable volume
// mounted twice would fail on its own lock: both are configuration mistakes.
function checkMountsApart(specs: MountSpec[], source: string): void {
  for (let i = 0; i < specs.length; i++) {
    for (let j = 0; j < i; j++) {
      const a = specs[j]!, b = specs[i]!;
      if (a.path === b.path) {
        throw shieldError('EINVAL', `${source}: mounts[${i}] (${b.path}): path: the same path as mounts[${j}]: expected every mount at its own path`);
      }
      if (isWithin(b.path, a.path) || isWithin(a.path, b.path)) {
        const [outer, inner] = isWithin(b.path, a.path) ? [a.path, b.path] : [b.path, a.path];
        throw shieldError('EINVAL', `${source}: mounts[${i}] (${b.path}): path: overlaps mounts[${j}] (${a.path}): ` +
          `${inner} lies inside ${outer}; expected mounts side by side, not one inside another`);
      }
      const directory = a.volume ?? a.tree;
      if (directory !== undefined && directory === (b.volume ?? b.tree) && (!isReadOnly(a) || !isReadOnly(b))) {
        throw shieldError('EINVAL', `${source}: mounts[${i}] (${b.path}): ${b.volume ? 'volume' : 'tree'}: ${directory} is also mounted at ` +
          `mounts[${j}] (${a.path}): a volume can be mounted twice only read-only (its writer holds it exclusively)`);
      }
    }
  }
}

// Under a mount point the disk is the host's and not the mount's: a tree's code may never load from
// it. The allowed directories are real paths, so a mount point is compared as given and as its real
// path on the disk (when it exists there).
function checkHostModulesApart(specs: MountSpec[], source: string): void {
  if (!specs.some((spec) => spec.allowHostModules)) return;
  const mountPoints = specs.flatMap((mount) => {
    let real: string;
    try {
      real = realpathSync(mount.path);
    } catch {
      return [mount.path];
    }
    return real === mount.path ? [mount.path] : [mount.path, real];
  });
  specs.forEach((spec, i) => spec.allowHostModules?.forEach((directory, k) => {
    for (const mountPoint of mountPoints) {
      if (!isWithin(directory, mountPoint) && !isWithin(mountPoint, directory)) continue;
      throw shieldError('EINVAL', `${source}: mounts[${i}] (${spec.path}): allowHostModules[${k}]: ${directory} ` +
        `${isWithin(directory, mountPoint) ? 'lies under' : 'contains'} the mount point ${mountPoint}, where the disk holds the host's files, ` +
        `not the mount's: expected a host directory outside every mount`);
    }
  }));
}

function isReadOnly(spec: MountSpec): boolean {
  return spec.tree !== undefined || spec.readOnly === true;
}

// ---------------------------------------------------------------------------------------------
// YAML and messages

// JSON is YAML, and a JSON configuration parses to the same value either way, so it is parsed as
// JSON: the YAML parser (some 70 modules, most of the register's start-up) is loaded only for a
// configuration that is not JSON. A JSON object with a key twice, which JSON.parse would accept
// (keeping the last), goes to the YAML parser, which refuses it with the line and column.
function parseConfigText(text: string, path: string): unknown {
  const trimmed = text.trimStart();
  if (trimmed.startsWith('{') || trimmed.startsWith('[')) {
    let value: unknown;
    try {
      value = JSON.parse(text.charCodeAt(0) === 0xfeff ? text.slice(1) : text);
    } catch {
      return parseYaml(text, path);
    }
    if (!hasDuplicateKey(text)) return value;
  }
  return parseYaml(text, path);
}

/** Whether an object in `text` (valid JSON) names a key twice ("a" and "\u0061" are one key). */
function hasDuplicateKey(text: string): boolean {
  // One entry per open bracket: the keys seen so far for an object, null for an array.
  const open: (Set<string> | null)[] = [];
  let expectKey = false;
  for (let i = 0; i < text.length; i++) {
    const c = text[i]!;
    if (c === '"') {
      let end = i + 1;
      while (text[end] !== '"') end += text[end] === '\\' ? 2 : 1;
      if (expectKey) {
        const keys = open[open.length - 1]!;
        const key = JSON.parse(text.slice(i, end + 1)) as string;
        if (keys.has(key)) return true;
        keys.add(key);
        expectKey = false;
      }
      i = end;
    } else if (c === '{') {
      open.push(new Set());
      expectKey = true;
    } else if (c === '[') {
      open.push(null);
    } else if (c === '}' || c === ']') {
      open.pop();
    } else if (c === ',') {
      expectKey = open[open.length - 1] instanceof Set;
    }
  }
  return false;
}

function parseYaml(text: string, path: string): unknown {
  const { LineCounter, parseDocument } = createRequire(import.meta.url)('yaml') as typeof import('yaml');
  const lines = new LineCounter();
  // YAML 1.2 core schema: `yes`/`on` stay strings (and fail as booleans), no `<<` merges, no custom tags.
  const document = parseDocument(text, { lineCounter: lines, schema: 'core', merge: false, uniqueKeys: true, prettyErrors: false });
  const problem = document.errors[0];
  if (problem) {
    const { line, col } = lines.linePos(problem.pos[0]);
    throw shieldError('EINVAL', `${path}:${line}:${col}: not valid YAML or JSON: ${problem.message.split('\n')[0]}`, path);
  }
  try {
    return document.toJS({ maxAliasCount: 100 });
  } catch (error) {
    throw shieldError('EINVAL', `${path}: not valid YAML or JSON: ${(error as Error).message}`, path);
  }
}

function mountError(at: Where & { mountPath?: string }, field: string | null, message: string): Error {
  const mount = `mounts[${at.index}]${at.mountPath ? ` (${at.mountPath})` : ''}`;
  return shieldError('EINVAL', `${at.source}: ${mount}: ${field ? `${field}: ` : ''}${message}`, isAbsolute(at.source) ? at.source : undefined);
}

function configError(source: string, field: string, message: string): Error {
  return shieldError('EINVAL', `${source}: ${field}: ${message}`, isAbsolute(source) ? source : undefined);
}

function nonEmptyString(value: unknown, at: Where, field: string, what: string): string {
  if (typeof value !== 'string' || value === '') throw mountError(at, field, `expected ${what}, got ${describe(value)}`);
  return value;
}

function optionalBoolean(value: unknown, at: Where, field: string): boolean {
  if (value === undefined) return false;
  if (typeof value !== 'boolean') throw mountError(at, field, `expected true or false, got ${describe(value)}`);
  return value;
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function describe(value: unknown): string {
  if (value === null || value === undefined) return String(value);
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a mapping';
  if (typeof value === 'string') return value.length > 80 ? `a string of ${value.length} characters` : JSON.stringify(value);
  return `${typeof value} ${String(value)}`;
}

function withoutCode(error: unknown): string {
  return (error as Error).message.replace(/^E[A-Z]+: /, '');
}

// "did you mean" for a misspelt field: the closest allowed name within two edits.
function suggestion(field: string, allowed: readonly string[]): string {
  let best: string | null = null, bestDistance = 3;
  for (const name of allowed) {
    const distance = editDistance(field.toLowerCase(), name.toLowerCase());
    if (distance < bestDistance) [best, bestDistance] = [name, distance];
  }
  return best ? ` (did you mean \`${best}\`?)` : '';
}

function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      current[j] = Math.min(previous[j]! + 1, current[j - 1]! + 1, previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1));
    }
    previous = current;
  }
  return previous[b.length]!;
}
