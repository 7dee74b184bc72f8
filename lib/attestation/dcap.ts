// Intel DCAP quotes (SGX and TDX; quote versions 3, 4 and 5) verified against collateral supplied with
// the evidence (Intel's PCS / a PCCS: TCB info, QE identity, their issuer chains, the root CA CRL and the
// PCK CRL). Written here with node:crypto rather than taken from @phala/dcap-qvl: that library (0.3.9)
// ignores CRLs it cannot parse and never checks a CRL's signature or dates, and it refuses debug
// enclaves outright where our policy must see and judge them. The checks follow Intel's "Quote
// Verification" flow of the SGX DCAP QVL and the ECDSA Quote Library API:
//   1. the PCK chain in the quote ends at Intel's SGX Root CA (pinned by fingerprint), none of it revoked;
//   2. TCB info and QE identity are signed by Intel's TCB signing certificate and current at `now`;
//   3. the QE report is signed by the PCK, and binds the attestation key (its REPORT_DATA);
//   4. the QE is Intel's (MRSIGNER, ISVPRODID, masked MISCSELECT/ATTRIBUTES) and its ISVSVN gives a status;
//   5. the quote (header ‖ body) is signed by the attestation key;
//   6. the PCK's CPUSVN/PCESVN (and, for TDX, TEE_TCB_SVN and the TDX module) select the TCB level,
//      whose status and advisories are reported in Intel's spelling.
import { createHash, createPublicKey, type KeyObject, type X509Certificate } from 'node:crypto';
import type { Claims, EvidenceType, VerifyContext } from './evidence.js';
import { ByteReader, checkNow, checkReportData, checkSize, equalBytes, hex, isAllZero, malformed, refuse } from './bytes.js';
import {
  certificateExtensions, checkRevocation, derChildren, derInteger, derOctets, derOid, parseCrl, parseDer, parsePemChain,
  verifyChain, verifyWithKey,
} from './x509.js';

/** Intel SGX Root CA (CN=Intel SGX Root CA, valid 2018-05-21 to 2049-12-31), https://certificates.trustedservices.intel.com/Intel_SGX_Provisioning_Certification_RootCA.cer */
export const INTEL_SGX_ROOT_CA_SHA256 = '44a0196b2b99f889b8e149e95b807a350e7424964399e885a7cbb8ccfab674d3';

export const DCAP_QUOTE_LIMIT = 64 * 1024;
const COLLATERAL_FIELD_LIMIT = 1024 * 1024;
const HEADER_LENGTH = 48;
const ATTESTATION_KEY_ECDSA_P256 = 2;
const TEE_SGX = 0x00000000;
const TEE_TDX = 0x00000081;
const CERTIFICATION_PCK_CHAIN = 5;
const CERTIFICATION_QE_REPORT = 6;
const INTEL_VENDOR_ID = '939a7233f79c4ca9940a0db3957f0607';

const OID_SGX_EXTENSIONS = '1.2.840.113741.1.13.1';
const OID_SGX_TCB = '1.2.840.113741.1.13.1.2';
const OID_SGX_PCESVN = '1.2.840.113741.1.13.1.2.17';
const OID_SGX_PCE_ID = '1.2.840.113741.1.13.1.3';
const OID_SGX_FMSPC = '1.2.840.113741.1.13.1.4';

export interface SgxReportBody {
  cpuSvn: Uint8Array;
  miscSelect: number;
  attributes: Uint8Array;
  mrEnclave: Uint8Array;
  mrSigner: Uint8Array;
  isvProdId: number;
  isvSvn: number;
  reportData: Uint8Array;
}

export interface TdReportBody {
  teeTcbSvn: Uint8Array;
  mrSeam: Uint8Array;
  mrSignerSeam: Uint8Array;
  seamAttributes: Uint8Array;
  tdAttributes: Uint8Array;
  xfam: Uint8Array;
  mrTd: Uint8Array;
  mrConfigId: Uint8Array;
  mrOwner: Uint8Array;
  mrOwnerConfig: Uint8Array;
  rtmr: Uint8Array[];
  reportData: Uint8Array;
  /** TDX 1.5 (quote v5 body type 3). */
  teeTcbSvn2?: Uint8Array;
  mrServiceTd?: Uint8Array;
}

