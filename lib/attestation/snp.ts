// AMD SEV-SNP attestation reports (SEV-SNP ABI specification 56860, "ATTESTATION_REPORT"): 1,184
// bytes, the first 0x2A0 signed with ECDSA P-384/SHA-384 by the chip's VCEK (or a cloud provider's
// VLEK). The VCEK chains VCEK ← ASK ← ARK (VLEK ← ASVK ← ARK), AMD's certificates for Milan, Genoa and
// Turin are compiled in (amd-roots.ts), and the VCEK's TCB extensions must equal the report's
// REPORTED_TCB: a VCEK is issued per chip and per TCB, so an older firmware cannot borrow a newer key.
import type { X509Certificate } from 'node:crypto';
import type { Claims, EvidenceVerifier, VerifyContext } from './evidence.js';
import { AMD_CERTIFICATE_AUTHORITIES, type SnpGeneration } from './amd-roots.js';
import { ByteReader, checkNow, checkReportData, equalBytes, hex, isAllZero, malformed, refuse } from './bytes.js';
import { certificateExtensions, derInteger, derOctets, parseCertificate, parseDer, verifyChain, verifyWithKey } from './x509.js';

export const SNP_REPORT_SIZE = 1184;
const SIGNED_LENGTH = 0x2a0;
const SIGNATURE_ALGORITHM_ECDSA_P384_SHA384 = 1;
const POLICY_DEBUG_BIT = 1n << 19n;

// AMD's VCEK extensions (Versioned Chip Endorsement Key specification 57230, table "VCEK extensions").
const OID_BOOTLOADER = '1.3.6.1.4.1.3704.1.3.1';
const OID_TEE = '1.3.6.1.4.1.3704.1.3.2';
const OID_SNP = '1.3.6.1.4.1.3704.1.3.3';
const OID_MICROCODE = '1.3.6.1.4.1.3704.1.3.8';
const OID_FMC = '1.3.6.1.4.1.3704.1.3.9';
const OID_HARDWARE_ID = '1.3.6.1.4.1.3704.1.4';

export interface SnpTcb {
  bootloader: number;
  tee: number;
  snp: number;
  microcode: number;
  /** Turin only. */
  fmc?: number;
}

/** The report's fields as the ABI lays them out; nothing in it is trusted before the signature checks out. */
export interface SnpReport {
  version: number;
  guestSvn: number;
  policy: bigint;
  familyId: Uint8Array;
  imageId: Uint8Array;
  vmpl: number;
  signatureAlgorithm: number;
  currentTcb: bigint;
  platformInfo: bigint;
  /** Bits 2–4 of the key-info word: 0 VCEK, 1 VLEK. */
  signingKey: number;
  maskChipId: boolean;
  reportData: Uint8Array;
  measurement: Uint8Array;
  hostData: Uint8Array;
  idKeyDigest: Uint8Array;
  authorKeyDigest: Uint8Array;
  reportId: Uint8Array;
  reportIdMa: Uint8Array;
  reportedTcb: bigint;
  chipId: Uint8Array;
  committedTcb: bigint;
  launchTcb: bigint;
  signatureR: Uint8Array;
  signatureS: Uint8Array;
}

export const snpVerifier: EvidenceVerifier = {
  type: 'snp',
  async verify(evidence: Uint8Array, context: VerifyContext): Promise<Claims> {
    return verifySnp(evidence, context);
  },
};

