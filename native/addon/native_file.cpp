#include "native_file.h"

#include "addon_data.h"
#include "arguments.h"
#include "file_workers.h"
#include "js_errors.h"

namespace shieldfs::addon {
namespace {

Napi::Value queue(Napi::AsyncWorker* worker, Napi::Env env) {
  worker->Queue();
  return env.Undefined();
}

}  // namespace

Napi::Function NativeFile::Define(Napi::Env env) {
  Napi::Function ctor = DefineClass(env, "NativeFile",
                                    {
                                        InstanceMethod<&NativeFile::ReadSync>("readSync"),
                                        InstanceMethod<&NativeFile::Read>("read"),
                                        InstanceMethod<&NativeFile::WriteSync>("writeSync"),
                                        InstanceMethod<&NativeFile::Write>("write"),
                                        InstanceMethod<&NativeFile::TruncateSync>("truncateSync"),
                                        InstanceMethod<&NativeFile::Truncate>("truncate"),
                                        InstanceMethod<&NativeFile::FlushSync>("flushSync"),
                                        InstanceMethod<&NativeFile::Flush>("flush"),
                                        InstanceMethod<&NativeFile::CloseSync>("closeSync"),
                                        InstanceMethod<&NativeFile::Close>("close"),
                                        InstanceMethod<&NativeFile::Info>("info"),
                                        InstanceMethod<&NativeFile::Size>("size"),
                                        InstanceMethod<&NativeFile::VerifyUnusedSlotsSync>("verifyUnusedSlotsSync"),
                                    });
  env.GetInstanceData<AddonData>()->nativeFile = Napi::Persistent(ctor);
  return ctor;
}

Napi::Object NativeFile::Wrap(Napi::Env env, std::shared_ptr<ShieldedFile> file) {
  auto* holder = new std::shared_ptr<ShieldedFile>(std::move(file));
  auto external = Napi::External<std::shared_ptr<ShieldedFile>>::New(env, holder);
  return env.GetInstanceData<AddonData>()->nativeFile.New({external});
}

NativeFile::NativeFile(const Napi::CallbackInfo& info) : Napi::ObjectWrap<NativeFile>(info) {
  if (!info[0].IsExternal()) {
    invalidArgument(info.Env(), "NativeFile is created by open()/openSync()").ThrowAsJavaScriptException();
    return;
  }
  auto* holder = info[0].As<Napi::External<std::shared_ptr<ShieldedFile>>>().Data();
  file_ = std::move(*holder);
  delete holder;
}

Napi::Value NativeFile::IoSync(const Napi::CallbackInfo& info, bool write) {
  auto io = parseIo(info);
  if (!io) return info.Env().Undefined();
  return guarded(info.Env(), [&] {
    size_t done = write ? file_->write(io->data, io->length, io->position)
                        : file_->read(io->data, io->length, io->position);
    return Napi::Number::New(info.Env(), static_cast<double>(done));
  });
}

Napi::Value NativeFile::IoAsync(const Napi::CallbackInfo& info, bool write) {
  auto io = parseIo(info);
  auto callback = io ? parseCallback(info, 4) : std::nullopt;
  if (!callback) return info.Env().Undefined();
  auto direction = write ? IoWorker::Direction::Write : IoWorker::Direction::Read;
  return queue(new IoWorker(*callback, file_, *io, direction), info.Env());
}

Napi::Value NativeFile::ReadSync(const Napi::CallbackInfo& info) { return IoSync(info, false); }
Napi::Value NativeFile::Read(const Napi::CallbackInfo& info) { return IoAsync(info, false); }
Napi::Value NativeFile::WriteSync(const Napi::CallbackInfo& info) { return IoSync(info, true); }
Napi::Value NativeFile::Write(const Napi::CallbackInfo& info) { return IoAsync(info, true); }

Napi::Value NativeFile::TruncateSync(const Napi::CallbackInfo& info) {
  auto size = parseSize(info, 0, "length");
  if (!size) return info.Env().Undefined();
  return guarded(info.Env(), [&] {
    file_->truncate(*size);
    return info.Env().Undefined();
  });
}

Napi::Value NativeFile::Truncate(const Napi::CallbackInfo& info) {
  auto size = parseSize(info, 0, "length");
  auto callback = size ? parseCallback(info, 1) : std::nullopt;
  if (!callback) return info.Env().Undefined();
  return queue(new TruncateWorker(*callback, file_, *size), info.Env());
}

Napi::Value NativeFile::FlushSync(const Napi::CallbackInfo& info) {
  return guarded(info.Env(), [&] {
    Hash tag = file_->flush();
    return Napi::String::New(info.Env(), toHex(tag.data(), tag.size()));
  });
}

Napi::Value NativeFile::Flush(const Napi::CallbackInfo& info) {
  auto callback = parseCallback(info, 0);
  if (!callback) return info.Env().Undefined();
  return queue(new FlushWorker(*callback, file_, FlushWorker::Then::KeepOpen), info.Env());
}

Napi::Value NativeFile::CloseSync(const Napi::CallbackInfo& info) {
  return guarded(info.Env(), [&] {
    Hash tag = file_->close();
    return Napi::String::New(info.Env(), toHex(tag.data(), tag.size()));
  });
}

Napi::Value NativeFile::Close(const Napi::CallbackInfo& info) {
  auto callback = parseCallback(info, 0);
  if (!callback) return info.Env().Undefined();
  return queue(new FlushWorker(*callback, file_, FlushWorker::Then::Close), info.Env());
}

Napi::Value NativeFile::Info(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  return guarded(env, [&] {
    Napi::Object out = Napi::Object::New(env);
    FileId id = file_->fileId(), keyId = file_->keyId();
    Hash tag = file_->tag();
    out.Set("size", static_cast<double>(file_->size()));
    out.Set("tag", toHex(tag.data(), tag.size()));
    out.Set("fileId", toHex(id.data(), id.size()));
    out.Set("keyId", toHex(keyId.data(), keyId.size()));
    out.Set("chunkSize", static_cast<double>(file_->chunkSize()));
    out.Set("encryptions", static_cast<double>(file_->encryptions()));
    return out;
  });
}

// The size alone: asked on every read of a whole file, where building info() costs more than the read.
Napi::Value NativeFile::Size(const Napi::CallbackInfo& info) {
  return guarded(info.Env(), [&] { return Napi::Number::New(info.Env(), static_cast<double>(file_->size())); });
}

Napi::Value NativeFile::VerifyUnusedSlotsSync(const Napi::CallbackInfo& info) {
  return guarded(info.Env(), [&]() -> Napi::Value {
    file_->verifyUnusedSlots();
    return info.Env().Undefined();
  });
}

Napi::Value OpenSync(const Napi::CallbackInfo& info) {
  auto request = parseOpen(info);
  if (!request) return info.Env().Undefined();
  return guarded(info.Env(), [&]() -> Napi::Value {
    std::shared_ptr<ShieldedFile> file = ShieldedFile::open(request->path, request->key.data(), request->options);
    return NativeFile::Wrap(info.Env(), std::move(file));
  });
}

Napi::Value Open(const Napi::CallbackInfo& info) {
  auto request = parseOpen(info);
  auto callback = request ? parseCallback(info, 3) : std::nullopt;
  if (!callback) return info.Env().Undefined();
  return queue(new OpenWorker(*callback, std::move(*request)), info.Env());
}

}  // namespace shieldfs::addon
