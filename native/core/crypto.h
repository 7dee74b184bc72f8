// All cryptography of the shield, over the OpenSSL of the running Node (EVP interfaces only).
// AES-256-GCM for chunks, HKDF-SHA256 for per-file keys, HMAC-SHA256 for the header, SHA-256
// for Merkle nodes. Nothing here keeps state between calls except the keyed GCM contexts.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>

typedef struct evp_cipher_ctx_st EVP_CIPHER_CTX;

namespace shieldfs {

inline constexpr size_t kKeyBytes = 32;
inline constexpr size_t kNonceBytes = 12;
inline constexpr size_t kGcmTagBytes = 16;
inline constexpr size_t kHashBytes = 32;

// 32 bytes of key material in a page-locked, never-dumped arena (mlock best effort), wiped when the
// key is destroyed. Keys share pages: locking each key's own page would unlock its neighbours when
// it goes (page locks do not nest).
class SecretKey {
 public:
  SecretKey();
  explicit SecretKey(const uint8_t* bytes);
  SecretKey(const SecretKey& other);
  SecretKey& operator=(const SecretKey& other);
  ~SecretKey();
  const uint8_t* data() const { return bytes_; }
  uint8_t* data() { return bytes_; }

 private:
  uint8_t* bytes_;
};

void randomBytes(uint8_t* out, size_t len);
void wipe(void* data, size_t len);

// Wipes a buffer of plaintext when the scope ends, however it ends.
struct WipeOnExit {
  void* data;
  size_t len;
  ~WipeOnExit() { wipe(data, len); }
};
bool constantTimeEqual(const uint8_t* a, const uint8_t* b, size_t len);

void hkdfSha256(const uint8_t* ikm, size_t ikmLen, const uint8_t* salt, size_t saltLen, std::string_view info,
                uint8_t* out, size_t outLen);
void hmacSha256(const uint8_t* key, size_t keyLen, const uint8_t* data, size_t len, uint8_t out[kHashBytes]);
// SHA-256(prefix || data): the prefix separates domains (the Merkle level) without a copy.
void sha256(uint8_t prefix, const uint8_t* data, size_t len, uint8_t out[kHashBytes]);

// AES-256-GCM with one key, reusable for many messages. Not thread-safe: one per thread.
class GcmCipher {
 public:
  explicit GcmCipher(const uint8_t key[kKeyBytes]);
  ~GcmCipher();
  GcmCipher(const GcmCipher&) = delete;
  GcmCipher& operator=(const GcmCipher&) = delete;

  // out may equal in (in-place); aad may be empty.
  void seal(const uint8_t nonce[kNonceBytes], const uint8_t* aad, size_t aadLen, const uint8_t* in, size_t len,
            uint8_t* out, uint8_t tag[kGcmTagBytes]);
  // Returns false when the tag does not verify; out then holds unverified bytes the caller must wipe.
  [[nodiscard]] bool open(const uint8_t nonce[kNonceBytes], const uint8_t* aad, size_t aadLen, const uint8_t* in,
                          size_t len, uint8_t* out, const uint8_t tag[kGcmTagBytes]);

 private:
  EVP_CIPHER_CTX* encrypt_ = nullptr;
  EVP_CIPHER_CTX* decrypt_ = nullptr;
};

// Throughput of raw AES-256-GCM sealing on `chunkBytes` messages with `threads` threads for about
// `seconds`: the ceiling the benchmark compares the shield against. Returns bytes per second.
double measureGcmThroughput(size_t chunkBytes, unsigned threads, double seconds);

}  // namespace shieldfs
