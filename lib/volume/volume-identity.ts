// Which volume a directory must hold. The header on the disk says which volume is there now; only the
// trusted side can say which volume should be there. So a volume has a name (by default the absolute
// path of its directory; a mount or a command may give another), and the tag store binds the name to
// the volume id and update policy once, when the volume is created. From then on:
//   - the directory emptied, wiped (`rm -rf .shieldfs`) or filled with something else is EROLLBACK,
//     never a new volume: creating again needs the explicit reset below;
//   - another volume in its place (one made with the same key: a second volume, a protected tree, a
//     `no-rollback-protection` volume) is EINTEGRITY naming the expected and the found volume;
//   - the update policy comes from the binding (or the caller), never from the header alone, so a
//     substituted header cannot switch rollback protection off.
import { hostFs } from '../file/host-fs.js';
import { join, resolve } from 'node:path';
import { invalidArgument } from '../file/errors.js';
import { shieldError } from '../file/fs-errors.js';
import type { Steps } from '../file/sync-or-async.js';
import {
  bindVolume, checkVolumeName, getBinding, getTag, unbindVolume, type TagStore, type VolumeBinding,
} from '../tag-store/tag-store.js';
import { UPDATE_POLICIES, type UpdatePolicy, type VolumeHeader } from './volume-header.js';
import { RESERVED_NAME } from './volume-path.js';

const { existsSync } = hostFs;

/**
 * The name a volume is known by: the caller's, or the absolute path of its directory. `null` (only on
 * request) means the volume is pinned some other way (a protected tree by its tag) and has no name.
 */
export function volumeName(directory: string, given: string | null | undefined): string | null {
  if (given === null) return null;
  const name = given ?? resolve(directory);
  checkVolumeName(name);
  return name;
}

export function checkUpdatePolicy(policy: unknown, field: string): asserts policy is UpdatePolicy | undefined {
  if (policy !== undefined && !UPDATE_POLICIES.includes(policy as UpdatePolicy)) {
    throw invalidArgument(`${field} must be one of ${UPDATE_POLICIES.join(', ')}, got ${JSON.stringify(policy)}`);
  }
}

export function needsTagStore(policy: UpdatePolicy): boolean {
  return policy !== 'no-rollback-protection';
}

/**
 * Before a volume is created under `name`: a name that already stands for a volume means that volume
 * was deleted or replaced (EROLLBACK), unless the directory still holds a volume (EEXIST, as for any
 * directory that is not empty).
 */
export function* checkNameFree(store: TagStore, name: string, directory: string): Steps<void> {
  const binding = yield* getBinding(store, name);
  if (binding === null) return;
  if (existsSync(join(directory, RESERVED_NAME))) {
    throw shieldError('EEXIST', `cannot create a volume in ${directory}: it already holds one (${RESERVED_NAME})`, directory);
  }
  throw yield* deletedOrReplaced(store, name, binding, directory);
}

/**
 * Binds `name` to the new volume, and (`firstTag`) registers its first tag, in one atomic step: the
 * commit point of a creation. Another creation under the same name that got there first is EROLLBACK.
 */
export function* bindNewVolume(store: TagStore, name: string, header: VolumeHeader, firstTag: string | null, directory: string): Steps<void> {
  const binding: VolumeBinding = { id: header.id, updatePolicy: header.updatePolicy };
  if (yield* bindVolume(store, name, binding, firstTag)) return;
  const existing = yield* getBinding(store, name);
  if (existing === null) {
    throw shieldError('EEXIST', `tag store ${store.url} already has a tag for volume ${header.id}; nothing was created`, directory);
  }
  throw yield* deletedOrReplaced(store, name, existing, directory);
}

/** Opening a directory that holds no volume: EROLLBACK if the name stands for one, else null (the caller's ENOENT). */
export function* missingVolume(store: TagStore, name: string, directory: string): Steps<Error | null> {
  const binding = yield* getBinding(store, name);
  return binding === null ? null : yield* deletedOrReplaced(store, name, binding, directory);
}

export interface PinnedVolume {
  /** The update policy the volume must have, from the binding or the caller. */
  updatePolicy: UpdatePolicy;
  /** True when the name is not bound yet and should be, once the volume has proved itself. */
  bindAfterOpen: boolean;
}

/**
 * Checks the volume found on the disk (its authenticated header) against what the trusted side says
 * `name` stands for, and against the update policy the caller expects. `store` is null when the
 * caller asked for no name; then only `expectedPolicy` (if any) pins the policy.
 */
