// Real published evidence verifies with its exact claims; every tampered, misdated, misbound or
// foreign-rooted variant of it is refused with a named reason.
import { sign } from 'node:crypto';
import { decode, encode } from 'cborg';
import { describe, expect, it } from 'vitest';
import { AttestationError, type Claims, type VerifyContext } from '../../lib/attestation/evidence.js';
import { verifierFor, registerVerifier, registeredEvidenceTypes } from '../../lib/attestation/verifiers.js';
import { parseDcapQuote } from '../../lib/attestation/dcap.js';
import { AMD_CERTIFICATE_AUTHORITIES } from '../../lib/attestation/amd-roots.js';
import { FIXTURE_LIST, fixtureBytes, fixtureNamed, flipBit, type Fixture } from './fixtures.js';
import { throwawayChain } from './throwaway-ca.js';

async function verify(fixture: Fixture, evidence: Uint8Array = fixture.evidence, context: Partial<VerifyContext> = {}): Promise<Claims> {
  return verifierFor(fixture.type).verify(evidence, { ...fixture.context, ...context });
}

async function refusal(fixture: Fixture, evidence: Uint8Array = fixture.evidence, context: Partial<VerifyContext> = {}): Promise<AttestationError> {
  try {
    await verify(fixture, evidence, context);
  } catch (error) {
    expect(error, String(error)).toBeInstanceOf(AttestationError);
    expect((error as AttestationError).code).toBe('EATTEST');
    return error as AttestationError;
  }
  throw new Error(`${fixture.name}: the tampered evidence was accepted`);
}

const ZERO48 = '0'.repeat(96);

