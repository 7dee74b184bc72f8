// Known-answer tests for the primitives in crypto.h: AES-256-GCM (McGrew & Viega, "The Galois/Counter
// Mode of Operation", test cases 13-16), HKDF-SHA256 (RFC 5869 A.1), HMAC-SHA256 (RFC 4231 4.2),
// SHA-256 (FIPS 180-2 "abc").
#include <cstring>
#include <string>
#include <vector>

#include "crypto.h"
#include "harness.h"
#include "test_util.h"

using namespace shieldfs;
using namespace shieldtest;

namespace {

struct GcmVector {
  const char* name;
  const char* key;
  const char* iv;
  const char* plaintext;
  const char* aad;
  const char* ciphertext;
  const char* tag;
};

const GcmVector kGcmVectors[] = {
    {"McGrew-Viega test case 13",
     "0000000000000000000000000000000000000000000000000000000000000000", "000000000000000000000000", "", "", "",
     "530f8afbc74536b9a963b4f1c4cb738b"},
    {"McGrew-Viega test case 14",
     "0000000000000000000000000000000000000000000000000000000000000000", "000000000000000000000000",
     "00000000000000000000000000000000", "", "cea7403d4d606b6e074ec5d3baf39d18",
     "d0d1c8a799996bf0265b98b5d48ab919"},
    {"McGrew-Viega test case 15",
     "feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308", "cafebabefacedbaddecaf888",
     "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72"
     "1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b391aafd255",
     "",
     "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa"
     "8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662898015ad",
     "b094dac5d93471bdec1a502270e3cc6c"},
    {"McGrew-Viega test case 16",
     "feffe9928665731c6d6a8f9467308308feffe9928665731c6d6a8f9467308308", "cafebabefacedbaddecaf888",
     "d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72"
     "1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b39",
     "feedfacedeadbeeffeedfacedeadbeefabaddad2",
     "522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa"
     "8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662",
     "76fc6ece0f4e1768cddf8853bb2d551b"},
};

// data() of an empty vector may be null; the primitives get a valid pointer either way.
uint8_t* ptr(std::vector<uint8_t>& v) {
  static uint8_t empty[1] = {0};
  return v.empty() ? empty : v.data();
}

}  // namespace

TEST(gcm_known_answers_seal) {
  for (const auto& v : kGcmVectors) {
    auto key = fromHex(v.key), iv = fromHex(v.iv), pt = fromHex(v.plaintext), aad = fromHex(v.aad);
    auto ct = fromHex(v.ciphertext), tag = fromHex(v.tag);
    CHECK_EQ(key.size(), kKeyBytes);
    CHECK_EQ(iv.size(), kNonceBytes);
    GcmCipher cipher(key.data());
    std::vector<uint8_t> out(pt.size());
    uint8_t gotTag[kGcmTagBytes];
    cipher.seal(iv.data(), ptr(aad), aad.size(), ptr(pt), pt.size(), ptr(out), gotTag);
    CHECK_MSG(out == ct, std::string(v.name) + ": ciphertext " + hex(out));
    CHECK_MSG(std::memcmp(gotTag, tag.data(), kGcmTagBytes) == 0, std::string(v.name) + ": tag " + hex(gotTag, 16));
  }
}

TEST(gcm_known_answers_open) {
  for (const auto& v : kGcmVectors) {
    auto key = fromHex(v.key), iv = fromHex(v.iv), pt = fromHex(v.plaintext), aad = fromHex(v.aad);
    auto ct = fromHex(v.ciphertext), tag = fromHex(v.tag);
    GcmCipher cipher(key.data());
    std::vector<uint8_t> out(ct.size());
    CHECK_MSG(cipher.open(iv.data(), ptr(aad), aad.size(), ptr(ct), ct.size(), ptr(out), tag.data()), v.name);
    CHECK_MSG(out == pt, v.name);

    // Any change to tag, ciphertext, nonce or AAD must fail authentication.
    auto badTag = tag;
    badTag[15] ^= 1;
    CHECK_MSG(!cipher.open(iv.data(), ptr(aad), aad.size(), ptr(ct), ct.size(), ptr(out), badTag.data()), v.name);
    if (!ct.empty()) {
      auto badCt = ct;
      badCt[badCt.size() / 2] ^= 0x40;
      CHECK_MSG(!cipher.open(iv.data(), ptr(aad), aad.size(), badCt.data(), badCt.size(), ptr(out), tag.data()),
                v.name);
    }
    auto badIv = iv;
    badIv[0] ^= 0x80;
    CHECK_MSG(!cipher.open(badIv.data(), ptr(aad), aad.size(), ptr(ct), ct.size(), ptr(out), tag.data()), v.name);
    auto badAad = aad;
    badAad.push_back(0);
    CHECK_MSG(!cipher.open(iv.data(), badAad.data(), badAad.size(), ptr(ct), ct.size(), ptr(out), tag.data()),
              v.name);
    // The cipher object stays usable after a failure.
    CHECK_MSG(cipher.open(iv.data(), ptr(aad), aad.size(), ptr(ct), ct.size(), ptr(out), tag.data()), v.name);
  }
}

