// Known-answer tests of the native AES-256-GCM (native.gcmSeal / native.gcmOpen): the 256-bit,
// 96-bit-IV test cases 13–16 of McGrew & Viega, "The Galois/Counter Mode of Operation (GCM)"
// (also NIST's GCM test vectors), Wycheproof-style negative cases, and a differential check
// against node:crypto over many lengths.
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { describe, expect, test } from 'vitest';
import { native } from '../lib/file/native.js';

interface Vector {
  name: string;
  key: string;
  iv: string;
  aad: string;
  plaintext: string;
  ciphertext: string;
  tag: string;
}

const ZERO_KEY = '0000000000000000000000000000000000000000000000000000000000000000';
const SPEC_KEY = 'feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308';

const VECTORS: Vector[] = [
  {
    name: 'Test Case 13 (zero key, empty plaintext)',
    key: ZERO_KEY,
    iv: '000000000000000000000000',
    aad: '',
    plaintext: '',
    ciphertext: '',
    tag: '530f8afbc74536b9a963b4f1c4cb738b',
  },
  {
    name: 'Test Case 14 (zero key, one zero block)',
    key: ZERO_KEY,
    iv: '000000000000000000000000',
    aad: '',
    plaintext: '00000000000000000000000000000000',
    ciphertext: 'cea7403d4d606b6e074ec5d3baf39d18',
    tag: 'd0d1c8a799996bf0265b98b5d48ab919',
  },
  {
    name: 'Test Case 15 (64 bytes, no AAD)',
    key: SPEC_KEY,
    iv: 'cafebabefacedbaddecaf888',
    aad: '',
    plaintext:
      'd9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72' +
      '1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b391aafd255',
    ciphertext:
      '522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa' +
      '8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662898015ad',
    tag: 'b094dac5d93471bdec1a502270e3cc6c',
  },
  {
    name: 'Test Case 16 (60 bytes, 20 bytes of AAD)',
    key: SPEC_KEY,
    iv: 'cafebabefacedbaddecaf888',
    aad: 'feedfacedeadbeeffeedfacedeadbeefabaddad2',
    plaintext:
      'd9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72' +
      '1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39',
    ciphertext:
      '522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa' +
      '8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662',
    tag: '76fc6ece0f4e1768cddf8853bb2d551b',
  },
];

const hex = (s: string): Buffer => Buffer.from(s, 'hex');

function nodeSeal(key: Buffer, iv: Buffer, aad: Buffer, plaintext: Buffer): Buffer {
  const cipher = createCipheriv('aes-256-gcm', key, iv);
  cipher.setAAD(aad);
  return Buffer.concat([cipher.update(plaintext), cipher.final(), cipher.getAuthTag()]);
}

function nodeOpen(key: Buffer, iv: Buffer, aad: Buffer, sealed: Buffer): Buffer | null {
  const decipher = createDecipheriv('aes-256-gcm', key, iv);
  decipher.setAAD(aad);
  decipher.setAuthTag(sealed.subarray(sealed.length - 16));
  try {
    return Buffer.concat([decipher.update(sealed.subarray(0, sealed.length - 16)), decipher.final()]);
  } catch {
    return null;
  }
}

function flipBit(bytes: Buffer, bit: number): Buffer {
  const copy = Buffer.from(bytes);
  copy[bit >> 3]! ^= 1 << (bit & 7);
  return copy;
}

describe('AES-256-GCM known answers (GCM spec test cases 13–16)', () => {
  for (const v of VECTORS) {
    test(v.name, () => {
      const [key, iv, aad, plaintext] = [hex(v.key), hex(v.iv), hex(v.aad), hex(v.plaintext)];
      const expected = v.ciphertext + v.tag;
      // The vector itself, double-checked against OpenSSL through node:crypto.
      expect(nodeSeal(key, iv, aad, plaintext).toString('hex')).toBe(expected);

      const sealed = native.gcmSeal(key, iv, aad, plaintext);
      expect(sealed.toString('hex')).toBe(expected);
      const opened = native.gcmOpen(key, iv, aad, hex(expected));
      expect(opened).not.toBeNull();
      expect(opened!.toString('hex')).toBe(v.plaintext);
    });
  }
});

