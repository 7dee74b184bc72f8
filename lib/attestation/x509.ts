// Certificates and CRLs for the verifiers: chains are checked with node:crypto (signatures, names,
// validity at the caller's clock, a pinned root); the parts node:crypto does not expose (extensions
// with vendor OIDs, CRLs) are read with asn1js, and every failure becomes an AttestationError.
import { X509Certificate, createHash, verify as verifySignature, type KeyObject } from 'node:crypto';
import * as asn1js from 'asn1js';
import { AttestationError } from './evidence.js';
import { hex, malformed, refuse } from './bytes.js';

/** A certificate larger than this is not one a platform vendor issues. */
const CERTIFICATE_LIMIT = 16 * 1024;
const CRL_LIMIT = 1024 * 1024;

export function parseCertificate(input: Uint8Array | string, what: string): X509Certificate {
  const size = typeof input === 'string' ? input.length : input.byteLength;
  if (size === 0 || size > CERTIFICATE_LIMIT * 2) throw malformed(`${what}: a certificate of ${size} bytes`);
  try {
    return new X509Certificate(typeof input === 'string' ? input : Buffer.from(input.buffer, input.byteOffset, input.byteLength));
  } catch (error) {
    throw malformed(`${what}: not an X.509 certificate (${(error as Error).message})`);
  }
}

/** Splits a PEM bundle into certificates, in order. */
export function parsePemChain(pem: string, what: string): X509Certificate[] {
  const blocks = pem.match(/-----BEGIN CERTIFICATE-----[^-]+-----END CERTIFICATE-----/g) ?? [];
  if (blocks.length === 0) throw malformed(`${what}: no PEM certificate found`);
  if (blocks.length > 8) throw malformed(`${what}: ${blocks.length} certificates, more than any vendor chain has`);
  return blocks.map((block, index) => parseCertificate(block, `${what} certificate ${index}`));
}

export function sha256Fingerprint(certificate: X509Certificate): string {
  return createHash('sha256').update(certificate.raw).digest('hex');
}

/** Is `now` inside the certificate's validity? Refuses with 'expired' naming the certificate and its window. */
export function checkValidity(certificate: X509Certificate, now: Date, what: string): void {
  const from = new Date(certificate.validFrom);
  const to = new Date(certificate.validTo);
  if (now < from || now > to) {
    throw refuse('expired', `${what} (${certificate.subject.replace(/\n/g, ', ')}) is valid from ${from.toISOString()} to ` +
      `${to.toISOString()}, not at ${now.toISOString()}: verify at a time inside that window or obtain fresh evidence`);
  }
}

/**
 * Checks `chain` (leaf first, the root last) link by link: each certificate names and is signed by the
 * next, every one but the leaf is a CA, every one is valid at `now`, and the last is the pinned root
 * (its SHA-256 fingerprint compiled into the verifier).
 */
export function verifyChain(chain: readonly X509Certificate[], rootFingerprints: readonly string[], now: Date, what: string): void {
  if (chain.length < 2) throw refuse('chain', `${what}: a chain needs a leaf and a root, got ${chain.length} certificate(s)`);
  const root = chain[chain.length - 1]!;
  const rootFingerprint = sha256Fingerprint(root);
  if (!rootFingerprints.includes(rootFingerprint)) {
    throw refuse('chain', `${what}: the chain ends at ${root.subject.replace(/\n/g, ', ')} (SHA-256 ${rootFingerprint}), ` +
      `not at the pinned root: the evidence was not issued by the platform vendor`);
  }
  for (let index = 0; index < chain.length; index++) {
    const certificate = chain[index]!;
    const issuer = chain[Math.min(index + 1, chain.length - 1)]!;
    const name = index === 0 ? `${what} leaf` : index === chain.length - 1 ? `${what} root` : `${what} intermediate ${index}`;
    if (index > 0 && !certificate.ca) throw refuse('chain', `${name} is not a CA certificate but issues the certificate below it`);
    if (!certificate.checkIssued(issuer) || !safeVerify(certificate, issuer.publicKey)) {
      throw refuse('chain', `${name} (${certificate.subject.replace(/\n/g, ', ')}) is not signed by ` +
        `${issuer.subject.replace(/\n/g, ', ')}: a certificate was altered or the chain is not the vendor's`);
    }
    checkValidity(certificate, now, name);
  }
}

