// mount(): opens the volumes and protected trees of a configuration, and gives a node:fs-compatible
// object in which they appear at their virtual paths (everything else is the real file system).
//
//   const shield = await mount([{ path: '/V1', volume: '/mnt/v1', keyFile: 'v1.key', tagStore: 'file:/var/lib/tags.json' }]);
//   shield.fs.writeFileSync('/V1/num', '0');
//   await shield.unmount();   // commits and closes every volume
import type * as nodeFs from 'node:fs';
import { hostFs } from '../file/host-fs.js';
import type * as nodePromises from 'node:fs/promises';
import { join } from 'node:path';
import { DescriptorTable } from './descriptors.js';
import { Mount, MountTable } from './mount-table.js';
import { ShieldOperations } from './operations.js';
import { createSurface } from './surface.js';
import { shieldError } from '../file/fs-errors.js';
import { wipeKey } from '../file/keys.js';
import { parseMountSpecs, resolveMountKey, type MountSpec } from './mount-config.js';
import { parseRegion } from '../volume/regions.js';
import { runAsync, runSync, type Steps } from '../file/sync-or-async.js';
import gensync from 'gensync';
import { Volume } from '../volume/volume.js';

export type { MountSpec, CommitMode, ShieldConfig } from './mount-config.js';

const FIRST_DEV = 0x5348_0000; // "SH": a device number no real file system here reports

const openVolume = gensync({
  sync: (directory: string, options: Parameters<typeof Volume.openSync>[1]) => Volume.openSync(directory, options),
  async: (directory: string, options: Parameters<typeof Volume.open>[1]) => Volume.open(directory, options),
});
const createVolume = gensync({
  sync: (directory: string, options: Parameters<typeof Volume.createSync>[1]) => Volume.createSync(directory, options),
  async: (directory: string, options: Parameters<typeof Volume.create>[1]) => Volume.create(directory, options),
});
const closeVolume = gensync({
  sync: (volume: Volume) => volume.closeSync(),
  async: (volume: Volume) => volume.close(),
});

/** Mounted volumes and trees, and the fs object that shows them. */
export class Shield {
  /** node:fs-compatible: callbacks, *Sync, promises, streams. */
  readonly fs: typeof nodeFs;
  readonly promises: typeof nodePromises;
  readonly #table: MountTable;
  readonly #descriptors: DescriptorTable;
  readonly #operations: ShieldOperations;
  #unmounted = false;

