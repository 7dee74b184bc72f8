// Code is loaded from protected trees only, never from a writable volume (README, "Running code from
// protected trees"), and that must hold whatever the real disk under a volume's mount path holds.
// Node looks files up with internal calls that read the disk, not the shield: without this, a decoy
// file the host puts at the mount path on the disk (/V1/x.js) made `require('/V1/x.js')` succeed
// (and run the volume's x.js, read through the patched fs) and `import('/V1/x.mjs')` run the
// host's decoy itself. So every request that names a file under a volume's mount path fails, the
// same way with or without a decoy: MODULE_NOT_FOUND for require (and require.resolve),
// ERR_MODULE_NOT_FOUND for import, saying why.
//   CommonJS  Module._findPath, on the thread that mounted the volumes
//   ESM       a resolve hook (volume-code-hooks.ts), given the volumes' mount paths
import Module from 'node:module';
import { isAbsolute, resolve } from 'node:path';
import type { Shield } from '../fs/mount.js';

interface CommonJsLoader {
  _findPath(request: string, paths: string[] | null, isMain: boolean): string | false;
}

/** The mount paths of the writable volumes (and read-only volumes: code never loads from any volume). */
export function volumeMountPaths(shield: Shield): string[] {
  return shield.mounts.filter((mount) => mount.kind === 'volume').map((mount) => mount.path);
}

/** Makes require() refuse every file under a volume's mount path. */
export function refuseCommonJsFromVolumes(volumes: readonly string[]): void {
  if (volumes.length === 0) return;
  const loader = Module as unknown as CommonJsLoader;
  const findPath = loader._findPath;
  loader._findPath = function _findPath(request, paths, isMain) {
    for (const directory of isAbsolute(request) ? [''] : paths ?? []) {
      const target = resolve(directory, request);
      const volume = volumeHolding(volumes, target);
      if (volume !== null) throw codeInVolumeError(request, target, volume, 'MODULE_NOT_FOUND');
    }
    return findPath.call(this, request, paths, isMain);
  };
}

export function volumeHolding(volumes: readonly string[], path: string): string | null {
  return volumes.find((volume) => path === volume || path.startsWith(`${volume}/`)) ?? null;
}

export function codeInVolumeError(request: string, target: string, volume: string, code: string): Error {
  return Object.assign(new Error(`Cannot find module '${target}'${request === target ? '' : ` (requested as '${request}')`}: ` +
    `${volume} is a writable volume, and code is loaded only from protected trees (whatever the disk under ${volume} holds); ` +
    'protect the code with `shield protect` and mount it as a tree'), { code });
}
