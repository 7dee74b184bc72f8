#include "crypto.h"

#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/params.h>
#include <openssl/rand.h>
#include <sys/mman.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <mutex>
#include <new>
#include <thread>
#include <vector>

#include "shield_error.h"

namespace shieldfs {
namespace {

[[noreturn]] void cryptoFailure(const char* what) {
  throw ShieldError("EIO", std::string("OpenSSL failure in ") + what);
}

// Fetched once: explicit fetches avoid OpenSSL's per-call implicit algorithm lookup.
const EVP_CIPHER* aes256Gcm() {
  static EVP_CIPHER* cipher = EVP_CIPHER_fetch(nullptr, "AES-256-GCM", nullptr);
  if (!cipher) cryptoFailure("EVP_CIPHER_fetch(AES-256-GCM)");
  return cipher;
}

const EVP_MD* sha256Digest() {
  static EVP_MD* md = EVP_MD_fetch(nullptr, "SHA256", nullptr);
  if (!md) cryptoFailure("EVP_MD_fetch(SHA256)");
  return md;
}

// HMAC runs several times per file open (HKDF is built on it below).
EVP_MAC* hmacAlgorithm() {
  static EVP_MAC* mac = EVP_MAC_fetch(nullptr, "HMAC", nullptr);
  if (!mac) cryptoFailure("EVP_MAC_fetch(HMAC)");
  return mac;
}

}  // namespace

namespace {

class LockedKeyArena {
 public:
  uint8_t* allocate() {
    std::lock_guard<std::mutex> lock(mutex_);
    if (free_.empty()) grow();
    uint8_t* slot = free_.back();
    free_.pop_back();
    return slot;
  }
  void release(uint8_t* slot) {
    wipe(slot, kKeyBytes);
    std::lock_guard<std::mutex> lock(mutex_);
    free_.push_back(slot);
  }

 private:
  void grow() {
    const size_t page = static_cast<size_t>(::sysconf(_SC_PAGESIZE));
    void* memory = ::mmap(nullptr, page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (memory == MAP_FAILED) throw std::bad_alloc();
    ::mlock(memory, page);                  // best effort: RLIMIT_MEMLOCK may refuse
    ::madvise(memory, page, MADV_DONTDUMP);  // keys never land in a core dump
    for (size_t offset = 0; offset + kKeyBytes <= page; offset += kKeyBytes)
      free_.push_back(static_cast<uint8_t*>(memory) + offset);
  }
  std::mutex mutex_;
  std::vector<uint8_t*> free_;
};

LockedKeyArena& keyArena() {
  static LockedKeyArena* arena = new LockedKeyArena;  // never destroyed: keys may outlive statics
  return *arena;
}

}  // namespace

SecretKey::SecretKey() : bytes_(keyArena().allocate()) { std::memset(bytes_, 0, kKeyBytes); }
SecretKey::SecretKey(const uint8_t* bytes) : SecretKey() { std::memcpy(bytes_, bytes, kKeyBytes); }
SecretKey::SecretKey(const SecretKey& other) : SecretKey(other.data()) {}
SecretKey& SecretKey::operator=(const SecretKey& other) {
  std::memcpy(bytes_, other.data(), kKeyBytes);
  return *this;
}
SecretKey::~SecretKey() { keyArena().release(bytes_); }

void randomBytes(uint8_t* out, size_t len) {
  if (RAND_bytes(out, static_cast<int>(len)) != 1) cryptoFailure("RAND_bytes");
}

void wipe(void* data, size_t len) { OPENSSL_cleanse(data, len); }

bool constantTimeEqual(const uint8_t* a, const uint8_t* b, size_t len) { return CRYPTO_memcmp(a, b, len) == 0; }

namespace {

// HMAC-SHA256 contexts are copied from one template whose digest is already set: setting it by
// name on every call is an algorithm fetch (a locked lookup), which made opening a small file slow.
class HmacSha256 {
 public:
  HmacSha256(const uint8_t* key, size_t keyLen) : ctx_(EVP_MAC_CTX_dup(keyless())) {
    if (!ctx_ || EVP_MAC_init(ctx_, key, keyLen, nullptr) != 1) fail();
  }
  ~HmacSha256() { EVP_MAC_CTX_free(ctx_); }
  HmacSha256(const HmacSha256&) = delete;
  HmacSha256& operator=(const HmacSha256&) = delete;

