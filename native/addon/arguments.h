// Validation of the arguments JavaScript passes in. The TypeScript layer checks types and ranges
// first; these checks are the memory-safety backstop (no read or write outside a caller's buffer).
#pragma once

#include <napi.h>

#include <optional>
#include <string>

#include "../core/crypto.h"
#include "../core/shielded_file.h"

namespace shieldfs::addon {

struct OpenRequest {
  std::string path;
  SecretKey key;
  OpenOptions options;
};

struct IoRequest {
  uint8_t* data = nullptr;  // inside the caller's buffer
  size_t length = 0;
  uint64_t position = 0;
  Napi::Object buffer;      // keeps the memory alive while a worker runs
};

struct ByteView {
  const uint8_t* data = nullptr;  // inside the caller's TypedArray; valid while the call runs
  size_t length = 0;
};

// Each returns nullopt after throwing a JavaScript EINVAL error.
std::optional<OpenRequest> parseOpen(const Napi::CallbackInfo& info);
// A string without NUL bytes.
std::optional<std::string> parsePath(const Napi::CallbackInfo& info, size_t index, const char* name);
// The bytes of a Buffer or TypedArray.
std::optional<ByteView> parseBytes(const Napi::CallbackInfo& info, size_t index, const char* name);
// 32 bytes of a Buffer or TypedArray, copied into locked memory.
std::optional<SecretKey> parseKey(const Napi::CallbackInfo& info, size_t index);
// (buffer, offset, length, position) starting at argument 0.
std::optional<IoRequest> parseIo(const Napi::CallbackInfo& info);
std::optional<uint64_t> parseSize(const Napi::CallbackInfo& info, size_t index, const char* name);
// The function at `index`, or nullopt (after throwing) when it is missing.
std::optional<Napi::Function> parseCallback(const Napi::CallbackInfo& info, size_t index);

}  // namespace shieldfs::addon
