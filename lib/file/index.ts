// The file layer: one protected file. ShieldedFile (chunked AES-256-GCM under a Merkle tree, in the
// native core), keys in secure memory, key files, the shield's error codes and node-shaped errors, the
// native binding itself, durable small-file replaces, and the gensync driver that lets an operation be
// written once for its synchronous and asynchronous forms. The bottom layer: it imports no other
// subsystem (README, "Layout").
export { ShieldedFile, type OpenOptions } from './shielded-file.js';
export { generateKey, importKey, wipeKey, KEY_BYTES } from './keys.js';
export { readKeyFile } from './key-file.js';
export { isShieldError, type ShieldError, type ShieldErrorCode } from './errors.js';
export { native, type NativeBinding } from './native.js';