function safeVerify(certificate: X509Certificate, key: KeyObject): boolean {
  try {
    return certificate.verify(key);
  } catch {
    return false;
  }
}

/** Verifies a signature made by a certificate's key; `raw` signatures are r‖s (IEEE P1363), else DER. */
export function verifyWithKey(key: KeyObject, hash: 'sha256' | 'sha384', data: Uint8Array, signature: Uint8Array, raw: boolean): boolean {
  try {
    return verifySignature(hash, data, raw ? { key, dsaEncoding: 'ieee-p1363' } : key, signature);
  } catch {
    return false;
  }
}

function decodeDer(der: Uint8Array, what: string): asn1js.AsnType {
  const copy = new Uint8Array(der); // asn1js keeps views into the buffer it parses
  let decoded: ReturnType<typeof asn1js.fromBER>;
  try {
    decoded = asn1js.fromBER(copy.buffer);
  } catch (error) {
    // asn1js throws (rather than reporting) on some malformed values, e.g. a UTCTime with non-digits.
    throw malformed(`${what}: not DER (${(error as Error).message})`);
  }
  if (decoded.offset === -1 || decoded.offset !== copy.byteLength) {
    throw malformed(`${what}: not DER (${decoded.result.error || 'trailing bytes'})`);
  }
  return decoded.result;
}

function children(block: asn1js.AsnType | undefined, what: string): asn1js.AsnType[] {
  const value = (block as { valueBlock?: { value?: unknown } } | undefined)?.valueBlock?.value;
  if (!(block instanceof asn1js.Constructed) || !Array.isArray(value)) throw malformed(`${what}: expected a constructed DER element`);
  return value as asn1js.AsnType[];
}

function isContextTag(block: asn1js.AsnType | undefined, tag: number): boolean {
  return block !== undefined && block.idBlock.tagClass === 3 && block.idBlock.tagNumber === tag;
}

/** The extensions of a certificate by OID, each as the raw content of its extnValue OCTET STRING. */
export function certificateExtensions(certificate: X509Certificate, what: string): Map<string, Uint8Array> {
  const tbs = children(children(decodeDer(certificate.raw, what), what)[0], `${what} TBSCertificate`);
  const extensions = new Map<string, Uint8Array>();
  const wrapper = tbs.find((element) => isContextTag(element, 3));
  if (!wrapper) return extensions;
  for (const extension of children(children(wrapper, `${what} extensions`)[0], `${what} extensions`)) {
    const parts = children(extension, `${what} extension`);
    const oid = parts[0];
    const value = parts[parts.length - 1];
    if (!(oid instanceof asn1js.ObjectIdentifier) || !(value instanceof asn1js.OctetString)) throw malformed(`${what}: an extension is not OID + OCTET STRING`);
    extensions.set(oid.valueBlock.toString(), new Uint8Array(value.valueBlock.valueHexView));
  }
  return extensions;
}

/** A generic DER element for reading vendor extensions (Intel's SGX extension, AMD's TCB integers). */
export function parseDer(der: Uint8Array, what: string): asn1js.AsnType {
  return decodeDer(der, what);
}

export function derChildren(block: asn1js.AsnType | undefined, what: string): asn1js.AsnType[] {
  return children(block, what);
}

export function derInteger(block: asn1js.AsnType | undefined, what: string): number {
  if (!(block instanceof asn1js.Integer || block instanceof asn1js.Enumerated)) throw malformed(`${what}: expected an INTEGER`);
  const value = block.valueBlock.valueDec;
  if (!Number.isSafeInteger(value) || value < 0) throw malformed(`${what}: INTEGER out of range`);
  return value;
}

export function derOctets(block: asn1js.AsnType | undefined, what: string): Uint8Array {
  if (!(block instanceof asn1js.OctetString)) throw malformed(`${what}: expected an OCTET STRING`);
  return new Uint8Array(block.valueBlock.valueHexView);
}

export function derOid(block: asn1js.AsnType | undefined, what: string): string {
  if (!(block instanceof asn1js.ObjectIdentifier)) throw malformed(`${what}: expected an OBJECT IDENTIFIER`);
  return block.valueBlock.toString();
}

export interface CertificateRevocationList {
  thisUpdate: Date;
  nextUpdate: Date | undefined;
  /** Revoked serial numbers, upper-case hex without leading zeros (as X509Certificate.serialNumber after normalizeSerial). */
  revokedSerials: Set<string>;
  signedBytes: Uint8Array;
  signatureAlgorithm: string;
  signature: Uint8Array;
}