export interface DcapQuote {
  version: number;
  teeType: number;
  qeVendorId: Uint8Array;
  body: { kind: 'sgx'; report: SgxReportBody } | { kind: 'tdx'; report: TdReportBody };
  signedBytes: Uint8Array;
  signature: Uint8Array;
  attestationKey: Uint8Array;
  qeReportBytes: Uint8Array;
  qeReport: SgxReportBody;
  qeReportSignature: Uint8Array;
  qeAuthData: Uint8Array;
  pckChainPem: string;
}

function readSgxReportBody(r: ByteReader): SgxReportBody {
  const cpuSvn = r.take(16, 'CPUSVN');
  const miscSelect = r.u32('MISCSELECT');
  r.take(28, 'reserved');
  const attributes = r.take(16, 'ATTRIBUTES');
  const mrEnclave = r.take(32, 'MRENCLAVE');
  r.take(32, 'reserved');
  const mrSigner = r.take(32, 'MRSIGNER');
  r.take(96, 'reserved');
  const isvProdId = r.u16('ISVPRODID');
  const isvSvn = r.u16('ISVSVN');
  r.take(60, 'reserved');
  const reportData = r.take(64, 'REPORTDATA');
  return { cpuSvn, miscSelect, attributes, mrEnclave, mrSigner, isvProdId, isvSvn, reportData };
}

function readTdReportBody(r: ByteReader, tdx15: boolean): TdReportBody {
  const body: TdReportBody = {
    teeTcbSvn: r.take(16, 'TEE_TCB_SVN'),
    mrSeam: r.take(48, 'MRSEAM'),
    mrSignerSeam: r.take(48, 'MRSIGNERSEAM'),
    seamAttributes: r.take(8, 'SEAMATTRIBUTES'),
    tdAttributes: r.take(8, 'TDATTRIBUTES'),
    xfam: r.take(8, 'XFAM'),
    mrTd: r.take(48, 'MRTD'),
    mrConfigId: r.take(48, 'MRCONFIGID'),
    mrOwner: r.take(48, 'MROWNER'),
    mrOwnerConfig: r.take(48, 'MROWNERCONFIG'),
    rtmr: [r.take(48, 'RTMR0'), r.take(48, 'RTMR1'), r.take(48, 'RTMR2'), r.take(48, 'RTMR3')],
    reportData: r.take(64, 'REPORTDATA'),
  };
  if (tdx15) {
    body.teeTcbSvn2 = r.take(16, 'TEE_TCB_SVN_2');
    body.mrServiceTd = r.take(48, 'MRSERVICETD');
  }
  return body;
}