export function parseSnpReport(bytes: Uint8Array): SnpReport {
  if (!(bytes instanceof Uint8Array)) throw malformed('SNP report: evidence must be bytes');
  if (bytes.length !== SNP_REPORT_SIZE) throw malformed(`SNP report: ${bytes.length} bytes, a report is exactly ${SNP_REPORT_SIZE}`);
  const r = new ByteReader(bytes, 'SNP report');
  const version = r.u32('VERSION');
  if (version < 2 || version > 5) throw malformed(`SNP report: VERSION ${version} is not 2 to 5`);
  const guestSvn = r.u32('GUEST_SVN');
  const policy = r.u64('POLICY');
  const familyId = r.take(16, 'FAMILY_ID');
  const imageId = r.take(16, 'IMAGE_ID');
  const vmpl = r.u32('VMPL');
  const signatureAlgorithm = r.u32('SIGNATURE_ALGO');
  const currentTcb = r.u64('CURRENT_TCB');
  const platformInfo = r.u64('PLATFORM_INFO');
  const keyInfo = r.u32('KEY_INFO');
  r.take(4, 'reserved');
  const reportData = r.take(64, 'REPORT_DATA');
  const measurement = r.take(48, 'MEASUREMENT');
  const hostData = r.take(32, 'HOST_DATA');
  const idKeyDigest = r.take(48, 'ID_KEY_DIGEST');
  const authorKeyDigest = r.take(48, 'AUTHOR_KEY_DIGEST');
  const reportId = r.take(32, 'REPORT_ID');
  const reportIdMa = r.take(32, 'REPORT_ID_MA');
  const reportedTcb = r.u64('REPORTED_TCB');
  r.take(0x1a0 - 0x188, 'CPUID and reserved');
  const chipId = r.take(64, 'CHIP_ID');
  const committedTcb = r.u64('COMMITTED_TCB');
  r.take(8, 'CURRENT and COMMITTED versions');
  const launchTcb = r.u64('LAUNCH_TCB');
  r.take(SIGNED_LENGTH - 0x1f8, 'reserved');
  const signatureR = r.take(72, 'SIGNATURE.R');
  const signatureS = r.take(72, 'SIGNATURE.S');
  // The rest of the signature field is reserved and unsigned: a report with anything but zeros there
  // was not produced by the firmware, and accepting it would let one report have many encodings.
  if (!isAllZero(r.take(SNP_REPORT_SIZE - r.position, 'SIGNATURE reserved'))) throw malformed('SNP report: non-zero bytes in the reserved part of SIGNATURE');
  r.end();
  return {
    version, guestSvn, policy, familyId, imageId, vmpl, signatureAlgorithm, currentTcb, platformInfo,
    signingKey: (keyInfo >>> 2) & 0x7, maskChipId: (keyInfo & 0x2) !== 0,
    reportData, measurement, hostData, idKeyDigest, authorKeyDigest, reportId, reportIdMa, reportedTcb, chipId,
    committedTcb, launchTcb, signatureR, signatureS,
  };
}

/** TCB_VERSION: Milan and Genoa put the bootloader in byte 0; Turin adds FMC in byte 0 and shifts the rest. */
export function decodeTcb(tcb: bigint, generation: SnpGeneration): SnpTcb {
  const byte = (index: number): number => Number((tcb >> BigInt(8 * index)) & 0xffn);
  if (generation === 'Turin') return { fmc: byte(0), bootloader: byte(1), tee: byte(2), snp: byte(3), microcode: byte(7) };
  return { bootloader: byte(0), tee: byte(1), snp: byte(6), microcode: byte(7) };
}

export function verifySnp(evidence: Uint8Array, context: VerifyContext): Claims {
  checkNow(context.now);
  const report = parseSnpReport(evidence);
  if (report.signatureAlgorithm !== SIGNATURE_ALGORITHM_ECDSA_P384_SHA384) {
    throw malformed(`SNP report: SIGNATURE_ALGO ${report.signatureAlgorithm} is not ECDSA P-384 with SHA-384 (1)`);
  }
  if (report.signingKey !== 0 && report.signingKey !== 1) {
    throw refuse('signature', `SNP report: signed by key kind ${report.signingKey}, neither a VCEK (0) nor a VLEK (1)`);
  }
  const keyName = report.signingKey === 0 ? 'VCEK' : 'VLEK';
  if (!context.vcek) {
    throw refuse('missing-vcek', `SNP report: no ${keyName} certificate given; fetch it from AMD's KDS for this chip and TCB and pass it (--vcek)`);
  }
  const endorsement = parseCertificate(pemOrDer(context.vcek), `SNP ${keyName} certificate`);
  const generation = verifyEndorsementChain(endorsement, report.signingKey === 0, context.now, keyName);

  const signature = Buffer.concat([littleEndianScalar(report.signatureR, 'R'), littleEndianScalar(report.signatureS, 'S')]);
  if (!verifyWithKey(endorsement.publicKey, 'sha384', evidence.subarray(0, SIGNED_LENGTH), signature, true)) {
    throw refuse('signature', `the SNP report's signature does not verify with the ${keyName}: the report was altered or the ${keyName} belongs to another chip`);
  }

  const reportedTcb = decodeTcb(report.reportedTcb, generation);
  checkEndorsedTcb(endorsement, reportedTcb, keyName);
  if (report.signingKey === 0 && !report.maskChipId) checkEndorsedChip(endorsement, report.chipId, generation);
  checkReportData(report.reportData, context.expectedReportData, 'REPORT_DATA');

  const debug = (report.policy & POLICY_DEBUG_BIT) !== 0n;
  return {
    type: 'snp',
    measurement: hex(report.measurement),
    reportData: hex(report.reportData),
    debug,
    tcbStatus: 'NotApplicable',
    advisoryIds: [],
    platform: {
      generation,
      version: report.version,
      signing_key: keyName.toLowerCase(),
      guest_svn: report.guestSvn,
      policy: `0x${report.policy.toString(16)}`,
      vmpl: report.vmpl,
      measurement: hex(report.measurement),
      host_data: hex(report.hostData),
      report_data: hex(report.reportData),
      family_id: hex(report.familyId),
      image_id: hex(report.imageId),
      id_key_digest: hex(report.idKeyDigest),
      author_key_digest: hex(report.authorKeyDigest),
      report_id: hex(report.reportId),
      chip_id: hex(report.chipId),
      platform_info: `0x${report.platformInfo.toString(16)}`,
      reported_tcb: reportedTcb,
      current_tcb: decodeTcb(report.currentTcb, generation),
      committed_tcb: decodeTcb(report.committedTcb, generation),
      launch_tcb: decodeTcb(report.launchTcb, generation),
    },
  };
}

