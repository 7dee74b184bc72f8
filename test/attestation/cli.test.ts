// `shield attest verify` run as a user runs it: the compiled CLI in a child process.
import { writeFileSync } from 'node:fs';
import { beforeAll, describe, expect, it } from 'vitest';
import { cliRunner, expectFailure, expectSuccess, type CliResult } from '../support/cli-run.js';
import { useTempDir } from '../support/temp.js';
import { FIXTURES, FIXTURE_LIST, fixtureBytes, flipBit } from './fixtures.js';

const temp = useTempDir('shield-attest-cli-');
let shield: (args: string[]) => CliResult;
beforeAll(() => {
  shield = cliRunner({});
});

const verify = (...args: string[]): CliResult => shield(['attest', 'verify', ...args]);

describe('shield attest verify', () => {
  it.each(FIXTURE_LIST.map((f) => [f.name, f] as const))('%s: prints the claims as JSON, binary values in lower-case hex (exit 0)', (_name, fixture) => {
    const result = expectSuccess(verify('--type', fixture.type, '--evidence', FIXTURES + fixture.evidencePath, ...fixture.cliArgs, '--json'));
    const claims = JSON.parse(result.out);
    expect(claims.type).toBe(fixture.type);
    expect(claims.measurement).toMatch(/^[0-9a-f]{64,96}$/);
    expect(claims.reportData).toMatch(/^[0-9a-f]+$/);
    // --report-data equal to the evidence's own is accepted.
    expectSuccess(verify('--type', fixture.type, '--evidence', FIXTURES + fixture.evidencePath, ...fixture.cliArgs, '--report-data', claims.reportData));
  });

  it('sgx: Intel\'s TCB status and advisory ids are reported, not judged, without --tolerate', () => {
    const sgx = FIXTURE_LIST.find((f) => f.type === 'sgx')!;
    const claims = JSON.parse(expectSuccess(verify('--type', 'sgx', '--evidence', FIXTURES + sgx.evidencePath, ...sgx.cliArgs, '--json')).out);
    expect(claims.tcbStatus).toBe('ConfigurationAndSWHardeningNeeded');
    expect(claims.advisoryIds).toEqual(['INTEL-SA-00289', 'INTEL-SA-00615']);
    const text = expectSuccess(verify('--type', 'sgx', '--evidence', FIXTURES + sgx.evidencePath, ...sgx.cliArgs)).out;
    expect(text).toMatch(/^tcb status: ConfigurationAndSWHardeningNeeded$/m);
    expectFailure(verify('--type', 'sgx', '--evidence', FIXTURES + sgx.evidencePath, ...sgx.cliArgs, '--tolerate', 'insecure-configuration'), 'EATTEST', 7, /needs tolerate software-hardening-needed/);
    expectSuccess(verify('--type', 'sgx', '--evidence', FIXTURES + sgx.evidencePath, ...sgx.cliArgs, '--tolerate', 'insecure-configuration,software-hardening-needed'));
  });

  it('nitro: the debug enclave is reported; refused with --tolerate that omits debug-mode (exit 7)', () => {
    const args = ['--type', 'nitro', '--evidence', FIXTURES + 'nitro/example_attestation', '--at', '2024-09-09T20:00:00.123Z'];
    expect(expectSuccess(verify(...args)).out).toMatch(/^debug: yes/m);
    expectFailure(verify(...args, '--tolerate', 'outdated-tcb'), 'EATTEST', 7, /debug enclave or guest/);
    expectSuccess(verify(...args, '--tolerate', 'debug-mode'));
  });

  it('nitro evidence as raw COSE bytes is accepted as well as base64 text', () => {
    const raw = temp('nitro.cose');
    writeFileSync(raw, FIXTURE_LIST[0]!.evidence);
    expectSuccess(verify('--type', 'nitro', '--evidence', raw, '--at', '2024-09-09T20:00:00Z'));
  });

  it('refusals: exit 7 with one line `shield: EATTEST: …`', () => {
    const tampered = temp('report.bin');
    writeFileSync(tampered, flipBit(fixtureBytes('snp/test-report.bin'), 0x90));
    const snp = ['--vcek', FIXTURES + 'snp/test-vcek.der', '--at', '2025-06-01T00:00:00Z'];
    expectFailure(verify('--type', 'snp', '--evidence', tampered, ...snp), 'EATTEST', 7, /signature does not verify/);
    expectFailure(verify('--type', 'snp', '--evidence', FIXTURES + 'snp/test-report.bin', ...snp, '--report-data', '00'.repeat(64)), 'EATTEST', 7, /REPORT_DATA/);
    expectFailure(verify('--type', 'nitro', '--evidence', FIXTURES + 'nitro/example_attestation', '--at', '2030-01-01T00:00:00Z'), 'EATTEST', 7, /not at 2030/);
    expectFailure(verify('--type', 'tdx', '--evidence', FIXTURES + 'sgx/sgx_quote', '--collateral', FIXTURES + 'sgx/sgx_quote_collateral.json'), 'EATTEST', 7, /SGX quote/);
  });

  it('usage errors: exit 2 saying what is missing or wrong', () => {
    const snpReport = FIXTURES + 'snp/test-report.bin';
    expectFailure(verify('--type', 'snp', '--evidence', snpReport), 'EINVAL', 2, /needs --vcek FILE/);
    expectFailure(verify('--type', 'sgx', '--evidence', FIXTURES + 'sgx/sgx_quote'), 'EINVAL', 2, /needs --collateral FILE/);
    expectFailure(verify('--type', 'tdx', '--evidence', FIXTURES + 'tdx/tdx_quote', '--collateral', FIXTURES + 'tdx/tdx_quote'), 'EINVAL', 2, /is not JSON/);
    expectFailure(verify('--type', 'snp', '--evidence', '/nonexistent/report.bin', '--vcek', FIXTURES + 'snp/test-vcek.der'), 'EINVAL', 2, /cannot read the evidence file \/nonexistent\/report.bin: ENOENT/);
    expectFailure(verify('--type', 'snp', '--evidence', snpReport, '--vcek', '/nonexistent/vcek.der'), 'EINVAL', 2, /cannot read the VCEK file/);
    expectFailure(verify('--type', 'tpm', '--evidence', snpReport), 'EINVAL', 2, /Allowed choices are nitro, snp, sgx, tdx/);
    expectFailure(verify('--type', 'nitro', '--evidence', snpReport, '--at', '2024-09-09'), 'EINVAL', 2, /ISO 8601/);
    expectFailure(verify('--type', 'nitro', '--evidence', snpReport, '--at', '2024-13-45T00:00:00Z'), 'EINVAL', 2, /ISO 8601/);
    expectFailure(verify('--type', 'nitro', '--evidence', snpReport, '--report-data', 'xyz'), 'EINVAL', 2, /hex digits/);
    expectFailure(verify('--type', 'nitro', '--evidence', snpReport, '--tolerate', 'everything'), 'EINVAL', 2, /'everything' is not one of/);
    expectFailure(verify('--evidence', snpReport), 'EINVAL', 2, /--type/);
  });
});
