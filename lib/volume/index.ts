// The volume layer: a directory on untrusted storage holding a tree of protected files as one unit.
// Volume (volume.ts) is the lifecycle and public face; its parts are the namespace (namespace.ts),
// the file opener (volume-files.ts), commit and close (commit.ts) and crash recovery (recovery.ts),
// sharing a VolumeState. Below them: the protection file (manifest), the object store, the contents
// of the three regions (ShieldedFile, AuthenticatedFile with its hash list, PlainFile), the header,
// the lock, regions and volume paths. Uses the file and tag-store layers.
export { Volume } from './volume.js';
export type {
  DirectoryEntry, Region, RegionKind, UpdatePolicy, VerifyProblem, VerifyReport, VolumeCreateOptions, VolumeInfo,
  VolumeOpenOptions, VolumeResetOptions, VolumeStats,
} from './volume-types.js';
export { VolumeFile } from './volume-file.js';
export { parseRegion } from './regions.js';
export { RESERVED_NAME } from './volume-path.js';