describe('real evidence verifies at its own time with its exact claims', () => {
  it('nitro example_attestation (a debug-mode enclave: PCR0–2 are zero)', async () => {
    const claims = await verify(fixtureNamed('nitro'));
    expect(claims).toMatchObject({
      type: 'nitro', measurement: ZERO48, debug: true, tcbStatus: 'NotApplicable', advisoryIds: [],
      reportData: '1220c682bc6c814a6748f490c8c8e48e5c40c505e5c99b0b617b85cdc71d236f2a3812200000000000000000000000000000000000000000000000000000000000000000',
    });
    expect(claims.platform).toMatchObject({
      module_id: 'i-0bbf1bfe232b8c2ce-enc0191ba35c9d1b77a', digest: 'SHA384', timestamp: '2024-09-09T19:49:12.400Z',
      nonce: '0000000000000000000000000000000000000001', public_key: '64756d6d79',
    });
    const pcrs = claims.platform['pcrs'] as Record<string, string>;
    expect(Object.keys(pcrs)).toHaveLength(16);
    expect(pcrs['3']).toBe('671ca1e328f75015b2aeee60639cc5252bc835d8bb690444d1f8e2bf4260f73dc1b71e07a14a770c7d0becac6eb3b53f');
    expect(pcrs['4']).toBe('d352cfa31b8dc5f4856c9fa8181b19ed12f5da23883ac4ec729530f50dc1d37f1ac3876a7af39bd4de7a2aead14d14cb');
  });

  it('snp test-report signed by a Milan VCEK', async () => {
    const claims = await verify(fixtureNamed('snp test-report'));
    expect(claims).toMatchObject({
      type: 'snp', debug: false, tcbStatus: 'NotApplicable',
      measurement: 'a1f3930413247bb38cfc171579ea3c12d5fe4901f0c792f63fd75d98f1ef827c23500644e0e692e6be917f9050d3d38c',
      reportData: 'ec6c52d7533cc2c4f45be7849cf112ab82b2009fe7bd43e71ed08c14400ad7e2' + '0'.repeat(64),
    });
    expect(claims.platform).toMatchObject({
      generation: 'Milan', signing_key: 'vcek', version: 2, policy: '0x3001f', host_data: '0'.repeat(64),
      chip_id: 'c38427a30d4c7af9d96f7a15b97269825a64cb76a2352ffd5d18115d89ad473f8e8c0bcd9a5d9286612bad4aadfb4426205a3b9e4fea82301135a170e477524e',
      reported_tcb: { bootloader: 3, tee: 0, snp: 8, microcode: 115 },
    });
  });

  it('snp test-vlek-report signed by a Milan VLEK', async () => {
    const claims = await verify(fixtureNamed('snp test-vlek'));
    expect(claims).toMatchObject({
      type: 'snp', debug: false,
      measurement: '8922ebbdd00ec2c541f36a6e7a82a8773a7accb451ed67bc94e740dbe92c93c4e8c9af857f5ceeb5a493df2a570d7bf0',
      reportData: '819770b7e6ea6df8dd8fd4dd146b073c0bf4f3ce5b0977ecac486e3a05ed1bd54e2a7ac1f5d1ca02e7d7d5ef9f73b8574fd9359e3a480d741a4478e8a7bc27ca',
    });
    expect(claims.platform).toMatchObject({ signing_key: 'vlek', version: 3, vmpl: 1, reported_tcb: { bootloader: 4, tee: 0, snp: 24, microcode: 217 } });
  });

  it('sgx sgx_quote: ConfigurationAndSWHardeningNeeded with Intel\'s advisories, reported not judged', async () => {
    const claims = await verify(fixtureNamed('sgx'));
    expect(claims).toMatchObject({
      type: 'sgx', debug: false, tcbStatus: 'ConfigurationAndSWHardeningNeeded', advisoryIds: ['INTEL-SA-00289', 'INTEL-SA-00615'],
      measurement: '33d8736db756ed4997e04ba358d27833188f1932ff7b1d156904d3f560452fbb',
      reportData: Buffer.from('Hello, world!').toString('hex').padEnd(128, '0'),
    });
    expect(claims.platform).toMatchObject({
      mrenclave: '33d8736db756ed4997e04ba358d27833188f1932ff7b1d156904d3f560452fbb',
      mrsigner: '815f42f11cf64430c30bab7816ba596a1da0130c3b028b673133a66cf9a3e0e6', isvprodid: 0, isvsvn: 0, quote_version: 3, fmspc: '00a067110000',
    });
  });

  it('tdx tdx_quote: UpToDate', async () => {
    const claims = await verify(fixtureNamed('tdx'));
    expect(claims).toMatchObject({
      type: 'tdx', debug: false, tcbStatus: 'UpToDate', advisoryIds: [],
      measurement: '91eb2b44d141d4ece09f0c75c2c53d247a3c68edd7fafe8a3520c942a604a407de03ae6dc5f87f27428b2538873118b7',
      reportData: '9a9d48e7f6799642d3d1b34e1e5e1742d4bb02dd6ddd551862c1211d35c304f9eca3efdbb481601c163cf52493d6e44aed55d51ec39b7e518fadb92c2b523f20',
    });
    expect(claims.platform).toMatchObject({
      rtmr0: '44c0197b39157fdd7a4dcc44767f9d6b0bb3977c7a8e347b8492f827fe9d9e5c48aca29b220b80b6a540cf994b9bc9c0',
      rtmr1: '0084452c01668329d4bc06acdf58a7205c26743304509973949e5619bf81a6a7aea8c323c173019b3093d54e579e9378',
      rtmr2: 'd833feef2cd945148aa38ead2c53e9b7f138190aaaebfc551dccd829fc207aa3ba80b70870d7330733642e01d48c3132',
      rtmr3: ZERO48, td_attributes: '0000001000000000', quote_version: 4,
    });
  });

  it('tdx tdx_quote_outdated is refused: its PCK TCB is below every level of its own collateral (dcap-qvl needs an override for it too)', async () => {
    const outdated: Fixture = { ...fixtureNamed('tdx'), evidence: fixtureBytes('tdx/tdx_quote_outdated') };
    const error = await refusal(outdated, outdated.evidence, { now: new Date('2026-03-01T00:00:00Z'), collateral: JSON.parse(fixtureBytes('tdx/tdx_quote_outdated_collateral.json').toString()) });
    expect(error.reason).toBe('tcb-status');
  });
});

describe.each(FIXTURE_LIST.map((f) => [f.name, f] as const))('%s is refused', (_name, fixture) => {
  it('at a time after its validity (expired)', async () => {
    expect((await refusal(fixture, fixture.evidence, { now: new Date('2100-01-01T00:00:00Z') })).reason).toBe('expired');
  });
  it('at a time before its validity (expired)', async () => {
    expect((await refusal(fixture, fixture.evidence, { now: new Date('2019-01-01T00:00:00Z') })).reason).toBe('expired');
  });
  it('when the expected report data differs (report-data)', async () => {
    const error = await refusal(fixture, fixture.evidence, { expectedReportData: new Uint8Array(64).fill(0xab) });
    expect(error.reason).toBe('report-data');
    expect(error.message).toMatch(/replayed or forwarded/);
  });
  it('accepts the expected report data taken from the evidence itself', async () => {
    const claims = await verify(fixture);
    await expect(verify(fixture, fixture.evidence, { expectedReportData: Buffer.from(claims.reportData, 'hex') })).resolves.toEqual(claims);
  });
  it('when truncated to half, to one byte and when empty (malformed)', async () => {
    expect((await refusal(fixture, fixture.evidence.subarray(0, fixture.evidence.length >> 1))).reason).toBe('malformed');
    expect((await refusal(fixture, fixture.evidence.subarray(0, 1))).reason).toBe('malformed');
    expect((await refusal(fixture, new Uint8Array(0))).reason).toBe('malformed');
  });
  it('when the clock is not a date (clock)', async () => {
    expect((await refusal(fixture, fixture.evidence, { now: new Date('nonsense') })).reason).toBe('clock');
  });
});

