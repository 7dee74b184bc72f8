#include "shield_error.h"

#include <cstring>

namespace shieldfs {

ShieldError systemError(int err, const std::string& syscall, const std::string& path) {
  const char* name = strerrorname_np(err);
  std::string code = name ? name : "EIO";
  std::string message = code + ": " + std::strerror(err) + ", " + syscall + " '" + path + "'";
  return ShieldError(code, message, err, syscall, path);
}

}  // namespace shieldfs
