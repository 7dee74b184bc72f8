// Where a volume keeps file contents: `.shieldfs/objects/XX/<object id>` (XX = the id's first two
// hex digits, so no directory grows past ~1/256 of the volume). Names are random: the volume
// directory shows neither file names nor the directory structure of protected regions.
import { hostFs } from '../file/host-fs.js';
import { join } from 'node:path';
import type { Storage } from './protection-file.js';
import { syncPath } from '../file/durable-file.js';

const { lstatSync, mkdirSync, readdirSync, unlinkSync } = hostFs;

const FAN_OUT = 256;

export class ObjectStore {
  constructor(readonly directory: string) {}

  /** The 256 fan-out directories, made durable: created once with the volume. */
  static create(directory: string): ObjectStore {
    mkdirSync(directory, { mode: 0o700 });
    for (let i = 0; i < FAN_OUT; i++) mkdirSync(join(directory, hex2(i)), { mode: 0o700 });
    syncPath(directory);
    return new ObjectStore(directory);
  }

  /**
   * Makes the fan-out directories that are missing. They are not protected state (the manifest and
   * the objects are): copies and backups that skip empty directories leave them out, and without
   * them the next new object could not be created. Returns how many were made. Something else in a
   * fan-out directory's place (a file, a symlink) is left alone: creating an object there fails.
   */
  ensureFanOut(): number {
    let made = 0;
    try {
      mkdirSync(this.directory, { mode: 0o700 });
      made++;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    if (!isRealDirectory(this.directory)) return made;
    for (let i = 0; i < FAN_OUT; i++) {
      try {
        mkdirSync(join(this.directory, hex2(i)), { mode: 0o700 });
        made++;
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
      }
    }
    if (made > 0) syncPath(this.directory);
    return made;
  }

  /** Encrypted content: the ShieldedFile. Authenticated: the plaintext. */
  contentPath(objectId: string, storage: Storage): string {
    return join(this.directory, objectId.slice(0, 2), storage === 'encrypted' ? objectId : `${objectId}.data`);
  }

  /** The hash list of authenticated content. */
  treePath(objectId: string): string {
    return join(this.directory, objectId.slice(0, 2), `${objectId}.tree`);
  }

  filesOf(objectId: string, storage: Storage): string[] {
    return storage === 'encrypted' ? [this.contentPath(objectId, storage)] : [this.contentPath(objectId, storage), this.treePath(objectId)];
  }

  /** The names (in its fan-out directory) of an object's files: what sweep() keeps. */
  static namesOf(objectId: string, storage: Storage): string[] {
    return storage === 'encrypted' ? [objectId] : [`${objectId}.data`, `${objectId}.tree`];
  }

  /**
   * Deletes what no committed entry references (leftovers of a crash, a re-key, or a writer that
   * died). Only inside real directories: the host may replace `objects/` or a fan-out directory by
   * a symlink to somewhere else, and sweeping through it would delete files outside the volume.
   * (The host can still swap a directory for a symlink between the check and an unlink; closing
   * that needs openat/unlinkat on a directory descriptor.)
   */
  sweep(referencedNames: Set<string>): number {
    let removed = 0;
    if (!isRealDirectory(this.directory)) return removed;
    for (let i = 0; i < FAN_OUT; i++) {
      const fanOut = join(this.directory, hex2(i));
      if (!isRealDirectory(fanOut)) continue;
      let names: string[];
      try {
        names = readdirSync(fanOut);
      } catch {
        continue;
      }
      const prefix = hex2(i);
      for (const name of names) {
        if (name.startsWith(prefix) && referencedNames.has(name)) continue;  // (names, not paths: 100k joins cost)
        try {
          unlinkSync(join(fanOut, name));
          removed++;
        } catch {
          // a directory someone dropped here, or already gone: not ours to fight over
        }
      }
    }
    return removed;
  }

  remove(paths: Iterable<string>): void {
    for (const path of paths) {
      try {
        unlinkSync(path);
      } catch {
        // swept at the next writable open
      }
    }
  }
}

function isRealDirectory(path: string): boolean {
  try {
    return lstatSync(path).isDirectory();
  } catch {
    return false;
  }
}

function hex2(i: number): string {
  return i.toString(16).padStart(2, '0');
}