export function parseDcapQuote(quote: Uint8Array): DcapQuote {
  checkSize(quote, DCAP_QUOTE_LIMIT, 'DCAP quote');
  const r = new ByteReader(quote, 'DCAP quote');
  const version = r.u16('header VERSION');
  const attestationKeyType = r.u16('header ATT_KEY_TYPE');
  const teeType = r.u32('header TEE_TYPE');
  r.take(4, 'header QE_SVN/PCE_SVN');
  const qeVendorId = r.take(16, 'header QE_VENDOR_ID');
  r.take(20, 'header USER_DATA');
  if (version < 3 || version > 5) throw malformed(`DCAP quote: version ${version} is not 3, 4 or 5`);
  if (attestationKeyType !== ATTESTATION_KEY_ECDSA_P256) throw malformed(`DCAP quote: attestation key type ${attestationKeyType} is not ECDSA P-256 (2)`);
  if (teeType !== TEE_SGX && teeType !== TEE_TDX) throw malformed(`DCAP quote: TEE type 0x${teeType.toString(16)} is neither SGX (0) nor TDX (0x81)`);
  if (version === 3 && teeType !== TEE_SGX) throw malformed('DCAP quote: a version 3 quote must be SGX');

  let body: DcapQuote['body'];
  if (version === 5) {
    const bodyType = r.u16('body TYPE');
    const bodySize = r.u32('body SIZE');
    const expected = bodyType === 1 ? 384 : bodyType === 2 ? 584 : bodyType === 3 ? 648 : -1;
    if (expected < 0 || bodySize !== expected) throw malformed(`DCAP quote: v5 body type ${bodyType} with size ${bodySize}`);
    if ((bodyType === 1) !== (teeType === TEE_SGX)) throw malformed('DCAP quote: v5 body type does not match the TEE type');
    const bodyReader = new ByteReader(r.take(bodySize, 'body'), 'DCAP quote body');
    body = bodyType === 1 ? { kind: 'sgx', report: readSgxReportBody(bodyReader) } : { kind: 'tdx', report: readTdReportBody(bodyReader, bodyType === 3) };
    bodyReader.end();
  } else {
    body = teeType === TEE_SGX ? { kind: 'sgx', report: readSgxReportBody(r) } : { kind: 'tdx', report: readTdReportBody(r, false) };
  }
  const signedBytes = quote.subarray(0, r.position);
  const signatureDataLength = r.u32('signature data LENGTH');
  const s = new ByteReader(r.take(signatureDataLength, 'signature data'), 'DCAP quote signature data');
  // Quotes read from a fixed-size buffer (e.g. the TDX guest driver's) come zero-padded; anything else after the end is refused.
  if (!isAllZero(r.take(r.remaining, 'padding'))) throw malformed('DCAP quote: non-zero bytes after the signature data');
  const signature = s.take(64, 'ISV ECDSA signature');
  const attestationKey = s.take(64, 'ECDSA attestation key');
  let q = s;
  if (version >= 4) {
    const type = s.u16('certification data TYPE');
    if (type !== CERTIFICATION_QE_REPORT) throw malformed(`DCAP quote: certification data type ${type}, expected QE report certification data (6)`);
    q = new ByteReader(s.take(s.u32('certification data SIZE'), 'QE report certification data'), 'DCAP QE report certification data');
    s.end();
  }
  const qeReportBytes = q.take(384, 'QE REPORT');
  const qeReport = readSgxReportBody(new ByteReader(qeReportBytes, 'DCAP QE report'));
  const qeReportSignature = q.take(64, 'QE REPORT SIGNATURE');
  const qeAuthData = q.take(q.u16('QE AUTH DATA SIZE'), 'QE AUTH DATA');
  const certificationType = q.u16('PCK certification data TYPE');
  const certificationData = q.take(q.u32('PCK certification data SIZE'), 'PCK certification data');
  q.end();
  if (certificationType !== CERTIFICATION_PCK_CHAIN) {
    throw malformed(`DCAP quote: PCK certification data type ${certificationType}; only a PCK certificate chain in the quote (5) is supported — ` +
      'the platform must be configured to embed the PCK chain');
  }
  return {
    version, teeType, qeVendorId, body, signedBytes, signature, attestationKey, qeReportBytes, qeReport, qeReportSignature, qeAuthData,
    pckChainPem: Buffer.from(certificationData).toString('latin1').replace(/\0+$/, ''),
  };
}

// ---- collateral -------------------------------------------------------------------------------

/** The collateral as Intel's PCS/PCCS serves it (the shape dcap-qvl's get_collateral writes): CRLs in hex DER, chains in PEM, signed JSON as the exact signed text. */
export interface DcapCollateral {
  pck_crl_issuer_chain: string;
  root_ca_crl: string;
  pck_crl: string;
  tcb_info_issuer_chain: string;
  tcb_info: string;
  tcb_info_signature: string;
  qe_identity_issuer_chain: string;
  qe_identity: string;
  qe_identity_signature: string;
}

const COLLATERAL_FIELDS: (keyof DcapCollateral)[] = [
  'pck_crl_issuer_chain', 'root_ca_crl', 'pck_crl', 'tcb_info_issuer_chain', 'tcb_info', 'tcb_info_signature',
  'qe_identity_issuer_chain', 'qe_identity', 'qe_identity_signature',
];

function checkCollateral(collateral: unknown): DcapCollateral {
  if (collateral === undefined || collateral === null) {
    throw refuse('missing-collateral', 'DCAP verification needs collateral (TCB info, QE identity, CRLs) for this platform: fetch it from Intel PCS or a PCCS and pass it (--collateral)');
  }
  if (typeof collateral !== 'object') throw malformed('DCAP collateral: expected a JSON object');
  const record = collateral as Record<string, unknown>;
  for (const field of COLLATERAL_FIELDS) {
    const value = record[field];
    if (typeof value !== 'string' || value.length === 0 || value.length > COLLATERAL_FIELD_LIMIT) {
      throw malformed(`DCAP collateral: ${field} must be a non-empty string (hex for CRLs and signatures, PEM for chains, JSON text for tcb_info and qe_identity)`);
    }
  }
  return record as unknown as DcapCollateral;
}

