#include "native_journal.h"

#include "arguments.h"
#include "js_errors.h"

namespace shieldfs::addon {
namespace {

// Marks NativeJournal objects, so an option can be checked to be one before it is unwrapped.
constexpr napi_type_tag kNativeJournalTag = {0x5b1e1df5a7c64a3fULL, 0x9e0c2d4b8f31a6e7ULL};

Napi::Buffer<uint8_t> toBuffer(Napi::Env env, const std::vector<uint8_t>& bytes) {
  return Napi::Buffer<uint8_t>::Copy(env, bytes.data(), bytes.size());
}

}  // namespace

Napi::Function NativeJournal::Define(Napi::Env env) {
  return DefineClass(env, "NativeJournal",
                     {
                         InstanceMethod<&NativeJournal::Begin>("begin"),
                         InstanceMethod<&NativeJournal::Finish>("finish"),
                         InstanceAccessor<&NativeJournal::Active>("active"),
                     });
}

NativeJournal::NativeJournal(const Napi::CallbackInfo& info) : Napi::ObjectWrap<NativeJournal>(info) {
  auto journalPath = parsePath(info, 0, "journalPath");
  auto baseDirectory = journalPath ? parsePath(info, 1, "baseDirectory") : std::nullopt;
  auto key = baseDirectory ? parseKey(info, 2) : std::nullopt;
  auto context = key ? parseBytes(info, 3, "context") : std::nullopt;
  if (!context) return;
  guarded(info.Env(), [&] {
    journal_ = std::make_shared<UndoJournal>(*journalPath, *baseDirectory, key->data(),
                                             std::vector<uint8_t>(context->data, context->data + context->length));
    info.This().As<Napi::Object>().TypeTag(&kNativeJournalTag);
    return info.Env().Undefined();
  });
}

std::shared_ptr<UndoJournal> NativeJournal::From(Napi::Value value) {
  if (!value.IsObject() || !value.As<Napi::Object>().CheckTypeTag(&kNativeJournalTag)) return nullptr;
  return Unwrap(value.As<Napi::Object>())->journal_;
}

Napi::Value NativeJournal::Begin(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info[0].IsUndefined()) {
    return guarded(env, [&] {
      journal_->begin();
      return env.Undefined();
    });
  }
  auto context = parseBytes(info, 0, "context");
  if (!context) return env.Undefined();
  return guarded(env, [&] {
    journal_->begin(std::vector<uint8_t>(context->data, context->data + context->length));
    return env.Undefined();
  });
}

Napi::Value NativeJournal::Finish(const Napi::CallbackInfo& info) {
  return guarded(info.Env(), [&] {
    journal_->finish();
    return info.Env().Undefined();
  });
}

Napi::Value NativeJournal::Active(const Napi::CallbackInfo& info) {
  return Napi::Boolean::New(info.Env(), journal_->active());
}

Napi::Value JournalContext(const Napi::CallbackInfo& info) {
  auto journalPath = parsePath(info, 0, "journalPath");
  auto key = journalPath ? parseKey(info, 1) : std::nullopt;
  if (!key) return info.Env().Undefined();
  return guarded(info.Env(), [&]() -> Napi::Value {
    auto context = UndoJournal::readContext(*journalPath, key->data());
    if (!context) return info.Env().Null();
    return toBuffer(info.Env(), *context);
  });
}

Napi::Value RollBackJournal(const Napi::CallbackInfo& info) {
  auto journalPath = parsePath(info, 0, "journalPath");
  auto baseDirectory = journalPath ? parsePath(info, 1, "baseDirectory") : std::nullopt;
  auto key = baseDirectory ? parseKey(info, 2) : std::nullopt;
  if (!key) return info.Env().Undefined();
  return guarded(info.Env(), [&]() -> Napi::Value {
    return toBuffer(info.Env(), UndoJournal::rollBack(*journalPath, *baseDirectory, key->data()));
  });
}

Napi::Value DiscardJournal(const Napi::CallbackInfo& info) {
  auto journalPath = parsePath(info, 0, "journalPath");
  if (!journalPath) return info.Env().Undefined();
  return guarded(info.Env(), [&] {
    UndoJournal::discard(*journalPath);
    return info.Env().Undefined();
  });
}

}  // namespace shieldfs::addon
