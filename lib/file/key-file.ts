// Volume keys as users hand them over: a key file (32 raw bytes, or 64 hex characters with an optional
// trailing newline, as `shield volume create` writes it) or 64 hex characters given directly (a mount
// configuration's `key`, or the environment variable its `keyEnv` names). Shared by the CLI and the
// mount configuration so that both accept exactly the same keys. Messages never show key material.
//
// A key file is read like the host's other input (bounded-file.ts): a regular file only, opened
// without blocking, at most a few hundred bytes. And, as ssh does for private keys, a key file that
// its group or other users may read or write is refused: the key is then everyone's on that machine,
// which is almost always a mistake (a copy made with the default umask, a secret mounted 0644).
// SHIELD_KEY_FILE_PERMISSIONS=any accepts it anyway, for the cases where the file's mode says nothing
// (some network and FUSE file systems report 0777 whatever the access is).
import { hostFs } from './host-fs.js';
import { openRegularFile, readOpened } from './bounded-file.js';
import { importKey } from './keys.js';
import { shieldError } from './fs-errors.js';

const { closeSync } = hostFs;

const HEX_KEY = /^[0-9a-fA-F]{64}$/;
// 64 hex characters with a newline, or 32 raw bytes; the rest is room for whitespace.
const MAX_KEY_FILE_BYTES = 1024;
const OPEN_TO_OTHERS = 0o077;

/** The key in a key file, in secure memory. ENOENT/EACCES/… name the file; anything else in it is EINVAL. */
export function readKeyFile(path: string): Buffer {
  let bytes: Buffer;
  let opened: ReturnType<typeof openRegularFile>;
  try {
    opened = openRegularFile(path, { what: 'key file', maxBytes: MAX_KEY_FILE_BYTES });
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code ?? 'EIO';
    if (code === 'EINVAL' || code === 'EFBIG') throw error;
    throw shieldError(code, `cannot read key file ${path} (${code}); give the file written by \`shield volume create\``, path);
  }
  try {
    const mode = opened.stat.mode & 0o777;
    if ((mode & OPEN_TO_OTHERS) !== 0 && process.env.SHIELD_KEY_FILE_PERMISSIONS !== 'any') {
      throw shieldError('EACCES', `permissions 0${mode.toString(8)} of key file ${path} are too open: its group or other users ` +
        `may read or change the key. Run \`chmod 600 ${path}\` (for a Kubernetes secret: defaultMode 0400), or set ` +
        'SHIELD_KEY_FILE_PERMISSIONS=any if the mode is not what protects the file', path);
    }
    bytes = readOpened(opened.fd, opened.stat.size, path, { what: 'key file', maxBytes: MAX_KEY_FILE_BYTES });
  } finally {
    closeSync(opened.fd);
  }
  try {
    if (bytes.length === 32) return importKey(bytes);
    const text = bytes.toString('latin1').trim();
    if (HEX_KEY.test(text)) return importKey(text);
    throw shieldError('EINVAL', `key file ${path} holds ${bytes.length} bytes: a key file is 32 raw bytes or 64 hex characters`, path);
  } finally {
    bytes.fill(0);
  }
}

/** A key given as text (64 hex characters, surrounding whitespace ignored); `what` says where it came from. */
export function keyFromHex(text: string, what: string): Buffer {
  const trimmed = text.trim();
  if (!HEX_KEY.test(trimmed)) {
    throw shieldError('EINVAL', `${what} is not a key: expected 64 hex characters, got ${trimmed.length} characters`);
  }
  return importKey(trimmed);
}

/** True for 64 hex characters (surrounding whitespace ignored), without importing the key. */
export function isHexKey(text: string): boolean {
  return HEX_KEY.test(text.trim());
}