  HmacSha256& update(const void* data, size_t len) {
    if (len && EVP_MAC_update(ctx_, static_cast<const uint8_t*>(data), len) != 1) fail();
    return *this;
  }
  void final(uint8_t out[kHashBytes]) {
    size_t outLen = 0;
    if (EVP_MAC_final(ctx_, out, &outLen, kHashBytes) != 1 || outLen != kHashBytes) fail();
  }

 private:
  static EVP_MAC_CTX* keyless() {
    static EVP_MAC_CTX* base = [] {
      EVP_MAC_CTX* ctx = EVP_MAC_CTX_new(hmacAlgorithm());
      char digest[] = "SHA256";
      OSSL_PARAM params[] = {OSSL_PARAM_construct_utf8_string(OSSL_MAC_PARAM_DIGEST, digest, 0), OSSL_PARAM_construct_end()};
      if (!ctx || EVP_MAC_CTX_set_params(ctx, params) != 1) cryptoFailure("HMAC-SHA256 setup");
      return ctx;
    }();
    return base;
  }
  [[noreturn]] static void fail() { cryptoFailure("HMAC-SHA256"); }
  EVP_MAC_CTX* ctx_;
};

}  // namespace

// HKDF (RFC 5869) over HMAC-SHA256: extract, then expand. The same function OpenSSL's HKDF computes
// (test/format-crosscheck checks it against node:crypto's hkdfSync), without its per-call fetches.
void hkdfSha256(const uint8_t* ikm, size_t ikmLen, const uint8_t* salt, size_t saltLen, std::string_view info,
                uint8_t* out, size_t outLen) {
  if (outLen > 255 * kHashBytes) cryptoFailure("HKDF output length");
  static const uint8_t kNoSalt[kHashBytes] = {};
  uint8_t prk[kHashBytes];
  WipeOnExit wipePrk{prk, sizeof prk};
  HmacSha256(saltLen ? salt : kNoSalt, saltLen ? saltLen : kHashBytes).update(ikm, ikmLen).final(prk);
  uint8_t block[kHashBytes];
  WipeOnExit wipeBlock{block, sizeof block};
  for (size_t done = 0, counter = 1; done < outLen; counter++) {
    const uint8_t index = static_cast<uint8_t>(counter);
    HmacSha256 expand(prk, sizeof prk);
    if (counter > 1) expand.update(block, sizeof block);
    expand.update(info.data(), info.size()).update(&index, 1).final(block);
    const size_t take = std::min(outLen - done, sizeof block);
    std::memcpy(out + done, block, take);
    done += take;
  }
}

void hmacSha256(const uint8_t* key, size_t keyLen, const uint8_t* data, size_t len, uint8_t out[kHashBytes]) {
  HmacSha256(key, keyLen).update(data, len).final(out);
}

void sha256(uint8_t prefix, const uint8_t* data, size_t len, uint8_t out[kHashBytes]) {
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  if (!ctx) cryptoFailure("EVP_MD_CTX_new");
  unsigned int outLen = 0;
  bool ok = EVP_DigestInit_ex(ctx, sha256Digest(), nullptr) == 1 && EVP_DigestUpdate(ctx, &prefix, 1) == 1 &&
            EVP_DigestUpdate(ctx, data, len) == 1 && EVP_DigestFinal_ex(ctx, out, &outLen) == 1;
  EVP_MD_CTX_free(ctx);
  if (!ok || outLen != kHashBytes) cryptoFailure("SHA-256");
}

GcmCipher::GcmCipher(const uint8_t key[kKeyBytes]) {
  encrypt_ = EVP_CIPHER_CTX_new();
  decrypt_ = EVP_CIPHER_CTX_new();
  if (!encrypt_ || !decrypt_ || EVP_EncryptInit_ex(encrypt_, aes256Gcm(), nullptr, key, nullptr) != 1 ||
      EVP_DecryptInit_ex(decrypt_, aes256Gcm(), nullptr, key, nullptr) != 1) {
    EVP_CIPHER_CTX_free(encrypt_);
    EVP_CIPHER_CTX_free(decrypt_);
    cryptoFailure("AES-256-GCM key setup");
  }
}

GcmCipher::~GcmCipher() {
  EVP_CIPHER_CTX_free(encrypt_);  // frees (and cleanses) the expanded key schedule
  EVP_CIPHER_CTX_free(decrypt_);
}

void GcmCipher::seal(const uint8_t nonce[kNonceBytes], const uint8_t* aad, size_t aadLen, const uint8_t* in,
                     size_t len, uint8_t* out, uint8_t tag[kGcmTagBytes]) {
  int outLen = 0;
  if (EVP_EncryptInit_ex(encrypt_, nullptr, nullptr, nullptr, nonce) != 1 ||
      (aadLen && EVP_EncryptUpdate(encrypt_, nullptr, &outLen, aad, static_cast<int>(aadLen)) != 1) ||
      EVP_EncryptUpdate(encrypt_, out, &outLen, in, static_cast<int>(len)) != 1 ||
      EVP_EncryptFinal_ex(encrypt_, out + outLen, &outLen) != 1 ||
      EVP_CIPHER_CTX_ctrl(encrypt_, EVP_CTRL_GCM_GET_TAG, kGcmTagBytes, tag) != 1) {
    cryptoFailure("AES-256-GCM seal");
  }
}

bool GcmCipher::open(const uint8_t nonce[kNonceBytes], const uint8_t* aad, size_t aadLen, const uint8_t* in,
                     size_t len, uint8_t* out, const uint8_t tag[kGcmTagBytes]) {
  int outLen = 0;
  if (EVP_DecryptInit_ex(decrypt_, nullptr, nullptr, nullptr, nonce) != 1 ||
      (aadLen && EVP_DecryptUpdate(decrypt_, nullptr, &outLen, aad, static_cast<int>(aadLen)) != 1) ||
      EVP_DecryptUpdate(decrypt_, out, &outLen, in, static_cast<int>(len)) != 1 ||
      EVP_CIPHER_CTX_ctrl(decrypt_, EVP_CTRL_GCM_SET_TAG, kGcmTagBytes, const_cast<uint8_t*>(tag)) != 1) {
    cryptoFailure("AES-256-GCM open");
  }
  // The tag comparison inside EVP_DecryptFinal_ex is constant-time (CRYPTO_memcmp).
  return EVP_DecryptFinal_ex(decrypt_, out + outLen, &outLen) == 1;
}

double measureGcmThroughput(size_t chunkBytes, unsigned threads, double seconds) {
  if (threads == 0) threads = 1;
  std::atomic<bool> stop{false};
  std::vector<uint64_t> bytesDone(threads, 0);
  std::vector<std::thread> workers;
  auto start = std::chrono::steady_clock::now();
  for (unsigned t = 0; t < threads; t++) {
    workers.emplace_back([&, t] {
      uint8_t key[kKeyBytes];
      randomBytes(key, sizeof key);
      GcmCipher cipher(key);
      wipe(key, sizeof key);
      std::vector<uint8_t> buffer(chunkBytes, 0x5a);
      uint8_t nonce[kNonceBytes] = {1};
      uint8_t aad[24] = {};
      uint8_t tag[kGcmTagBytes];
      uint64_t done = 0;
      while (!stop.load(std::memory_order_relaxed)) {
        for (int i = 0; i < 64; i++) {
          nonce[0]++;
          cipher.seal(nonce, aad, sizeof aad, buffer.data(), chunkBytes, buffer.data(), tag);
          done += chunkBytes;
        }
      }
      bytesDone[t] = done;
    });
  }
  std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
  stop = true;
  for (auto& w : workers) w.join();
  double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  uint64_t total = 0;
  for (auto b : bytesDone) total += b;
  return static_cast<double>(total) / elapsed;
}

}  // namespace shieldfs
