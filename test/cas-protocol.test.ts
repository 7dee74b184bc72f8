// PROTOCOL.md checked by a second implementation: the session hash, the release envelope, the nonce,
// the audit chain and sealed records, recomputed here from the document with node:crypto alone and
// compared with what lib/cas produces; and the refusals of each parser for malformed input.
import { createDecipheriv, createHash, createHmac, diffieHellman, generateKeyPairSync, createPublicKey, hkdfSync, sign, verify } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { SimulationVerifier, simulationEvidence } from '../lib/attestation/simulation.js';
import { appendAudit, verifyAuditChain, type AuditEntry } from '../lib/cas/audit.js';
import { RecordSealer } from '../lib/cas/crypto.js';
import { createIdentity } from '../lib/cas/identity.js';
import { checkNonce, ephemeralKeyPair, issueNonce, openResponse, reportDataFor, sealResponse } from '../lib/cas/release.js';
import { parseSession, sessionHash } from '../lib/cas/session.js';

const MEASUREMENT = '12'.repeat(32);
const SESSION = `name: team/app
version: "0.3"
services:
  - name: web
    command: "node  /app/main.js --port 80"
    measurement: "${MEASUREMENT.toUpperCase()}"
    max_executions: 2
`;

// The canonical JSON of PROTOCOL.md §3, written independently of lib/cas/crypto.ts.
function canonical(value: unknown): string {
  if (Array.isArray(value)) return '[' + value.map(canonical).join(',') + ']';
  if (value !== null && typeof value === 'object') {
    const keys = Object.keys(value).sort();
    return '{' + keys.map((k) => JSON.stringify(k) + ':' + canonical((value as Record<string, unknown>)[k])).join(',') + '}';
  }
  return JSON.stringify(value);
}

describe('the session hash (PROTOCOL.md §3)', () => {
  it('is SHA-256 of the label and the canonical JSON of the canonical form, as written in the document', () => {
    const expectedForm = {
      name: 'team/app', version: '0.3',
      access_policy: { read: ['CREATOR'], update: ['CREATOR'] },
      services: [{ name: 'web', command: ['node', '/app/main.js', '--port', '80'], environment: {}, pwd: '/', measurement: [MEASUREMENT], max_executions: 2, trees: [] }],
      volumes: [], images: [], security: { attestation: { tolerate: [] } },
    };
    const hash = createHash('sha256').update('shieldfs-session-v1\n' + canonical(expectedForm)).digest('hex');
    expect(sessionHash(parseSession(SESSION, 'test'))).toBe(hash);
  });

  it('ignores comments, layout and key order; changes with the predecessor', () => {
    const reordered = `# a comment\nversion: "0.3"\nservices: [ { measurement: "${MEASUREMENT}", max_executions: 2, name: web, command: [node, /app/main.js, --port, "80"] } ]\nname: team/app\n`;
    expect(sessionHash(parseSession(reordered, 'test'))).toBe(sessionHash(parseSession(SESSION, 'test')));
    const withPredecessor = `predecessor: ${'ab'.repeat(32)}\n${SESSION}`;
    expect(sessionHash(parseSession(withPredecessor, 'test'))).not.toBe(sessionHash(parseSession(SESSION, 'test')));
  });

  it('refuses unknown fields, bad references and hex that YAML reads as a number, naming the field', () => {
    expect(() => parseSession(`${SESSION}colour: red\n`, 's.yaml')).toThrow(/s\.yaml: \(top level\): unknown field `colour`/);
    expect(() => parseSession(SESSION.replace('    max_executions: 2', '    max_executions: 0'), 's.yaml')).toThrow(/services\[0\]\.max_executions/);
    expect(() => parseSession(`${SESSION}    image_name: missing\n`, 's.yaml')).toThrow(/services\[0\]\.image_name: names image "missing"/);
    expect(() => parseSession(SESSION.replace(`"${MEASUREMENT.toUpperCase()}"`, '1'.repeat(64)), 's.yaml')).toThrow(/services\[0\]\.measurement/);
    expect(() => parseSession('x'.repeat(300 << 10), 's.yaml')).toThrow(/larger than/);
  });
});

