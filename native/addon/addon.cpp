// Module entry: the NativeFile class, open/openSync, the volume layer's pieces (NativeJournal and
// journal recovery, lockFile, keyedDigest), the TEE device requests (snpReport, nsmRequest), the
// tests' crash injection (crashPoint), and two
// measuring/testing hooks over the same AES-256-GCM the files use (the benchmark's ceiling and the
// known-answer tests).
#include <napi.h>

#include "../core/crypto.h"
#include "../core/file_descriptor.h"
#include "../core/parallel_runner.h"
#include "addon_data.h"
#include "arguments.h"
#include "js_errors.h"
#include "native_file.h"
#include "native_journal.h"
#include "native_lock.h"
#include "tee_workers.h"

namespace shieldfs::addon {
namespace {

bool allBuffers(const Napi::CallbackInfo& info, const char* signature) {
  for (size_t i = 0; i < 4; i++) {
    if (!info[i].IsBuffer()) {
      invalidArgument(info.Env(), std::string(signature) + " takes four Buffers").ThrowAsJavaScriptException();
      return false;
    }
  }
  return true;
}

// gcmSeal(key, nonce, aad, plaintext) -> Buffer ciphertext ‖ tag
Napi::Value GcmSeal(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!allBuffers(info, "gcmSeal(key, nonce, aad, plaintext)")) return env.Undefined();
  auto key = info[0].As<Napi::Buffer<uint8_t>>(), nonce = info[1].As<Napi::Buffer<uint8_t>>();
  auto aad = info[2].As<Napi::Buffer<uint8_t>>(), plain = info[3].As<Napi::Buffer<uint8_t>>();
  if (key.Length() != kKeyBytes || nonce.Length() != kNonceBytes) {
    invalidArgument(env, "key must be 32 bytes and nonce 12 bytes").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  return guarded(env, [&]() -> Napi::Value {
    auto out = Napi::Buffer<uint8_t>::New(env, plain.Length() + kGcmTagBytes);
    GcmCipher cipher(key.Data());
    cipher.seal(nonce.Data(), aad.Data(), aad.Length(), plain.Data(), plain.Length(), out.Data(),
                out.Data() + plain.Length());
    return out;
  });
}

// gcmOpen(key, nonce, aad, ciphertext ‖ tag) -> Buffer plaintext, or null when the tag fails
Napi::Value GcmOpen(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!allBuffers(info, "gcmOpen(key, nonce, aad, sealed)")) return env.Undefined();
  auto key = info[0].As<Napi::Buffer<uint8_t>>(), nonce = info[1].As<Napi::Buffer<uint8_t>>();
  auto aad = info[2].As<Napi::Buffer<uint8_t>>(), sealed = info[3].As<Napi::Buffer<uint8_t>>();
  if (key.Length() != kKeyBytes || nonce.Length() != kNonceBytes || sealed.Length() < kGcmTagBytes) {
    invalidArgument(env, "key must be 32 bytes, nonce 12 bytes, sealed at least 16").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  return guarded(env, [&]() -> Napi::Value {
    size_t len = sealed.Length() - kGcmTagBytes;
    auto out = Napi::Buffer<uint8_t>::New(env, len);
    GcmCipher cipher(key.Data());
    if (!cipher.open(nonce.Data(), aad.Data(), aad.Length(), sealed.Data(), len, out.Data(), sealed.Data() + len)) {
      wipe(out.Data(), len);
      return env.Null();
    }
    return out;
  });
}

// gcmThroughput(chunkBytes, threads, seconds) -> bytes per second of raw sealing
Napi::Value GcmThroughput(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto chunk = parseSize(info, 0, "chunkBytes");
  auto threads = chunk ? parseSize(info, 1, "threads") : std::nullopt;
  if (!threads || !info[2].IsNumber()) return env.Undefined();
  double seconds = info[2].As<Napi::Number>().DoubleValue();
  return guarded(env, [&] {
    return Napi::Number::New(env, measureGcmThroughput(*chunk, static_cast<unsigned>(*threads), seconds));
  });
}

// keyedDigest(key, label, message) -> Buffer HMAC-SHA256(HKDF-SHA256(key, no salt, info = label), message)
Napi::Value KeyedDigest(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto key = parseKey(info, 0);
  if (!key) return env.Undefined();
  if (!info[1].IsString()) {
    invalidArgument(env, "label must be a string").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  const std::string label = info[1].As<Napi::String>().Utf8Value();
  auto message = parseBytes(info, 2, "message");
  if (!message) return env.Undefined();
  return guarded(env, [&]() -> Napi::Value {
    SecretKey derived;  // wiped when it goes
    const uint8_t noSalt = 0;  // a zero-length salt: RFC 5869 then uses HashLen zero bytes
    hkdfSha256(key->data(), kKeyBytes, &noSalt, 0, label, derived.data(), kKeyBytes);
    auto out = Napi::Buffer<uint8_t>::New(env, kHashBytes);
    hmacSha256(derived.data(), kKeyBytes, message->data, message->length, out.Data());
    return out;
  });
}

// crashPoint(op): the core's crash injection (SHIELDFS_CRASH_AT, core/file_descriptor.h) for the
// durable steps taken in JavaScript, so they share one counter with the native ones.
Napi::Value CrashPoint(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsString()) {
    invalidArgument(env, "op must be a string").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  crashPoint(info[0].As<Napi::String>().Utf8Value().c_str());
  return env.Undefined();
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  env.SetInstanceData(new AddonData);
  exports.Set("NativeFile", NativeFile::Define(env));
  exports.Set("NativeJournal", NativeJournal::Define(env));
  exports.Set("NativeLock", NativeLock::Define(env));
  exports.Set("journalContext", Napi::Function::New<JournalContext>(env, "journalContext"));
  exports.Set("rollBackJournal", Napi::Function::New<RollBackJournal>(env, "rollBackJournal"));
  exports.Set("discardJournal", Napi::Function::New<DiscardJournal>(env, "discardJournal"));
  exports.Set("lockFile", Napi::Function::New<LockFile>(env, "lockFile"));
  exports.Set("keyedDigest", Napi::Function::New<KeyedDigest>(env, "keyedDigest"));
  exports.Set("crashPoint", Napi::Function::New<CrashPoint>(env, "crashPoint"));
  exports.Set("snpReport", Napi::Function::New<SnpReport>(env, "snpReport"));
  exports.Set("nsmRequest", Napi::Function::New<NsmRequest>(env, "nsmRequest"));
  exports.Set("openSync", Napi::Function::New<OpenSync>(env, "openSync"));
  exports.Set("open", Napi::Function::New<Open>(env, "open"));
  exports.Set("gcmSeal", Napi::Function::New<GcmSeal>(env, "gcmSeal"));
  exports.Set("gcmOpen", Napi::Function::New<GcmOpen>(env, "gcmOpen"));
  exports.Set("gcmThroughput", Napi::Function::New<GcmThroughput>(env, "gcmThroughput"));
  exports.Set("cores", Napi::Number::New(env, ParallelRunner::shared().threads()));
  return exports;
}

}  // namespace
}  // namespace shieldfs::addon

static Napi::Object InitShieldfs(Napi::Env env, Napi::Object exports) { return shieldfs::addon::Init(env, exports); }
NODE_API_MODULE(shieldfs, InitShieldfs)
