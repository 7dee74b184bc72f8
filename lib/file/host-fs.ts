// The host's file system: node:fs as it was when shieldfs loaded, before the process-wide shield
// (lib/fs/process-shield.ts) replaced its functions in place. Everything that reads or writes a
// volume's own storage (its header, manifest, objects, journal, lock, tag files) goes through this,
// never through the patched node:fs: a volume may be stored at its own mount path (a container's
// `/V1` backed by `/V1/.shieldfs`, a tree in `/app/.shieldfs` mounted at `/app`), where the patched
// functions would send the volume's own I/O back into the mount.
//
// A namespace import of node:fs is live (syncBuiltinESMExports updates it after the patch), so this
// copies the functions once. The shield imports this module (through the layers below it) before it
// patches anything, so the first copy is the original; it is kept on the realm's global object so
// that a second copy of shieldfs loaded later in the same thread (another version nested in
// node_modules) gets the originals too, not the first one's patched functions.
import * as nodeFs from 'node:fs';

const KEY = Symbol.for('shieldfs.host-fs');
const realm = globalThis as { [KEY]?: typeof nodeFs };

export const hostFs: typeof nodeFs = realm[KEY] ??= { ...nodeFs, promises: { ...nodeFs.promises } } as typeof nodeFs;
