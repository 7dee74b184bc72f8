#include "tee_device.h"

#include <fcntl.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "shield_error.h"

namespace shieldfs {
namespace {

// linux/sev-guest.h
struct SnpReportRequest {
  uint8_t userData[64];
  uint32_t vmpl;
  uint8_t reserved[28];
};
struct SnpGuestRequest {
  uint8_t messageVersion;
  uint64_t requestData;
  uint64_t responseData;
  uint64_t exitInfo2;  // bits 63..32: hypervisor error, 31..0: firmware error
};
constexpr unsigned long kSnpGetReport = _IOWR('S', 0x0, SnpGuestRequest);

// linux/nsm.h
struct NsmIovec {
  uint64_t address;
  uint64_t length;
};
struct NsmRaw {
  NsmIovec request;
  NsmIovec response;
};
constexpr unsigned long kNsmIoctlRaw = _IOWR(0x0A, 0x0, NsmRaw);

class Device {
 public:
  explicit Device(const std::string& path) : path_(path) {
    do fd_ = ::open(path.c_str(), O_RDWR | O_CLOEXEC);
    while (fd_ < 0 && errno == EINTR);
    if (fd_ < 0) throw systemError(errno, "open", path);
  }
  ~Device() { ::close(fd_); }
  Device(const Device&) = delete;
  Device& operator=(const Device&) = delete;

  void request(unsigned long command, void* argument, const char* what) const {
    int result;
    do result = ::ioctl(fd_, command, argument);
    while (result < 0 && errno == EINTR);
    if (result < 0) {
      int err = errno;
      if (err == ENOTTY || err == EINVAL) {
        throw ShieldError(err == ENOTTY ? "ENOTTY" : "EINVAL",
                          std::string(err == ENOTTY ? "ENOTTY" : "EINVAL") + ": " + path_ + " is not a " + what +
                              " device (the ioctl is not known to it)",
                          err, "ioctl", path_);
      }
      throw systemError(err, "ioctl", path_);
    }
  }

 private:
  std::string path_;
  int fd_ = -1;
};

}  // namespace

std::vector<uint8_t> TeeDevice::snpReport(const std::string& devicePath, const uint8_t* reportData, uint32_t vmpl) {
  Device device(devicePath);
  SnpReportRequest request{};
  std::memcpy(request.userData, reportData, kReportDataBytes);
  request.vmpl = vmpl;
  std::vector<uint8_t> response(kSnpResponseBytes, 0);
  SnpGuestRequest guest{};
  guest.messageVersion = 1;
  guest.requestData = reinterpret_cast<uint64_t>(&request);
  guest.responseData = reinterpret_cast<uint64_t>(response.data());
  try {
    device.request(kSnpGetReport, &guest, "SEV-SNP guest");
  } catch (const ShieldError& e) {
    if (e.code() != "EIO" || guest.exitInfo2 == 0) throw;
    throw ShieldError("EIO", "EIO: the SEV-SNP firmware refused the report request (firmware error " +
                                 std::to_string(guest.exitInfo2 & 0xffffffffu) + ", hypervisor error " +
                                 std::to_string(guest.exitInfo2 >> 32) + ")",
                      EIO, "ioctl", devicePath);
  }
  return response;
}

std::vector<uint8_t> TeeDevice::nsmRequest(const std::string& devicePath, const uint8_t* request, size_t length) {
  if (length == 0 || length > kNsmRequestMaxBytes) {
    throw ShieldError("EINVAL", "EINVAL: an NSM request is 1 to " + std::to_string(kNsmRequestMaxBytes) + " bytes, got " +
                                    std::to_string(length));
  }
  Device device(devicePath);
  std::vector<uint8_t> requestCopy(request, request + length);
  std::vector<uint8_t> response(kNsmResponseMaxBytes, 0);
  NsmRaw raw{};
  raw.request = {reinterpret_cast<uint64_t>(requestCopy.data()), requestCopy.size()};
  raw.response = {reinterpret_cast<uint64_t>(response.data()), response.size()};
  device.request(kNsmIoctlRaw, &raw, "Nitro Secure Module");
  // The driver sets the response length to what it wrote.
  if (raw.response.length > response.size()) {
    throw ShieldError("EIO", "EIO: " + devicePath + " reported a response longer than its buffer", EIO, "ioctl", devicePath);
  }
  response.resize(raw.response.length);
  return response;
}

}  // namespace shieldfs
