// Errors of the shield core. Every failure leaves the core as a ShieldError carrying a Node-style
// code ("EINTEGRITY", "ENOENT", ...) so the addon can hand it to JavaScript unchanged.
#pragma once

#include <cerrno>
#include <cstdint>
#include <stdexcept>
#include <string>

namespace shieldfs {

inline constexpr const char* kIntegrity = "EINTEGRITY";
inline constexpr const char* kRollback = "EROLLBACK";
inline constexpr const char* kBadKey = "EBADKEY";

class ShieldError : public std::runtime_error {
 public:
  ShieldError(std::string code, const std::string& message, int sysErrno = 0, std::string syscall = {},
              std::string path = {}, int64_t chunk = -1)
      : std::runtime_error(message),
        code_(std::move(code)),
        errno_(sysErrno),
        syscall_(std::move(syscall)),
        path_(std::move(path)),
        chunk_(chunk) {}

  const std::string& code() const { return code_; }
  int sysErrno() const { return errno_; }          // 0 for shield errors
  const std::string& syscall() const { return syscall_; }
  const std::string& path() const { return path_; }
  int64_t chunk() const { return chunk_; }         // -1 when the error is not about one chunk

 private:
  std::string code_;
  int errno_;
  std::string syscall_;
  std::string path_;
  int64_t chunk_;
};

// A ShieldError for a failed system call, named like Node names it (ENOENT, EISDIR, ...).
ShieldError systemError(int err, const std::string& syscall, const std::string& path);

}  // namespace shieldfs
