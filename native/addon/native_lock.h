// NativeLock: the JavaScript handle of a FileLock (core/file_lock.h), made by lockFile().
#pragma once

#include <napi.h>

#include <memory>

#include "../core/file_lock.h"

namespace shieldfs::addon {

class NativeLock : public Napi::ObjectWrap<NativeLock> {
 public:
  static Napi::Function Define(Napi::Env env);
  static Napi::Object Wrap(Napi::Env env, std::unique_ptr<FileLock> lock);
  explicit NativeLock(const Napi::CallbackInfo& info);

 private:
  Napi::Value Release(const Napi::CallbackInfo& info);

  std::unique_ptr<FileLock> lock_;  // released with the object at the latest
};

// lockFile(path, exclusive) -> NativeLock
Napi::Value LockFile(const Napi::CallbackInfo& info);

}  // namespace shieldfs::addon
