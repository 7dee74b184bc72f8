// Where an SNP report's signing certificate (the chip's VCEK, or a cloud provider's VLEK) comes from
// when the caller does not hand it over: the certificate table the host supplies with the report
// (configfs-tsm's `auxblob`, SNP_GET_EXT_REPORT), or a local cache directory filled ahead of time from
// AMD's KDS. Nothing is fetched from the network. Neither source is trusted: whatever certificate is
// found still has to chain to AMD's roots and match the report's chip and TCB (snp.ts).
import { join } from 'node:path';
import { readRegularFile } from '../file/bounded-file.js';
import { ByteReader, hex, malformed } from './bytes.js';
import { AttestationError } from './evidence.js';
import { parseSnpReport } from './snp.js';

/** The certificate table's entries (GHCB specification, "SNP Extended Guest Request"), by GUID. */
const CERTIFICATE_GUIDS: Record<string, SnpCertificateKind> = {
  '63da758d-e664-4564-adc5-f4b93be8accd': 'vcek',
  'a8074bc2-a25a-483e-aae6-39c045a0b8a1': 'vlek',
  '4ab7b379-bbac-4fe4-a02f-05aef327c782': 'ask',
  'c0b406a4-a803-4952-9743-3fb6014cd0ae': 'ark',
};
export type SnpCertificateKind = 'vcek' | 'vlek' | 'ask' | 'ark';

const TABLE_LIMIT = 64 * 1024;
const CERTIFICATE_LIMIT = 16 * 1024;

/** The certificates of a host-supplied table, by kind; GUIDs it does not know are skipped. Bounds-checked. */
export function parseSnpCertificateTable(table: Uint8Array): Map<SnpCertificateKind, Uint8Array> {
  if (!(table instanceof Uint8Array)) throw malformed('SNP certificate table: must be bytes');
  if (table.length > TABLE_LIMIT) throw malformed(`SNP certificate table: ${table.length} bytes, more than the ${TABLE_LIMIT} a table may have`);
  const reader = new ByteReader(table, 'SNP certificate table');
  const found = new Map<SnpCertificateKind, Uint8Array>();
  for (let index = 0; ; index++) {
    const guid = reader.take(16, `entry ${index} GUID`);
    const offset = reader.u32(`entry ${index} offset`);
    const length = reader.u32(`entry ${index} length`);
    if (guid.every((b) => b === 0) && offset === 0 && length === 0) break;  // the terminating entry
    const entriesEnd = reader.position;
    if (length === 0 || length > CERTIFICATE_LIMIT) throw malformed(`SNP certificate table: entry ${index} is ${length} bytes`);
    if (offset < entriesEnd || offset + length > table.length) {
      throw malformed(`SNP certificate table: entry ${index} (${offset}+${length}) lies outside the table's data (${entriesEnd}…${table.length})`);
    }
    const kind = CERTIFICATE_GUIDS[guidText(guid)];
    if (!kind) continue;
    if (found.has(kind)) throw malformed(`SNP certificate table: two ${kind.toUpperCase()} entries`);
    found.set(kind, table.subarray(offset, offset + length));
  }
  return found;
}

// GUIDs are stored as RFC 4122 writes them (big-endian, as uuid_parse and the virtee tools lay them out).
function guidText(bytes: Uint8Array): string {
  const h = Buffer.from(bytes).toString('hex');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

/** The table entry a report needs: its VCEK, or its VLEK when the report says a VLEK signed it. */
export function endorsementFromTable(report: Uint8Array, table: Uint8Array): Uint8Array {
  const kind = parseSnpReport(report).signingKey === 1 ? 'vlek' : 'vcek';
  const certificate = parseSnpCertificateTable(table).get(kind);
  if (!certificate) {
    throw new AttestationError('missing-vcek', `the host's SNP certificate table has no ${kind.toUpperCase()}: pass the certificate, or a cache directory that holds it`);
  }
  return certificate;
}

/**
 * The file a cache directory holds a report's certificate in: `vcek-<CHIP_ID>-<REPORTED_TCB>` (VCEKs are
 * per chip and per TCB) or `vlek-<REPORTED_TCB>`, with `.der` or `.pem`, CHIP_ID as 128 hex digits and
 * REPORTED_TCB as the 16 hex digits of its little-endian 64-bit value.
 */
export function endorsementCacheNames(report: Uint8Array): string[] {
  const parsed = parseSnpReport(report);
  const tcb = parsed.reportedTcb.toString(16).padStart(16, '0');
  const base = parsed.signingKey === 1 ? `vlek-${tcb}` : `vcek-${hex(parsed.chipId)}-${tcb}`;
  return [`${base}.der`, `${base}.pem`];
}

/** The report's certificate from a cache directory: a regular file of at most 16 KiB, never a FIFO or device (file/bounded-file.ts). */
export function endorsementFromCache(report: Uint8Array, directory: string): Uint8Array {
  const names = endorsementCacheNames(report);
  for (const name of names) {
    const path = join(directory, name);
    try {
      return new Uint8Array(readRegularFile(path, { what: 'certificate file', maxBytes: CERTIFICATE_LIMIT }));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') continue;
      throw new AttestationError('missing-vcek', `cannot use ${path}: ${(error as Error).message.replace(/^E[A-Z]+: /, '')}`);
    }
  }
  throw new AttestationError('missing-vcek', `no certificate for this report in ${directory} (looked for ${names.join(' and ')}): ` +
    'fetch it from AMD\'s KDS for this chip and TCB and store it there');
}
