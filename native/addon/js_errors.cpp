#include "js_errors.h"

namespace shieldfs::addon {

Napi::Error toJsError(Napi::Env env, const ShieldError& error) {
  Napi::Error js = Napi::Error::New(env, error.what());
  Napi::Object obj = js.Value();
  obj.Set("code", error.code());
  if (error.sysErrno()) obj.Set("errno", -error.sysErrno());  // Node reports errno negated
  if (!error.syscall().empty()) obj.Set("syscall", error.syscall());
  if (!error.path().empty()) obj.Set("path", error.path());
  if (error.chunk() >= 0) obj.Set("chunk", static_cast<double>(error.chunk()));
  return js;
}

Napi::Error invalidArgument(Napi::Env env, const std::string& message) {
  return toJsError(env, ShieldError("EINVAL", "EINVAL: " + message, 22));
}

}  // namespace shieldfs::addon
