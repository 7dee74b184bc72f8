// A seeded fuzz loop over each verifier's parsers: thousands of mutations of each real fixture (bit
// flips, byte overwrites, truncations, insertions, splices of random bytes) must each give an
// AttestationError, or, when the mutation touched only bytes the platform does not sign or parse
// (zero padding, PEM line breaks), exactly the original claims. Any other exception fails the test.
import { describe, expect, it } from 'vitest';
import { AttestationError, type Claims } from '../../lib/attestation/evidence.js';
import { verifierFor } from '../../lib/attestation/verifiers.js';
import { seededRandom, randomBytesFrom } from '../support/random.js';
import { FIXTURE_LIST } from './fixtures.js';

const ROUNDS = 2000;

function mutate(input: Buffer, random: () => number): Buffer {
  const at = Math.floor(random() * input.length);
  switch (Math.floor(random() * 5)) {
    case 0: { const out = Buffer.from(input); out[at]! ^= 1 << Math.floor(random() * 8); return out; }
    case 1: { const out = Buffer.from(input); out[at] = Math.floor(random() * 256); return out; }
    case 2: return input.subarray(0, at);
    case 3: return Buffer.concat([input.subarray(0, at), randomBytesFrom(random, 1 + Math.floor(random() * 8)), input.subarray(at)]);
    default: return Buffer.concat([input.subarray(0, at), randomBytesFrom(random, Math.floor(random() * 64))]);
  }
}

describe.each(FIXTURE_LIST.map((f) => [f.name, f] as const))('fuzz %s', (_name, fixture) => {
  it(`${ROUNDS} mutated inputs each give AttestationError or the original claims`, async () => {
    const verifier = verifierFor(fixture.type);
    const original: Claims = await verifier.verify(fixture.evidence, fixture.context);
    const random = seededRandom(0x5eed + fixture.name.length);
    let refused = 0;
    for (let round = 0; round < ROUNDS; round++) {
      const input = mutate(fixture.evidence, random);
      try {
        const claims = await verifier.verify(input, fixture.context);
        expect(claims, `round ${round}: a mutation was accepted with other claims`).toEqual(original);
      } catch (error) {
        if (!(error instanceof AttestationError)) throw new Error(`round ${round}: ${String(error)} (${(error as Error).stack})`);
        refused++;
      }
    }
    expect(refused).toBeGreaterThan(ROUNDS * 0.9);
  });

  it('random garbage of every small length gives AttestationError', async () => {
    const verifier = verifierFor(fixture.type);
    const random = seededRandom(7);
    for (let length = 0; length < 1300; length += 7) {
      await expect(verifier.verify(randomBytesFrom(random, length), fixture.context)).rejects.toBeInstanceOf(AttestationError);
    }
  });
});

describe.each(FIXTURE_LIST.filter((f) => f.context.collateral).map((f) => [f.name, f] as const))('fuzz the collateral of %s', (_name, fixture) => {
  it('mutated collateral fields each give AttestationError', async () => {
    const verifier = verifierFor(fixture.type);
    const random = seededRandom(0xc011);
    const collateral = fixture.context.collateral as Record<string, string>;
    const fields = Object.keys(collateral);
    for (let round = 0; round < 500; round++) {
      const name = fields[Math.floor(random() * fields.length)]!;
      const mutated = { ...collateral, [name]: mutate(Buffer.from(collateral[name]!, 'latin1'), random).toString('latin1') };
      try {
        await verifier.verify(fixture.evidence, { ...fixture.context, collateral: mutated });
      } catch (error) {
        if (!(error instanceof AttestationError)) throw new Error(`round ${round} (${name}): ${String(error)}`);
      }
    }
  });
});
