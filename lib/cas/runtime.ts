// The runtime side of `shield run --cas`: measure this runtime, obtain the service's configuration by
// attested release, check the volumes' directories against what the service knows, and start the
// policy's command — with the policy's environment, in the policy's working directory, with this
// runtime's own node — handing the mounts to the new process through a pipe, never a file or the
// environment. Nothing the host gives (command line, environment, files) decides what runs.
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { shieldError } from '../file/fs-errors.js';
import type { MountSpec } from '../fs/mount-config.js';
import { CasClient, type CasLocation } from './client.js';
import { refusal } from './errors.js';
import { platformEvidenceSource, requestRelease, type EvidenceSource } from './instance.js';
import { measureRuntime } from './measurement.js';
import type { ReleasedConfiguration } from './service.js';
import { casTagStoreUrl, type CasInstanceAccess } from './tag-store.js';

/** What the preload (lib/register/cas-instance.ts) reads from its pipe. */
export interface InstanceHandOver {
  mounts: MountSpec[];
  cas: CasInstanceAccess;
}

export const HAND_OVER_FD_VARIABLE = 'SHIELD_CAS_CONFIG_FD';
/** The mount paths (JSON list) that worker threads and child processes must not reach. */
export const HELD_PATHS_VARIABLE = 'SHIELD_CAS_HELD_PATHS';
const HAND_OVER_FD = 3;
const FORWARDED_SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP', 'SIGQUIT'] as const;

export interface InstanceOptions {
  cas: CasLocation;
  session: string;
  service: string;
  /** Mount path → host directory holding its bytes (default: the mount path itself). */
  binds: Map<string, string>;
  /** The command and arguments given on the host, if any: refused by the service unless they are the policy's. */
  hostCommand: string[] | null;
  /** The URL of the preload that mounts in the new process. */
  preloadUrl: string;
  /** Default: the TEE's evidence where there is one, else simulation evidence of this runtime's measurement (proves nothing). */
  evidence?: EvidenceSource;
}

export type InstanceEnd = { code: number | null; signal: NodeJS.Signals | null };

/** Release, checks, start; resolves when the service's process ends. */
export async function runInstance(options: InstanceOptions): Promise<InstanceEnd> {
  const client = new CasClient(options.cas);
  let config: ReleasedConfiguration;
  try {
    const evidence = options.evidence ?? platformEvidenceSource(measureRuntime().measurement);
    config = await requestRelease(client, { session: options.session, service: options.service, hostCommand: options.hostCommand, evidence });
  } finally {
    client.close();
  }
  const handOver: InstanceHandOver = {
    mounts: mountSpecs(config, options),
    cas: { url: options.cas.url, key: options.cas.key, credential: config.credential },
  };
  const [program, ...args] = config.command;
  // `node`, or a node binary by its path (an image's Entrypoint names it so, e.g. /usr/bin/node): either
  // way the program runs on the runtime's own node, the one its measurement covers.
  if (program !== 'node' && !(program?.startsWith('/') && program.endsWith('/node'))) {
    throw refusal('EPOLICY', `the policy of ${config.session}/${config.service} runs ${JSON.stringify(program)}: shield run --cas starts Node services only ` +
      '(a command beginning with node or /PATH/TO/node)');
  }
  if (!statSync(config.pwd, { throwIfNoEntry: false })?.isDirectory()) {
    throw shieldError('ENOENT', `the policy's working directory ${config.pwd} is not a directory on this host; create it (pwd names a directory of the host, not of a mount)`, config.pwd);
  }
  return start(process.execPath, ['--import', options.preloadUrl, ...args], config, handOver, options.preloadUrl);
}