function fromHex(text: string, what: string): Uint8Array {
  if (!/^(?:[0-9a-fA-F]{2})+$/.test(text)) throw malformed(`DCAP collateral: ${what} is not hex`);
  return new Uint8Array(Buffer.from(text, 'hex'));
}

type Json = Record<string, unknown>;

function parseJson(text: string, what: string): Json {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw malformed(`DCAP collateral: ${what} is not JSON (${(error as Error).message})`);
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) throw malformed(`DCAP collateral: ${what} is not a JSON object`);
  return value as Json;
}

function field<T>(object: Json, name: string, what: string, check: (value: unknown) => value is T, expected: string): T {
  const value = object[name];
  if (!check(value)) throw malformed(`DCAP collateral: ${what}.${name} must be ${expected}`);
  return value;
}
const isString = (v: unknown): v is string => typeof v === 'string';
const isNumber = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
const isObject = (v: unknown): v is Json => typeof v === 'object' && v !== null && !Array.isArray(v);
const isArray = (v: unknown): v is unknown[] => Array.isArray(v) && v.length <= 1024;

function hexField(object: Json, name: string, what: string, length: number): Uint8Array {
  const text = field(object, name, what, isString, `${length} bytes of hex`);
  const bytes = fromHex(text, `${what}.${name}`);
  if (bytes.length !== length) throw malformed(`DCAP collateral: ${what}.${name} must be ${length} bytes`);
  return bytes;
}

function dateField(object: Json, name: string, what: string): Date {
  const date = new Date(field(object, name, what, isString, 'an ISO 8601 time'));
  if (Number.isNaN(date.getTime())) throw malformed(`DCAP collateral: ${what}.${name} is not a time`);
  return date;
}

interface TcbLevelStatus {
  status: string;
  advisoryIds: string[];
}

function levelStatus(level: Json, what: string): TcbLevelStatus {
  const status = field(level, 'tcbStatus', what, isString, 'a TCB status');
  const advisories = level['advisoryIDs'] === undefined ? [] : field(level, 'advisoryIDs', what, isArray, 'a list');
  if (!advisories.every(isString)) throw malformed(`DCAP collateral: ${what}.advisoryIDs must be strings`);
  return { status, advisoryIds: advisories as string[] };
}

/** Signed JSON: the signature (r‖s hex) covers the exact text of the object, verified with the chain's leaf. */
function verifySignedJson(text: string, signatureHex: string, chainPem: string, what: string, crls: Crls, now: Date): Json {
  const chain = parsePemChain(chainPem, `${what} issuer chain`);
  verifyChain(chain, [INTEL_SGX_ROOT_CA_SHA256], now, `${what} issuer chain`);
  checkRevocation(crls.root, chain[chain.length - 1]!, now, chain.slice(1, -1).concat(chain[0]!), 'Intel root CA CRL');
  const signature = fromHex(signatureHex, `${what} signature`);
  if (signature.length !== 64 || !verifyWithKey(chain[0]!.publicKey, 'sha256', Buffer.from(text, 'utf8'), signature, true)) {
    throw refuse('collateral-signature', `the ${what} is not signed by Intel's TCB signing key: the collateral was altered`);
  }
  const outer = parseJson(text, what);
  const issueDate = dateField(outer, 'issueDate', what);
  const nextUpdate = dateField(outer, 'nextUpdate', what);
  if (now < issueDate || now > nextUpdate) {
    throw refuse('expired', `the ${what} is current from ${issueDate.toISOString()} to ${nextUpdate.toISOString()}, not at ` +
      `${now.toISOString()}: fetch collateral that is current at the verification time`);
  }
  return outer;
}

interface Crls {
  root: ReturnType<typeof parseCrl>;
  pck: ReturnType<typeof parseCrl>;
}

// ---- TCB status -------------------------------------------------------------------------------

/** Intel's convergence of the QE's (or TDX module's) status into the platform's (QVL, "TCB status convergence"). */
function convergeStatus(platform: TcbLevelStatus, other: TcbLevelStatus): TcbLevelStatus {
  const advisoryIds = [...new Set([...platform.advisoryIds, ...other.advisoryIds])];
  if (other.status === 'Revoked' || platform.status === 'Revoked') return { status: 'Revoked', advisoryIds };
  if (other.status === 'OutOfDate') {
    if (platform.status === 'UpToDate' || platform.status === 'SWHardeningNeeded') return { status: 'OutOfDate', advisoryIds };
    if (platform.status === 'ConfigurationNeeded' || platform.status === 'ConfigurationAndSWHardeningNeeded') return { status: 'OutOfDateConfigurationNeeded', advisoryIds };
  }
  return { status: platform.status, advisoryIds };
}

