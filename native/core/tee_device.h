// The guest interfaces through which a TEE hands out attestation evidence when configfs-tsm does not:
// AMD SEV-SNP's /dev/sev-guest (SNP_GET_REPORT) and the AWS Nitro Secure Module's /dev/nsm (a raw
// CBOR request and response). Plain ioctls with the kernel's stable ABI, declared here so the build
// needs no kernel headers. The bytes that come back are parsed and verified in TypeScript
// (lib/attestation/); this file only moves them, with every length bounded.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace shieldfs {

class TeeDevice {
 public:
  static constexpr size_t kReportDataBytes = 64;
  static constexpr size_t kSnpResponseBytes = 4000;   // struct snp_report_resp
  static constexpr size_t kNsmRequestMaxBytes = 0x1000;
  static constexpr size_t kNsmResponseMaxBytes = 0x3000;

  // The firmware's MSG_REPORT_RSP for `reportData` at `vmpl` (status, report size, reserved, the
  // 1184-byte report), all kSnpResponseBytes of it. Throws ShieldError: the system call's code when
  // the device cannot be opened or refuses the ioctl (ENOTTY: not a SEV guest device), EIO naming
  // the firmware and hypervisor error codes when the request itself fails.
  static std::vector<uint8_t> snpReport(const std::string& devicePath, const uint8_t* reportData, uint32_t vmpl);

  // One raw NSM request (CBOR, at most kNsmRequestMaxBytes) and its CBOR response.
  static std::vector<uint8_t> nsmRequest(const std::string& devicePath, const uint8_t* request, size_t length);
};

}  // namespace shieldfs