function mountSpecs(config: ReleasedConfiguration, options: InstanceOptions): MountSpec[] {
  const known = new Set(config.mounts.map((m) => m.path));
  for (const path of options.binds.keys()) {
    if (!known.has(path)) throw shieldError('EINVAL', `--bind ${path}=…: the policy of ${config.session}/${config.service} has no mount at ${path} (it has ${[...known].join(', ') || 'none'})`);
  }
  return config.mounts.map((mount): MountSpec => {
    const directory = options.binds.get(mount.path) ?? mount.path;
    if (mount.kind === 'tree') return { path: mount.path, tree: directory, key: mount.key, tag: mount.tag };
    const policy = mount.updatePolicy.replace(/_/g, '-') as NonNullable<MountSpec['updatePolicy']>;
    const present = existsSync(`${directory}/.shieldfs`);
    if (policy === 'no-rollback-protection') {
      // No tag store at all (the volume layer's definition): the service never learns its id, and a
      // missing volume is made anew. Its update policy is still pinned (a substitute of another policy is EINTEGRITY).
      return { path: mount.path, volume: directory, key: mount.key, create: !present, updatePolicy: policy, tagStore: casTagStoreUrl(options.cas.url, mount.volume) };
    }
    if (mount.volumeId !== null && !present) {
      // The service saw this volume's first commit: its directory cannot be new, empty or gone.
      const what = !existsSync(directory) ? 'is gone' : readdirSync(directory).length === 0 ? 'is empty' : 'holds no volume';
      throw shieldError('EROLLBACK', `volume ${mount.volume} of ${config.session} (id ${mount.volumeId}) was deleted or replaced: its directory ${directory} ${what}, ` +
        `but the policy service's trusted tag is ${mount.tag?.slice(0, 16)}…; restore the volume from its latest copy`, directory);
    }
    if (mount.volumeId !== null) {
      // The header's id is the host's to write, so it is used only to refuse: a matching one is still
      // checked by the authenticated open (expectedId), a different one is a replaced volume.
      const found = headerId(`${directory}/.shieldfs/volume`);
      if (found !== mount.volumeId) {
        throw shieldError('EROLLBACK', `volume ${mount.volume} of ${config.session} (id ${mount.volumeId}) was deleted or replaced: ${directory} holds ` +
          `${found === null ? 'no readable volume header' : `another volume (${found})`}; the policy service's trusted tag is ${mount.tag?.slice(0, 16)}…; ` +
          'restore the volume from its latest copy', directory);
      }
    }
    if (mount.volumeId === null && present) {
      throw shieldError('EROLLBACK', `volume ${mount.volume} of ${config.session} was never committed through the policy service, but ${directory} holds a volume: ` +
        'it was put there by someone else; move it away so that the service can initialise the volume', directory);
    }
    return {
      path: mount.path, volume: directory, key: mount.key, tagStore: casTagStoreUrl(options.cas.url, mount.volume),
      create: mount.volumeId === null, updatePolicy: policy, ...(mount.volumeId !== null ? { volumeId: mount.volumeId } : {}),
    };
  });
}

const MAX_HEADER_BYTES = 64 << 10;

function headerId(path: string): string | null {
  try {
    const stats = statSync(path);
    if (!stats.isFile() || stats.size > MAX_HEADER_BYTES) return null;
    const id = (JSON.parse(readFileSync(path, 'utf8')) as { id?: unknown }).id;
    return typeof id === 'string' ? id : null;
  } catch {
    return null;
  }
}

function start(node: string, args: string[], config: ReleasedConfiguration, handOver: InstanceHandOver, preloadUrl: string): Promise<InstanceEnd> {
  return new Promise((resolve, reject) => {
    // Exactly the policy's environment (the host's does not reach the program), and what the runtime
    // needs: the pipe's descriptor, and the preload for the program's Node children and workers,
    // which find every mount path held.
    const env: Record<string, string> = {
      ...config.environment,
      NODE_OPTIONS: [`--import=${preloadUrl}`, config.environment.NODE_OPTIONS ?? ''].join(' ').trim(),
      [HAND_OVER_FD_VARIABLE]: String(HAND_OVER_FD),
      [HELD_PATHS_VARIABLE]: JSON.stringify(handOver.mounts.map((m) => m.path)),
    };
    const child = spawn(node, args, { cwd: config.pwd, env, stdio: ['inherit', 'inherit', 'inherit', 'pipe'] });
    const forward = (signal: NodeJS.Signals) => { child.kill(signal); };
    for (const signal of FORWARDED_SIGNALS) process.on(signal, forward);
    const pipe = child.stdio[HAND_OVER_FD] as NodeJS.WritableStream & { on(event: 'error', listener: () => void): void };
    pipe.on('error', () => {});  // a child that dies before reading: its exit says why
    const payload = Buffer.from(JSON.stringify(handOver));
    pipe.end(payload, () => payload.fill(0));
    child.once('error', (error) => {
      for (const signal of FORWARDED_SIGNALS) process.off(signal, forward);
      reject(error);
    });
    child.once('exit', (code, signal) => {
      for (const signal of FORWARDED_SIGNALS) process.off(signal, forward);
      resolve({ code, signal });
    });
  });
}
