// The shapes a volume's callers see: open and create options, stats, directory entries, info and
// the verify report. Kept apart from the Volume class so that the handle (volume-file.ts) and the
// parts of the volume can name them without importing the class.
import type { TagStore } from '../tag-store/tag-store.js';
import type { EntryType } from './protection-file.js';
import type { Region, RegionKind } from './regions.js';
import type { UpdatePolicy } from './volume-header.js';

export type { UpdatePolicy } from './volume-header.js';
export type { Region, RegionKind } from './regions.js';

export interface VolumeOpenOptions {
  /** The volume key (32 bytes). The volume keeps its own copy, wiped at close(). */
  key: Uint8Array;
  /** Tag store URL (`file:PATH`, `etcd://HOST:PORT,…`, `memory:`) or an open TagStore. Default: defaultTagStoreUrl(). */
  tagStore?: string | TagStore;
  /** Open for reading only: shares the volume with other readers, refuses changes with EROFS. */
  readOnly?: boolean;
  /**
   * The name the tag store knows the volume by (default: the absolute path of the directory). The store
   * binds it to the volume's id and update policy at creation: another volume in the directory is
   * EINTEGRITY, a directory emptied or wiped is EROLLBACK. `null`: no name (a volume pinned by `expectedTag`
   * needs none, and has none unless one is given).
   */
  name?: string | null;
  /**
   * The update policy the volume must have. Default: the one the tag store bound to the name; a volume
   * whose name is not bound yet may be `no-rollback-protection` only when this says so.
   */
  updatePolicy?: UpdatePolicy;
  /** The volume id the directory must hold (32 hex): another volume under the same key is EINTEGRITY. */
  expectedId?: string;
  /**
   * The volume tag the directory must be at (64 hex), for a volume pinned by its owner rather than
   * by a tag store (a protected tree): any other state is EROLLBACK.
   */
  expectedTag?: string;
}

export interface VolumeCreateOptions extends Omit<VolumeOpenOptions, 'readOnly' | 'expectedId' | 'expectedTag' | 'updatePolicy'> {
  /** Plaintext bytes per chunk of the volume's files: a power of two from 4096 to 1048576. Default 4096. */
  chunkSize?: number;
  /** Default `rollback-protected`. */
  updatePolicy?: UpdatePolicy;
  /** Path prefix → protection; the longest prefix wins; `encrypted` where none matches. Fixed at creation. */
  regions?: Region[];
}

export interface VolumeResetOptions {
  /** Tag store URL or an open TagStore, as for open(). */
  tagStore?: string | TagStore;
  /** The name to forget (default: the absolute path of the directory). */
  name?: string;
  /** The volume id the name stands for now: a reset says which volume it forgets. */
  confirmId: string;
}

export interface VolumeStats {
  type: EntryType;
  /** Permission bits with the file type bits, as in fs.Stats.mode. */
  mode: number;
  size: number;
  mtimeNs: bigint;
  ctimeNs: bigint;
  birthtimeNs: bigint;
  atimeNs: bigint;
  region: RegionKind;
  /** Content tag recorded in the manifest (files of protected regions). */
  tag?: string;
  /** A number unique among the volume's current entries (its manifest slot + 1); 0 for not-protected paths. */
  ino: number;
  /** Names the entry has: 0 for a file removed (unlinked, renamed over) while a handle still has it open. */
  nlink: number;
}

export interface DirectoryEntry {
  name: string;
  type: EntryType;
}

export interface VolumeInfo {
  directory: string;
  id: string;
  tag: string;
  updatePolicy: UpdatePolicy;
  tagStore: string | null;
  chunkSize: number;
  regions: Region[];
  files: number;
  directories: number;
  bytes: number;
  commits: number;
}

export interface VerifyProblem {
  path: string;
  code: string;
  message: string;
}

export interface VerifyReport {
  files: number;
  bytes: number;
  problems: VerifyProblem[];
  /**
   * Files under `.shieldfs/` that are not part of the volume (paths relative to the volume
   * directory): what an interrupted commit leaves, or what someone put there. Never read as part of
   * the volume; a writable open removes those in `objects/`. Listed, not failed: a crash is not an attack.
   */
  unreferenced: string[];
}
