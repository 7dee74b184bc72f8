// The real, published evidence under test/fixtures/attestation (sources in its README), each with the
// time at which it verifies and what it needs beside the evidence.
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import type { EvidenceType, VerifyContext } from '../../lib/attestation/evidence.js';
import { nitroEvidenceFromFile } from '../../lib/attestation/nitro.js';

export const FIXTURES = fileURLToPath(new URL('../fixtures/attestation/', import.meta.url));

export function fixtureBytes(path: string): Buffer {
  return readFileSync(FIXTURES + path);
}

export interface Fixture {
  name: string;
  type: Exclude<EvidenceType, 'simulation'>;
  evidencePath: string;
  evidence: Buffer;
  context: VerifyContext;
  /** CLI arguments besides --type and --evidence. */
  cliArgs: string[];
}

function fixture(name: string, type: Fixture['type'], evidencePath: string, at: string, extra: { vcek?: string; collateral?: string } = {}): Fixture {
  const raw = fixtureBytes(evidencePath);
  const context: VerifyContext = { now: new Date(at) };
  const cliArgs = ['--at', at];
  if (extra.vcek) {
    context.vcek = fixtureBytes(extra.vcek);
    cliArgs.push('--vcek', FIXTURES + extra.vcek);
  }
  if (extra.collateral) {
    context.collateral = JSON.parse(fixtureBytes(extra.collateral).toString('utf8'));
    cliArgs.push('--collateral', FIXTURES + extra.collateral);
  }
  return { name, type, evidencePath, evidence: type === 'nitro' ? Buffer.from(nitroEvidenceFromFile(raw)) : raw, context, cliArgs };
}

/** Every fixture that verifies (tdx_quote_outdated is refused: see the refusal tests). */
export const FIXTURE_LIST: Fixture[] = [
  fixture('nitro example_attestation', 'nitro', 'nitro/example_attestation', '2024-09-09T20:00:00Z'),
  fixture('snp test-report (VCEK, Milan)', 'snp', 'snp/test-report.bin', '2025-06-01T00:00:00Z', { vcek: 'snp/test-vcek.der' }),
  fixture('snp test-vlek-report (VLEK, Milan)', 'snp', 'snp/test-vlek-report.bin', '2025-06-01T00:00:00Z', { vcek: 'snp/test-vlek.der' }),
  fixture('sgx sgx_quote (v3)', 'sgx', 'sgx/sgx_quote', '2025-07-01T00:00:00Z', { collateral: 'sgx/sgx_quote_collateral.json' }),
  fixture('tdx tdx_quote (v4)', 'tdx', 'tdx/tdx_quote', '2025-07-01T00:00:00Z', { collateral: 'tdx/tdx_quote_collateral.json' }),
];

export function fixtureNamed(prefix: string): Fixture {
  const found = FIXTURE_LIST.find((f) => f.name.startsWith(prefix));
  if (!found) throw new Error(`no fixture ${prefix}`);
  return found;
}

export function flipBit(bytes: Uint8Array, offset: number, bit = 0): Buffer {
  const copy = Buffer.from(bytes);
  if (offset < 0 || offset >= copy.length) throw new Error(`flipBit: offset ${offset} outside ${copy.length} bytes`);
  copy[offset]! ^= 1 << bit;
  return copy;
}
