// The instance side of attested release (PROTOCOL.md, "Release"): a fresh ephemeral key pair and
// nonce per start, evidence binding both and the request's claims, and the sealed answer opened
// only if the pinned service signed it.
import { chooseEvidenceSource, evidenceFrom, type PlatformOptions } from '../attestation/platform.js';
import { simulationEvidence } from '../attestation/simulation.js';
import { endorsementFromCache, endorsementFromTable } from '../attestation/snp-endorsements.js';
import { readRegularFile } from '../file/bounded-file.js';
import { shieldError } from '../file/fs-errors.js';
import type { CasClient } from './client.js';
import { ephemeralKeyPair, openResponse, reportDataFor, type ReleaseClaims, type SealedResponse } from './release.js';
import type { ReleasedConfiguration, ReleaseRequest } from './service.js';

/** Makes the evidence for `reportData`, with what verifying it needs besides (SNP: the VCEK; SGX/TDX: collateral). */
export type EvidenceSource = (reportData: Buffer) => Promise<{ type: string; data: Uint8Array; collateral?: unknown; vcek?: Uint8Array }>;

/** Simulation evidence of `measurement`: it proves nothing, and a session accepts it only when it tolerates simulation. */
export function simulationEvidenceSource(measurement: string): EvidenceSource {
  return async (reportData) => ({ type: 'simulation', data: simulationEvidence(measurement, reportData) });
}

/**
 * Evidence from the TEE this process runs in (configfs-tsm, /dev/sev-guest, /dev/nsm), else simulation of
 * `measurement`; the service decides what it accepts. An SNP report's VCEK comes from the host's
 * certificate table when it gives one, else from the cache directory `SHIELD_VCEK_DIR`; DCAP collateral
 * from the JSON file `SHIELD_DCAP_COLLATERAL`. All of these are the host's input, and all are checked by
 * the service against the vendors' roots.
 */
export function platformEvidenceSource(measurement: string, options: PlatformOptions = {}, env: NodeJS.ProcessEnv = process.env): EvidenceSource {
  return async (reportData) => {
    const source = await chooseEvidenceSource(true, options);
    if (source.kind === 'simulation') return simulationEvidenceSource(measurement)(reportData);
    const { type, evidence, auxblob } = await evidenceFrom(source, reportData, options);
    const out: Awaited<ReturnType<EvidenceSource>> = { type, data: evidence };
    if (type === 'snp') {
      if (auxblob.length > 0) out.vcek = endorsementFromTable(evidence, auxblob);
      else if (env.SHIELD_VCEK_DIR) out.vcek = endorsementFromCache(evidence, env.SHIELD_VCEK_DIR);
    }
    if (type === 'tdx' && env.SHIELD_DCAP_COLLATERAL) out.collateral = JSON.parse(readRegularFile(env.SHIELD_DCAP_COLLATERAL, { what: 'DCAP collateral file', maxBytes: 1 << 20 }).toString('utf8'));
    return out;
  };
}

export interface ReleaseOptions {
  session: string;
  service: string;
  hostCommand: string[] | null;
  evidence: EvidenceSource;
}

/** The parts of one release, for tests that replay or alter them. */
export interface ReleaseExchange {
  request: ReleaseRequest;
  response: SealedResponse;
  open(): ReleasedConfiguration;
}

export async function exchangeRelease(client: CasClient, options: ReleaseOptions): Promise<ReleaseExchange> {
  const keys = ephemeralKeyPair();
  const { nonce } = await client.call<{ nonce: string }>('GET', '/v1/nonce');
  if (typeof nonce !== 'string' || !/^[0-9a-f]{80}$/.test(nonce)) throw shieldError('EIO', 'the policy service sent a malformed nonce');
  const nonceBytes = Buffer.from(nonce, 'hex');
  const claims: ReleaseClaims = { session: options.session, service: options.service, hostCommand: options.hostCommand };
  const evidence = await options.evidence(reportDataFor(nonceBytes, keys.publicKey, claims));
  const request: ReleaseRequest = {
    ...claims, nonce, publicKey: keys.publicKey.toString('base64'),
    evidence: {
      type: evidence.type, data: Buffer.from(evidence.data).toString('base64'),
      ...(evidence.collateral !== undefined ? { collateral: evidence.collateral } : {}),
      ...(evidence.vcek !== undefined ? { vcek: Buffer.from(evidence.vcek).toString('base64') } : {}),
    },
  };
  const response = await client.call<SealedResponse>('POST', '/v1/release', request);
  return {
    request,
    response,
    open: () => {
      const plaintext = openResponse(response, nonceBytes, keys, client.serviceKey);
      try {
        return JSON.parse(plaintext.toString('utf8')) as ReleasedConfiguration;
      } finally {
        plaintext.fill(0);
      }
    },
  };
}

/** One attested release: the configuration the policy gives this instance. */
export async function requestRelease(client: CasClient, options: ReleaseOptions): Promise<ReleasedConfiguration> {
  return (await exchangeRelease(client, options)).open();
}
