#include "native_lock.h"

#include "addon_data.h"
#include "arguments.h"
#include "js_errors.h"

namespace shieldfs::addon {

Napi::Function NativeLock::Define(Napi::Env env) {
  Napi::Function ctor = DefineClass(env, "NativeLock", {InstanceMethod<&NativeLock::Release>("release")});
  env.GetInstanceData<AddonData>()->nativeLock = Napi::Persistent(ctor);
  return ctor;
}

Napi::Object NativeLock::Wrap(Napi::Env env, std::unique_ptr<FileLock> lock) {
  auto external = Napi::External<FileLock>::New(env, lock.release());
  return env.GetInstanceData<AddonData>()->nativeLock.New({external});
}

NativeLock::NativeLock(const Napi::CallbackInfo& info) : Napi::ObjectWrap<NativeLock>(info) {
  if (!info[0].IsExternal()) {
    invalidArgument(info.Env(), "NativeLock is created by lockFile()").ThrowAsJavaScriptException();
    return;
  }
  lock_.reset(info[0].As<Napi::External<FileLock>>().Data());
}

Napi::Value NativeLock::Release(const Napi::CallbackInfo& info) {
  return guarded(info.Env(), [&] {
    if (lock_) lock_->release();
    return info.Env().Undefined();
  });
}

Napi::Value LockFile(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto path = parsePath(info, 0, "path");
  if (!path) return env.Undefined();
  if (!info[1].IsBoolean()) {
    invalidArgument(env, "exclusive must be a boolean").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  const bool exclusive = info[1].As<Napi::Boolean>().Value();
  return guarded(env, [&]() -> Napi::Value { return NativeLock::Wrap(env, std::make_unique<FileLock>(*path, exclusive)); });
}

}  // namespace shieldfs::addon
