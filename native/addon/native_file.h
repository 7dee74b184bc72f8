// NativeFile: the JavaScript handle of one core ShieldedFile. Methods come in twins: `xxxSync`
// runs on the calling thread, `xxx(…, callback)` queues one AsyncWorker (file_workers.h).
#pragma once

#include <napi.h>

#include <memory>

#include "../core/shielded_file.h"

namespace shieldfs::addon {

class NativeFile : public Napi::ObjectWrap<NativeFile> {
 public:
  static Napi::Function Define(Napi::Env env);
  static Napi::Object Wrap(Napi::Env env, std::shared_ptr<ShieldedFile> file);
  explicit NativeFile(const Napi::CallbackInfo& info);

 private:
  Napi::Value ReadSync(const Napi::CallbackInfo& info);
  Napi::Value Read(const Napi::CallbackInfo& info);
  Napi::Value WriteSync(const Napi::CallbackInfo& info);
  Napi::Value Write(const Napi::CallbackInfo& info);
  Napi::Value TruncateSync(const Napi::CallbackInfo& info);
  Napi::Value Truncate(const Napi::CallbackInfo& info);
  Napi::Value FlushSync(const Napi::CallbackInfo& info);
  Napi::Value Flush(const Napi::CallbackInfo& info);
  Napi::Value CloseSync(const Napi::CallbackInfo& info);
  Napi::Value Close(const Napi::CallbackInfo& info);
  Napi::Value Info(const Napi::CallbackInfo& info);
  Napi::Value Size(const Napi::CallbackInfo& info);
  Napi::Value VerifyUnusedSlotsSync(const Napi::CallbackInfo& info);
  Napi::Value IoSync(const Napi::CallbackInfo& info, bool write);
  Napi::Value IoAsync(const Napi::CallbackInfo& info, bool write);

  std::shared_ptr<ShieldedFile> file_;
};

// openSync(path, key, options) and open(path, key, options, callback).
Napi::Value OpenSync(const Napi::CallbackInfo& info);
Napi::Value Open(const Napi::CallbackInfo& info);

}  // namespace shieldfs::addon
