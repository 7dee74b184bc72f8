// Loads the addon: a prebuild or the build from `npm install` (node-gyp-build), or the file named
// by SHIELDFS_ADDON (the sanitizer build of `npm run test:sanitize`).
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

export interface NativeOpenOptions {
  create?: boolean;
  readOnly?: boolean;
  chunkSize?: number;
  cacheBytes?: number;
  expectedTag?: string;
  expectedFileId?: string;
  keyBudget?: number;
}

export interface NativeFileInfo {
  size: number;
  tag: string;
  fileId: string;
  keyId: string;
  chunkSize: number;
  encryptions: number;
}

type Callback<T> = (error: NodeJS.ErrnoException | null, result: T) => void;

export interface NativeFile {
  readSync(buffer: Uint8Array, offset: number, length: number, position: number): number;
  read(buffer: Uint8Array, offset: number, length: number, position: number, callback: Callback<number>): void;
  writeSync(buffer: Uint8Array, offset: number, length: number, position: number): number;
  write(buffer: Uint8Array, offset: number, length: number, position: number, callback: Callback<number>): void;
  truncateSync(length: number): void;
  truncate(length: number, callback: Callback<undefined>): void;
  flushSync(): string;
  flush(callback: Callback<string>): void;
  closeSync(): string;
  close(callback: Callback<string>): void;
  info(): NativeFileInfo;
}

export interface NativeBinding {
  openSync(path: string, key: Uint8Array, options: NativeOpenOptions): NativeFile;
  open(path: string, key: Uint8Array, options: NativeOpenOptions, callback: Callback<NativeFile>): void;
  gcmSeal(key: Buffer, nonce: Buffer, aad: Buffer, plaintext: Buffer): Buffer;
  gcmOpen(key: Buffer, nonce: Buffer, aad: Buffer, sealed: Buffer): Buffer | null;
  gcmThroughput(chunkBytes: number, threads: number, seconds: number): number;
  cores: number;
}

const require = createRequire(import.meta.url);
const packageRoot = fileURLToPath(new URL('..', import.meta.url));

export const native: NativeBinding = process.env.SHIELDFS_ADDON
  ? require(process.env.SHIELDFS_ADDON)
  : require('node-gyp-build')(packageRoot);