interface PckTcb {
  cpuSvn: number[];
  pceSvn: number;
  pceId: Uint8Array;
  fmspc: Uint8Array;
}

function readPckExtensions(pck: X509Certificate): PckTcb {
  const raw = certificateExtensions(pck, 'PCK certificate').get(OID_SGX_EXTENSIONS);
  if (!raw) throw refuse('chain', 'the PCK certificate has no Intel SGX extensions: it is not a PCK certificate');
  let tcb: PckTcb['cpuSvn'] | undefined;
  let pceSvn: number | undefined;
  let pceId: Uint8Array | undefined;
  let fmspc: Uint8Array | undefined;
  for (const entry of derChildren(parseDer(raw, 'PCK SGX extensions'), 'PCK SGX extensions')) {
    const [oidBlock, value] = derChildren(entry, 'PCK SGX extension');
    const oid = derOid(oidBlock, 'PCK SGX extension');
    if (oid === OID_SGX_TCB) {
      const components = new Array<number>(16).fill(-1);
      for (const item of derChildren(value, 'PCK TCB')) {
        const [componentOid, componentValue] = derChildren(item, 'PCK TCB component');
        const name = derOid(componentOid, 'PCK TCB component');
        const index = Number(name.slice(OID_SGX_TCB.length + 1));
        if (name === OID_SGX_PCESVN) pceSvn = derInteger(componentValue, 'PCK PCESVN');
        else if (index >= 1 && index <= 16 && name === `${OID_SGX_TCB}.${index}`) components[index - 1] = derInteger(componentValue, `PCK TCB component ${index}`);
      }
      if (components.some((c) => c < 0)) throw malformed('PCK certificate: a TCB component is missing');
      tcb = components;
    } else if (oid === OID_SGX_PCE_ID) pceId = derOctets(value, 'PCK PCE-ID');
    else if (oid === OID_SGX_FMSPC) fmspc = derOctets(value, 'PCK FMSPC');
  }
  if (!tcb || pceSvn === undefined || !pceId || !fmspc) throw malformed('PCK certificate: TCB, PCESVN, PCE-ID or FMSPC missing from the SGX extensions');
  return { cpuSvn: tcb, pceSvn, pceId, fmspc };
}

function svnsAtLeast(actual: ArrayLike<number>, required: unknown[], from: number, what: string): boolean {
  if (required.length !== 16) throw malformed(`DCAP collateral: ${what} must list 16 components`);
  for (let index = from; index < 16; index++) {
    const component = required[index];
    if (!isObject(component) || !isNumber(component['svn'])) throw malformed(`DCAP collateral: ${what}[${index}].svn must be a number`);
    if (actual[index]! < component['svn']) return false;
  }
  return true;
}

function platformTcbStatus(tcbInfo: Json, pck: PckTcb, tdReport: TdReportBody | undefined): TcbLevelStatus {
  const levels = field(tcbInfo, 'tcbLevels', 'tcbInfo', isArray, 'a list');
  // TDX: a TDX module of major version > 0 (TEE_TCB_SVN[1]) is judged by its own identity, so its two SVN bytes are skipped here.
  const tdxFrom = tdReport && tdReport.teeTcbSvn[1]! > 0 ? 2 : 0;
  for (const [index, level] of levels.entries()) {
    const what = `tcbInfo.tcbLevels[${index}]`;
    if (!isObject(level) || !isObject(level['tcb'])) throw malformed(`DCAP collateral: ${what}.tcb must be an object`);
    const tcb = level['tcb'];
    const sgx = field(tcb, 'sgxtcbcomponents', `${what}.tcb`, isArray, 'a list');
    if (!svnsAtLeast(pck.cpuSvn, sgx, 0, `${what}.tcb.sgxtcbcomponents`)) continue;
    if (pck.pceSvn < field(tcb, 'pcesvn', `${what}.tcb`, isNumber, 'a number')) continue;
    if (tdReport) {
      const tdx = field(tcb, 'tdxtcbcomponents', `${what}.tcb`, isArray, 'a list');
      if (!svnsAtLeast(tdReport.teeTcbSvn, tdx, tdxFrom, `${what}.tcb.tdxtcbcomponents`)) continue;
    }
    return levelStatus(level, what);
  }
  throw refuse('tcb-status', 'no TCB level of the TCB info matches the platform: its TCB is below every level Intel lists (treat as revoked)');
}