describe('AES-256-GCM negative cases (Wycheproof style): gcmOpen returns null', () => {
  for (const v of VECTORS) {
    const [key, iv, aad] = [hex(v.key), hex(v.iv), hex(v.aad)];
    const sealed = hex(v.ciphertext + v.tag);
    const ctBits = (sealed.length - 16) * 8;

    test(`${v.name}: every single-bit flip of the tag`, () => {
      for (let bit = ctBits; bit < sealed.length * 8; bit++) {
        expect(native.gcmOpen(key, iv, aad, flipBit(sealed, bit))).toBeNull();
      }
    });

    test(`${v.name}: flipped ciphertext bits`, () => {
      if (ctBits === 0) return;
      for (const bit of [0, 7, 8, ctBits >> 1, ctBits - 8, ctBits - 1]) {
        expect(native.gcmOpen(key, iv, aad, flipBit(sealed, bit))).toBeNull();
      }
    });

    test(`${v.name}: flipped AAD bits, added or removed AAD`, () => {
      const aadBits = aad.length * 8;
      for (const bit of aadBits === 0 ? [] : [0, 7, aadBits >> 1, aadBits - 1]) {
        expect(native.gcmOpen(key, iv, flipBit(aad, bit), sealed)).toBeNull();
      }
      expect(native.gcmOpen(key, iv, Buffer.concat([aad, Buffer.of(0)]), sealed)).toBeNull();
      if (aad.length > 0) expect(native.gcmOpen(key, iv, aad.subarray(1), sealed)).toBeNull();
    });

    test(`${v.name}: flipped key and nonce bits`, () => {
      for (const bit of [0, 100, 255]) expect(native.gcmOpen(flipBit(key, bit), iv, aad, sealed)).toBeNull();
      for (const bit of [0, 50, 95]) expect(native.gcmOpen(key, flipBit(iv, bit), aad, sealed)).toBeNull();
    });

    test(`${v.name}: truncated tag, zeroed tag, extended ciphertext`, () => {
      for (const cut of [1, 4, 8, 12]) {
        const truncated = sealed.subarray(0, sealed.length - cut);
        if (truncated.length >= 16) {
          expect(native.gcmOpen(key, iv, aad, truncated)).toBeNull();
        } else {
          // Too short to hold a tag at all: refused as an invalid argument, never opened.
          expect(() => native.gcmOpen(key, iv, aad, truncated)).toThrow(/EINVAL/);
        }
      }
      const zeroTag = Buffer.concat([sealed.subarray(0, sealed.length - 16), Buffer.alloc(16)]);
      expect(native.gcmOpen(key, iv, aad, zeroTag)).toBeNull();
      const extended = Buffer.concat([sealed.subarray(0, sealed.length - 16), Buffer.of(0), sealed.subarray(sealed.length - 16)]);
      expect(native.gcmOpen(key, iv, aad, extended)).toBeNull();
    });
  }
});

describe('AES-256-GCM differential check against node:crypto', () => {
  test('random keys, nonces, AAD and lengths 0…300, 4096, 65536', () => {
    const lengths = [...Array.from({ length: 301 }, (_, i) => i), 4095, 4096, 4097, 65536];
    for (const length of lengths) {
      const key = randomBytes(32);
      const iv = randomBytes(12);
      const aad = randomBytes(length % 41);
      const plaintext = randomBytes(length);
      const sealed = native.gcmSeal(key, iv, aad, plaintext);
      expect(sealed.equals(nodeSeal(key, iv, aad, plaintext))).toBe(true);
      expect(native.gcmOpen(key, iv, aad, sealed)?.equals(plaintext)).toBe(true);
      expect(nodeOpen(key, iv, aad, sealed)?.equals(plaintext)).toBe(true);
      if (length > 0) expect(native.gcmOpen(key, iv, aad, flipBit(sealed, (length * 8 * 7) >> 3))).toBeNull();
    }
  });

  test('the chunk shape of FORMAT.md: 24-byte AAD, 4 KiB and 1 MiB plaintexts', () => {
    for (const length of [4096, 1 << 20]) {
      const key = randomBytes(32);
      const iv = randomBytes(12);
      const aad = randomBytes(24);
      const plaintext = randomBytes(length);
      const sealed = native.gcmSeal(key, iv, aad, plaintext);
      expect(sealed.length).toBe(length + 16);
      expect(sealed.equals(nodeSeal(key, iv, aad, plaintext))).toBe(true);
      expect(native.gcmOpen(key, iv, aad, sealed)?.equals(plaintext)).toBe(true);
    }
  });

  test('invalid key and nonce lengths are refused', () => {
    const sealed = native.gcmSeal(Buffer.alloc(32), Buffer.alloc(12), Buffer.alloc(0), Buffer.alloc(0));
    expect(() => native.gcmSeal(Buffer.alloc(16), Buffer.alloc(12), Buffer.alloc(0), Buffer.alloc(1))).toThrow();
    expect(() => native.gcmSeal(Buffer.alloc(32), Buffer.alloc(16), Buffer.alloc(0), Buffer.alloc(1))).toThrow();
    expect(() => native.gcmOpen(Buffer.alloc(31), Buffer.alloc(12), Buffer.alloc(0), sealed)).toThrow();
    expect(() => native.gcmOpen(Buffer.alloc(32), Buffer.alloc(8), Buffer.alloc(0), sealed)).toThrow();
  });
});
