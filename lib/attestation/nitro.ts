// AWS Nitro Enclaves attestation documents: a COSE_Sign1 (RFC 9052; tagged 18 or untagged) whose
// payload is the CBOR attestation document of the Nitro Secure Module, signed with ES384 by the leaf
// `certificate`, which chains through `cabundle` to the AWS Nitro Enclaves root. The root is pinned by
// its SHA-256 fingerprint (AWS publishes it with the root at
// https://aws-nitro-enclaves.amazonaws.com/AWS_NitroEnclaves_Root-G1.zip); the bundle's own copy is only
// accepted when it hashes to that value.
import { decode, encode } from 'cborg';
import type { X509Certificate } from 'node:crypto';
import { AttestationError, type Claims, type EvidenceVerifier, type VerifyContext } from './evidence.js';
import { checkNow, checkReportData, checkSize, hex, malformed, refuse } from './bytes.js';
import { parseCertificate, verifyChain, verifyWithKey } from './x509.js';

export const AWS_NITRO_ROOT_G1_SHA256 = '641a0321a3e244efe456463195d606317ed7cdcc3c1756e09893f3c68f79bb5b';

/** The NSM caps a document at 16 KiB of payload; anything far beyond is not a Nitro document. */
export const NITRO_EVIDENCE_LIMIT = 32 * 1024;
const COSE_SIGN1_TAG = 18;
const ES384 = -35;
const PCR_COUNT = 16;

interface NitroDocument {
  moduleId: string;
  digest: string;
  timestamp: number;
  pcrs: Map<number, Uint8Array>;
  certificate: Uint8Array;
  cabundle: Uint8Array[];
  publicKey: Uint8Array | null;
  userData: Uint8Array | null;
  nonce: Uint8Array | null;
}

export const nitroVerifier: EvidenceVerifier = {
  type: 'nitro',
  async verify(evidence: Uint8Array, context: VerifyContext): Promise<Claims> {
    return verifyNitro(evidence, context);
  },
};

export function verifyNitro(evidence: Uint8Array, context: VerifyContext): Claims {
  checkNow(context.now);
  checkSize(evidence, NITRO_EVIDENCE_LIMIT, 'Nitro attestation document');
  const { protectedHeader, payload, signature } = decodeCoseSign1(evidence);
  const document = decodeDocument(payload);

  const leaf = parseCertificate(document.certificate, 'Nitro document certificate');
  // cabundle runs from the root down to the leaf's issuer; the chain check wants the leaf first.
  const chain: X509Certificate[] = [leaf];
  for (let index = document.cabundle.length - 1; index >= 0; index--) {
    chain.push(parseCertificate(document.cabundle[index]!, `Nitro cabundle[${index}]`));
  }
  verifyChain(chain, [AWS_NITRO_ROOT_G1_SHA256], context.now, 'Nitro certificate chain');

  const signed = encode(['Signature1', protectedHeader, new Uint8Array(0), payload]);
  if (signature.length !== 96 || !verifyWithKey(leaf.publicKey, 'sha384', signed, signature, true)) {
    throw refuse('signature', 'the Nitro document\'s COSE signature does not verify with its certificate: the document was altered');
  }
  const issued = new Date(document.timestamp);
  if (issued < new Date(leaf.validFrom) || issued > new Date(leaf.validTo)) {
    throw refuse('expired', `the Nitro document's timestamp ${issued.toISOString()} is outside its certificate's validity`);
  }

  const userData = document.userData ?? new Uint8Array(0);
  checkReportData(userData, context.expectedReportData, 'user_data');

  const pcrs: Record<string, string> = {};
  for (let index = 0; index < PCR_COUNT; index++) pcrs[String(index)] = hex(document.pcrs.get(index)!);
  // An enclave started with --debug-mode reports all-zero PCRs 0–2: its memory is readable by the parent.
  const debug = [0, 1, 2].every((index) => document.pcrs.get(index)!.every((b) => b === 0));
  return {
    type: 'nitro',
    measurement: pcrs['0']!,
    reportData: hex(userData),
    debug,
    tcbStatus: 'NotApplicable',
    advisoryIds: [],
    platform: {
      module_id: document.moduleId,
      digest: document.digest,
      timestamp: issued.toISOString(),
      pcrs,
      user_data: document.userData ? hex(document.userData) : null,
      nonce: document.nonce ? hex(document.nonce) : null,
      public_key: document.publicKey ? hex(document.publicKey) : null,
    },
  };
}

function decodeCbor(bytes: Uint8Array, what: string): unknown {
  try {
    const tags: ((inner: unknown) => unknown)[] = [];
    tags[COSE_SIGN1_TAG] = (inner) => inner;
    return decode(bytes, { useMaps: true, rejectDuplicateMapKeys: true, strict: true, allowUndefined: false, tags });
  } catch (error) {
    throw malformed(`${what}: not valid CBOR (${(error as Error).message})`);
  }
}