describe('release (PROTOCOL.md §5)', () => {
  it('the response decrypts and verifies with the document\'s key schedule alone', async () => {
    const service = await createIdentity('service');
    const nonce = issueNonce(Buffer.alloc(32, 7), Date.now());
    const instance = generateKeyPairSync('x25519');
    const instancePublic = Buffer.from(instance.publicKey.export({ format: 'jwk' }).x!, 'base64url');
    const response = sealResponse(Buffer.from('{"hello":"instance"}'), nonce, instancePublic, service.privateKey);

    const servicePublic = Buffer.from(response.servicePublicKey, 'base64');
    const iv = Buffer.from(response.iv, 'base64'), ciphertext = Buffer.from(response.ciphertext, 'base64');
    const aad = Buffer.concat([Buffer.from('shieldfs-release-v1'), nonce, instancePublic, servicePublic]);
    expect(verify('sha256', Buffer.concat([aad, iv, ciphertext]), service.publicKey, Buffer.from(response.signature, 'base64'))).toBe(true);
    const shared = diffieHellman({ privateKey: instance.privateKey, publicKey: createPublicKey({ key: { kty: 'OKP', crv: 'X25519', x: servicePublic.toString('base64url') }, format: 'jwk' }) });
    const key = Buffer.from(hkdfSync('sha256', shared, nonce, Buffer.concat([Buffer.from('shieldfs-release-v1 key'), instancePublic, servicePublic]), 32));
    const decipher = createDecipheriv('aes-256-gcm', key, iv);
    decipher.setAAD(aad);
    decipher.setAuthTag(ciphertext.subarray(-16));
    expect(Buffer.concat([decipher.update(ciphertext.subarray(0, -16)), decipher.final()]).toString()).toBe('{"hello":"instance"}');
  });

  it('a response opened with another instance\'s key, or checked with another service key, is EATTEST', async () => {
    const service = await createIdentity('service'), impostor = await createIdentity('impostor');
    const nonce = issueNonce(Buffer.alloc(32, 7), Date.now());
    const ours = ephemeralKeyPair(), theirs = ephemeralKeyPair();
    const response = sealResponse(Buffer.from('secret'), nonce, ours.publicKey, service.privateKey);
    expect(openResponse(response, nonce, ours, service.publicKey).toString()).toBe('secret');
    expect(() => openResponse(response, nonce, theirs, service.publicKey)).toThrow(/EATTEST/);
    expect(() => openResponse(response, nonce, ours, impostor.publicKey)).toThrow(/EATTEST: .*not signed by the pinned/);
    const forged = sealResponse(Buffer.from('forged'), nonce, ours.publicKey, impostor.privateKey);
    expect(() => openResponse(forged, nonce, ours, service.publicKey)).toThrow(/EATTEST/);
  });

  it('report data and nonces are as the document says; expired and forged nonces are EATTEST', () => {
    const nonceKey = Buffer.alloc(32, 9), now = Date.now();
    const nonce = issueNonce(nonceKey, now);
    expect(nonce.length).toBe(40);
    expect(Number(nonce.readBigUInt64BE(16))).toBe(now + 60_000);
    expect(nonce.subarray(24).equals(createHmac('sha256', nonceKey).update(nonce.subarray(0, 24)).digest().subarray(0, 16))).toBe(true);
    expect(checkNonce(nonceKey, nonce, now).usedRecord).toMatch(/^nonce-used\/[0-9a-f]{12}\/[0-9a-f]{32}$/);
    expect(() => checkNonce(nonceKey, nonce, now + 60_001)).toThrow(/EATTEST: .*expired/);
    const forged = Buffer.from(nonce);
    forged.writeBigUInt64BE(BigInt(now + 3_600_000), 16);
    expect(() => checkNonce(nonceKey, forged, now)).toThrow(/EATTEST: .*not issued by this service/);
    expect(() => checkNonce(nonceKey, nonce.subarray(1), now)).toThrow(/EATTEST/);

    const instancePublic = Buffer.alloc(32, 3);
    const claims = { session: 's/t', service: 'x', hostCommand: ['node', 'a'] };
    const expected = createHash('sha512').update('shieldfs-release-v1\0').update(nonce).update(instancePublic)
      .update(createHash('sha256').update(canonical(claims)).digest()).digest();
    expect(reportDataFor(nonce, instancePublic, claims).equals(expected)).toBe(true);
  });
});

