// configfs-tsm driven against a FAKE configfs directory built here: a temporary directory whose
// "kernel" side (mkdir fills in provider and generation, writing inblob produces outblob) is played by
// the fake file system below. The outblob it returns is the real SNP fixture, so the round trip ends in
// the real verifier. No TEE is involved anywhere in this file.
import * as fs from 'node:fs/promises';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { AttestationError } from '../../lib/attestation/evidence.js';
import { decode, encode } from 'cborg';
import { nitroDocumentFromDevice, snpReportFromDevice, type TeeDevices } from '../../lib/attestation/devices.js';
import { chooseEvidenceSource, detectEvidenceSources, evidenceFrom, evidenceFromConfigfsTsm, type TsmFileSystem } from '../../lib/attestation/platform.js';
import { verifierFor } from '../../lib/attestation/verifiers.js';
import { seededRandom } from '../support/random.js';
import { useTempDir } from '../support/temp.js';
import { fixtureBytes, fixtureNamed } from './fixtures.js';

const temp = useTempDir('shield-fake-configfs-');

/** A fake configfs-tsm: real directories and files, with the kernel's side effects done by hand. */
function fakeConfigfsTsm(provider: string, outblob: Uint8Array, options: { racingWriter?: boolean } = {}): { root: string; fileSystem: TsmFileSystem; written: Uint8Array[] } {
  const root = temp(`tsm-${provider}-${Math.random().toString(16).slice(2)}`);
  mkdirSync(root, { recursive: true });
  const written: Uint8Array[] = [];
  const fileSystem: TsmFileSystem = {
    mkdir: async (path) => {
      await fs.mkdir(path);
      writeFileSync(join(path, 'provider'), `${provider}\n`);
      writeFileSync(join(path, 'generation'), '0\n');
    },
    rmdir: (path) => fs.rm(path, { recursive: true }),
    writeFile: async (path, data) => {
      await fs.writeFile(path, data);
      if (path.endsWith('inblob')) {
        written.push(Buffer.from(data));
        const dir = join(path, '..');
        writeFileSync(join(dir, 'outblob'), outblob);
        writeFileSync(join(dir, 'generation'), options.racingWriter ? '2\n' : '1\n');
      }
    },
    readFile: (path) => fs.readFile(path),
  };
  return { root, fileSystem, written };
}

