#include "arguments.h"

#include <cmath>

#include "js_errors.h"
#include "native_journal.h"

namespace shieldfs::addon {
namespace {

constexpr double kMaxSafeInteger = 9007199254740991.0;

bool fail(Napi::Env env, const std::string& message) {
  invalidArgument(env, message).ThrowAsJavaScriptException();
  return false;
}

bool readUint(Napi::Env env, Napi::Value value, const char* name, uint64_t& out) {
  double d;  // one N-API call (it checks the type too): this runs three times per read or write
  if (napi_get_value_double(env, value, &d) != napi_ok) return fail(env, std::string(name) + " must be a number");
  if (!(d >= 0) || d > kMaxSafeInteger || std::floor(d) != d)
    return fail(env, std::string(name) + " must be a non-negative safe integer");
  out = static_cast<uint64_t>(d);
  return true;
}

size_t elementBytes(napi_typedarray_type type) {
  switch (type) {
    case napi_int16_array:
    case napi_uint16_array: return 2;
    case napi_int32_array:
    case napi_uint32_array:
    case napi_float32_array: return 4;
    case napi_float64_array:
    case napi_bigint64_array:
    case napi_biguint64_array: return 8;
    default: return 1;
  }
}

bool readBytes(Napi::Value value, uint8_t*& data, size_t& length, Napi::Object& holder) {
  if (!value.IsTypedArray()) return false;
  // napi_get_typedarray_info gives the data pointer for every backing store, SharedArrayBuffer
  // included (ArrayBuffer().Data() is null for those).
  napi_typedarray_type type;
  size_t elements;
  void* start = nullptr;
  if (napi_get_typedarray_info(value.Env(), value, &type, &elements, &start, nullptr, nullptr) != napi_ok)
    return false;
  length = elements * elementBytes(type);
  if (!start && length != 0) return false;
  data = static_cast<uint8_t*>(start);
  holder = value.As<Napi::Object>();
  return true;
}

int hexDigit(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

enum class HexField { Absent, Valid, Invalid };

HexField readHex(Napi::Value value, uint8_t* out, size_t bytes) {
  if (value.IsUndefined() || value.IsNull()) return HexField::Absent;
  std::string hex = value.IsString() ? value.As<Napi::String>().Utf8Value() : "";
  if (hex.size() != 2 * bytes) return HexField::Invalid;
  for (size_t i = 0; i < bytes; i++) {
    int hi = hexDigit(hex[2 * i]), lo = hexDigit(hex[2 * i + 1]);
    if (hi < 0 || lo < 0) return HexField::Invalid;
    out[i] = static_cast<uint8_t>(hi * 16 + lo);
  }
  return HexField::Valid;
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
    if (!readUint(env, options.Get("keyBudget"), "keyBudget", n)) return std::nullopt;
    if (n == 0) return fail(env, "keyBudget must be at least 1"), std::nullopt;
    o.keyBudget = n;
  }
  Hash tag;
  switch (readHex(options.Get("expectedTag"), tag.data(), tag.size())) {
    case HexField::Absent: break;
    case HexField::Valid: o.expectedTag = tag; break;
    case HexField::Invalid: return fail(env, "expectedTag must be a 64-character hex string"), std::nullopt;
  }
  FileId fileId;
  switch (readHex(options.Get("expectedFileId"), fileId.data(), fileId.size())) {
    case HexField::Absent: break;
    case HexField::Valid: o.expectedFileId = fileId; break;
    case HexField::Invalid: return fail(env, "expectedFileId must be a 32-character hex string"), std::nullopt;
  }
  Napi::Value journal = options.Get("journal");
  if (!journal.IsUndefined() && !journal.IsNull()) {
    o.journal = NativeJournal::From(journal);
    if (!o.journal) return fail(env, "journal must be a NativeJournal"), std::nullopt;
  }
  return request;
}

std::optional<std::string> parsePath(const Napi::CallbackInfo& info, size_t index, const char* name) {
  if (!info[index].IsString()) return fail(info.Env(), std::string(name) + " must be a string"), std::nullopt;
  std::string path = info[index].As<Napi::String>().Utf8Value();
  if (path.empty() || path.find('\0') != std::string::npos)
    return fail(info.Env(), std::string(name) + " must be a non-empty string without NUL"), std::nullopt;
  return path;
}

std::optional<ByteView> parseBytes(const Napi::CallbackInfo& info, size_t index, const char* name) {
  uint8_t* data;
  size_t length;
  Napi::Object holder;
  if (!readBytes(info[index], data, length, holder))
    return fail(info.Env(), std::string(name) + " must be a Buffer or TypedArray"), std::nullopt;
  return ByteView{data, length};
}

std::optional<SecretKey> parseKey(const Napi::CallbackInfo& info, size_t index) {
  auto bytes = parseBytes(info, index, "key");
  if (!bytes) return std::nullopt;
  if (bytes->length != kKeyBytes) return fail(info.Env(), "key must be 32 bytes"), std::nullopt;
  return SecretKey(bytes->data);
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
