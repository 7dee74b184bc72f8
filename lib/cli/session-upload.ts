// `shield sconify --cas`: the session it makes goes to the policy service as the owner's identity.
// A session of that name that exists already is updated (its active version becomes the new one's
// `predecessor`, in the session file too), as a re-sconified image replaces the old one; otherwise it
// is created. The service is asked before the image is made (reachable, key pinned, identity
// readable, the session visible to this identity), so that a refusal costs nothing; the upload
// itself comes after the image.
import { shieldError } from '../file/fs-errors.js';
import type { SessionDocument } from '../image/session-file.js';
import { withConnection, type Connection } from './cas-connection.js';

export interface UploadTarget {
  cas: string;
  casKey: string;
  identity?: string;
}

export interface UploadResult {
  hash: string;
  /** The version it replaced, or null when the session is new. */
  predecessor: string | null;
}

/** The active version of session `name`, or null when there is none. Refusals (EACCES, …) are thrown. */
async function activeVersion(client: Connection['client'], name: string): Promise<string | null> {
  try {
    return (await client.call<{ head: string }>('GET', `/v1/session?name=${encodeURIComponent(name)}`)).head;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw error;
  }
}

/** Checks, before any work, that the session can be uploaded; resolves to its active version (or null). */
export function checkUpload(name: string, target: UploadTarget): Promise<string | null> {
  return withConnection(target, ({ client }) => activeVersion(client, name));
}

/**
 * Uploads `document`: created when it has no `predecessor`, else an update of that version (refused
 * by the service when the session changed since). Resolves to its hash.
 */
export async function uploadSession(document: SessionDocument, target: UploadTarget): Promise<UploadResult> {
  const { sessionYaml } = await import('../image/session-file.js');
  const { parseSession } = await import('../cas/session.js');
  const text = sessionYaml(document);
  parseSession(text, `the session of ${document.name}`);
  return withConnection(target, async ({ client }) => {
    const result = await client.call<{ name: string; hash: string }>(document.predecessor === undefined ? 'POST' : 'PUT', '/v1/sessions', { yaml: text });
    if (!/^[0-9a-f]{64}$/.test(result.hash)) throw shieldError('EIO', `the policy service answered the upload of ${document.name} with no session hash`);
    return { hash: result.hash, predecessor: document.predecessor ?? null };
  });
}