function decodeCoseSign1(evidence: Uint8Array): { protectedHeader: Uint8Array; payload: Uint8Array; signature: Uint8Array } {
  const sign1 = decodeCbor(evidence, 'Nitro COSE_Sign1');
  if (!Array.isArray(sign1) || sign1.length !== 4) throw malformed('Nitro COSE_Sign1: expected an array of 4 (protected, unprotected, payload, signature)');
  const [protectedHeader, , payload, signature] = sign1 as unknown[];
  if (!(protectedHeader instanceof Uint8Array) || !(payload instanceof Uint8Array) || !(signature instanceof Uint8Array)) {
    throw malformed('Nitro COSE_Sign1: protected header, payload and signature must be byte strings');
  }
  const header = decodeCbor(protectedHeader, 'Nitro COSE protected header');
  if (!(header instanceof Map) || header.get(1) !== ES384) {
    throw malformed('Nitro COSE protected header: the algorithm (label 1) must be ES384 (-35)');
  }
  return { protectedHeader, payload, signature };
}

function decodeDocument(payload: Uint8Array): NitroDocument {
  const map = decodeCbor(payload, 'Nitro attestation document');
  if (!(map instanceof Map)) throw malformed('Nitro attestation document: expected a CBOR map');
  const text = (key: string): string => {
    const value = map.get(key);
    if (typeof value !== 'string' || value.length === 0 || value.length > 256) throw malformed(`Nitro attestation document: ${key} must be a non-empty text`);
    return value;
  };
  const bytes = (key: string, max: number): Uint8Array => {
    const value = map.get(key);
    if (!(value instanceof Uint8Array) || value.length === 0 || value.length > max) throw malformed(`Nitro attestation document: ${key} must be 1 to ${max} bytes`);
    return value;
  };
  const optional = (key: string): Uint8Array | null => {
    const value = map.get(key);
    if (value === undefined || value === null) return null;
    if (!(value instanceof Uint8Array) || value.length > 1024) throw malformed(`Nitro attestation document: ${key} must be null or at most 1024 bytes`);
    return value;
  };
  const digest = text('digest');
  if (digest !== 'SHA384') throw malformed(`Nitro attestation document: digest ${digest} is not SHA384`);
  const timestamp = map.get('timestamp');
  if (typeof timestamp !== 'number' || !Number.isSafeInteger(timestamp) || timestamp <= 0) {
    throw malformed('Nitro attestation document: timestamp must be milliseconds since 1970');
  }
  const pcrMap = map.get('pcrs');
  if (!(pcrMap instanceof Map) || pcrMap.size < PCR_COUNT || pcrMap.size > 32) throw malformed(`Nitro attestation document: pcrs must map 0–${PCR_COUNT - 1} (at most 32 entries)`);
  const pcrs = new Map<number, Uint8Array>();
  for (const [index, value] of pcrMap) {
    if (typeof index !== 'number' || !Number.isInteger(index) || index < 0 || index >= 32) throw malformed(`Nitro attestation document: PCR index ${String(index)}`);
    if (!(value instanceof Uint8Array) || ![32, 48, 64].includes(value.length)) throw malformed(`Nitro attestation document: PCR${index} must be 32, 48 or 64 bytes`);
    pcrs.set(index, value);
  }
  for (let index = 0; index < PCR_COUNT; index++) if (!pcrs.has(index)) throw malformed(`Nitro attestation document: PCR${index} is missing`);
  const cabundle = map.get('cabundle');
  if (!Array.isArray(cabundle) || cabundle.length === 0 || cabundle.length > 8) throw malformed('Nitro attestation document: cabundle must list 1 to 8 certificates');
  for (const entry of cabundle) if (!(entry instanceof Uint8Array)) throw malformed('Nitro attestation document: cabundle entries must be byte strings');
  return {
    moduleId: text('module_id'),
    digest,
    timestamp,
    pcrs,
    certificate: bytes('certificate', 16 * 1024),
    cabundle: cabundle as Uint8Array[],
    publicKey: optional('public_key'),
    userData: optional('user_data'),
    nonce: optional('nonce'),
  };
}

/** Evidence files hold the COSE bytes or, as AWS SDKs print them, their base64 text. */
export function nitroEvidenceFromFile(content: Uint8Array): Uint8Array {
  const text = Buffer.from(content).toString('latin1').trim();
  if (/^[A-Za-z0-9+/=\s]+$/.test(text) && text.length >= 16) {
    const decoded = Buffer.from(text.replace(/\s+/g, ''), 'base64');
    if (decoded.length > 0) return new Uint8Array(decoded);
  }
  return content;
}

export { AttestationError };