function tdxModuleStatus(tcbInfo: Json, report: TdReportBody): TcbLevelStatus | undefined {
  const majorVersion = report.teeTcbSvn[1]!;
  const matchModule = (module: Json, what: string): void => {
    const mrsigner = hexField(module, 'mrsigner', what, 48);
    const attributes = hexField(module, 'attributes', what, 8);
    const mask = hexField(module, 'attributesMask', what, 8);
    if (!equalBytes(mrsigner, report.mrSignerSeam)) throw refuse('tdx-module', `the TD's MRSIGNERSEAM ${hex(report.mrSignerSeam)} is not Intel's TDX module signer`);
    if (!attributes.every((byte, i) => byte === (report.seamAttributes[i]! & mask[i]!))) throw refuse('tdx-module', 'the TD\'s SEAMATTRIBUTES do not match the TDX module identity');
  };
  if (majorVersion === 0) {
    matchModule(field(tcbInfo, 'tdxModule', 'tcbInfo', isObject, 'an object'), 'tcbInfo.tdxModule');
    return undefined;
  }
  const identities = tcbInfo['tdxModuleIdentities'];
  if (identities === undefined) return undefined;
  if (!isArray(identities)) throw malformed('DCAP collateral: tcbInfo.tdxModuleIdentities must be a list');
  const id = `TDX_${majorVersion.toString(16).toUpperCase().padStart(2, '0')}`;
  const identity = identities.find((entry) => isObject(entry) && entry['id'] === id);
  if (!isObject(identity)) throw refuse('tdx-module', `the TCB info has no identity for TDX module ${id}: the module is unknown to Intel`);
  matchModule(identity, `tcbInfo.tdxModuleIdentities[${id}]`);
  const levels = field(identity, 'tcbLevels', id, isArray, 'a list');
  for (const [index, level] of levels.entries()) {
    if (!isObject(level) || !isObject(level['tcb'])) throw malformed(`DCAP collateral: ${id}.tcbLevels[${index}].tcb must be an object`);
    if (report.teeTcbSvn[0]! >= field(level['tcb'], 'isvsvn', `${id}.tcbLevels[${index}].tcb`, isNumber, 'a number')) return levelStatus(level, `${id}.tcbLevels[${index}]`);
  }
  throw refuse('tcb-status', `the TDX module's SVN ${report.teeTcbSvn[0]} is below every level of ${id} (treat as revoked)`);
}

function qeIdentityStatus(identity: Json, qe: SgxReportBody, isTdx: boolean): TcbLevelStatus {
  const expectedId = isTdx ? 'TD_QE' : 'QE';
  const id = field(identity, 'id', 'qeIdentity', isString, 'a text');
  if (id !== expectedId) throw refuse('qe-identity', `the QE identity is for ${id}, the quote needs ${expectedId}: supply the collateral of this quote's TEE`);
  const mrsigner = hexField(identity, 'mrsigner', 'qeIdentity', 32);
  if (!equalBytes(mrsigner, qe.mrSigner)) throw refuse('qe-identity', `the quoting enclave's MRSIGNER ${hex(qe.mrSigner)} is not Intel's: the quote was not made by Intel's QE`);
  if (qe.isvProdId !== field(identity, 'isvprodid', 'qeIdentity', isNumber, 'a number')) throw refuse('qe-identity', `the quoting enclave's ISVPRODID ${qe.isvProdId} is not Intel's QE`);
  const miscselect = Buffer.from(hexField(identity, 'miscselect', 'qeIdentity', 4)).readUInt32LE(0);
  const miscselectMask = Buffer.from(hexField(identity, 'miscselectMask', 'qeIdentity', 4)).readUInt32LE(0);
  if (((qe.miscSelect & miscselectMask) >>> 0) !== ((miscselect & miscselectMask) >>> 0)) throw refuse('qe-identity', 'the quoting enclave\'s MISCSELECT does not match Intel\'s QE identity');
  const attributes = hexField(identity, 'attributes', 'qeIdentity', 16);
  const attributesMask = hexField(identity, 'attributesMask', 'qeIdentity', 16);
  if (!attributes.every((byte, i) => (byte & attributesMask[i]!) === (qe.attributes[i]! & attributesMask[i]!))) {
    throw refuse('qe-identity', 'the quoting enclave\'s ATTRIBUTES do not match Intel\'s QE identity (a debug QE?)');
  }
  const levels = field(identity, 'tcbLevels', 'qeIdentity', isArray, 'a list');
  for (const [index, level] of levels.entries()) {
    if (!isObject(level) || !isObject(level['tcb'])) throw malformed(`DCAP collateral: qeIdentity.tcbLevels[${index}].tcb must be an object`);
    if (qe.isvSvn >= field(level['tcb'], 'isvsvn', `qeIdentity.tcbLevels[${index}].tcb`, isNumber, 'a number')) return levelStatus(level, `qeIdentity.tcbLevels[${index}]`);
  }
  throw refuse('tcb-status', `the quoting enclave's ISVSVN ${qe.isvSvn} is below every level of Intel's QE identity (treat as revoked)`);
}

