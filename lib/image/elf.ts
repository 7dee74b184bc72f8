// The little sconify needs to know about an ELF executable or shared object from an image: its
// architecture and its program interpreter (the dynamic loader names the C library: glibc's
// ld-linux-*.so.*, or musl's ld-musl-*.so.1), and which versions of glibc and libstdc++ symbols it
// references. Every offset read from the file is checked against the bytes actually read.
import { shieldError } from '../file/fs-errors.js';

export interface ElfInfo {
  bits: 32 | 64;
  littleEndian: boolean;
  /** e_machine: 62 x86-64, 183 AArch64, … */
  machine: number;
  /** PT_INTERP: the dynamic loader's path, or null for a static executable or a shared object. */
  interpreter: string | null;
}

const PT_INTERP = 3;
const MAX_PROGRAM_HEADERS = 4096;
const MAX_INTERPRETER_BYTES = 4096;

export const ELF_MACHINES: Record<number, string> = { 3: 'x86', 40: 'arm', 62: 'x86-64', 183: 'aarch64', 243: 'riscv', 21: 'ppc64', 22: 's390' };

/**
 * Parses the ELF header and program headers in `head` (the first bytes of the file; 64 KiB is
 * plenty for the program headers and the interpreter of any real executable). `where` names the file.
 */
export function parseElf(head: Uint8Array, where: string): ElfInfo {
  const bytes = Buffer.from(head.buffer, head.byteOffset, head.byteLength);
  const fail = (what: string): never => {
    throw shieldError('EINVAL', `${where} is not a usable ELF file: ${what}`, where);
  };
  if (bytes.length < 52 || bytes.readUInt32BE(0) !== 0x7f454c46) fail('no ELF header');
  const elfClass = bytes[4];
  const data = bytes[5];
  if (elfClass !== 1 && elfClass !== 2) fail(`unknown class ${elfClass}`);
  if (data !== 1 && data !== 2) fail(`unknown byte order ${data}`);
  const bits = elfClass === 2 ? 64 : 32;
  const le = data === 1;
  const u16 = (at: number): number => (le ? bytes.readUInt16LE(at) : bytes.readUInt16BE(at));
  const u32 = (at: number): number => (le ? bytes.readUInt32LE(at) : bytes.readUInt32BE(at));
  const u64 = (at: number): number => {
    const value = le ? bytes.readBigUInt64LE(at) : bytes.readBigUInt64BE(at);
    if (value > BigInt(Number.MAX_SAFE_INTEGER)) fail(`offset ${value} at ${at} is out of range`);
    return Number(value);
  };
  if (bits === 64 && bytes.length < 64) fail('truncated header');
  const machine = u16(18);
  const phoff = bits === 64 ? u64(32) : u32(28);
  const phentsize = u16(bits === 64 ? 54 : 42);
  const phnum = u16(bits === 64 ? 56 : 44);
  const minimumEntry = bits === 64 ? 56 : 32;
  let interpreter: string | null = null;
  if (phnum > 0) {
    if (phentsize < minimumEntry) fail(`program header size ${phentsize} is too small`);
    if (phnum > MAX_PROGRAM_HEADERS) fail(`${phnum} program headers`);
    if (phoff + phnum * phentsize > bytes.length) fail('program headers lie past the bytes read');
    for (let i = 0; i < phnum; i++) {
      const at = phoff + i * phentsize;
      if (u32(at) !== PT_INTERP) continue;
      const offset = bits === 64 ? u64(at + 8) : u32(at + 4);
      const size = bits === 64 ? u64(at + 32) : u32(at + 16);
      if (size === 0 || size > MAX_INTERPRETER_BYTES) fail(`interpreter of ${size} bytes`);
      if (offset + size > bytes.length) fail('interpreter lies past the bytes read');
      const raw = bytes.subarray(offset, offset + size);
      const end = raw.indexOf(0);
      interpreter = raw.subarray(0, end < 0 ? raw.length : end).toString('latin1');
      break;
    }
  }
  return { bits, littleEndian: le, machine, interpreter };
}

export function machineName(machine: number): string {
  return ELF_MACHINES[machine] ?? `ELF machine ${machine}`;
}

/** The C library an interpreter path names. */
export function libcOfInterpreter(interpreter: string | null): 'glibc' | 'musl' | 'unknown' {
  if (interpreter === null) return 'unknown';
  if (/ld-musl-[^/]*\.so/.test(interpreter)) return 'musl';
  if (/ld-linux[^/]*\.so|ld\d*\.so/.test(interpreter)) return 'glibc';
  return 'unknown';
}

export interface SymbolVersions {
  /** Highest GLIBC_x.y referenced or defined, e.g. [2, 33]; null when none. */
  glibc: number[] | null;
  /** Highest GLIBCXX_3.4.n referenced or defined. */
  glibcxx: number[] | null;
  /** The file names libstdc++ (a shared object that needs it, or is it). */
  mentionsLibstdcxx: boolean;
}

/**
 * The highest symbol versions named in a binary's bytes. A shared object that *needs* GLIBC_2.33 names
 * it in its version-needs table; a libc that *provides* it names it in its version definitions: the
 * same search answers both ("what is required" and "what is there").
 */
export class SymbolVersionScanner {
  private glibc: number[] | null = null;
  private glibcxx: number[] | null = null;
  private libstdcxx = false;
  private carry = '';

  update(chunk: Uint8Array): void {
    // latin1 keeps one character per byte; the carry lets a name span two chunks.
    const text = this.carry + Buffer.from(chunk.buffer, chunk.byteOffset, chunk.byteLength).toString('latin1');
    for (const match of text.matchAll(/GLIBC(XX)?_(\d{1,3}(?:\.\d{1,4}){1,3})/g)) {
      const version = match[2]!.split('.').map(Number);
      if (match[1]) this.glibcxx = higher(this.glibcxx, version);
      else this.glibc = higher(this.glibc, version);
    }
    if (text.includes('libstdc++.so.6')) this.libstdcxx = true;
    this.carry = text.slice(-32);
  }

  result(): SymbolVersions {
    return { glibc: this.glibc, glibcxx: this.glibcxx, mentionsLibstdcxx: this.libstdcxx };
  }
}

export function compareVersions(a: readonly number[], b: readonly number[]): number {
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    const d = (a[i] ?? 0) - (b[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}

function higher(current: number[] | null, candidate: number[]): number[] {
  return current === null || compareVersions(candidate, current) > 0 ? candidate : current;
}
