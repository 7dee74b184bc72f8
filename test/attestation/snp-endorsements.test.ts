// An SNP report's VCEK or VLEK from the host's certificate table (built here in the GHCB layout around
// the real fixture certificates) and from a cache directory; each found certificate still goes through
// the real SNP verifier. The CLI is run as a user runs it.
import { execFileSync } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { AttestationError } from '../../lib/attestation/evidence.js';
import { verifierFor } from '../../lib/attestation/verifiers.js';
import {
  endorsementCacheNames, endorsementFromCache, endorsementFromTable, parseSnpCertificateTable,
} from '../../lib/attestation/snp-endorsements.js';
import { cliRunner, expectFailure, expectSuccess, type CliResult } from '../support/cli-run.js';
import { seededRandom } from '../support/random.js';
import { useTempDir } from '../support/temp.js';
import { FIXTURES, fixtureBytes, fixtureNamed } from './fixtures.js';

const temp = useTempDir('shield-snp-endorsements-');
const GUID = {
  vcek: '63da758de6644564adc5f4b93be8accd',
  vlek: 'a8074bc2a25a483eaae639c045a0b8a1',
  ask: '4ab7b379bbac4fe4a02f05aef327c782',
  ark: 'c0b406a4a80349529743' + '3fb6014cd0ae',
};

/** A certificate table: 24-byte entries (GUID, offset, length) ending in an all-zero one, then the certificates. */
function certificateTable(entries: [guid: string, bytes: Uint8Array][]): Buffer {
  const header = Buffer.alloc(24 * (entries.length + 1));
  let offset = header.length;
  entries.forEach(([guid, bytes], i) => {
    Buffer.from(guid, 'hex').copy(header, i * 24);
    header.writeUInt32LE(offset, i * 24 + 16);
    header.writeUInt32LE(bytes.length, i * 24 + 20);
    offset += bytes.length;
  });
  return Buffer.concat([header, ...entries.map(([, bytes]) => Buffer.from(bytes))]);
}

const vcekReport = fixtureNamed('snp test-report');
const vlekReport = fixtureNamed('snp test-vlek-report');
const vcek = fixtureBytes('snp/test-vcek.der');
const vlek = fixtureBytes('snp/test-vlek.der');
const filler = Buffer.from('not a certificate');