export function* pinVolume(store: TagStore | null, name: string | null, header: VolumeHeader, directory: string,
  expectedPolicy: UpdatePolicy | undefined): Steps<PinnedVolume> {
  const binding = store && name !== null ? yield* getBinding(store, name) : null;
  if (binding !== null) {
    if (binding.id !== header.id) {
      throw shieldError('EINTEGRITY', `${directory} holds volume ${header.id}, but the tag store ${store!.url} knows ` +
        `${JSON.stringify(name)} as volume ${binding.id}: the directory was replaced by another volume made with the same key; ` +
        'restore the directory of the expected volume', directory);
    }
    checkPolicy(binding.updatePolicy, `the tag store ${store!.url}`, header, directory);
    if (expectedPolicy !== undefined && expectedPolicy !== binding.updatePolicy) {
      throw shieldError('EINVAL', `the update policy given for ${directory} is ${expectedPolicy}, but the tag store ` +
        `${store!.url} has volume ${binding.id} as ${binding.updatePolicy}; fix the configuration`, directory);
    }
    return { updatePolicy: binding.updatePolicy as UpdatePolicy, bindAfterOpen: false };
  }
  if (expectedPolicy !== undefined) {
    checkPolicy(expectedPolicy, 'the configuration', header, directory);
    return { updatePolicy: expectedPolicy, bindAfterOpen: name !== null };
  }
  // Nothing trusted names the policy: the header alone may not switch rollback protection off.
  if (!needsTagStore(header.updatePolicy)) {
    throw shieldError('EINTEGRITY', `${directory} holds volume ${header.id}, which says it has no rollback protection, but ` +
      (name === null ? 'no update policy was given' : `the tag store ${store!.url} has no volume named ${JSON.stringify(name)}`) +
      ': a volume without rollback protection is accepted only where the configuration (updatePolicy: no-rollback-protection) ' +
      'or the tag store says so; if this is the volume you meant, give that update policy', directory);
  }
  // A rollback-protected or ephemeral volume proves itself against its tag in the store; then its name is bound.
  return { updatePolicy: header.updatePolicy, bindAfterOpen: name !== null };
}

/** Binds a volume that proved itself (its state is the trusted one) under a name that stood for nothing yet. */
export function* adoptVolume(store: TagStore, name: string, header: VolumeHeader, directory: string): Steps<void> {
  const binding: VolumeBinding = { id: header.id, updatePolicy: header.updatePolicy };
  if (yield* bindVolume(store, name, binding, null)) return;
  const existing = yield* getBinding(store, name);
  if (existing?.id === header.id && existing.updatePolicy === header.updatePolicy) return;  // another opener bound it
  throw shieldError('EINTEGRITY', `${directory} holds volume ${header.id}, but while it was opened the tag store ${store.url} ` +
    `bound ${JSON.stringify(name)} to ${existing === null ? 'nothing' : `volume ${existing.id}`}; open it again`, directory);
}

/** Forgets what `name` stands for (the explicit reset); returns what it stood for, and that volume's last tag. */
export function* forgetVolumeName(store: TagStore, name: string, expectedId: string): Steps<{ binding: VolumeBinding; tag: string | null }> {
  const binding = yield* getBinding(store, name);
  if (binding === null) {
    throw shieldError('ENOENT', `tag store ${store.url} has no volume named ${JSON.stringify(name)}: there is nothing to reset`);
  }
  if (binding.id !== expectedId) {
    throw shieldError('EINVAL', `tag store ${store.url} has ${JSON.stringify(name)} as volume ${binding.id}, not ${expectedId}: ` +
      `nothing was reset; to forget it, confirm with its id ${binding.id}`);
  }
  const tag = yield* getTag(store, binding.id);
  if (!(yield* unbindVolume(store, name, expectedId))) {
    throw shieldError('EBUSY', `tag store ${store.url}: ${JSON.stringify(name)} changed while it was reset; nothing was reset`);
  }
  return { binding, tag };
}

function checkPolicy(expected: string, source: string, header: VolumeHeader, directory: string): void {
  if (header.updatePolicy === expected) return;
  throw shieldError('EINTEGRITY', `${directory} holds volume ${header.id} with the update policy ${header.updatePolicy}, ` +
    `but ${source} says ${expected}: the volume was replaced; restore the directory of the expected volume`, directory);
}

function* deletedOrReplaced(store: TagStore, name: string, binding: VolumeBinding, directory: string): Steps<Error> {
  const nameOption = name === resolve(directory) ? '' : ` --name ${JSON.stringify(name)}`;
  const tag = needsTagStore(binding.updatePolicy as UpdatePolicy) ? yield* getTag(store, binding.id) : null;
  return shieldError('EROLLBACK', `volume ${JSON.stringify(name)} (${directory}) was deleted or replaced; its trusted tag is ` +
    `${tag ?? '(none: no rollback protection)'} (volume ${binding.id}, tag store ${store.url}). Restore the volume directory ` +
    `from a copy at that tag; to start over with a new, empty volume on purpose, run \`shield volume reset ${directory}${nameOption}` +
    ` --tag-store ${store.url} --confirm ${binding.id}\` first`, directory);
}
