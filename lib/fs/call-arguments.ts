// node:fs's argument shapes for the operations: data to write, write options, read's overloads,
// encodings of returned paths. Checked before anything is touched, with node's error codes.
import type * as nodeFs from 'node:fs';
import { checkBuffer, outOfRange } from './node-errors.js';

export type Data = string | NodeJS.ArrayBufferView;
export type EncodingOption = BufferEncoding | 'buffer' | null | undefined;

export function isData(data: unknown): data is Data {
  return typeof data === 'string' || ArrayBuffer.isView(data);
}

export function toBuffer(data: Data, encoding: BufferEncoding): Buffer {
  if (typeof data === 'string') return Buffer.from(data, encoding);
  return Buffer.from(data.buffer, data.byteOffset, data.byteLength);
}

/** writeFile's options; `flag` a string or a number (O_WRONLY | O_CREAT | …), as node's open takes it. */
export function writeOptions(options: nodeFs.WriteFileOptions | undefined, defaultFlag: string):
  { encoding: BufferEncoding; flag: string | number; signal?: AbortSignal; flush: boolean } {
  if (typeof options === 'string') return { encoding: options, flag: defaultFlag, flush: false };
  const flag = options?.flag as string | number | undefined;
  return {
    encoding: (options?.encoding ?? 'utf8') as BufferEncoding,
    flag: flag === undefined || flag === null || flag === '' || flag === 0 ? defaultFlag : flag,
    signal: options?.signal ?? undefined,
    flush: (options as { flush?: unknown } | undefined)?.flush === true,
  };
}

export function readArguments<B extends NodeJS.ArrayBufferView>(bufferOrOptions?: B | nodeFs.ReadAsyncOptions<B>,
  offsetOrOptions?: number | nodeFs.ReadAsyncOptions<B> | null, length?: number | null, position?: nodeFs.ReadPosition | null):
  { buffer: NodeJS.ArrayBufferView; offset: number; length: number; position: number | null } {
  let buffer: NodeJS.ArrayBufferView, options: nodeFs.ReadAsyncOptions<B> = {};
  if (bufferOrOptions === undefined || (!ArrayBuffer.isView(bufferOrOptions) && typeof bufferOrOptions === 'object')) {
    options = (bufferOrOptions ?? {}) as nodeFs.ReadAsyncOptions<B>;
    buffer = options.buffer ?? Buffer.alloc(16384);
  } else {
    checkBuffer(bufferOrOptions);
    buffer = bufferOrOptions;
    if (offsetOrOptions !== null && typeof offsetOrOptions === 'object') options = offsetOrOptions;
    else options = { offset: offsetOrOptions ?? 0, length: length ?? undefined, position: position ?? null };
  }
  const offset = options.offset ?? 0;
  // As node (`length |= 0`): the checks (validate-arguments.ts) let any length through that this makes sense of.
  const count = (options.length ?? buffer.byteLength - offset) | 0;
  if (offset < 0 || offset > buffer.byteLength) throw outOfRange('offset', `>= 0 && <= ${buffer.byteLength}`, offset);
  if (count < 0 || offset + count > buffer.byteLength) throw outOfRange('length', `<= ${buffer.byteLength - offset}`, count);
  const at = options.position;
  return { buffer, offset, length: count, position: typeof at === 'bigint' ? fileOffset(Number(at)) : fileOffset(at) };
}

/**
 * A position as libuv takes it: a non-negative safe integer is an offset; anything else (-1, any
 * negative, null, a fraction, NaN, a non-number) is the descriptor's current position.
 */
export function fileOffset(position: unknown): number | null {
  return Number.isSafeInteger(position) && (position as number) >= 0 ? position as number : null;
}

export function encoded(path: string, options?: { encoding?: EncodingOption } | BufferEncoding | null): string | Buffer {
  const encoding = typeof options === 'string' ? options : options?.encoding;
  return encoding === 'buffer' ? Buffer.from(path) : encoding && encoding !== 'utf8' && encoding !== 'utf-8' ? Buffer.from(path).toString(encoding) : path;
}