const SIGNATURE_HASHES: Record<string, 'sha256' | 'sha384'> = {
  '1.2.840.10045.4.3.2': 'sha256',
  '1.2.840.10045.4.3.3': 'sha384',
};

export function normalizeSerial(serial: string): string {
  return serial.toUpperCase().replace(/^0+(?=.)/, '');
}

export function parseCrl(der: Uint8Array, what: string): CertificateRevocationList {
  if (der.byteLength === 0 || der.byteLength > CRL_LIMIT) throw malformed(`${what}: a CRL of ${der.byteLength} bytes`);
  const [tbsBlock, algorithmBlock, signatureBlock] = children(decodeDer(der, what), what);
  const tbs = children(tbsBlock, `${what} TBSCertList`);
  let index = tbs[0] instanceof asn1js.Integer ? 1 : 0;
  index += 2; // signature AlgorithmIdentifier, issuer Name
  const thisUpdate = derTime(tbs[index++], `${what} thisUpdate`);
  let nextUpdate: Date | undefined;
  if (tbs[index] instanceof asn1js.UTCTime || tbs[index] instanceof asn1js.GeneralizedTime) nextUpdate = derTime(tbs[index++], `${what} nextUpdate`);
  const revokedSerials = new Set<string>();
  const list = tbs[index];
  if (list instanceof asn1js.Sequence) {
    for (const entry of children(list, `${what} revokedCertificates`)) {
      const serial = children(entry, `${what} revoked entry`)[0];
      if (!(serial instanceof asn1js.Integer)) throw malformed(`${what}: a revoked entry without a serial number`);
      revokedSerials.add(normalizeSerial(hex(new Uint8Array(serial.valueBlock.valueHexView))));
    }
  }
  const algorithm = derOid(children(algorithmBlock, `${what} signatureAlgorithm`)[0], `${what} signatureAlgorithm`);
  if (!(signatureBlock instanceof asn1js.BitString)) throw malformed(`${what}: no signature BIT STRING`);
  return {
    thisUpdate,
    nextUpdate,
    revokedSerials,
    signedBytes: new Uint8Array((tbsBlock as asn1js.Sequence).valueBeforeDecodeView),
    signatureAlgorithm: algorithm,
    signature: new Uint8Array(signatureBlock.valueBlock.valueHexView),
  };
}

function derTime(block: asn1js.AsnType | undefined, what: string): Date {
  if (!(block instanceof asn1js.UTCTime || block instanceof asn1js.GeneralizedTime)) throw malformed(`${what}: expected a time`);
  const date = block.toDate();
  if (Number.isNaN(date.getTime())) throw malformed(`${what}: not a valid time`);
  return date;
}

/** The CRL is signed by `issuer` and current at `now`; then none of `certificates` may be on it. */
export function checkRevocation(crl: CertificateRevocationList, issuer: X509Certificate, now: Date, certificates: readonly X509Certificate[], what: string): void {
  const hash = SIGNATURE_HASHES[crl.signatureAlgorithm];
  if (!hash) throw malformed(`${what}: unsupported signature algorithm ${crl.signatureAlgorithm}`);
  if (!verifyWithKey(issuer.publicKey, hash, crl.signedBytes, crl.signature, false)) {
    throw refuse('crl', `${what} is not signed by ${issuer.subject.replace(/\n/g, ', ')}: the CRL was altered or belongs to another issuer; supply the vendor's CRL`);
  }
  if (now < crl.thisUpdate || (crl.nextUpdate && now > crl.nextUpdate)) {
    throw refuse('expired', `${what} is current from ${crl.thisUpdate.toISOString()} to ${crl.nextUpdate?.toISOString() ?? 'open end'}, ` +
      `not at ${now.toISOString()}: supply collateral fetched at the verification time`);
  }
  for (const certificate of certificates) {
    if (crl.revokedSerials.has(normalizeSerial(certificate.serialNumber))) {
      throw refuse('revoked', `${certificate.subject.replace(/\n/g, ', ')} (serial ${certificate.serialNumber}) is revoked by ${what}`);
    }
  }
}

export function asAttestationError(error: unknown, what: string): AttestationError {
  if (error instanceof AttestationError) return error;
  return malformed(`${what}: ${(error as Error)?.message ?? String(error)}`);
}
