// Turns core errors into JavaScript Error objects shaped like Node's fs errors
// (message, code, errno, syscall, path) plus `chunk` for integrity failures.
#pragma once

#include <napi.h>

#include "../core/shield_error.h"

namespace shieldfs::addon {

Napi::Error toJsError(Napi::Env env, const ShieldError& error);
Napi::Error invalidArgument(Napi::Env env, const std::string& message);

// Runs `body`; a ShieldError or std::exception thrown by it becomes a pending JS exception and
// `fallback` is returned instead. For the synchronous entry points.
template <typename Body>
Napi::Value guarded(Napi::Env env, Body&& body) {
  try {
    return body();
  } catch (const ShieldError& e) {
    toJsError(env, e).ThrowAsJavaScriptException();
  } catch (const std::exception& e) {
    toJsError(env, ShieldError("EIO", e.what())).ThrowAsJavaScriptException();
  }
  return env.Undefined();
}

}  // namespace shieldfs::addon