TEST(gcm_in_place_and_reuse) {
  const auto& v = kGcmVectors[3];
  auto key = fromHex(v.key), iv = fromHex(v.iv), pt = fromHex(v.plaintext), aad = fromHex(v.aad);
  GcmCipher cipher(key.data());
  for (int round = 0; round < 3; round++) {  // a reused context gives the same answer
    auto buf = pt;
    uint8_t tag[kGcmTagBytes];
    cipher.seal(iv.data(), aad.data(), aad.size(), buf.data(), buf.size(), buf.data(), tag);
    CHECK(buf == fromHex(v.ciphertext));
    CHECK(std::memcmp(tag, fromHex(v.tag).data(), 16) == 0);
    CHECK(cipher.open(iv.data(), aad.data(), aad.size(), buf.data(), buf.size(), buf.data(), tag));
    CHECK(buf == pt);
  }
}

TEST(gcm_large_message_round_trip) {
  Rng rng(7);
  auto key = rng.bytes(32), nonce = rng.bytes(12), aad = rng.bytes(24), pt = rng.bytes(1 << 20);
  GcmCipher a(key.data()), b(key.data());
  std::vector<uint8_t> ct(pt.size()), back(pt.size());
  uint8_t tag[16];
  a.seal(nonce.data(), aad.data(), aad.size(), pt.data(), pt.size(), ct.data(), tag);
  CHECK(ct != pt);
  CHECK(b.open(nonce.data(), aad.data(), aad.size(), ct.data(), ct.size(), back.data(), tag));
  CHECK(back == pt);
}

TEST(hkdf_rfc5869_case1) {
  auto ikm = fromHex("0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b");
  auto salt = fromHex("000102030405060708090a0b0c");
  auto info = fromHex("f0f1f2f3f4f5f6f7f8f9");
  std::vector<uint8_t> okm(42);
  hkdfSha256(ikm.data(), ikm.size(), salt.data(), salt.size(),
             std::string_view(reinterpret_cast<const char*>(info.data()), info.size()), okm.data(), okm.size());
  CHECK_EQ(hex(okm), std::string("3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865"));
}

TEST(hmac_rfc4231_case1) {
  auto key = fromHex("0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b0b");
  const char* data = "Hi There";
  uint8_t out[32];
  hmacSha256(key.data(), key.size(), reinterpret_cast<const uint8_t*>(data), std::strlen(data), out);
  CHECK_EQ(hex(out, 32), std::string("b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"));
}

TEST(sha256_with_prefix) {
  // SHA-256("abc") with the first byte passed as the prefix.
  uint8_t out[32];
  sha256('a', reinterpret_cast<const uint8_t*>("bc"), 2, out);
  CHECK_EQ(hex(out, 32), std::string("ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"));
}

TEST(helpers) {
  uint8_t a[64] = {}, b[64] = {};
  CHECK(constantTimeEqual(a, b, sizeof a));
  b[63] = 1;
  CHECK(!constantTimeEqual(a, b, sizeof a));
  randomBytes(a, sizeof a);
  uint8_t zero[64] = {};
  CHECK(std::memcmp(a, zero, sizeof a) != 0);
  wipe(a, sizeof a);
  CHECK(std::memcmp(a, zero, sizeof a) == 0);

  uint8_t raw[32];
  for (int i = 0; i < 32; i++) raw[i] = static_cast<uint8_t>(i);
  SecretKey k(raw);
  SecretKey copy(k);
  CHECK(std::memcmp(copy.data(), raw, 32) == 0);
  SecretKey assigned;
  assigned = k;
  CHECK(std::memcmp(assigned.data(), raw, 32) == 0);
  CHECK_EQ(toHex(raw, 4), std::string("00010203"));
}

SHIELDTEST_MAIN()
