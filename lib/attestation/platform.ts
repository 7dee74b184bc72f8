// Evidence on the runtime side: find the TEE this process runs in and ask it for evidence that binds
// 64 bytes of report data. Linux's configfs-tsm (Documentation/ABI/testing/configfs-tsm) serves SEV-SNP
// reports and TDX quotes through files; /dev/sev-guest and the Nitro Secure Module (/dev/nsm) need
// ioctls, which the native addon issues (devices.ts). Without a TEE the runtime may fall back to
// `simulation` only when the session tolerates it.
import * as fs from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { nitroDocumentFromDevice, snpReportFromDevice, type TeeDevices } from './devices.js';
import { AttestationError, type EvidenceType } from './evidence.js';

export const CONFIGFS_TSM_REPORT = '/sys/kernel/config/tsm/report';
export const TSM_REPORT_DATA_LENGTH = 64;
const OUTBLOB_LIMIT = 1024 * 1024;

/** The file operations configfs-tsm is driven with; injectable so the protocol can be tested without a TEE. */
export interface TsmFileSystem {
  mkdir(path: string): Promise<void>;
  rmdir(path: string): Promise<void>;
  writeFile(path: string, data: Uint8Array): Promise<void>;
  readFile(path: string): Promise<Buffer>;
}

const nodeFileSystem: TsmFileSystem = {
  mkdir: async (path) => { await fs.mkdir(path); },
  rmdir: (path) => fs.rmdir(path),
  writeFile: (path, data) => fs.writeFile(path, data),
  readFile: (path) => fs.readFile(path),
};

export interface PlatformOptions {
  /** The configfs-tsm report directory (default /sys/kernel/config/tsm/report). */
  tsmRoot?: string;
  /** Where device nodes live (default /dev). */
  devRoot?: string;
  fileSystem?: TsmFileSystem;
  /** The ioctl-driven devices (default: the native addon's). */
  devices?: TeeDevices;
}

export type EvidenceSource =
  | { kind: 'configfs-tsm'; root: string }
  | { kind: 'sev-guest-device'; path: string }
  | { kind: 'nitro-secure-module'; path: string }
  | { kind: 'simulation' };

async function exists(path: string): Promise<boolean> {
  try {
    await fs.stat(path);
    return true;
  } catch {
    return false;
  }
}

/** The TEE interfaces present, configfs-tsm first (it serves both SNP and TDX without native code). */
export async function detectEvidenceSources(options: PlatformOptions = {}): Promise<EvidenceSource[]> {
  const tsmRoot = options.tsmRoot ?? CONFIGFS_TSM_REPORT;
  const devRoot = options.devRoot ?? '/dev';
  const found: EvidenceSource[] = [];
  if (await exists(tsmRoot)) found.push({ kind: 'configfs-tsm', root: tsmRoot });
  if (await exists(join(devRoot, 'sev-guest'))) found.push({ kind: 'sev-guest-device', path: join(devRoot, 'sev-guest') });
  if (await exists(join(devRoot, 'nsm'))) found.push({ kind: 'nitro-secure-module', path: join(devRoot, 'nsm') });
  return found;
}

/** The source the runtime uses: the first TEE interface found, else simulation when tolerated, else a refusal. */
export async function chooseEvidenceSource(simulationTolerated: boolean, options: PlatformOptions = {}): Promise<EvidenceSource> {
  const [first] = await detectEvidenceSources(options);
  if (first) return first;
  if (simulationTolerated) return { kind: 'simulation' };
  throw new AttestationError('no-platform',
    'no TEE found (no configfs-tsm, /dev/sev-guest or /dev/nsm): run in a confidential VM or enclave, or tolerate simulation in the session');
}

/**
 * Evidence from a hardware source, binding 64 bytes of report data (SNP and TDX: REPORT_DATA; Nitro: the
 * document's user_data). Simulation evidence is the policy service's protocol, not a platform's.
 */
