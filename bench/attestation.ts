// Verifications per second of each attestation verifier on its real fixture, beside the machine's raw
// ECDSA verify rate measured in the same run (a full verification is a handful of signature checks
// plus parsing, so the ratio says how much of it is overhead).
//   node --import tsx bench/attestation.ts [seconds-per-type]
import { generateKeyPairSync, sign, verify } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { FIXTURE_LIST } from '../test/attestation/fixtures.js';
import { verifierFor } from '../lib/attestation/index.js';
import { table, type Row } from './report-format.js';

export interface AttestationRate {
  name: string;
  verificationsPerSecond: number;
}

async function rate(seconds: number, run: () => unknown): Promise<number> {
  for (let i = 0; i < 20; i++) await run(); // warm-up
  let count = 0;
  const start = process.hrtime.bigint();
  const end = start + BigInt(Math.round(seconds * 1e9));
  while (process.hrtime.bigint() < end) {
    await run();
    count++;
  }
  return count / (Number(process.hrtime.bigint() - start) / 1e9);
}

export async function attestationRates(secondsPerType = 2): Promise<AttestationRate[]> {
  const results: AttestationRate[] = [];
  for (const curve of ['P-256', 'P-384'] as const) {
    const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: curve });
    const data = Buffer.alloc(1184, 1);
    const signature = sign(curve === 'P-256' ? 'sha256' : 'sha384', data, privateKey);
    results.push({ name: `raw ECDSA ${curve} verify (ceiling per signature)`, verificationsPerSecond: await rate(secondsPerType, () => verify(curve === 'P-256' ? 'sha256' : 'sha384', data, publicKey, signature)) });
  }
  for (const fixture of FIXTURE_LIST) {
    const verifier = verifierFor(fixture.type);
    results.push({ name: fixture.name, verificationsPerSecond: await rate(secondsPerType, () => verifier.verify(fixture.evidence, fixture.context)) });
  }
  return results;
}

export interface AttestationReport {
  ratios: Record<string, number>;
  lines: string[];
}

/** The section's table: each verifier's rate and its ratio to one raw ECDSA P-384 verify of the same run. */
export function attestationReport(results: AttestationRate[]): AttestationReport {
  const p384 = results.find((r) => r.name.startsWith('raw ECDSA P-384'))!.verificationsPerSecond;
  const rows: Row[] = ['head', 'rule'];
  const ratios: Record<string, number> = {};
  for (const r of results) {
    ratios[r.name] = r.verificationsPerSecond / p384;
    rows.push({ label: r.name, cells: [r.verificationsPerSecond.toFixed(0), ratios[r.name]!.toFixed(3)] });
  }
  rows.push('rule', { label: 'Each verifier on its real fixture (test/fixtures/attestation), at the fixture\'s own time, in a loop for the', span: '' },
    { label: '  seconds given; a full verification is several ECDSA checks (chain, collateral, report) plus parsing.', span: '' });
  return { ratios, lines: table(['attestation verifier', 'verifications/s', '/ one raw P-384 verify'], rows) };
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  console.log(attestationReport(await attestationRates(Number(process.argv[2] ?? 2))).lines.join('\n'));
}
