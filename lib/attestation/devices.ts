// Evidence from the TEE devices that need an ioctl: AMD SEV-SNP's /dev/sev-guest (SNP_GET_REPORT) and
// the AWS Nitro Secure Module's /dev/nsm (a CBOR Attestation request). The ioctls are the native
// addon's (native/core/tee_device.cpp, on the libuv pool); the bytes they return are parsed here with
// every length checked, so the same parsing runs against a fake device in the tests. configfs-tsm, which
// needs no ioctl, is in platform.ts.
import { decode, encode } from 'cborg';
import { promisify } from 'node:util';
import { native } from '../file/native.js';
import { AttestationError } from './evidence.js';

/** The two device requests; the runtime uses the native ones, tests a fake that answers as the firmware does. */
export interface TeeDevices {
  snpReport(devicePath: string, reportData: Uint8Array, vmpl: number): Promise<Buffer>;
  nsmRequest(devicePath: string, request: Uint8Array): Promise<Buffer>;
}

export const nativeTeeDevices: TeeDevices = {
  snpReport: promisify(native.snpReport) as TeeDevices['snpReport'],
  nsmRequest: promisify(native.nsmRequest) as TeeDevices['nsmRequest'],
};

export const SNP_REPORT_BYTES = 1184;
export const SNP_REPORT_DATA_BYTES = 64;
// MSG_REPORT_RSP (SEV-SNP firmware ABI, "MSG_REPORT_RSP"): status, report size, 24 reserved bytes, the report.
const SNP_RESPONSE_HEADER = 32;
const SNP_STATUS_MESSAGES: Record<number, string> = { 0x16: 'invalid parameters' };

/** A SEV-SNP attestation report binding `reportData`, from /dev/sev-guest. */
export async function snpReportFromDevice(reportData: Uint8Array, options: { devicePath?: string; devices?: TeeDevices; vmpl?: number } = {}): Promise<Uint8Array> {
  if (reportData.length !== SNP_REPORT_DATA_BYTES) {
    throw new AttestationError('report-data', `an SNP report binds exactly ${SNP_REPORT_DATA_BYTES} bytes of report data, got ${reportData.length}`);
  }
  const devicePath = options.devicePath ?? '/dev/sev-guest';
  let response: Buffer;
  try {
    response = await (options.devices ?? nativeTeeDevices).snpReport(devicePath, reportData, options.vmpl ?? 0);
  } catch (error) {
    throw new AttestationError('platform', `${devicePath}: the SNP report request failed (${(error as Error).message}): ` +
      'is this a SEV-SNP guest with the sev-guest driver loaded, and may this process open the device?');
  }
  if (response.length < SNP_RESPONSE_HEADER + SNP_REPORT_BYTES) {
    throw new AttestationError('platform', `${devicePath} answered ${response.length} bytes, shorter than a report response (${SNP_RESPONSE_HEADER + SNP_REPORT_BYTES})`);
  }
  const status = response.readUInt32LE(0);
  if (status !== 0) {
    throw new AttestationError('platform', `${devicePath}: the SEV-SNP firmware answered status 0x${status.toString(16)}` +
      `${SNP_STATUS_MESSAGES[status] ? ` (${SNP_STATUS_MESSAGES[status]})` : ''} to the report request`);
  }
  const size = response.readUInt32LE(4);
  if (size !== SNP_REPORT_BYTES) {
    throw new AttestationError('platform', `${devicePath}: the firmware's report is ${size} bytes, not the ${SNP_REPORT_BYTES} of the SNP ABI this runtime reads`);
  }
  const report = new Uint8Array(response.subarray(SNP_RESPONSE_HEADER, SNP_RESPONSE_HEADER + SNP_REPORT_BYTES));
  // The report must carry what we asked it to bind: a device that answers with another report is refused here,
  // before the policy service refuses it.
  if (!Buffer.from(report.subarray(0x50, 0x50 + SNP_REPORT_DATA_BYTES)).equals(Buffer.from(reportData))) {
    throw new AttestationError('report-data', `${devicePath} returned a report that does not bind the report data asked for`);
  }
  return report;
}

export const NSM_USER_DATA_MAX = 512;
export const NSM_NONCE_MAX = 512;
export const NSM_PUBLIC_KEY_MAX = 1024;
const NSM_RESPONSE_MAX = 0x3000;

/** What a Nitro attestation document binds; the verifier reads `user_data` as the report data. */
export interface NitroBinding {
  userData: Uint8Array;
  nonce?: Uint8Array;
  publicKey?: Uint8Array;
}

/** An AWS Nitro Enclaves attestation document (COSE_Sign1) binding `binding`, from the NSM. */
export async function nitroDocumentFromDevice(binding: NitroBinding, options: { devicePath?: string; devices?: TeeDevices } = {}): Promise<Uint8Array> {
  const limit = (bytes: Uint8Array | undefined, max: number, what: string) => {
    if (bytes && bytes.length > max) throw new AttestationError('report-data', `the NSM takes at most ${max} bytes of ${what}, got ${bytes.length}`);
  };
  limit(binding.userData, NSM_USER_DATA_MAX, 'user data');
  limit(binding.nonce, NSM_NONCE_MAX, 'nonce');
  limit(binding.publicKey, NSM_PUBLIC_KEY_MAX, 'public key');
  const devicePath = options.devicePath ?? '/dev/nsm';
  const request = encode({
    Attestation: { user_data: binding.userData, nonce: binding.nonce ?? null, public_key: binding.publicKey ?? null },
  });
  let response: Buffer;
  try {
    response = await (options.devices ?? nativeTeeDevices).nsmRequest(devicePath, request);
  } catch (error) {
    throw new AttestationError('platform', `${devicePath}: the attestation request failed (${(error as Error).message}): ` +
      'is this a Nitro enclave with the nsm driver, and may this process open the device?');
  }
  if (response.length === 0 || response.length > NSM_RESPONSE_MAX) {
    throw new AttestationError('platform', `${devicePath} answered ${response.length} bytes`);
  }
  let decoded: unknown;
  try {
    decoded = decode(response);
  } catch (error) {
    throw new AttestationError('platform', `${devicePath} answered bytes that are not CBOR (${(error as Error).message})`);
  }
  const answer = decoded as { Attestation?: { document?: unknown }; Error?: unknown } | null;
  if (answer && typeof answer === 'object' && 'Error' in answer) {
    throw new AttestationError('platform', `${devicePath}: the NSM refused the attestation request (${String(answer.Error)})`);
  }
  const document = answer && typeof answer === 'object' ? answer.Attestation?.document : undefined;
  if (!(document instanceof Uint8Array) || document.length === 0) {
    throw new AttestationError('platform', `${devicePath} answered without an attestation document`);
  }
  return document;
}
