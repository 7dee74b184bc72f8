// The observable state of a volume (every path, its type and content), to compare a volume with
// what a test expects; and copies of a volume directory's bytes, for rollback attacks.
import { cpSync, rmSync } from 'node:fs';
import type { Volume } from '../../lib/index.js';

export type VolumeState = Record<string, string | null>;  // path → content (utf8/hex) or null for a directory

export async function volumeState(volume: Volume, path = '/'): Promise<VolumeState> {
  const state: VolumeState = {};
  for (const name of volume.readdir(path)) {
    const child = path === '/' ? `/${name}` : `${path}/${name}`;
    if (volume.stat(child).type === 'directory') {
      state[child] = null;
      Object.assign(state, await volumeState(volume, child));
    } else {
      state[child] = (await volume.readFile(child)).toString('hex');
    }
  }
  return state;
}

/** A byte-for-byte copy of a volume directory (what an attacker with the disk can keep). */
export function snapshot(directory: string, to: string): string {
  rmSync(to, { recursive: true, force: true });
  cpSync(directory, to, { recursive: true });
  return to;
}

/** Puts a snapshot back in place of the volume directory. */
export function restore(from: string, directory: string): void {
  rmSync(directory, { recursive: true, force: true });
  cpSync(from, directory, { recursive: true });
}
