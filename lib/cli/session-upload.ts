// The seam between `shield sconify` and the policy service: uploading the session it made.
// The policy service and its client are another part of the project (the policy-service issue); until
// they are wired in here, `--cas` without `--no-upload` is refused before anything is done, so no
// image is made whose keys would then be lost.
import { shieldError } from '../file/fs-errors.js';
import type { SessionDocument } from '../image/session-file.js';

export interface UploadTarget {
  cas: string;
  casKey: string;
  identity?: string;
}

/** Whether this build can upload sessions (checked before sconify starts). */
export const SESSION_UPLOAD_AVAILABLE = false;

/** Uploads `document` as a new session (or an update when it has a predecessor); resolves to its hash. */
export async function uploadSession(_document: SessionDocument, target: UploadTarget): Promise<string> {
  throw uploadUnavailable(target);
}

export function uploadUnavailable(target: UploadTarget): Error {
  return shieldError('EINVAL', `policy service upload not available in this build (--cas ${target.cas}): ` +
    'use --no-upload --session-file OUT.yaml and upload that file with `shield session create` where available');
}