/** The DER certificates inside the evidence, as offsets of their last byte (part of the signature value). */
function derCertificateEnds(evidence: Buffer, certificates: Uint8Array[]): number[] {
  return certificates.map((der) => {
    const at = evidence.indexOf(Buffer.from(der));
    expect(at).toBeGreaterThanOrEqual(0);
    return at + der.length - 1;
  });
}

describe('nitro tampering', () => {
  const fixture = fixtureNamed('nitro');
  const sign1 = decode(fixture.evidence, { useMaps: true, tags: Object.assign([], { 18: (x: unknown) => x }) }) as Uint8Array[];
  const payload = decode(sign1[2]!, { useMaps: true }) as Map<string, unknown>;

  it('a flipped bit in the COSE signature (signature)', async () => {
    expect((await refusal(fixture, flipBit(fixture.evidence, fixture.evidence.length - 1))).reason).toBe('signature');
  });
  it('a flipped bit in the signed document: module_id (signature)', async () => {
    const at = fixture.evidence.indexOf(Buffer.from('i-0bbf1bfe232b8c2ce-enc')) + 3;
    expect((await refusal(fixture, flipBit(fixture.evidence, at))).reason).toBe('signature');
  });
  it('a flipped bit in the signed document: PCR4 (signature)', async () => {
    const at = fixture.evidence.indexOf(Buffer.from('d352cfa31b8dc5f4', 'hex'));
    expect((await refusal(fixture, flipBit(fixture.evidence, at + 5))).reason).toBe('signature');
  });
  const certificates = [payload.get('certificate') as Uint8Array, ...(payload.get('cabundle') as Uint8Array[])];
  it.each(certificates.map((_, index) => [index === 0 ? 'leaf certificate' : `cabundle[${index - 1}]`, index] as const))('a flipped bit in the %s (chain)', async (_name, index) => {
    const end = derCertificateEnds(fixture.evidence, certificates)[index]!;
    expect((await refusal(fixture, flipBit(fixture.evidence, end))).reason).toBe('chain');
  });
  it('a well-signed document whose chain ends at another root (chain)', async () => {
    const ca = throwawayChain('P-384');
    const forged = new Map(payload);
    forged.set('certificate', new Uint8Array(ca.leaf.raw));
    forged.set('cabundle', [new Uint8Array(ca.root.raw)]);
    const forgedPayload = encode(forged);
    const protectedHeader = sign1[0]!;
    const signature = sign('sha384', encode(['Signature1', protectedHeader, new Uint8Array(0), forgedPayload]), { key: ca.leafKey, dsaEncoding: 'ieee-p1363' });
    const evidence = encode([protectedHeader, new Map(), forgedPayload, new Uint8Array(signature)]);
    const error = await refusal(fixture, evidence, { now: new Date() });
    expect(error.reason).toBe('chain');
    expect(error.message).toMatch(/not at the pinned root/);
  });
  it('garbage bytes and base64 of garbage (malformed)', async () => {
    expect((await refusal(fixture, Buffer.from('definitely not cbor'))).reason).toBe('malformed');
    expect((await refusal(fixture, Buffer.alloc(64 * 1024, 0x41))).reason).toBe('malformed');
  });
});

