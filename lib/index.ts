// shieldfs: the package's main entry point (`import … from 'shieldfs'`). Each subsystem's own
// index.ts says what it is; this module is their public API, nothing more.
export { ShieldedFile, type OpenOptions, generateKey, importKey, wipeKey, KEY_BYTES, isShieldError, type ShieldError, type ShieldErrorCode } from './file/index.js';
export {
  Volume, VolumeFile, parseRegion, type VolumeOpenOptions, type VolumeCreateOptions, type VolumeStats, type VolumeInfo,
  type DirectoryEntry, type VerifyReport, type VerifyProblem, type UpdatePolicy, type Region, type RegionKind,
} from './volume/index.js';
export { openTagStore, defaultTagStoreUrl, type TagStore } from './tag-store/index.js';
export { mount, mountSync, Shield, type MountSpec, type CommitMode, type ShieldConfig } from './fs/index.js';
