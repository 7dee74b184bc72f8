// Bounds-checked reading of the fixed binary layouts that platforms sign (SNP reports, DCAP quotes).
// Every read names the structure and field it reads, so a truncated input is refused as 'malformed'
// with the place it ran out, never with a RangeError from deep inside Buffer.
import { AttestationError } from './evidence.js';

export class ByteReader {
  private offset = 0;

  constructor(private readonly bytes: Uint8Array, private readonly what: string) {}

  get position(): number {
    return this.offset;
  }

  get remaining(): number {
    return this.bytes.length - this.offset;
  }

  take(length: number, field: string): Uint8Array {
    if (!Number.isSafeInteger(length) || length < 0 || length > this.remaining) {
      throw malformed(`${this.what}: ${field} needs ${length} bytes at offset ${this.offset}, only ${this.remaining} left`);
    }
    const slice = this.bytes.subarray(this.offset, this.offset + length);
    this.offset += length;
    return slice;
  }

  u8(field: string): number {
    return this.take(1, field)[0]!;
  }

  u16(field: string): number {
    const b = this.take(2, field);
    return b[0]! | (b[1]! << 8);
  }

  u32(field: string): number {
    const b = this.take(4, field);
    return (b[0]! | (b[1]! << 8) | (b[2]! << 16) | (b[3]! << 24)) >>> 0;
  }

  u64(field: string): bigint {
    const b = this.take(8, field);
    return Buffer.from(b.buffer, b.byteOffset, 8).readBigUInt64LE(0);
  }

  /** Refuses trailing bytes: a signed structure with extra data after it is not what the platform produced. */
  end(): void {
    if (this.remaining !== 0) throw malformed(`${this.what}: ${this.remaining} unexpected bytes after the end at offset ${this.offset}`);
  }
}

export function malformed(message: string): AttestationError {
  return new AttestationError('malformed', `${message}; the evidence is truncated, corrupted or not of the declared type`);
}

export function refuse(reason: string, message: string): AttestationError {
  return new AttestationError(reason, message);
}

export function hex(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('hex');
}

export function isAllZero(bytes: Uint8Array): boolean {
  return bytes.every((b) => b === 0);
}

export function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && Buffer.compare(Buffer.from(a.buffer, a.byteOffset, a.byteLength), Buffer.from(b.buffer, b.byteOffset, b.byteLength)) === 0;
}

/** Refuses evidence larger than a platform ever produces before any parsing starts. */
export function checkSize(evidence: Uint8Array, limit: number, what: string): void {
  if (!(evidence instanceof Uint8Array)) throw malformed(`${what}: evidence must be bytes`);
  if (evidence.length > limit) throw malformed(`${what}: ${evidence.length} bytes exceed the limit of ${limit}`);
  if (evidence.length === 0) throw malformed(`${what}: evidence is empty`);
}

/** The report-data binding every verifier applies last: the caller's nonce/key digest must be what the platform signed. */
export function checkReportData(actual: Uint8Array, expected: Uint8Array | undefined, field: string): void {
  if (expected === undefined) return;
  if (!equalBytes(actual, expected)) {
    throw refuse('report-data', `the evidence's ${field} ${hex(actual)} is not the expected ${hex(expected)}: ` +
      'the evidence was made for another session, nonce or key (replayed or forwarded)');
  }
}

export function checkNow(now: Date): void {
  if (!(now instanceof Date) || Number.isNaN(now.getTime())) {
    throw new AttestationError('clock', 'VerifyContext.now is not a valid Date: give the time at which certificates must be valid');
  }
}