describe('SNP endorsements from the host\'s certificate table', () => {
  it('the VCEK entry (among ASK and ARK entries) is the one used, and the report verifies with it', async () => {
    const table = certificateTable([[GUID.ask, filler], [GUID.vcek, vcek], [GUID.ark, filler]]);
    expect([...parseSnpCertificateTable(table).keys()]).toEqual(['ask', 'vcek', 'ark']);
    const found = endorsementFromTable(vcekReport.evidence, table);
    expect(Buffer.from(found).equals(vcek)).toBe(true);
    const claims = await verifierFor('snp').verify(vcekReport.evidence, { now: vcekReport.context.now, vcek: found });
    expect(claims.type).toBe('snp');
  });

  it('a VLEK-signed report takes the VLEK entry; a table without the needed entry is missing-vcek', async () => {
    const both = certificateTable([[GUID.vcek, vcek], [GUID.vlek, vlek]]);
    const claims = await verifierFor('snp').verify(vlekReport.evidence, { now: vlekReport.context.now, vcek: endorsementFromTable(vlekReport.evidence, both) });
    expect(claims.type).toBe('snp');
    expect(() => endorsementFromTable(vlekReport.evidence, certificateTable([[GUID.vcek, vcek]]))).toThrow(/has no VLEK/);
  });

  it('a certificate the host swapped in is refused by the verifier, not trusted because the table held it', async () => {
    const table = certificateTable([[GUID.vcek, vlek]]);
    await expect(verifierFor('snp').verify(vcekReport.evidence, { now: vcekReport.context.now, vcek: endorsementFromTable(vcekReport.evidence, table) }))
      .rejects.toBeInstanceOf(AttestationError);
  });

  it('malformed tables are refused by name: entries outside the data, empty or duplicate entries, no terminator, oversize', () => {
    const good = certificateTable([[GUID.vcek, vcek]]);
    const outside = Buffer.from(good);
    outside.writeUInt32LE(good.length, 16);
    expect(() => parseSnpCertificateTable(outside)).toThrow(/lies outside the table's data/);
    const intoEntries = Buffer.from(good);
    intoEntries.writeUInt32LE(8, 16);
    expect(() => parseSnpCertificateTable(intoEntries)).toThrow(/lies outside the table's data/);
    const empty = Buffer.from(good);
    empty.writeUInt32LE(0, 20);
    expect(() => parseSnpCertificateTable(empty)).toThrow(/entry 0 is 0 bytes/);
    expect(() => parseSnpCertificateTable(certificateTable([[GUID.vcek, vcek], [GUID.vcek, vcek]]))).toThrow(/two VCEK entries/);
    expect(() => parseSnpCertificateTable(good.subarray(0, 30))).toThrow(/entry 0 \(48\+\d+\) lies outside/);
    expect(() => parseSnpCertificateTable(good.subarray(0, 20))).toThrow(/entry 0 offset needs 4 bytes at offset 16, only 4 left|entry 0 length needs 4 bytes at offset 20, only 0 left/);
    expect(() => parseSnpCertificateTable(Buffer.alloc(70_000))).toThrow(/more than the 65536/);
  });

  it('seeded mutations of a table: an AttestationError or a parse, never another exception', () => {
    const good = certificateTable([[GUID.ask, filler], [GUID.vcek, vcek]]);
    const random = seededRandom(0x7ab1e);
    for (let i = 0; i < 3000; i++) {
      const mutated = Buffer.from(good.subarray(0, Math.floor(random() * (good.length + 1))));
      for (let flips = 1 + Math.floor(random() * 4); flips > 0 && mutated.length > 0; flips--) {
        mutated[Math.floor(random() * Math.min(mutated.length, 96))] = Math.floor(random() * 256);
      }
      try {
        parseSnpCertificateTable(mutated);
      } catch (error) {
        expect(error).toBeInstanceOf(AttestationError);
      }
    }
  });
});

describe('SNP endorsements from a cache directory', () => {
  it('finds vcek-<CHIP_ID>-<REPORTED_TCB>.der (and vlek-<REPORTED_TCB>.pem) and the reports verify with them', async () => {
    const dir = temp('cache');
    mkdirSync(dir, { recursive: true });
    const [vcekName] = endorsementCacheNames(vcekReport.evidence);
    expect(vcekName).toMatch(/^vcek-[0-9a-f]{128}-[0-9a-f]{16}\.der$/);
    writeFileSync(join(dir, vcekName!), vcek);
    const vlekPem = endorsementCacheNames(vlekReport.evidence)[1]!;
    expect(vlekPem).toMatch(/^vlek-[0-9a-f]{16}\.pem$/);
    writeFileSync(join(dir, vlekPem), `-----BEGIN CERTIFICATE-----\n${vlek.toString('base64').replace(/.{64}/g, '$&\n')}\n-----END CERTIFICATE-----\n`);
    for (const report of [vcekReport, vlekReport]) {
      const claims = await verifierFor('snp').verify(report.evidence, { now: report.context.now, vcek: endorsementFromCache(report.evidence, dir) });
      expect(claims.type).toBe('snp');
    }
  });

  it('nothing for the report, or a FIFO in its place: missing-vcek, naming what was looked for; never a hang', () => {
    const dir = temp('cache-empty');
    mkdirSync(dir, { recursive: true });
    expect(() => endorsementFromCache(vcekReport.evidence, dir)).toThrow(/no certificate for this report in .* \(looked for vcek-/);
    execFileSync('mkfifo', [join(dir, endorsementCacheNames(vcekReport.evidence)[0]!)]);
    expect(() => endorsementFromCache(vcekReport.evidence, dir)).toThrow(/cannot use .* is a FIFO, not a regular file/);
  });
});

describe('shield attest verify --certificate-table / --vcek-dir', () => {
  let shield: (args: string[]) => CliResult;
  beforeAll(() => {
    shield = cliRunner({});
  });
  const snpArgs = ['attest', 'verify', '--type', 'snp', '--evidence', FIXTURES + 'snp/test-report.bin', '--at', '2025-06-01T00:00:00Z'];

  it('verifies with the table\'s VCEK or the cache\'s; says what is missing with exit 2', () => {
    const table = temp('auxblob');
    writeFileSync(table, certificateTable([[GUID.vcek, vcek]]));
    expect(JSON.parse(expectSuccess(shield([...snpArgs, '--certificate-table', table, '--json'])).out).type).toBe('snp');
    const dir = temp('cli-cache');
    mkdirSync(dir, { recursive: true });
    expectFailure(shield([...snpArgs, '--vcek-dir', dir]), 'EINVAL', 2, /no certificate for this report in/);
    writeFileSync(join(dir, endorsementCacheNames(vcekReport.evidence)[0]!), vcek);
    expectSuccess(shield([...snpArgs, '--vcek-dir', dir]));
    writeFileSync(table, certificateTable([[GUID.ask, filler]]));
    expectFailure(shield([...snpArgs, '--certificate-table', table]), 'EINVAL', 2, /has no VCEK/);
  });
});
