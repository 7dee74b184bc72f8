// configfs-tsm driven against a FAKE configfs directory built here: a temporary directory whose
// "kernel" side (mkdir fills in provider and generation, writing inblob produces outblob) is played by
// the fake file system below. The outblob it returns is the real SNP fixture, so the round trip ends in
// the real verifier. No TEE is involved anywhere in this file.
import * as fs from 'node:fs/promises';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { AttestationError } from '../../lib/attestation/evidence.js';
import { chooseEvidenceSource, detectEvidenceSources, evidenceFromConfigfsTsm, type TsmFileSystem } from '../../lib/attestation/platform.js';
import { verifierFor } from '../../lib/attestation/verifiers.js';
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

  it('only a fake /dev/nsm: named as present but not usable without native code', async () => {
    const devRoot = temp('nsm-only/dev');
    mkdirSync(devRoot, { recursive: true });
    writeFileSync(join(devRoot, 'nsm'), '');
    await expect(chooseEvidenceSource(false, { tsmRoot: temp('nsm-only/tsm'), devRoot })).rejects.toThrow(/nitro-secure-module is present/);
  });
});