describe('simulation evidence', () => {
  const verifier = new SimulationVerifier();
  const reportData = Buffer.alloc(64, 5);

  it('gives the claimed measurement, flagged as debug: it proves nothing', async () => {
    const claims = await verifier.verify(simulationEvidence(MEASUREMENT, reportData), { now: new Date(), expectedReportData: reportData });
    expect(claims).toMatchObject({ type: 'simulation', measurement: MEASUREMENT, reportData: reportData.toString('hex'), debug: true, tcbStatus: 'NotApplicable' });
  });

  it.each([
    ['other report data', simulationEvidence(MEASUREMENT, Buffer.alloc(64, 6)), 'report-data'],
    ['not JSON', Buffer.from('{'), 'malformed'],
    ['an extra field', Buffer.from(JSON.stringify({ type: 'simulation', measurement: MEASUREMENT, reportData: reportData.toString('hex'), debug: false })), 'malformed'],
    ['a short measurement', Buffer.from(JSON.stringify({ type: 'simulation', measurement: 'ab', reportData: reportData.toString('hex') })), 'malformed'],
    ['more than 4 KiB', Buffer.alloc(5000, 0x20), 'malformed'],
  ])('refuses %s with EATTEST', async (_, evidence, reason) => {
    await expect(verifier.verify(evidence, { now: new Date(), expectedReportData: reportData })).rejects.toMatchObject({ code: 'EATTEST', reason });
  });
});

describe('audit chain and sealed records (PROTOCOL.md §7, §9)', () => {
  it('an entry\'s hash and signature are as the document says; reordering or altering entries is found', async () => {
    const service = await createIdentity('service');
    const entries: AuditEntry[] = [];
    let head = null;
    for (const session of ['a/b', 'c/d', 'e/f']) {
      const appended = appendAudit(head, { action: 'create', outcome: 'ok', actor: null, session, sessionHash: null }, service.privateKey, new Date());
      entries.push(appended.entry);
      head = appended.head;
    }
    const first = entries[0]!;
    expect(first.hash).toBe(createHash('sha256').update('shieldfs-audit-v1\n' + canonical(first.record)).digest('hex'));
    expect(first.record.previous).toBe('0'.repeat(64));
    expect(verify('sha256', Buffer.from(first.hash, 'hex'), service.publicKey, Buffer.from(first.signature, 'base64'))).toBe(true);
    expect(verifyAuditChain(entries, service.publicKey)).toBeNull();
    expect(verifyAuditChain([entries[0]!, entries[2]!], service.publicKey)?.problem).toMatch(/missing/);
    const altered = structuredClone(entries);
    altered[1]!.record.session = 'x/y';
    expect(verifyAuditChain(altered, service.publicKey)?.problem).toMatch(/altered/);
    const resigned = structuredClone(entries);
    resigned[1]!.signature = sign('sha256', Buffer.from(resigned[1]!.hash, 'hex'), (await createIdentity('other')).privateKey).toString('base64');
    expect(verifyAuditChain(resigned, service.publicKey)?.problem).toMatch(/not signed/);
  });

  it('a sealed record opens only under its own name and master key; a flipped bit is refused', () => {
    const sealer = new RecordSealer(Buffer.alloc(32, 1));
    const sealed = sealer.seal('session/x', Buffer.from('state'));
    expect(sealer.open('session/x', sealed).toString()).toBe('state');
    expect(sealer.seal('session/x', Buffer.from('state')).equals(sealed)).toBe(false);  // a fresh salt and IV every time
    expect(() => sealer.open('session/y', sealed)).toThrow(/EBADKEY/);
    expect(() => new RecordSealer(Buffer.alloc(32, 2)).open('session/x', sealed)).toThrow(/EBADKEY/);
    const flipped = Buffer.from(sealed);
    flipped[flipped.length - 1]! ^= 1;
    expect(() => sealer.open('session/x', flipped)).toThrow(/EBADKEY/);
    expect(() => sealer.open('session/x', sealed.subarray(0, 20))).toThrow(/EINTEGRITY/);
  });
});