function pemOrDer(bytes: Uint8Array): Uint8Array | string {
  const start = Buffer.from(bytes.subarray(0, 64)).toString('latin1');
  return start.includes('-----BEGIN') ? Buffer.from(bytes).toString('latin1') : bytes;
}

/** Finds the generation whose ASK (VCEK) or ASVK (VLEK) issued the certificate and checks the chain to its ARK. */
function verifyEndorsementChain(endorsement: X509Certificate, isVcek: boolean, now: Date, keyName: string): SnpGeneration {
  for (const [generation, authorities] of Object.entries(AMD_CERTIFICATE_AUTHORITIES) as [SnpGeneration, (typeof AMD_CERTIFICATE_AUTHORITIES)[SnpGeneration]][]) {
    const intermediate = parseCertificate(isVcek ? authorities.ask : authorities.asvk, `AMD ${generation} ${isVcek ? 'ASK' : 'ASVK'}`);
    if (!endorsement.checkIssued(intermediate)) continue;
    const ark = parseCertificate(authorities.ark, `AMD ${generation} ARK`);
    verifyChain([endorsement, intermediate, ark], [authorities.arkSha256], now, `SNP ${keyName} chain (${generation})`);
    return generation;
  }
  throw refuse('chain', `the ${keyName} is issued by ${endorsement.issuer.replace(/\n/g, ', ')}, which is not AMD's ` +
    `${isVcek ? 'ASK' : 'ASVK'} for Milan, Genoa or Turin: the certificate is not AMD's`);
}

/** The report stores R and S as 72-byte little-endian integers; P-384 scalars fit in 48 bytes. */
function littleEndianScalar(field: Uint8Array, name: string): Buffer {
  if (!isAllZero(field.subarray(48))) throw refuse('signature', `SNP report: SIGNATURE.${name} does not fit in 48 bytes`);
  return Buffer.from(field.subarray(0, 48)).reverse();
}

function extensionInteger(extensions: Map<string, Uint8Array>, oid: string, what: string): number {
  const value = extensions.get(oid);
  if (!value) throw refuse('vcek-tcb', `the ${what} extension (${oid}) is missing from the certificate`);
  return derInteger(parseDer(value, what), what);
}

function checkEndorsedTcb(endorsement: X509Certificate, reported: SnpTcb, keyName: string): void {
  const extensions = certificateExtensions(endorsement, `SNP ${keyName}`);
  const endorsed: SnpTcb = {
    bootloader: extensionInteger(extensions, OID_BOOTLOADER, `${keyName} blSPL`),
    tee: extensionInteger(extensions, OID_TEE, `${keyName} teeSPL`),
    snp: extensionInteger(extensions, OID_SNP, `${keyName} snpSPL`),
    microcode: extensionInteger(extensions, OID_MICROCODE, `${keyName} ucodeSPL`),
  };
  if (reported.fmc !== undefined) endorsed.fmc = extensionInteger(extensions, OID_FMC, `${keyName} fmcSPL`);
  for (const component of Object.keys(reported) as (keyof SnpTcb)[]) {
    if (endorsed[component] !== reported[component]) {
      throw refuse('vcek-tcb', `the report's REPORTED_TCB ${component} ${reported[component]} is not the ${keyName}'s ` +
        `${endorsed[component]}: fetch the ${keyName} for this TCB (the report may claim a TCB its firmware does not have)`);
    }
  }
}

function checkEndorsedChip(endorsement: X509Certificate, chipId: Uint8Array, generation: SnpGeneration): void {
  const raw = certificateExtensions(endorsement, 'SNP VCEK').get(OID_HARDWARE_ID);
  if (!raw) throw refuse('vcek-chip-id', 'the VCEK has no hwID extension');
  // AMD has issued hwID both as the raw bytes and wrapped in an OCTET STRING.
  let hardwareId = raw;
  if (raw.length !== 64 && raw.length !== 8) hardwareId = derOctets(parseDer(raw, 'VCEK hwID'), 'VCEK hwID');
  // Turin VCEKs carry an 8-byte hwID: the report's CHIP_ID holds it followed by zeros.
  const expected = generation === 'Turin' && hardwareId.length === 8 ? chipId.subarray(0, 8) : chipId;
  if (!equalBytes(hardwareId, expected)) {
    throw refuse('vcek-chip-id', `the report's CHIP_ID ${hex(chipId).slice(0, 32)}… is not the VCEK's hwID ${hex(hardwareId).slice(0, 32)}…: the VCEK belongs to another chip`);
  }
}
