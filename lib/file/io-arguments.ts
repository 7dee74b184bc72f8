// The argument checks every file class shares: (buffer, offset, length, position) of read/write,
// and non-negative integers. Checked once, before anything is touched.
import { invalidArgument } from './errors.js';

export type IoArguments = [buffer: Uint8Array, offset: number, length: number, position: number];

export function checkInteger(value: unknown, name: string): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
    throw invalidArgument(`${name} must be a non-negative integer, got ${String(value)}`);
  }
  return value;
}

export function ioArguments(buffer: unknown, offset?: number, length?: number, position?: number): IoArguments {
  if (!ArrayBuffer.isView(buffer)) throw invalidArgument('buffer must be a Buffer, TypedArray or DataView');
  // A resizable ArrayBuffer could shrink under a call running on another thread.
  if ((buffer.buffer as ArrayBuffer & { resizable?: boolean }).resizable) {
    throw invalidArgument('buffer must not be backed by a resizable ArrayBuffer');
  }
  const bytes =
    buffer instanceof Uint8Array ? buffer : new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.byteLength);
  const checkedOffset = checkInteger(offset ?? 0, 'offset');
  if (checkedOffset > bytes.byteLength) throw invalidArgument(`offset ${checkedOffset} is past the buffer's end`);
  const checkedLength = checkInteger(length ?? bytes.byteLength - checkedOffset, 'length');
  if (checkedOffset + checkedLength > bytes.byteLength) {
    throw invalidArgument(`offset + length (${checkedOffset + checkedLength}) is past the buffer's end (${bytes.byteLength})`);
  }
  return [bytes, checkedOffset, checkedLength, checkInteger(position ?? 0, 'position')];
}