  constructor(table: MountTable, descriptors: DescriptorTable, real: typeof nodeFs) {
    this.#table = table;
    this.#descriptors = descriptors;
    this.#operations = new ShieldOperations(table, descriptors);
    const surface = createSurface(this.#operations, real);
    this.fs = surface.fs;
    this.promises = surface.promises;
  }

  /**
   * The object callers reach this shield's functions through, when it is not `fs` (node:fs, into
   * which the register copies them): node's own fs calls back into it (ShieldOperations.callerFs).
   */
  reachedThrough(fs: typeof nodeFs): void {
    this.#operations.callerFs = fs;
  }

  get mounts(): readonly Mount[] {
    return this.#table.mounts;
  }

  /** True when `path` lies inside a mount. */
  isMounted(path: unknown): boolean {
    return this.#table.resolve(path) !== null;
  }

  /** Commits every writable volume now. */
  commitSync(): void {
    for (const mount of this.#table.mounts) mount.commitNow();
  }

  async commit(): Promise<void> {
    this.commitSync();
  }

  /** Closes open descriptors, commits and closes every volume; the mounts disappear. */
  async unmount(): Promise<void> {
    return runAsync(this.#unmountSteps());
  }

  unmountSync(): void {
    runSync(this.#unmountSteps());
  }

  *#unmountSteps(): Steps<void> {
    if (this.#unmounted) return;
    this.#unmounted = true;
    let failure: unknown = null;
    for (const mount of [...this.#table.mounts]) {
      mount.stopTimer();
      for (const descriptor of this.#descriptors.of(mount)) {
        try {
          this.#descriptors.take(descriptor.fd, 'close').file.closeSync();
        } catch (error) {
          failure ??= error;
        }
      }
      try {
        yield* closeVolume(mount.volume);
      } catch (error) {
        failure ??= error;
      }
      this.#table.remove(mount);
    }
    if (failure) throw failure;
  }
}

export interface MountOptions {
  /** The node:fs that paths outside the mounts go to (default: node:fs as it is now). */
  fs?: typeof nodeFs;
  /**
   * Mount paths of volumes another thread holds (what a worker thread gets for the main thread's
   * volumes): calls there fail with EBUSY saying why, instead of reaching the disk underneath.
   */
  heldElsewhere?: { path: string; why: string }[];
  /**
   * A volume another process holds (EBUSY: a forked child of its holder) is opened when a path
   * inside it is first used, not now; its EBUSY is then that call's error. Every other failure to
   * open is reported at once.
   */
  deferBusyVolumes?: boolean;
}

/** Opens every mount of `specs` (a MountSpec list, validated as a configuration file is). */
export async function mount(specs: MountSpec[], options: MountOptions = {}): Promise<Shield> {
  return runAsync(mountSteps(specs, options));
}

/** mount() on this thread (what `node -r shieldfs/register` needs). */
export function mountSync(specs: MountSpec[], options: MountOptions = {}): Shield {
  return runSync(mountSteps(specs, options));
}

function* mountSteps(given: MountSpec[], options: MountOptions): Steps<Shield> {
  const held = options.heldElsewhere ?? [];
  const specs = given.length === 0 && held.length > 0 ? [] : parseMountSpecs(given, 'mount()');
  const table = new MountTable();
  for (const { path, why } of held) table.hold(path, why);
  const opened: Volume[] = [];
  try {
    for (const [index, spec] of specs.entries()) {
      const mountOf = (volume: Volume) => new Mount(spec.path, volume, spec.tree ? 'tree' : 'volume', spec.commit ?? 'close', FIRST_DEV + index);
      let volume: Volume;
      try {
        volume = yield* openMount(spec, specs);
      } catch (error) {
        if (!options.deferBusyVolumes || !spec.volume || (error as NodeJS.ErrnoException).code !== 'EBUSY') throw error;
        table.defer(spec.path, () => mountOf(runSync(openMount(spec, specs))));
        continue;
      }
      opened.push(volume);
      table.add(mountOf(volume));
    }
  } catch (error) {
    for (const volume of opened) {
      try {
        yield* closeVolume(volume);
      } catch {
        // the first failure is the one to report
      }
    }
    throw error;
  }
  return new Shield(table, new DescriptorTable(), options.fs ?? hostFs);
}

function* openMount(spec: MountSpec, all: MountSpec[]): Steps<Volume> {
  const directory = (spec.volume ?? spec.tree)!;
  // The volume's own files are read through the host's fs (file/host-fs.ts), so a volume may be stored
  // at its own mount path (a container's /V1 backed by /V1/.shieldfs); but not inside another mount,
  // nor deeper inside its own, where the mount would hide the directory from the service.
  for (const other of all) {
    if ((directory === other.path && other !== spec) || directory.startsWith(other.path + '/')) {
      throw shieldError('EINVAL', `mount ${spec.path}: its directory ${directory} lies inside mount ${other.path}`, directory);
    }
  }
  const key = resolveMountKey(spec);
  try {
    if (spec.tree) return yield* openVolume(spec.tree, { key, readOnly: true, expectedTag: spec.tag });
    // The name, policy and id pin which volume the directory must hold (volume-identity.ts); a directory
    // whose volume was wiped is refused by create as by open, never replaced by a new volume.
    const identity = { name: spec.name, updatePolicy: spec.updatePolicy };
    const options = { key, tagStore: spec.tagStore, readOnly: spec.readOnly, expectedId: spec.volumeId, ...identity };
    if (spec.create && !hostFs.existsSync(join(directory, '.shieldfs'))) {
      return yield* createVolume(directory, { key, tagStore: spec.tagStore, regions: (spec.regions ?? []).map(parseRegion), ...identity });
    }
    const volume = yield* openVolume(directory, options);
    // The policy is pinned by the configuration: the header is the host's to rewrite.
    if (spec.updatePolicy !== undefined && volume.updatePolicy !== spec.updatePolicy) {
      yield* closeVolume(volume);
      throw shieldError('EINTEGRITY', `mount ${spec.path}: ${directory} holds a ${volume.updatePolicy} volume, not the ${spec.updatePolicy} volume the configuration names: ` +
        'it was replaced; restore the volume from a trusted copy', directory);
    }
    return volume;
  } finally {
    wipeKey(key);
  }
}