describe('snp tampering', () => {
  const fixture = fixtureNamed('snp test-report');
  it('a flipped bit in the signature R and S (signature)', async () => {
    expect((await refusal(fixture, flipBit(fixture.evidence, 0x2a0 + 3))).reason).toBe('signature');
    expect((await refusal(fixture, flipBit(fixture.evidence, 0x2a0 + 72 + 3))).reason).toBe('signature');
  });
  it.each([['MEASUREMENT', 0x90], ['HOST_DATA', 0xc0], ['REPORT_DATA', 0x50], ['POLICY (debug bit)', 0x0a], ['REPORTED_TCB', 0x180]] as const)(
    'a flipped bit in the signed %s (signature)', async (_field, offset) => {
      expect((await refusal(fixture, flipBit(fixture.evidence, offset, 3))).reason).toBe('signature');
    });
  it('a flipped bit in the VCEK certificate (chain)', async () => {
    const vcek = fixture.context.vcek!;
    expect((await refusal(fixture, fixture.evidence, { vcek: flipBit(vcek, vcek.length - 1) })).reason).toBe('chain');
    expect((await refusal(fixture, fixture.evidence, { vcek: flipBit(vcek, 200) })).reason).toMatch(/^(chain|malformed)$/);
  });
  it('the VLEK of another report as the VCEK (signature or chain)', async () => {
    const vlek = fixtureBytes('snp/test-vlek.der');
    // The report says VCEK (key kind 0): a VLEK's issuer is not the ASK.
    expect((await refusal(fixture, fixture.evidence, { vcek: vlek })).reason).toBe('chain');
  });
  it('a VCEK issued under AMD\'s ASK name by another key (chain)', async () => {
    const ask = AMD_CERTIFICATE_AUTHORITIES.Milan.ask;
    expect(ask).toContain('BEGIN CERTIFICATE');
    const ca = throwawayChain('P-384', '/OU=Engineering/C=US/L=Santa Clara/ST=CA/O=Advanced Micro Devices/CN=SEV-Milan', '/CN=SEV-VCEK');
    expect((await refusal(fixture, fixture.evidence, { vcek: new Uint8Array(ca.leaf.raw) })).reason).toBe('chain');
  });
  it('no VCEK (missing-vcek)', async () => {
    expect((await refusal(fixture, fixture.evidence, { vcek: undefined })).reason).toBe('missing-vcek');
  });
  it('the VCEK as PEM is accepted', async () => {
    const der = fixture.context.vcek!;
    const pem = `-----BEGIN CERTIFICATE-----\n${Buffer.from(der).toString('base64').replace(/.{64}/g, '$&\n')}\n-----END CERTIFICATE-----\n`;
    await expect(verify(fixture, fixture.evidence, { vcek: Buffer.from(pem) })).resolves.toMatchObject({ type: 'snp' });
  });
  it('a report of another size (malformed)', async () => {
    expect((await refusal(fixture, Buffer.concat([fixture.evidence, Buffer.alloc(1)]))).reason).toBe('malformed');
  });
});

function pemCertificateBodies(text: string): { start: number; end: number }[] {
  const found: { start: number; end: number }[] = [];
  const pattern = /-----BEGIN CERTIFICATE-----([^-]+)-----END CERTIFICATE-----/g;
  for (let match = pattern.exec(text); match; match = pattern.exec(text)) {
    found.push({ start: match.index + 27, end: match.index + 27 + match[1]!.length });
  }
  return found;
}

/** Changes one base64 character near the end of a PEM body (inside the certificate's signature value). */
function tamperPem(text: string, body: { end: number }): string {
  let at = body.end - 8;
  while (!/[A-Za-z0-9]/.test(text[at]!)) at--;
  const replacement = text[at] === 'A' ? 'B' : 'A';
  return text.slice(0, at) + replacement + text.slice(at + 1);
}

