// The fs layer: the drop-in `fs`. mount() (mount.ts) opens volumes and protected trees at virtual
// paths, as the mount configuration (mount-config.ts) describes them, and returns a node:fs-compatible
// object: the mount table (mount-table.ts) routes each path, every fs call is written once
// (operations.ts) and its sync, callback and promise forms are derived from it (surface.ts), with
// descriptors, FileHandle, Dir, Stats and streams around it. process-shield.ts makes such a shield
// the process's own node:fs. Uses the file, tag-store, volume and tree layers.
export { mount, mountSync, Shield, type MountOptions } from './mount.js';
export type { MountSpec, CommitMode, ShieldConfig } from './mount-config.js';
export { installProcessShield, processShield } from './process-shield.js';