// ---- verification -----------------------------------------------------------------------------

export function verifyDcap(expectedType: Extract<EvidenceType, 'sgx' | 'tdx'>, evidence: Uint8Array, context: VerifyContext): Claims {
  checkNow(context.now);
  const quote = parseDcapQuote(evidence);
  const isTdx = quote.body.kind === 'tdx';
  if ((expectedType === 'tdx') !== isTdx) {
    throw malformed(`DCAP quote: this is ${isTdx ? 'a TDX' : 'an SGX'} quote, not ${expectedType === 'tdx' ? 'a TDX' : 'an SGX'} one; verify it with --type ${isTdx ? 'tdx' : 'sgx'}`);
  }
  if (hex(quote.qeVendorId) !== INTEL_VENDOR_ID) throw refuse('qe-identity', `the quote's QE vendor ${hex(quote.qeVendorId)} is not Intel`);
  const collateral = checkCollateral(context.collateral);
  const now = context.now;

  // 1. The PCK chain, and the CRLs that may revoke it, all under Intel's root.
  const pckChain = parsePemChain(quote.pckChainPem, 'PCK certificate chain');
  verifyChain(pckChain, [INTEL_SGX_ROOT_CA_SHA256], now, 'PCK certificate chain');
  const root = pckChain[pckChain.length - 1]!;
  const pckIssuer = pckChain[1]!;
  const crls: Crls = { root: parseCrl(fromHex(collateral.root_ca_crl, 'root_ca_crl'), 'Intel root CA CRL'), pck: parseCrl(fromHex(collateral.pck_crl, 'pck_crl'), 'PCK CRL') };
  checkRevocation(crls.root, root, now, pckChain.slice(1, -1), 'Intel root CA CRL');
  checkRevocation(crls.pck, pckIssuer, now, [pckChain[0]!], 'PCK CRL');

  // 2. TCB info and QE identity, signed by Intel and current.
  const tcbInfoOuter = verifySignedJson(collateral.tcb_info, collateral.tcb_info_signature, collateral.tcb_info_issuer_chain, 'TCB info', crls, now);
  const qeIdentity = verifySignedJson(collateral.qe_identity, collateral.qe_identity_signature, collateral.qe_identity_issuer_chain, 'QE identity', crls, now);
  const tcbInfoId = field(tcbInfoOuter, 'id', 'tcbInfo', isString, 'a text');
  if (tcbInfoId !== (isTdx ? 'TDX' : 'SGX')) throw refuse('collateral', `the TCB info is for ${tcbInfoId}, the quote is ${isTdx ? 'TDX' : 'SGX'}: supply this quote's collateral`);

  // 3. The QE report, signed by the PCK, binds the attestation key.
  const pck = pckChain[0]!;
  if (!verifyWithKey(pck.publicKey, 'sha256', quote.qeReportBytes, quote.qeReportSignature, true)) {
    throw refuse('signature', 'the QE report is not signed by the PCK certificate: the quote was altered or its PCK chain belongs to another platform');
  }
  const binding = createHash('sha256').update(quote.attestationKey).update(quote.qeAuthData).digest();
  if (!equalBytes(binding, quote.qeReport.reportData.subarray(0, 32)) || !isAllZero(quote.qeReport.reportData.subarray(32))) {
    throw refuse('signature', 'the QE report does not bind the quote\'s attestation key: the key was swapped');
  }

  // 4. The QE is Intel's.
  const qeStatus = qeIdentityStatus(qeIdentity, quote.qeReport, isTdx);

  // 5. The quote is signed by the attestation key.
  if (!verifyWithKey(attestationKey(quote.attestationKey), 'sha256', quote.signedBytes, quote.signature, true)) {
    throw refuse('signature', 'the quote\'s signature does not verify with its attestation key: the header or report body was altered');
  }

  // 6. The platform's TCB level.
  const pckTcb = readPckExtensions(pck);
  const fmspc = hexField(tcbInfoOuter, 'fmspc', 'tcbInfo', 6);
  const pceId = hexField(tcbInfoOuter, 'pceId', 'tcbInfo', 2);
  if (!equalBytes(fmspc, pckTcb.fmspc) || !equalBytes(pceId, pckTcb.pceId)) {
    throw refuse('collateral', `the TCB info is for FMSPC ${hex(fmspc)}, the PCK for ${hex(pckTcb.fmspc)}: supply the TCB info of this platform`);
  }
  const tdReport = quote.body.kind === 'tdx' ? quote.body.report : undefined;
  let status = convergeStatus(platformTcbStatus(tcbInfoOuter, pckTcb, tdReport), qeStatus);
  if (tdReport) {
    const moduleStatus = tdxModuleStatus(tcbInfoOuter, tdReport);
    if (moduleStatus) status = convergeStatus(status, moduleStatus);
  }
  if (status.status === 'Revoked') throw refuse('tcb-status', 'Intel lists this platform\'s TCB as Revoked');
  status.advisoryIds.sort();

  const common = { quote_version: quote.version, fmspc: hex(pckTcb.fmspc), tcb_status: status.status, advisory_ids: status.advisoryIds };
  if (quote.body.kind === 'sgx') {
    const report = quote.body.report;
    checkReportData(report.reportData, context.expectedReportData, 'REPORTDATA');
    return {
      type: 'sgx',
      measurement: hex(report.mrEnclave),
      reportData: hex(report.reportData),
      debug: (report.attributes[0]! & 0x02) !== 0,
      tcbStatus: status.status,
      advisoryIds: status.advisoryIds,
      platform: {
        mrenclave: hex(report.mrEnclave),
        mrsigner: hex(report.mrSigner),
        isvprodid: report.isvProdId,
        isvsvn: report.isvSvn,
        report_data: hex(report.reportData),
        attributes: hex(report.attributes),
        miscselect: report.miscSelect,
        cpusvn: hex(report.cpuSvn),
        ...common,
      },
    };
  }
  const report = quote.body.report;
  checkReportData(report.reportData, context.expectedReportData, 'REPORTDATA');
  return {
    type: 'tdx',
    measurement: hex(report.mrTd),
    reportData: hex(report.reportData),
    // TDATTRIBUTES.TUD.DEBUG: the host can read and change the TD's state.
    debug: (report.tdAttributes[0]! & 0x01) !== 0,
    tcbStatus: status.status,
    advisoryIds: status.advisoryIds,
    platform: {
      mrtd: hex(report.mrTd),
      rtmr0: hex(report.rtmr[0]!),
      rtmr1: hex(report.rtmr[1]!),
      rtmr2: hex(report.rtmr[2]!),
      rtmr3: hex(report.rtmr[3]!),
      report_data: hex(report.reportData),
      td_attributes: hex(report.tdAttributes),
      xfam: hex(report.xfam),
      mrconfigid: hex(report.mrConfigId),
      mrowner: hex(report.mrOwner),
      mrownerconfig: hex(report.mrOwnerConfig),
      mrseam: hex(report.mrSeam),
      mrsignerseam: hex(report.mrSignerSeam),
      tee_tcb_svn: hex(report.teeTcbSvn),
      ...(report.mrServiceTd ? { mrservicetd: hex(report.mrServiceTd) } : {}),
      ...common,
    },
  };
}

function attestationKey(raw: Uint8Array): KeyObject {
  try {
    return createPublicKey({
      key: { kty: 'EC', crv: 'P-256', x: Buffer.from(raw.subarray(0, 32)).toString('base64url'), y: Buffer.from(raw.subarray(32, 64)).toString('base64url') },
      format: 'jwk',
    });
  } catch {
    throw refuse('signature', 'the quote\'s attestation key is not a P-256 point: the quote was altered');
  }
}
