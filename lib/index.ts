export { ShieldedFile, type OpenOptions } from './shielded-file.js';
export { generateKey, importKey, wipeKey, KEY_BYTES } from './keys.js';
export { isShieldError, type ShieldError, type ShieldErrorCode } from './errors.js';
