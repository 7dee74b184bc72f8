// The end of a transaction: commit (flush every content, write the manifest records that changed,
// compare-and-set the tag in the store: the commit point, then end the journal), discard (roll the
// journal back: an ephemeral volume, or abort()), and abandon (close everything without committing;
// the journal stays for the next open). The protocol and its crash points are in FORMAT.md
// ("Commit protocol").
import { join } from 'node:path';
import { shieldError } from '../file/fs-errors.js';
import { native } from '../file/native.js';
import type { Steps } from '../file/sync-or-async.js';
import { wipeKey } from '../file/keys.js';
import { closeTagStore, compareAndSetTag, getTag } from '../tag-store/tag-store.js';
import { closeContent, flushContent } from './file-content.js';
import { volumeTag, type VolumeState } from './volume-state.js';

/** Makes every change durable and advances the tag in the store; the new tag (the current one when nothing changed). */
export function* commitSteps(state: VolumeState): Steps<string> {
  state.usable();
  if (state.readOnly) return state.tag;
  const { contents, objects, store } = state;
  try {
    for (const open of contents.values()) {
      if (open.dirty) contents.record(open, yield* flushContent(open.content));
    }
    if (!state.changed) return state.tag;
    if (state.discardsChanges) return state.tag;  // discarded at close, never durable
    const next = volumeTag(state.key, state.id, yield* state.manifest.writeChanges());
    // A store client that retried a compare-and-set its server had already applied answers "no"
    // to its own write; the store holding exactly `next` (unique to this commit) means it stood.
    if (store && !(yield* compareAndSetTag(store, state.id, state.tag, next)) && (yield* getTag(store, state.id)) !== next) {
      throw shieldError('EROLLBACK', `tag store ${store.url} no longer holds the tag this volume was opened at: ` +
        'another writer committed, or the store was reset; nothing was committed. Reopen the volume', state.directory);
    }
    state.journal!.finish();  // the commit stands from here (the store said yes, or there is no store)
    state.tag = next;
    state.changed = false;
    state.created = [];
    for (const open of contents.values()) open.copied = open.entry?.storage !== 'authenticated';
    const stillOpen = (path: string) =>
      [...contents.values()].some((o) => o.entry && objects.filesOf(o.entry.objectId, o.entry.storage).includes(path));
    const garbage = state.garbage.filter((path) => !stillOpen(path));
    state.garbage = [];
    objects.remove(garbage);
    return next;
  } catch (error) {
    // Unknown how far the commit got: refuse further use; the next open recovers from the journal.
    state.broken = error as Error;
    throw error;
  }
}

/** Undoes every change since the last commit: contents closed, journal rolled back, new objects removed. */
export function* discardChanges(state: VolumeState): Steps<void> {
  for (const open of state.contents.values()) yield* closeContent(open.content);
  state.contents.clear();
  if (state.journal?.active) {
    const journalPath = join(state.meta, 'journal');
    native.rollBackJournal(journalPath, state.meta, state.key);
    native.discardJournal(journalPath);
  }
  state.objects.remove(state.created);
}

/** Closes everything without committing and wipes the key; the journal, if any, stays for the next open. */
export function* abandon(state: VolumeState, lock: { release(): void } | null): Steps<void> {
  state.closed = true;
  for (const open of state.contents.values()) {
    try {
      yield* closeContent(open.content);
    } catch {
      // closing after a failure: the journal protects what was committed
    }
  }
  state.contents.clear();
  try {
    if (state.manifest) yield* state.manifest.close();
  } catch {
    // as above
  }
  lock?.release();
  if (state.ownsStore && state.store) yield* closeTagStore(state.store);
  wipeKey(state.key);
}