describe('configfs-tsm against a fake configfs directory (no TEE)', () => {
  it('fake sev_guest: writes the 64 bytes of report data, returns the outblob as SNP evidence that verifies, removes its entry', async () => {
    const report = fixtureBytes('snp/test-report.bin');
    const fake = fakeConfigfsTsm('sev_guest', report);
    const reportData = new Uint8Array(64).fill(7);
    const obtained = await evidenceFromConfigfsTsm(reportData, { tsmRoot: fake.root, fileSystem: fake.fileSystem });
    expect(obtained.type).toBe('snp');
    expect(obtained.provider).toBe('sev_guest');
    expect(Buffer.from(obtained.evidence).equals(report)).toBe(true);
    expect(fake.written).toEqual([Buffer.from(reportData)]);
    expect(await fs.readdir(fake.root)).toEqual([]);
    const snp = fixtureNamed('snp test-report');
    await expect(verifierFor(obtained.type).verify(obtained.evidence, snp.context)).resolves.toMatchObject({ type: 'snp' });
  });

  it('fake tdx_guest: the outblob is a TDX quote', async () => {
    const fake = fakeConfigfsTsm('tdx_guest', fixtureBytes('tdx/tdx_quote'));
    const obtained = await evidenceFromConfigfsTsm(new Uint8Array(64), { tsmRoot: fake.root, fileSystem: fake.fileSystem });
    expect(obtained.type).toBe('tdx');
  });

  it('fake configfs with a racing writer (generation moved by two) is refused', async () => {
    const fake = fakeConfigfsTsm('sev_guest', fixtureBytes('snp/test-report.bin'), { racingWriter: true });
    await expect(evidenceFromConfigfsTsm(new Uint8Array(64), { tsmRoot: fake.root, fileSystem: fake.fileSystem })).rejects.toThrow(/another process wrote/);
    expect(await fs.readdir(fake.root)).toEqual([]);
  });

  it('fake configfs with an unknown provider, and report data of the wrong size, are refused', async () => {
    const fake = fakeConfigfsTsm('arm_cca_guest', new Uint8Array(10));
    await expect(evidenceFromConfigfsTsm(new Uint8Array(64), { tsmRoot: fake.root, fileSystem: fake.fileSystem })).rejects.toThrow(/provider 'arm_cca_guest'/);
    await expect(evidenceFromConfigfsTsm(new Uint8Array(32), { tsmRoot: fake.root, fileSystem: fake.fileSystem })).rejects.toThrow(/exactly 64 bytes/);
  });

  it('a missing configfs directory is a platform error naming the entry', async () => {
    const error = await evidenceFromConfigfsTsm(new Uint8Array(64), { tsmRoot: temp('absent') }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(AttestationError);
    expect((error as AttestationError).reason).toBe('platform');
  });
});

describe('platform detection against fake directories (no TEE)', () => {
  it('finds a fake configfs-tsm, a fake /dev/sev-guest and a fake /dev/nsm', async () => {
    const tsmRoot = temp('detect/tsm/report');
    const devRoot = temp('detect/dev');
    mkdirSync(tsmRoot, { recursive: true });
    mkdirSync(devRoot, { recursive: true });
    writeFileSync(join(devRoot, 'sev-guest'), '');
    writeFileSync(join(devRoot, 'nsm'), '');
    expect((await detectEvidenceSources({ tsmRoot, devRoot })).map((s) => s.kind)).toEqual(['configfs-tsm', 'sev-guest-device', 'nitro-secure-module']);
    expect((await chooseEvidenceSource(false, { tsmRoot, devRoot })).kind).toBe('configfs-tsm');
  });

  it('without a TEE: simulation only when tolerated, else no-platform', async () => {
    const empty = { tsmRoot: temp('none/tsm'), devRoot: temp('none/dev') };
    expect(await chooseEvidenceSource(true, empty)).toEqual({ kind: 'simulation' });
    await expect(chooseEvidenceSource(false, empty)).rejects.toMatchObject({ reason: 'no-platform' });
  });

  it('only a fake /dev/nsm node: it is the source chosen (the ioctl devices are usable now)', async () => {
    const devRoot = temp('nsm-only/dev');
    mkdirSync(devRoot, { recursive: true });
    writeFileSync(join(devRoot, 'nsm'), '');
    expect(await chooseEvidenceSource(false, { tsmRoot: temp('nsm-only/tsm'), devRoot })).toEqual({ kind: 'nitro-secure-module', path: join(devRoot, 'nsm') });
  });
});

// The ioctl devices, driven through a FAKE device interface built here (TeeDevices): it answers as the
// SEV-SNP firmware and the Nitro Secure Module do (MSG_REPORT_RSP; CBOR), returning the real fixtures so
// that the round trips end in the real verifiers. The last tests call the real native ioctls on
// /dev/null and on a missing path: there is no TEE on this machine, so they prove the refusals only.
describe('TEE devices (FAKE device interface; the native ioctls only on non-TEE nodes)', () => {
  const snp = fixtureNamed('snp test-report');
  const nitro = fixtureNamed('nitro');
  const snpReportData = new Uint8Array(snp.evidence.subarray(0x50, 0x90));

  function fakeSevGuest(answer: (reportData: Uint8Array) => Buffer): TeeDevices & { asked: { path: string; vmpl: number }[] } {
    const asked: { path: string; vmpl: number }[] = [];
    return {
      asked,
      snpReport: async (path, reportData, vmpl) => {
        asked.push({ path, vmpl });
        return answer(reportData);
      },
      nsmRequest: async () => {
        throw new Error('not an NSM');
      },
    };
  }
  const firmwareResponse = (report: Uint8Array, status = 0, size = report.length): Buffer => {
    const out = Buffer.alloc(4000);
    out.writeUInt32LE(status, 0);
    out.writeUInt32LE(size, 4);
    Buffer.from(report).copy(out, 32);
    return out;
  };

  it('a fake /dev/sev-guest: the report it returns is the one the real SNP verifier accepts', async () => {
    const devices = fakeSevGuest(() => firmwareResponse(snp.evidence));
    const { type, evidence } = await evidenceFrom({ kind: 'sev-guest-device', path: '/fake/sev-guest' }, snpReportData, { devices });
    expect(type).toBe('snp');
    expect(devices.asked).toEqual([{ path: '/fake/sev-guest', vmpl: 0 }]);
    const claims = await verifierFor('snp').verify(evidence, { ...snp.context, expectedReportData: snpReportData });
    expect(claims.reportData).toBe(Buffer.from(snpReportData).toString('hex'));
  });

  it('a fake /dev/sev-guest that answers badly: each refused by name', async () => {
    const path = { devicePath: '/fake/sev-guest' };
    await expect(snpReportFromDevice(snpReportData, { ...path, devices: fakeSevGuest(() => firmwareResponse(snp.evidence, 0x16)) }))
      .rejects.toThrow(/firmware answered status 0x16 \(invalid parameters\)/);
    await expect(snpReportFromDevice(snpReportData, { ...path, devices: fakeSevGuest(() => firmwareResponse(snp.evidence, 0, 1000)) }))
      .rejects.toThrow(/report is 1000 bytes/);
    await expect(snpReportFromDevice(snpReportData, { ...path, devices: fakeSevGuest(() => Buffer.alloc(100)) }))
      .rejects.toThrow(/answered 100 bytes/);
    // A device that hands back a report for other report data (a replayed one): refused before it leaves.
    await expect(snpReportFromDevice(new Uint8Array(64).fill(7), { ...path, devices: fakeSevGuest(() => firmwareResponse(snp.evidence)) }))
      .rejects.toMatchObject({ reason: 'report-data' });
    await expect(snpReportFromDevice(new Uint8Array(32), { ...path, devices: fakeSevGuest(() => firmwareResponse(snp.evidence)) }))
      .rejects.toMatchObject({ reason: 'report-data' });
  });

  function fakeNsm(answer: (request: Record<string, Record<string, Uint8Array | null>>) => unknown): TeeDevices & { requests: unknown[] } {
    const requests: unknown[] = [];
    return {
      requests,
      snpReport: async () => {
        throw new Error('not a SEV guest');
      },
      nsmRequest: async (_path, request) => {
        const decoded = decode(request) as Record<string, Record<string, Uint8Array | null>>;
        requests.push(decoded);
        const reply = answer(decoded);
        return Buffer.from(reply instanceof Uint8Array ? reply : encode(reply));
      },
    };
  }

  it('a fake /dev/nsm: the request carries the report data as user_data; the document it returns verifies', async () => {
    const reportData = new Uint8Array(64).fill(3);
    const devices = fakeNsm(() => ({ Attestation: { document: nitro.evidence } }));
    const { type, evidence } = await evidenceFrom({ kind: 'nitro-secure-module', path: '/fake/nsm' }, reportData, { devices });
    expect(type).toBe('nitro');
    expect(devices.requests).toEqual([{ Attestation: { user_data: reportData, nonce: null, public_key: null } }]);
    const claims = await verifierFor('nitro').verify(evidence, nitro.context);
    expect(claims.type).toBe('nitro');
  });

  it('a fake /dev/nsm that refuses or answers garbage: refused by name', async () => {
    const binding = { userData: new Uint8Array(64) };
    const path = { devicePath: '/fake/nsm' };
    await expect(nitroDocumentFromDevice(binding, { ...path, devices: fakeNsm(() => ({ Error: 'InvalidArgument' })) }))
      .rejects.toThrow(/NSM refused the attestation request \(InvalidArgument\)/);
    await expect(nitroDocumentFromDevice(binding, { ...path, devices: fakeNsm(() => new Uint8Array([0xff, 0x00])) }))
      .rejects.toThrow(/not CBOR/);
    await expect(nitroDocumentFromDevice(binding, { ...path, devices: fakeNsm(() => ({ Attestation: {} })) }))
      .rejects.toThrow(/without an attestation document/);
    await expect(nitroDocumentFromDevice({ userData: new Uint8Array(513) }, { ...path, devices: fakeNsm(() => ({})) }))
      .rejects.toMatchObject({ reason: 'report-data' });
  });

  it('seeded garbage from either fake device is an AttestationError, never another exception', async () => {
    const random = seededRandom(0x5eed);
    for (let i = 0; i < 500; i++) {
      const bytes = Buffer.alloc(Math.floor(random() * 5000));
      for (let j = 0; j < bytes.length; j++) bytes[j] = Math.floor(random() * 256);
      if (i % 2 === 0 && bytes.length >= 8) bytes.writeUInt32LE(0, 0);  // past the status check half the time
      const devices: TeeDevices = { snpReport: async () => bytes, nsmRequest: async () => bytes };
      await expect(snpReportFromDevice(snpReportData, { devices })).rejects.toBeInstanceOf(AttestationError);
      await expect(nitroDocumentFromDevice({ userData: new Uint8Array(64) }, { devices })).rejects.toBeInstanceOf(AttestationError);
    }
  });

  it('the real native ioctls on nodes that are not TEE devices: ENOTTY and ENOENT, named', async () => {
    await expect(snpReportFromDevice(new Uint8Array(64), { devicePath: '/dev/null' }))
      .rejects.toThrow(/\/dev\/null is not a SEV-SNP guest device/);
    await expect(nitroDocumentFromDevice({ userData: new Uint8Array(64) }, { devicePath: '/dev/null' }))
      .rejects.toThrow(/\/dev\/null is not a Nitro Secure Module device/);
    const missing = temp('no-such-device');
    await expect(snpReportFromDevice(new Uint8Array(64), { devicePath: missing })).rejects.toThrow(/ENOENT/);
    await expect(snpReportFromDevice(new Uint8Array(64), { devicePath: missing })).rejects.toBeInstanceOf(AttestationError);
  });
});
