// Helpers shared by the native tests: temporary directories, deterministic randomness, raw file
// access (for tampering) and hex.
#pragma once

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "crypto.h"
#include "format.h"
#include "harness.h"
#include "shield_error.h"
#include "shielded_file.h"

namespace shieldtest {

// A fresh directory under $TMPDIR (or /tmp), removed with everything in it on destruction.
class TempDir {
 public:
  TempDir() {
    const char* base = std::getenv("TMPDIR");
    std::string tmpl = std::string(base && *base ? base : "/tmp") + "/shieldfs-test-XXXXXX";
    std::vector<char> buf(tmpl.begin(), tmpl.end());
    buf.push_back('\0');
    if (!::mkdtemp(buf.data())) throw Failure("mkdtemp failed: " + std::string(std::strerror(errno)));
    path_ = buf.data();
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string file(const std::string& name) const { return path_ + "/" + name; }
  // Names of the entries in the directory (to spot leftover temporary files).
  std::vector<std::string> entries() const {
    std::vector<std::string> out;
    for (const auto& e : std::filesystem::directory_iterator(path_)) out.push_back(e.path().filename().string());
    return out;
  }

 private:
  std::string path_;
};

// Deterministic randomness: the seed is fixed per test unless SHIELDFS_TEST_SEED overrides it.
class Rng {
 public:
  explicit Rng(uint64_t seed) {
    if (const char* env = std::getenv("SHIELDFS_TEST_SEED")) seed ^= std::strtoull(env, nullptr, 0);
    engine_.seed(seed);
  }
  uint64_t next() { return engine_(); }
  uint64_t below(uint64_t n) { return n == 0 ? 0 : engine_() % n; }
  uint64_t between(uint64_t lo, uint64_t hi) { return lo + below(hi - lo + 1); }  // inclusive
  bool chance(unsigned percent) { return below(100) < percent; }
  void fill(uint8_t* p, size_t n) {
    size_t i = 0;
    for (; i + 8 <= n; i += 8) {
      uint64_t v = engine_();
      std::memcpy(p + i, &v, 8);
    }
    for (; i < n; i++) p[i] = static_cast<uint8_t>(engine_());
  }
  std::vector<uint8_t> bytes(size_t n) {
    std::vector<uint8_t> v(n);
    fill(v.data(), n);
    return v;
  }

 private:
  std::mt19937_64 engine_;
};

inline std::vector<uint8_t> readWholeFile(const std::string& path) {
  FILE* f = std::fopen(path.c_str(), "rb");
  if (!f) throw Failure("cannot open " + path);
  std::vector<uint8_t> out;
  uint8_t buf[65536];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) out.insert(out.end(), buf, buf + n);
  std::fclose(f);
  return out;
}

inline void writeWholeFile(const std::string& path, const std::vector<uint8_t>& bytes) {
  FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) throw Failure("cannot create " + path);
  if (!bytes.empty() && std::fwrite(bytes.data(), 1, bytes.size(), f) != bytes.size()) {
    std::fclose(f);
    throw Failure("short write to " + path);
  }
  std::fclose(f);
}

inline uint64_t fileSize(const std::string& path) {
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) throw Failure("stat " + path + " failed");
  return static_cast<uint64_t>(st.st_size);
}

inline void rawWrite(const std::string& path, uint64_t offset, const void* data, size_t len) {
  int fd = ::open(path.c_str(), O_WRONLY);
  if (fd < 0) throw Failure("open " + path + " failed");
  ssize_t n = ::pwrite(fd, data, len, static_cast<off_t>(offset));
  ::close(fd);
  if (n != static_cast<ssize_t>(len)) throw Failure("pwrite " + path + " failed");
}

inline std::vector<uint8_t> rawRead(const std::string& path, uint64_t offset, size_t len) {
  std::vector<uint8_t> out(len);
  int fd = ::open(path.c_str(), O_RDONLY);
  if (fd < 0) throw Failure("open " + path + " failed");
  ssize_t n = ::pread(fd, out.data(), len, static_cast<off_t>(offset));
  ::close(fd);
  if (n < 0) throw Failure("pread " + path + " failed");
  out.resize(static_cast<size_t>(n));
  return out;
}

inline void flipByte(const std::string& path, uint64_t offset, uint8_t mask = 0x01) {
  auto b = rawRead(path, offset, 1);
  if (b.size() != 1) throw Failure("flipByte past the end of " + path);
  b[0] ^= mask;
  rawWrite(path, offset, b.data(), 1);
}

inline void setFileLength(const std::string& path, uint64_t length) {
  if (::truncate(path.c_str(), static_cast<off_t>(length)) != 0) throw Failure("truncate " + path + " failed");
}

