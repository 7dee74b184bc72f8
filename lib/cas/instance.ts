// The instance side of attested release (PROTOCOL.md, "Release"): a fresh ephemeral key pair and
// nonce per start, evidence binding both and the request's claims, and the sealed answer opened
// only if the pinned service signed it.
import { simulationEvidence } from '../attestation/simulation.js';
import { shieldError } from '../file/fs-errors.js';
import type { CasClient } from './client.js';
import { ephemeralKeyPair, openResponse, reportDataFor, type ReleaseClaims, type SealedResponse } from './release.js';
import type { ReleasedConfiguration, ReleaseRequest } from './service.js';

/** Makes the evidence for `reportData`; the simulation type by default (it proves nothing). */
export type EvidenceSource = (reportData: Buffer) => Promise<{ type: string; data: Uint8Array }>;

export function simulationEvidenceSource(measurement: string): EvidenceSource {
  return async (reportData) => ({ type: 'simulation', data: simulationEvidence(measurement, reportData) });
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
    evidence: { type: evidence.type, data: Buffer.from(evidence.data).toString('base64') },
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
