// The `simulation` evidence type: the runtime states its own measurement and report data, unsigned.
// It PROVES NOTHING: any program on any host can write these bytes. It exists so that the whole
// release protocol runs on machines without a TEE, and the policy service accepts it only for
// sessions whose `security.attestation.tolerate` lists `simulation` (as SCONE's simulation mode and
// Confidential Containers' sample TEE).
//
// Evidence bytes: UTF-8 JSON {"type":"simulation","measurement":<64 hex>,"reportData":<128 hex>},
// at most 4 KiB, no other fields.
import { timingSafeEqual } from 'node:crypto';
import { AttestationError, type Claims, type EvidenceVerifier, type VerifyContext } from './evidence.js';

export const MAX_SIMULATION_EVIDENCE_BYTES = 4096;
const MEASUREMENT = /^[0-9a-f]{64}$/;
const REPORT_DATA = /^[0-9a-f]{128}$/;

/** The bytes a runtime sends as simulation evidence. */
export function simulationEvidence(measurement: string, reportData: Uint8Array): Uint8Array {
  if (!MEASUREMENT.test(measurement)) throw new TypeError('measurement must be 64 lowercase hex characters');
  if (reportData.length !== 64) throw new TypeError('report data must be 64 bytes');
  return Buffer.from(JSON.stringify({ type: 'simulation', measurement, reportData: Buffer.from(reportData).toString('hex') }));
}

export class SimulationVerifier implements EvidenceVerifier {
  readonly type = 'simulation' as const;

  async verify(evidence: Uint8Array, context: VerifyContext): Promise<Claims> {
    if (evidence.length > MAX_SIMULATION_EVIDENCE_BYTES) {
      throw new AttestationError('malformed', `simulation evidence of ${evidence.length} bytes is larger than ${MAX_SIMULATION_EVIDENCE_BYTES}`);
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(Buffer.from(evidence).toString('utf8'));
    } catch {
      throw new AttestationError('malformed', 'simulation evidence is not JSON: expected {"type":"simulation","measurement":…,"reportData":…}');
    }
    const fields = parsed as Record<string, unknown>;
    if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed) || fields.type !== 'simulation' ||
        Object.keys(fields).some((k) => !['type', 'measurement', 'reportData'].includes(k)) ||
        typeof fields.measurement !== 'string' || !MEASUREMENT.test(fields.measurement) ||
        typeof fields.reportData !== 'string' || !REPORT_DATA.test(fields.reportData)) {
      throw new AttestationError('malformed', 'simulation evidence must be exactly {"type":"simulation","measurement":<64 hex>,"reportData":<128 hex>}');
    }
    const reportData = Buffer.from(fields.reportData, 'hex');
    if (context.expectedReportData !== undefined) {
      const expected = Buffer.from(context.expectedReportData);
      if (expected.length !== reportData.length || !timingSafeEqual(expected, reportData)) {
        throw new AttestationError('report-data', 'the evidence\'s report data does not bind this request\'s nonce, public key and claims: ' +
          'it was made for another request (replayed) or another instance');
      }
    }
    return {
      type: 'simulation',
      measurement: fields.measurement,
      reportData: fields.reportData,
      // Nothing stops the host from reading a simulated service's memory.
      debug: true,
      tcbStatus: 'NotApplicable',
      advisoryIds: [],
      platform: { proves: 'nothing: unsigned evidence reported by the runtime itself' },
    };
  }
}