describe.each([['sgx', fixtureNamed('sgx')], ['tdx', fixtureNamed('tdx')]] as const)('%s DCAP tampering', (_type, fixture) => {
  const quote = parseDcapQuote(fixture.evidence);
  const collateral = fixture.context.collateral as Record<string, string>;

  it('a flipped bit in the quote signature (signature)', async () => {
    expect((await refusal(fixture, flipBit(fixture.evidence, quote.signedBytes.length + 4 + 10))).reason).toBe('signature');
  });
  it('a flipped bit in the signed report body: REPORTDATA (signature)', async () => {
    expect((await refusal(fixture, flipBit(fixture.evidence, quote.signedBytes.length - 10))).reason).toBe('signature');
  });
  it('a flipped bit in the signed header (signature)', async () => {
    expect((await refusal(fixture, flipBit(fixture.evidence, 40))).reason).toBe('signature');
  });
  it('a flipped bit in the attestation key (signature)', async () => {
    expect((await refusal(fixture, flipBit(fixture.evidence, quote.signedBytes.length + 4 + 64 + 5))).reason).toBe('signature');
  });
  it('a flipped bit in the QE report (signature)', async () => {
    const at = fixture.evidence.indexOf(Buffer.from(quote.qeReportBytes));
    expect((await refusal(fixture, flipBit(fixture.evidence, at + 100))).reason).toBe('signature');
  });
  const text = fixture.evidence.toString('latin1');
  const bodies = pemCertificateBodies(text);
  it('has a three-certificate PCK chain in the quote', () => expect(bodies).toHaveLength(3));
  it.each(bodies.map((body, index) => [['PCK leaf', 'PCK intermediate', 'Intel root'][index]!, body] as const))('a changed bit in the quote\'s %s certificate (chain)', async (_name, body) => {
    expect((await refusal(fixture, Buffer.from(tamperPem(text, body), 'latin1'))).reason).toBe('chain');
  });
  it('a changed character in the signed TCB info (collateral-signature)', async () => {
    const tcbInfo = collateral['tcb_info']!.replace('"version":3', '"version":4');
    expect(tcbInfo).not.toBe(collateral['tcb_info']);
    expect((await refusal(fixture, fixture.evidence, { collateral: { ...collateral, tcb_info: tcbInfo } })).reason).toBe('collateral-signature');
  });
  it('a flipped bit in the TCB info signature and the QE identity signature (collateral-signature)', async () => {
    const flip = (hexText: string): string => flipBit(Buffer.from(hexText, 'hex'), 5).toString('hex');
    expect((await refusal(fixture, fixture.evidence, { collateral: { ...collateral, tcb_info_signature: flip(collateral['tcb_info_signature']!) } })).reason).toBe('collateral-signature');
    expect((await refusal(fixture, fixture.evidence, { collateral: { ...collateral, qe_identity_signature: flip(collateral['qe_identity_signature']!) } })).reason).toBe('collateral-signature');
  });
  it('a flipped bit in the signature of each CRL (crl)', async () => {
    for (const name of ['pck_crl', 'root_ca_crl']) {
      const crl = Buffer.from(collateral[name]!, 'hex');
      expect((await refusal(fixture, fixture.evidence, { collateral: { ...collateral, [name]: flipBit(crl, crl.length - 2).toString('hex') } })).reason).toBe('crl');
    }
  });
  it('a changed bit in the TCB signing certificate (chain)', async () => {
    const chain = collateral['tcb_info_issuer_chain']!;
    expect((await refusal(fixture, fixture.evidence, { collateral: { ...collateral, tcb_info_issuer_chain: tamperPem(chain, pemCertificateBodies(chain)[0]!) } })).reason).toBe('chain');
  });
  it('TCB info signed by a certificate chaining to another root (chain)', async () => {
    const ca = throwawayChain('P-256');
    const signature = sign('sha256', Buffer.from(collateral['tcb_info']!), { key: ca.leafKey, dsaEncoding: 'ieee-p1363' }).toString('hex');
    const forged = { ...collateral, tcb_info_signature: signature, tcb_info_issuer_chain: ca.leaf.toString() + ca.root.toString() };
    const error = await refusal(fixture, fixture.evidence, { collateral: forged });
    expect(error.reason).toBe('chain');
    expect(error.message).toMatch(/not at the pinned root/);
  });
  it('the other TEE\'s collateral (crl: its PCK CRL is from another CA)', async () => {
    const other = fixture.type === 'sgx' ? fixtureNamed('tdx') : fixtureNamed('sgx');
    expect((await refusal(fixture, fixture.evidence, { collateral: other.context.collateral })).reason).toBe('crl');
  });
  it('no collateral (missing-collateral) and collateral without a field (malformed)', async () => {
    expect((await refusal(fixture, fixture.evidence, { collateral: undefined })).reason).toBe('missing-collateral');
    const { pck_crl: _dropped, ...partial } = collateral;
    expect((await refusal(fixture, fixture.evidence, { collateral: partial })).message).toMatch(/pck_crl/);
  });
  it('a quote of the other TEE type (malformed)', async () => {
    const other = fixture.type === 'sgx' ? fixtureNamed('tdx') : fixtureNamed('sgx');
    expect((await refusal(fixture, other.evidence)).reason).toBe('malformed');
  });
});

describe('registry', () => {
  it('lists the hardware types and refuses an unknown one by name', () => {
    expect(registeredEvidenceTypes()).toEqual(['nitro', 'snp', 'sgx', 'tdx']);
    expect(() => verifierFor('simulation')).toThrow(/no verifier for evidence type 'simulation'/);
  });
  it('registerVerifier adds a verifier for a type', async () => {
    registerVerifier({ type: 'simulation', verify: async () => { throw new AttestationError('simulation', 'test verifier refuses everything'); } });
    await expect(verifierFor('simulation').verify(new Uint8Array(1), { now: new Date() })).rejects.toThrow(/test verifier/);
  });
});
