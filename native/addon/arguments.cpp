#include "arguments.h"

#include <cmath>

#include "js_errors.h"

namespace shieldfs::addon {
namespace {

constexpr double kMaxSafeInteger = 9007199254740991.0;

bool fail(Napi::Env env, const std::string& message) {
  invalidArgument(env, message).ThrowAsJavaScriptException();
  return false;
}

bool readUint(Napi::Env env, Napi::Value value, const char* name, uint64_t& out) {
  if (!value.IsNumber()) return fail(env, std::string(name) + " must be a number");
  double d = value.As<Napi::Number>().DoubleValue();
  if (!(d >= 0) || d > kMaxSafeInteger || std::floor(d) != d)
    return fail(env, std::string(name) + " must be a non-negative safe integer");
  out = static_cast<uint64_t>(d);
  return true;
}

bool readBytes(Napi::Value value, uint8_t*& data, size_t& length, Napi::Object& holder) {
  if (!value.IsTypedArray()) return false;
  auto array = value.As<Napi::TypedArray>();
  auto buffer = array.ArrayBuffer();
  data = static_cast<uint8_t*>(buffer.Data()) + array.ByteOffset();
  length = array.ByteLength();
  holder = array;
  return true;
}

int hexDigit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

std::optional<OpenRequest> parseOpen(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (!info[0].IsString()) return fail(env, "path must be a string"), std::nullopt;
  uint8_t* keyData;
  size_t keyLength;
  Napi::Object keyHolder;
  if (!readBytes(info[1], keyData, keyLength, keyHolder) || keyLength != kKeyBytes)
    return fail(env, "key must be 32 bytes"), std::nullopt;
  OpenRequest request{info[0].As<Napi::String>().Utf8Value(), SecretKey(keyData), {}};
  if (request.path.find('\0') != std::string::npos) return fail(env, "path must not contain NUL"), std::nullopt;
  if (!info[2].IsObject()) return request;
  Napi::Object options = info[2].As<Napi::Object>();
  OpenOptions& o = request.options;
  o.create = options.Get("create").ToBoolean();
  o.readOnly = options.Get("readOnly").ToBoolean();
  uint64_t n;
  if (!options.Get("chunkSize").IsUndefined()) {
    if (!readUint(env, options.Get("chunkSize"), "chunkSize", n)) return std::nullopt;
    unsigned shift = 0;
    while (shift < 63 && (uint64_t{1} << shift) < n) shift++;
    if ((uint64_t{1} << shift) != n || shift < kMinChunkShift || shift > kMaxChunkShift)
      return fail(env, "chunkSize must be a power of two from 4096 to 1048576"), std::nullopt;
    o.chunkShift = shift;
  }
  if (!options.Get("cacheBytes").IsUndefined()) {
    if (!readUint(env, options.Get("cacheBytes"), "cacheBytes", n)) return std::nullopt;
    o.cacheBytes = n;
  }
  if (!options.Get("keyBudget").IsUndefined()) {
    if (!readUint(env, options.Get("keyBudget"), "keyBudget", n) || n == 0) return std::nullopt;
    o.keyBudget = n;
  }
  Napi::Value tag = options.Get("expectedTag");
  if (!tag.IsUndefined() && !tag.IsNull()) {
    std::string hex = tag.IsString() ? tag.As<Napi::String>().Utf8Value() : "";
    Hash expected;
    bool valid = hex.size() == 2 * expected.size();
    for (size_t i = 0; valid && i < expected.size(); i++) {
      int hi = hexDigit(hex[2 * i]), lo = hexDigit(hex[2 * i + 1]);
      valid = hi >= 0 && lo >= 0;
      expected[i] = static_cast<uint8_t>(hi * 16 + lo);
    }
    if (!valid) return fail(env, "expectedTag must be a 64-character hex string"), std::nullopt;
    o.expectedTag = expected;
  }
  return request;
}

std::optional<IoRequest> parseIo(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  IoRequest io;
  size_t bufferLength;
  if (!readBytes(info[0], io.data, bufferLength, io.buffer))
    return fail(env, "buffer must be a Buffer or TypedArray"), std::nullopt;
  uint64_t offset, length;
  if (!readUint(env, info[1], "offset", offset) || !readUint(env, info[2], "length", length) ||
      !readUint(env, info[3], "position", io.position))
    return std::nullopt;
  if (offset > bufferLength || length > bufferLength - offset)
    return fail(env, "offset + length exceeds the buffer"), std::nullopt;
  io.data += offset;
  io.length = static_cast<size_t>(length);
  return io;
}

std::optional<uint64_t> parseSize(const Napi::CallbackInfo& info, size_t index, const char* name) {
  uint64_t n;
  if (!readUint(info.Env(), info[index], name, n)) return std::nullopt;
  return n;
}

std::optional<Napi::Function> parseCallback(const Napi::CallbackInfo& info, size_t index) {
  if (!info[index].IsFunction()) return fail(info.Env(), "callback must be a function"), std::nullopt;
  return info[index].As<Napi::Function>();
}

}  // namespace shieldfs::addon
