export { ShieldedFile, type OpenOptions } from './shielded-file.js';
export { generateKey, importKey, wipeKey, KEY_BYTES } from './keys.js';
export { isShieldError, type ShieldError, type ShieldErrorCode } from './errors.js';
export {
  Volume, type VolumeOpenOptions, type VolumeCreateOptions, type VolumeStats, type VolumeInfo, type DirectoryEntry,
  type VerifyReport, type VerifyProblem, type UpdatePolicy, type Region, type RegionKind,
} from './volume.js';
export { VolumeFile } from './volume-file.js';
export { parseRegion } from './regions.js';
export { openTagStore, defaultTagStoreUrl, type TagStore } from './tag-store.js';
export { mount, mountSync, Shield, type MountSpec, type CommitMode, type ShieldConfig } from './mount.js';