inline std::vector<uint8_t> fromHex(const std::string& hex) {
  std::vector<uint8_t> out;
  auto nibble = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  int hi = -1;
  for (char c : hex) {
    int v = nibble(c);
    if (v < 0) continue;  // allow spaces / line breaks in literals
    if (hi < 0) {
      hi = v;
    } else {
      out.push_back(static_cast<uint8_t>(hi << 4 | v));
      hi = -1;
    }
  }
  if (hi >= 0) throw Failure("odd number of hex digits");
  return out;
}

inline std::string hex(const uint8_t* p, size_t n) { return shieldfs::toHex(p, n); }
inline std::string hex(const std::vector<uint8_t>& v) { return shieldfs::toHex(v.data(), v.size()); }

struct TestKey {
  uint8_t bytes[shieldfs::kKeyBytes];
  explicit TestKey(uint8_t seed) {
    for (size_t i = 0; i < sizeof bytes; i++) bytes[i] = static_cast<uint8_t>(seed * 31 + i * 7 + 1);
  }
  const uint8_t* data() const { return bytes; }
};

inline shieldfs::OpenOptions createOptions(unsigned chunkShift = 12) {
  shieldfs::OpenOptions o;
  o.create = true;
  o.chunkShift = chunkShift;
  return o;
}

inline shieldfs::OpenOptions reopenOptions(const shieldfs::Hash& expectedTag) {
  shieldfs::OpenOptions o;
  o.expectedTag = expectedTag;
  return o;
}

// Reads the whole plaintext of an open file.
inline std::vector<uint8_t> readAll(shieldfs::ShieldedFile& f) {
  std::vector<uint8_t> out(static_cast<size_t>(f.size()));
  size_t got = f.read(out.data(), out.size(), 0);
  if (got != out.size()) throw Failure("short read of whole file");
  return out;
}

// header_key = HKDF(K, salt=file_id, info="shieldfs/v1 header key") (FORMAT.md "Keys"), derived by
// the test itself.
inline void testHeaderKey(const uint8_t key[shieldfs::kKeyBytes], const shieldfs::FileId& fileId, uint8_t out[32]) {
  shieldfs::hkdfSha256(key, 32, fileId.data(), fileId.size(), "shieldfs/v1 header key", out, 32);
}

// size_mask = the first 8 bytes (little-endian) of HMAC-SHA256(header_key, "shieldfs/v1 size" ‖
// size_nonce) (FORMAT.md "Header block"), computed by the test itself (not with the core's sizeMask).
inline uint64_t testSizeMask(const uint8_t headerKey[32], const shieldfs::FileId& sizeNonce) {
  static const char label[] = "shieldfs/v1 size";
  std::vector<uint8_t> input(label, label + std::strlen(label));
  input.insert(input.end(), sizeNonce.begin(), sizeNonce.end());
  uint8_t mac[32];
  shieldfs::hmacSha256(headerKey, 32, input.data(), input.size(), mac);
  uint64_t mask = 0;
  for (int i = 7; i >= 0; i--) mask = mask << 8 | mac[i];
  return mask;
}

// Decodes the on-disk header of a shielded file (Header::decode: no key, so `size` stays 0). With
// the file's key, `size` is unsealed from sealed_size as well (the MAC is not checked).
inline shieldfs::Header diskHeader(const std::string& path, const uint8_t* key = nullptr) {
  auto block = rawRead(path, 0, shieldfs::kHeaderBlockBytes);
  shieldfs::Header h = shieldfs::Header::decode(block.data(), block.size(), path.c_str());
  if (key) {
    uint8_t headerKey[32];
    testHeaderKey(key, h.fileId, headerKey);
    h.size = h.sealedSize ^ testSizeMask(headerKey, h.sizeNonce);
  }
  return h;
}

// Re-seals a (possibly modified) header the way FORMAT.md specifies, with the test's own key
// derivation: sealed_size = size XOR size_mask (under the header's size_nonce, as given), then
// mac = HMAC(header_key, bytes before the mac). The key check is left as it is.
inline void forgeHeader(const std::string& path, shieldfs::Header h, const uint8_t key[shieldfs::kKeyBytes]) {
  uint8_t headerKey[32];
  testHeaderKey(key, h.fileId, headerKey);
  h.sealedSize = h.size ^ testSizeMask(headerKey, h.sizeNonce);
  uint8_t bytes[shieldfs::kHeaderUsedBytes];
  h.encode(bytes);
  shieldfs::hmacSha256(headerKey, 32, bytes, shieldfs::kHeaderMacOffset, h.mac.data());
  h.encode(bytes);
  rawWrite(path, 0, bytes, sizeof bytes);
}

}  // namespace shieldtest
