// node:crypto, loaded the first time it is used. Loading it costs a process 10–15 ms (some twenty
// internal modules, and streams with them), and what the register does at start-up (mounting the
// protected trees, reading their modules) needs none of it: the header MAC comparison on opening a
// volume goes through libsodium (keys.ts, equalInConstantTime). New ids, temporary names and
// authenticated regions load it when they first need it. The functions are node:crypto's own.
import type * as NodeCrypto from 'node:crypto';

let loaded: typeof NodeCrypto | undefined;

function nodeCrypto(): typeof NodeCrypto {
  return (loaded ??= process.getBuiltinModule('node:crypto'));
}

export function randomBytes(size: number): Buffer {
  return nodeCrypto().randomBytes(size);
}

export function createHash(algorithm: string): NodeCrypto.Hash {
  return nodeCrypto().createHash(algorithm);
}

export function timingSafeEqual(a: NodeJS.ArrayBufferView, b: NodeJS.ArrayBufferView): boolean {
  return nodeCrypto().timingSafeEqual(a, b);
}
