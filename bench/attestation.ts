// Verifications per second of each attestation verifier on its real fixture, beside the machine's raw
// ECDSA verify rate measured in the same run (a full verification is a handful of signature checks
// plus parsing, so the ratio says how much of it is overhead).
//   node --import tsx bench/attestation.ts [seconds-per-type]
import { generateKeyPairSync, sign, verify } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { FIXTURE_LIST } from '../test/attestation/fixtures.js';
import { verifierFor } from '../lib/attestation/index.js';

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

export function printAttestationRates(results: AttestationRate[]): void {
  const p384 = results.find((r) => r.name.startsWith('raw ECDSA P-384'))!.verificationsPerSecond;
  console.log('attestation verifier                         verifications/s   vs one raw P-384 verify');
  for (const r of results) console.log(`${r.name.padEnd(45)} ${r.verificationsPerSecond.toFixed(0).padStart(15)}   ${(r.verificationsPerSecond / p384).toFixed(3).padStart(8)}`);
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  printAttestationRates(await attestationRates(Number(process.argv[2] ?? 2)));
}