export async function evidenceFrom(source: Exclude<EvidenceSource, { kind: 'simulation' }>, reportData: Uint8Array,
  options: PlatformOptions = {}): Promise<PlatformEvidence> {
  switch (source.kind) {
    case 'configfs-tsm':
      return evidenceFromConfigfsTsm(reportData, { ...options, tsmRoot: source.root });
    case 'sev-guest-device': {
      const evidence = await snpReportFromDevice(reportData, { devicePath: source.path, devices: options.devices });
      return { type: 'snp', evidence, auxblob: new Uint8Array(0), provider: 'sev-guest' };
    }
    case 'nitro-secure-module': {
      if (reportData.length !== TSM_REPORT_DATA_LENGTH) {
        throw new AttestationError('report-data', `the runtime binds exactly ${TSM_REPORT_DATA_LENGTH} bytes of report data, got ${reportData.length}`);
      }
      const evidence = await nitroDocumentFromDevice({ userData: reportData }, { devicePath: source.path, devices: options.devices });
      return { type: 'nitro', evidence, auxblob: new Uint8Array(0), provider: 'nsm' };
    }
  }
}

export interface PlatformEvidence {
  type: Extract<EvidenceType, 'snp' | 'tdx' | 'nitro'>;
  /** The SNP report, TDX quote or Nitro document, as the verifiers take it. */
  evidence: Uint8Array;
  /** SNP: the host's certificate table (may hold the VCEK); empty when the host gives none. */
  auxblob: Uint8Array;
  provider: string;
}

const PROVIDERS: Record<string, PlatformEvidence['type']> = { sev_guest: 'snp', tdx_guest: 'tdx' };

/**
 * One report through configfs-tsm: create an entry, write the report data to `inblob`, read `outblob`,
 * and check that `generation` counted exactly our write (another writer to the same entry would make
 * the outblob someone else's), then remove the entry.
 */
export async function evidenceFromConfigfsTsm(reportData: Uint8Array, options: PlatformOptions = {}): Promise<PlatformEvidence> {
  if (reportData.length !== TSM_REPORT_DATA_LENGTH) {
    throw new AttestationError('report-data', `configfs-tsm binds exactly ${TSM_REPORT_DATA_LENGTH} bytes of report data, got ${reportData.length}: hash the nonce and key first`);
  }
  const files = options.fileSystem ?? nodeFileSystem;
  const entry = join(options.tsmRoot ?? CONFIGFS_TSM_REPORT, `shield-${process.pid}-${randomBytes(6).toString('hex')}`);
  const fail = (step: string, error: unknown): AttestationError =>
    new AttestationError('platform', `configfs-tsm ${step} in ${entry} failed (${(error as Error).message}): is the TEE guest driver loaded and the process allowed to use it?`);
  try {
    await files.mkdir(entry);
  } catch (error) {
    throw fail('mkdir', error);
  }
  try {
    const readText = async (name: string): Promise<string> => {
      try {
        return (await files.readFile(join(entry, name))).toString('utf8').trim();
      } catch (error) {
        throw fail(`reading ${name}`, error);
      }
    };
    const provider = await readText('provider');
    const type = PROVIDERS[provider];
    if (!type) throw new AttestationError('platform', `configfs-tsm provider '${provider}' is not one shield verifies (sev_guest, tdx_guest)`);
    const before = Number(await readText('generation'));
    try {
      await files.writeFile(join(entry, 'inblob'), reportData);
    } catch (error) {
      throw fail('writing inblob', error);
    }
    let evidence: Buffer;
    try {
      evidence = await files.readFile(join(entry, 'outblob'));
    } catch (error) {
      throw fail('reading outblob', error);
    }
    const after = Number(await readText('generation'));
    if (!Number.isSafeInteger(before) || after !== before + 1) {
      throw new AttestationError('platform', `configfs-tsm generation went from ${before} to ${after}: another process wrote to ${entry}; retry`);
    }
    if (evidence.length === 0 || evidence.length > OUTBLOB_LIMIT) throw new AttestationError('platform', `configfs-tsm outblob of ${evidence.length} bytes`);
    let auxblob: Uint8Array = new Uint8Array(0);
    if (type === 'snp') {
      try {
        auxblob = await files.readFile(join(entry, 'auxblob'));
      } catch {
        // The host supplies no certificates: the verifier then needs the VCEK from AMD's KDS or a cache.
      }
    }
    return { type, evidence: new Uint8Array(evidence), auxblob: new Uint8Array(auxblob), provider };
  } finally {
    await files.rmdir(entry).catch(() => {});
  }
}
