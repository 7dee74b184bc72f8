// `shield attest verify`: checks evidence a platform produced, offline, against the vendor roots
// compiled into the verifiers, and prints the claims. Nothing is fetched: the VCEK (SNP: a file, the
// host's certificate table or a cache directory) and the DCAP collateral (SGX/TDX) come from files the
// caller names.
import { readFileSync } from 'node:fs';
import { Command, InvalidArgumentError, Option } from 'commander';
import { AttestationError, type Claims, type VerifyContext } from '../attestation/evidence.js';
import { endorsementFromCache, endorsementFromTable } from '../attestation/snp-endorsements.js';
import { HARDWARE_EVIDENCE_TYPES, verifierFor } from '../attestation/verifiers.js';
import { nitroEvidenceFromFile } from '../attestation/nitro.js';
import { judgeWeaknesses, parseTolerances, type Tolerance } from '../attestation/policy.js';
import { usageError } from '../file/exit-status.js';

interface VerifyOptions {
  type: (typeof HARDWARE_EVIDENCE_TYPES)[number];
  evidence: string;
  collateral?: string;
  vcek?: string;
  vcekDir?: string;
  certificateTable?: string;
  at?: Date;
  reportData?: Uint8Array;
  tolerate?: Tolerance[];
  json?: boolean;
}

/** ISO 8601 with a zone, with or without fractional seconds. */
function parseAt(value: string): Date {
  const date = new Date(value);
  if (!/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,9})?(Z|[+-]\d{2}:\d{2})$/.test(value) || Number.isNaN(date.getTime())) {
    throw new InvalidArgumentError('expected an ISO 8601 time with a zone, e.g. 2024-09-09T20:00:00Z');
  }
  return date;
}

function parseHex(value: string): Uint8Array {
  if (!/^(?:[0-9a-fA-F]{2})+$/.test(value) || value.length > 2048) throw new InvalidArgumentError('expected an even number of hex digits');
  return new Uint8Array(Buffer.from(value, 'hex'));
}

function parseToleranceList(value: string): Tolerance[] {
  try {
    return parseTolerances(value, '--tolerate');
  } catch (error) {
    throw new InvalidArgumentError((error as Error).message.replace(/^EATTEST: /, ''));
  }
}

function readInput(path: string, what: string): Buffer {
  try {
    return readFileSync(path);
  } catch (error) {
    const e = error as NodeJS.ErrnoException;
    throw usageError(Object.assign(new Error(`cannot read the ${what} ${path}: ${e.code ?? e.message}`), { code: 'EINVAL' }));
  }
}

function missing(message: string): Error {
  return usageError(Object.assign(new Error(message), { code: 'EINVAL' }));
}

// The VCEK or VLEK of an SNP report: named directly, from the host's certificate table, or from a cache
// directory, in that order. Not finding one is a usage error (exit 2) saying where it was looked for.
function snpEndorsement(report: Uint8Array, options: VerifyOptions): Uint8Array {
  if (options.vcek) return readInput(options.vcek, 'VCEK file');
  try {
    if (options.certificateTable) return endorsementFromTable(report, readInput(options.certificateTable, 'certificate table'));
    if (options.vcekDir) return endorsementFromCache(report, options.vcekDir);
  } catch (error) {
    if (error instanceof AttestationError && error.reason === 'missing-vcek') throw missing(error.message.replace(/^EATTEST: /, ''));
    throw error;
  }
  throw missing('snp evidence needs --vcek FILE, --certificate-table FILE or --vcek-dir DIR: the VCEK (or VLEK) certificate of this chip and TCB, from AMD\'s KDS');
}

export function attestCommand(): Command {
  const attest = new Command('attest').description('verify hardware attestation evidence (AWS Nitro, AMD SEV-SNP, Intel SGX and TDX) offline');
  attest.command('verify')
    .description('verify evidence against the vendor roots compiled into shield and print its claims (exit 7 EATTEST when refused)')
    .addOption(new Option('--type <type>', 'evidence type').choices([...HARDWARE_EVIDENCE_TYPES]).makeOptionMandatory())
    .requiredOption('--evidence <file>', 'the evidence as the platform produced it (nitro: the COSE document, or its base64 text)')
    .option('--collateral <file>', 'sgx/tdx: DCAP collateral as JSON (Intel PCS/PCCS, as dcap-qvl writes it)')
    .option('--vcek <file>', 'snp: the VCEK or VLEK certificate, DER or PEM')
    .option('--certificate-table <file>', 'snp: the host\'s certificate table given with the report (configfs-tsm auxblob, extended report); its VCEK or VLEK is used')
    .option('--vcek-dir <dir>', 'snp: a cache directory of VCEK/VLEK certificates named vcek-<CHIP_ID>-<REPORTED_TCB>.der|pem or vlek-<REPORTED_TCB>.der|pem')
    .option('--at <iso-time>', 'the time for every validity check (default: now)', parseAt)
    .option('--report-data <hex>', 'the report data the evidence must carry (nitro: user_data; others: the 64-byte report_data)', parseHex)
    .option('--tolerate <list>', 'judge weaknesses, comma-separated: debug-mode, outdated-tcb, software-hardening-needed, insecure-configuration', parseToleranceList)
    .option('--json', 'print the claims as JSON')
    .action(async (options: VerifyOptions) => {
      const raw = readInput(options.evidence, 'evidence file');
      const context: VerifyContext = { now: options.at ?? new Date() };
      if (options.reportData) context.expectedReportData = options.reportData;
      if (options.type === 'snp') context.vcek = snpEndorsement(new Uint8Array(raw), options);
      if (options.type === 'sgx' || options.type === 'tdx') {
        if (!options.collateral) throw missing(`${options.type} evidence needs --collateral FILE: the DCAP collateral (TCB info, QE identity, CRLs) as JSON from Intel PCS or a PCCS`);
        const text = readInput(options.collateral, 'collateral file').toString('utf8');
        try {
          context.collateral = JSON.parse(text);
        } catch (error) {
          throw missing(`the collateral file ${options.collateral} is not JSON: ${(error as Error).message}`);
        }
      }
      const evidence = options.type === 'nitro' ? nitroEvidenceFromFile(raw) : new Uint8Array(raw);
      const claims = await verifierFor(options.type).verify(evidence, context);
      // Without --tolerate the TCB status and debug flag are reported; with it, what it does not cover is refused.
      if (options.tolerate) judgeWeaknesses(claims, options.tolerate);
      process.stdout.write(options.json ? JSON.stringify(claims, null, 2) + '\n' : formatClaims(claims));
    });
  return attest;
}

function formatClaims(claims: Claims): string {
  const lines = [
    `type: ${claims.type}`,
    `measurement: ${claims.measurement}`,
    `report data: ${claims.reportData}`,
    `debug: ${claims.debug ? 'yes (the host can read its memory)' : 'no'}`,
    `tcb status: ${claims.tcbStatus}`,
    `advisories: ${claims.advisoryIds.join(', ') || 'none'}`,
  ];
  for (const [name, value] of Object.entries(claims.platform)) {
    lines.push(`${name}: ${typeof value === 'object' && value !== null ? JSON.stringify(value) : String(value)}`);
  }
  return lines.join('\n') + '\n';
}
