// Crash recovery at open. A journal in `.shieldfs/journal` means a transaction did not end: roll it
// back if the tag store still holds the state it started from; keep the commit (discard the journal)
// if the store holds exactly the state on disk; anything else is not an honest crash: keep the
// journal and refuse (FORMAT.md, "Commit protocol", the table of crashes and recoveries).
import type * as fs from 'node:fs';
import { hostFs } from '../file/host-fs.js';
import { join } from 'node:path';
import { shieldError } from '../file/fs-errors.js';
import { native } from '../file/native.js';
import { ShieldedFile } from '../file/shielded-file.js';
import { volumeTag, type VolumeState } from './volume-state.js';

/** Is there a journal? Anything at its path that this shield does not write is removed: it protected nothing. */
export function journalPresent(path: string): boolean {
  let stat: fs.Stats;
  try {
    stat = hostFs.lstatSync(path);
  } catch {
    return false;
  }
  if (stat.isFile()) return true;
  // Not something this shield writes (a symlink, a FIFO, a directory): it protected nothing.
  hostFs.rmSync(path, { recursive: true, force: true });
  return false;
}

/** Recovers from the journal, given the tag the store trusts (null: no store, or it knows nothing). */
export function recoverJournal(state: VolumeState, trusted: string | null): void {
  const journalPath = state.journalPath;
  const context = native.journalContext(journalPath, state.key);
  if (context === null) {  // torn while being created: it protected nothing
    native.discardJournal(journalPath);
    return;
  }
  const journalId = context.length === 48 ? Buffer.from(context.subarray(0, 16)).toString('hex') : null;
  if (journalId !== state.id) {
    throw shieldError('EINTEGRITY', `the undo journal ${journalPath} does not belong to volume ${state.id}: ` +
      'it was planted; remove it only if you are sure no commit of this volume was interrupted', journalPath);
  }
  const baseTag = Buffer.from(context.subarray(16, 48)).toString('hex');
  let rollBack = true;
  if (state.header.updatePolicy === 'rollback-protected') {
    if (trusted === baseTag) rollBack = true;
    else if (trusted !== null && trusted === tagOnDisk(state)) rollBack = false;
    else {
      throw shieldError('EROLLBACK', `volume ${state.directory} has an unfinished commit from tag ${baseTag.slice(0, 16)}…, but the ` +
        `tag store ${state.store!.url} holds ${trusted?.slice(0, 16) ?? 'nothing'}…, neither that nor the state on disk: ` +
        'the directory was rolled back or replaced, or this is not its tag store', state.directory);
    }
  }
  if (rollBack) native.rollBackJournal(journalPath, state.meta, state.key);
  native.discardJournal(journalPath);
}

// The volume tag of whatever manifest is on disk now (null when it does not open).
function tagOnDisk(state: VolumeState): string | null {
  try {
    const manifest = ShieldedFile.openSync(join(state.meta, 'manifest'), {
      key: state.key, readOnly: true, expectedFileId: state.header.manifestFileId,
    });
    try {
      return volumeTag(state.key, state.id, manifest.tag);
    } finally {
      manifest.closeSync();
    }
  } catch {
    return null;
  }
}
