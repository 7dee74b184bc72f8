// Tampering with a shielded file outside the shield: every change must be detected with the error
// code FORMAT.md gives (EINTEGRITY / EBADKEY / EROLLBACK), and no unverified plaintext may leak.
#include <algorithm>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "crypto.h"
#include "format.h"
#include "harness.h"
#include "shield_error.h"
#include "shielded_file.h"
#include "test_util.h"

using namespace shieldfs;
using namespace shieldtest;

namespace {

constexpr uint64_t C = 4096;
const Geometry g12(12);

struct Fixture {
  TempDir dir;
  std::string path;
  TestKey key{42};
  std::vector<uint8_t> data;
  Hash tag{};

  explicit Fixture(uint64_t bytes, uint64_t seed = 1) : path(dir.file("victim")) {
    Rng rng(seed);
    data = rng.bytes(bytes);
    auto f = ShieldedFile::open(path, key.data(), createOptions(12));
    f->write(data.data(), data.size(), 0);
    tag = f->close();
  }
  std::unique_ptr<ShieldedFile> open(bool withTag = true) const {
    return ShieldedFile::open(path, key.data(), withTag ? reopenOptions(tag) : OpenOptions{});
  }
  // Reads chunk i; returns the error code ("" when it verified and matched).
  std::string readChunkCode(ShieldedFile& f, uint64_t chunk) const {
    std::vector<uint8_t> buf(C);
    try {
      size_t n = f.read(buf.data(), C, chunk * C);
      if (n != std::min<uint64_t>(C, data.size() - chunk * C) ||
          std::memcmp(buf.data(), data.data() + chunk * C, n) != 0)
        return "WRONG-BYTES";
      return "";
    } catch (const ShieldError& e) {
      return e.code();
    }
  }
};

std::string openCode(const std::string& path, const uint8_t* key, const OpenOptions& o) {
  try {
    auto f = ShieldedFile::open(path, key, o);
    return "";
  } catch (const ShieldError& e) {
    return e.code();
  }
}

// The message of the error open() fails with ("" when it opens).
std::string openMessage(const std::string& path, const uint8_t* key, const OpenOptions& o = OpenOptions{}) {
  try {
    auto f = ShieldedFile::open(path, key, o);
    return "";
  } catch (const ShieldError& e) {
    return e.what();
  }
}

}  // namespace

TEST(flipped_chunk_byte_is_detected_on_read) {
  Fixture fx(20 * C + 500);
  for (uint64_t chunk : {0u, 7u, 20u}) {
    for (uint64_t where : std::initializer_list<uint64_t>{0, 1, C / 2, C - 1}) {
      if (chunk * C + where >= fx.data.size() && chunk == 20) where = 17;
      const uint64_t off = g12.chunkOffset(chunk) + where;
      flipByte(fx.path, off, 0x10);
      auto f = fx.open();  // opening is lazy: it succeeds
      auto e = EXPECT_SHIELD_ERROR(kIntegrity, std::vector<uint8_t> b(C); f->read(b.data(), C, chunk * C));
      CHECK_EQ(e.chunk(), int64_t(chunk));
      CHECK_EQ(e.path(), fx.path);
      // Neighbours still verify.
      if (chunk > 0) CHECK_EQ(fx.readChunkCode(*f, chunk - 1), std::string());
      if (chunk < 20) CHECK_EQ(fx.readChunkCode(*f, chunk + 1), std::string());
      f.reset();
      flipByte(fx.path, off, 0x10);  // restore
      auto ok = fx.open();
      CHECK_EQ(fx.readChunkCode(*ok, chunk), std::string());
    }
  }
}

TEST(failed_read_returns_no_plaintext) {
  Fixture fx(40 * C);
  flipByte(fx.path, g12.chunkOffset(30) + 100);
  auto f = fx.open();
  for (auto [pos, len] : std::vector<std::pair<uint64_t, uint64_t>>{
           {25 * C, 10 * C}, {30 * C + 5, 10}, {0, 40 * C}, {29 * C + 7, C}, {28 * C, 3 * C}}) {
    std::vector<uint8_t> buf(len, 0xAA);
    EXPECT_SHIELD_ERROR(kIntegrity, f->read(buf.data(), len, pos));
    for (size_t i = 0; i < len; i++)
      CHECK_MSG(buf[i] == 0, "byte " + std::to_string(i) + " of a failed read(" + std::to_string(pos) + ", " +
                                 std::to_string(len) + ") was not zeroed");
  }
}

TEST(tampered_chunk_is_not_laundered_by_partial_writes) {
  Fixture fx(10 * C);
  flipByte(fx.path, g12.chunkOffset(4) + 9);
  auto f = fx.open();
  uint8_t b[10] = {};
  // A partial write must merge with the old content, which fails to verify.
  EXPECT_SHIELD_ERROR(kIntegrity, f->write(b, sizeof b, 4 * C + 100));
  // Overwriting the whole chunk needs no old content: it replaces the damaged chunk.
  std::vector<uint8_t> fresh(C, 0x77);
  CHECK_EQ(f->write(fresh.data(), C, 4 * C), C);
  std::vector<uint8_t> back(C);
  CHECK_EQ(f->read(back.data(), C, 4 * C), C);
  CHECK(back == fresh);
  Hash t = f->close();
  auto again = ShieldedFile::open(fx.path, fx.key.data(), reopenOptions(t));
  CHECK_EQ(again->read(back.data(), C, 4 * C), C);
  CHECK(back == fresh);
}

TEST(flipped_leaf_node_byte_is_detected) {
  Fixture fx(20 * C);  // height 1: the leaf is the top node
  for (uint64_t where : std::initializer_list<uint64_t>{0, 27, 28 * 19 + 3, 4000, 4090 /* zero padding */}) {
    const uint64_t off = g12.nodeOffset(1, 0) + where;
    flipByte(fx.path, off, 0x04);
    auto f = fx.open();
    for (uint64_t chunk : {0u, 5u, 19u}) CHECK_EQ(fx.readChunkCode(*f, chunk), std::string(kIntegrity));
    f.reset();
    flipByte(fx.path, off, 0x04);
  }
  auto f = fx.open();
  CHECK_EQ(fx.readChunkCode(*f, 3), std::string());
}

// Bytes that reads never look at: the slot of a hole chunk, and the slot of a node that is not
// stored (an all-hole subtree). The shield leaves them zero; verifyUnusedSlots() (shield volume
// verify) finds any other byte there, though every read still succeeds.
std::string unusedSlotsCode(ShieldedFile& f) {
  try {
    f.verifyUnusedSlots();
    return "";
  } catch (const ShieldError& e) {
    return e.code();
  }
}

TEST(bytes_in_unused_slots_are_found_by_verify_unused_slots) {
  TempDir dir;
  const std::string path = dir.file("sparse");
  TestKey key{7};
  const uint64_t far = 146 * 128 + 5;  // height 3: whole subtrees below zero slots are not stored
  std::vector<uint8_t> one(C, 0x5a);
  Hash tag{};
  {
    auto f = ShieldedFile::open(path, key.data(), createOptions(12));
    f->write(one.data(), C, 0);
    f->write(one.data(), C, far * C);
    tag = f->close();
  }
  {
    auto f = ShieldedFile::open(path, key.data(), reopenOptions(tag));
    CHECK_EQ(unusedSlotsCode(*f), std::string());
  }
  struct Place {
    uint64_t offset;
    bool readsSeeIt;  // a stored node: its hash covers every byte, so reads fail too
  };
  for (const Place& place : {Place{g12.chunkOffset(3) + 17, false},       // a hole chunk in the stored leaf 0
                             Place{g12.nodeOffset(1, 1) + 100, false},    // leaf 1: all holes, its parent slot zero
                             Place{g12.nodeOffset(2, 1) + 9, false},      // inner node (2, 1): all holes, not stored
                             Place{g12.nodeOffset(2, 0) + 4000, true}}) {  // inner node (2, 0): stored
    flipByte(path, place.offset, 0x20);
    auto f = ShieldedFile::open(path, key.data(), reopenOptions(tag));
    std::vector<uint8_t> buf(C);
    if (!place.readsSeeIt) {
      CHECK_EQ(f->read(buf.data(), C, 3 * C), static_cast<size_t>(C));
      CHECK(std::all_of(buf.begin(), buf.end(), [](uint8_t b) { return b == 0; }));
    }
    CHECK_EQ(unusedSlotsCode(*f), std::string(kIntegrity));
    f.reset();
    flipByte(path, place.offset, 0x20);
  }
  auto f = ShieldedFile::open(path, key.data(), reopenOptions(tag));
  CHECK_EQ(unusedSlotsCode(*f), std::string());
  f->write(one.data(), 10, 5 * C);  // not flushed yet
  CHECK_EQ(unusedSlotsCode(*f), std::string("EBUSY"));
}

TEST(multi_level_tamper_is_local) {
  Fixture fx(400 * C, 2);  // height 2: inner(2,0) over leaves 0..2
  // Leaf 1 damaged: chunks of leaf 1 fail, leaf 0 and 2 are fine.
  const uint64_t leaf1 = g12.nodeOffset(1, 1) + 50;
  flipByte(fx.path, leaf1);
  {
    auto f = fx.open();
    CHECK_EQ(fx.readChunkCode(*f, 146), std::string(kIntegrity));
    CHECK_EQ(fx.readChunkCode(*f, 291), std::string(kIntegrity));
    CHECK_EQ(fx.readChunkCode(*f, 0), std::string());
    CHECK_EQ(fx.readChunkCode(*f, 145), std::string());
    CHECK_EQ(fx.readChunkCode(*f, 292), std::string());
    CHECK_EQ(fx.readChunkCode(*f, 399), std::string());
  }
  flipByte(fx.path, leaf1);
  // Inner node damaged: everything below fails.
  const uint64_t inner = g12.nodeOffset(2, 0) + 40;
  flipByte(fx.path, inner);
  {
    auto f = fx.open();
    CHECK_EQ(fx.readChunkCode(*f, 0), std::string(kIntegrity));
    CHECK_EQ(fx.readChunkCode(*f, 300), std::string(kIntegrity));
  }
  flipByte(fx.path, inner);
  auto f = fx.open();
  CHECK(readAll(*f) == fx.data);
}

TEST(swapped_or_transplanted_chunks_fail) {
  Fixture fx(10 * C, 3);
  // Swap chunks 2 and 3 on disk: each is authentic, but bound to its index.
  auto c2 = rawRead(fx.path, g12.chunkOffset(2), C), c3 = rawRead(fx.path, g12.chunkOffset(3), C);
  rawWrite(fx.path, g12.chunkOffset(2), c3.data(), C);
  rawWrite(fx.path, g12.chunkOffset(3), c2.data(), C);
  {
    auto f = fx.open();
    CHECK_EQ(fx.readChunkCode(*f, 2), std::string(kIntegrity));
    CHECK_EQ(fx.readChunkCode(*f, 3), std::string(kIntegrity));
  }
  rawWrite(fx.path, g12.chunkOffset(2), c2.data(), C);
  rawWrite(fx.path, g12.chunkOffset(3), c3.data(), C);
  // Transplant chunk 1 and leaf 0 from another file under the same key: different file_id.
  Fixture other(10 * C, 3);
  auto foreignLeaf = rawRead(other.path, g12.nodeOffset(1, 0), 4096);
  rawWrite(fx.path, g12.nodeOffset(1, 0), foreignLeaf.data(), 4096);
  {
    auto f = fx.open();
    CHECK_EQ(fx.readChunkCode(*f, 1), std::string(kIntegrity));
  }
}

TEST(header_tampering) {
  Fixture fx(5 * C + 1);
  // Every byte of the used header (0…183): check_salt and key_check fail the key check (EBADKEY,
  // FORMAT.md "Keys"); everything else, file_id, key_id, size_nonce and sealed_size included, fails
  // parsing or the MAC (EINTEGRITY).
  for (size_t i = 0; i < kHeaderUsedBytes; i++) {
    for (uint8_t mask : {uint8_t{0x01}, uint8_t{0x80}}) {
      flipByte(fx.path, i, mask);
      std::string code = openCode(fx.path, fx.key.data(), reopenOptions(fx.tag));
      std::string codeNoTag = openCode(fx.path, fx.key.data(), OpenOptions{});
      flipByte(fx.path, i, mask);
      const bool keyBound = i >= 48 && i < 80;  // check_salt, key_check
      const std::string expected = keyBound ? kBadKey : kIntegrity;
      CHECK_MSG(code == expected, "header byte " + std::to_string(i) + " ^ " + std::to_string(mask) + ": got '" +
                                      code + "', expected " + expected);
      CHECK_MSG(codeNoTag == expected, "header byte " + std::to_string(i) + " (no expected tag): got '" + codeNoTag + "'");
    }
  }
  for (size_t i = kHeaderUsedBytes; i < kHeaderBlockBytes; i += 97) {
    flipByte(fx.path, i);
    CHECK_EQ(openCode(fx.path, fx.key.data(), OpenOptions{}), std::string(kIntegrity));
    flipByte(fx.path, i);
  }
  CHECK_EQ(openCode(fx.path, fx.key.data(), reopenOptions(fx.tag)), std::string());
}

TEST(forged_header_with_valid_mac_but_inconsistent_fields) {
  // Someone holding the key could write a well-MACed but inconsistent header: still refused.
  Fixture fx(300 * C);
  const Header good = diskHeader(fx.path, fx.key.data());
  CHECK_EQ(good.size, 300 * C);
  auto tryHeader = [&](Header h, const char* what) {
    forgeHeader(fx.path, h, fx.key.data());
    std::string code = openCode(fx.path, fx.key.data(), OpenOptions{});
    forgeHeader(fx.path, good, fx.key.data());
    CHECK_MSG(code == kIntegrity, std::string(what) + ": got '" + code + "'");
  };
  Header h = good;
  h.height = 1;
  tryHeader(h, "height too small");
  h = good;
  h.height = 3;
  tryHeader(h, "height too large");
  h = good;
  h.size = good.size + C;  // one more chunk than the file holds
  tryHeader(h, "size beyond the on-disk length");
  h = good;
  h.size = good.size - 1;  // same chunks, but the last chunk holds non-zero plaintext past the size
  CHECK(fx.data.back() != 0);
  forgeHeader(fx.path, h, fx.key.data());
  {
    auto f = ShieldedFile::open(fx.path, fx.key.data(), OpenOptions{});
    CHECK_EQ(f->size(), good.size - 1);
    CHECK_EQ(fx.readChunkCode(*f, 299), std::string(kIntegrity));
  }
  forgeHeader(fx.path, good, fx.key.data());
  h = good;
  h.size = Geometry(12).maxFileSize() + 1;
  h.height = 5;
  tryHeader(h, "size beyond the largest file");
  h = good;
  h.size = ~uint64_t{0};
  tryHeader(h, "size 2^64-1");
  h = good;
  h.size = ~uint64_t{0};
  h.height = 5;
  tryHeader(h, "size 2^64-1, height 5");
  // The limit is 2^31 chunks (FORMAT.md "Parameters"): exactly that passes the size check and fails
  // on the on-disk length; one byte more fails the size check.
  h = good;
  h.height = 5;
  h.size = Geometry(12).maxFileSize();
  CHECK_EQ(h.size, (uint64_t{1} << 31) * C);
  forgeHeader(fx.path, h, fx.key.data());
  std::string atLimit = openMessage(fx.path, fx.key.data());
  h.size++;
  forgeHeader(fx.path, h, fx.key.data());
  std::string pastLimit = openMessage(fx.path, fx.key.data());
  forgeHeader(fx.path, good, fx.key.data());
  CHECK_MSG(atLimit.find("truncated") != std::string::npos, "at the limit: " + atLimit);
  CHECK_MSG(pastLimit.find("size too large") != std::string::npos, "past the limit: " + pastLimit);
  h = good;
  h.sizeNonce[0] ^= 1;  // another nonce, the same size: authentic and whole (the mask follows the nonce)
  forgeHeader(fx.path, h, fx.key.data());
  {
    auto f = ShieldedFile::open(fx.path, fx.key.data(), OpenOptions{});
    CHECK_EQ(f->size(), good.size);
    CHECK(readAll(*f) == fx.data);
  }
  h = good;
  h.root[0] ^= 1;  // authentic header, but the tree no longer matches
  forgeHeader(fx.path, h, fx.key.data());
  {
    auto f = ShieldedFile::open(fx.path, fx.key.data(), OpenOptions{});
    CHECK_EQ(fx.readChunkCode(*f, 0), std::string(kIntegrity));
  }
  forgeHeader(fx.path, good, fx.key.data());
  auto f = fx.open();
  CHECK(readAll(*f) == fx.data);
}

TEST(forged_height0_and_empty_headers_with_root_padding) {
  for (uint64_t bytes : {uint64_t{0}, uint64_t{10}}) {
    Fixture fx(bytes, 7);
    const Header good = diskHeader(fx.path, fx.key.data());
    CHECK_EQ(good.size, bytes);
    const size_t rootUsed = bytes == 0 ? 0 : 28;
    for (size_t i = rootUsed; i < 32; i++) {
      Header h = good;
      h.root[i] = 0x40;
      forgeHeader(fx.path, h, fx.key.data());
      std::string code = openCode(fx.path, fx.key.data(), OpenOptions{});
      CHECK_MSG(code == kIntegrity, "root byte " + std::to_string(i) + ", size " + std::to_string(bytes) + ": '" + code + "'");
    }
    forgeHeader(fx.path, good, fx.key.data());
    CHECK_EQ(openCode(fx.path, fx.key.data(), OpenOptions{}), std::string());
  }
}

// FORMAT.md "Errors when opening and reading": the size is sealed, so the checks that need it (size
// limit, height, unused root bytes) come after the key check and the MAC. An authentic header with
// a height that does not match its size, opened with a wrong key, is EBADKEY (before the size was
// sealed it was EINTEGRITY, found before the key check); under a stale expected tag it is
// EINTEGRITY, not EROLLBACK. A height > 5 is structural and still EINTEGRITY before the key check.
TEST(checks_that_need_the_size_come_after_the_key_check_and_the_mac) {
  Fixture fx(300 * C);
  const Header good = diskHeader(fx.path, fx.key.data());
  TestKey wrong(43);
  Hash stale = fx.tag;
  stale[0] ^= 1;
  struct Case {
    const char* what;
    Header header;
  };
  std::vector<Case> cases;
  Header h = good;
  h.height = 1;
  cases.push_back({"height 1 for 300 chunks", h});
  h = good;
  h.height = 5;
  cases.push_back({"height 5 for 300 chunks", h});
  h = good;
  h.size = Geometry(12).maxFileSize() + 1;
  h.height = 5;
  cases.push_back({"size past the largest file", h});
  for (const Case& c : cases) {
    forgeHeader(fx.path, c.header, fx.key.data());
    const std::string right = openCode(fx.path, fx.key.data(), OpenOptions{});
    const std::string wrongKey = openCode(fx.path, wrong.data(), OpenOptions{});
    const std::string staleTag = openCode(fx.path, fx.key.data(), reopenOptions(stale));
    // Unauthentic: the same bytes with the MAC broken are EINTEGRITY (the MAC fails first).
    flipByte(fx.path, kHeaderMacOffset);
    const std::string badMac = openCode(fx.path, fx.key.data(), OpenOptions{});
    const std::string badMacWrongKey = openCode(fx.path, wrong.data(), OpenOptions{});
    CHECK_MSG(right == kIntegrity, std::string(c.what) + ": '" + right + "'");
    CHECK_MSG(wrongKey == kBadKey, std::string(c.what) + ", wrong key: '" + wrongKey + "'");
    CHECK_MSG(staleTag == kIntegrity, std::string(c.what) + ", stale tag: '" + staleTag + "'");
    CHECK_MSG(badMac == kIntegrity, std::string(c.what) + ", bad MAC: '" + badMac + "'");
    CHECK_MSG(badMacWrongKey == kBadKey, std::string(c.what) + ", bad MAC, wrong key: '" + badMacWrongKey + "'");
  }
  // Height 6: malformed before the key is looked at.
  forgeHeader(fx.path, good, fx.key.data());
  rawWrite(fx.path, 11, "\x06", 1);
  CHECK_EQ(openCode(fx.path, wrong.data(), OpenOptions{}), std::string(kIntegrity));
  CHECK_EQ(openCode(fx.path, fx.key.data(), OpenOptions{}), std::string(kIntegrity));
  // Re-sealed as it was, by the test's own reading of FORMAT.md: the very header (and tag) the core wrote.
  forgeHeader(fx.path, good, fx.key.data());
  CHECK_EQ(openCode(fx.path, fx.key.data(), reopenOptions(fx.tag)), std::string());
}

TEST(expected_file_id_and_non_regular_files) {
  Fixture fx(3 * C, 1);
  Fixture other(3 * C, 2);
  OpenOptions mine;
  mine.expectedFileId = diskHeader(fx.path).fileId;
  CHECK_EQ(openCode(fx.path, fx.key.data(), mine), std::string());
  // Another authentic file under the same key, even with its own (valid) tag expected.
  OpenOptions swapped = reopenOptions(other.tag);
  swapped.expectedFileId = mine.expectedFileId;
  CHECK_EQ(openCode(other.path, other.key.data(), swapped), std::string(kIntegrity));
  CHECK_EQ(openCode(other.path, other.key.data(), mine), std::string(kIntegrity));
  TestKey wrong(43);
  CHECK_EQ(openCode(other.path, wrong.data(), mine), std::string(kBadKey));  // the key check comes first
  // A FIFO in the file's place: EINTEGRITY, without blocking on the open.
  const std::string fifo = fx.dir.file("fifo");
  CHECK(::mkfifo(fifo.c_str(), 0600) == 0);
  CHECK_EQ(openCode(fifo, fx.key.data(), OpenOptions{}), std::string(kIntegrity));
  OpenOptions ro;
  ro.readOnly = true;
  CHECK_EQ(openCode(fifo, fx.key.data(), ro), std::string(kIntegrity));
}

TEST(wrong_key_is_ebadkey) {
  Fixture fx(3 * C);
  TestKey wrong(43);
  CHECK_EQ(openCode(fx.path, wrong.data(), OpenOptions{}), std::string(kBadKey));
  CHECK_EQ(openCode(fx.path, wrong.data(), reopenOptions(fx.tag)), std::string(kBadKey));
  OpenOptions ro;
  ro.readOnly = true;
  CHECK_EQ(openCode(fx.path, wrong.data(), ro), std::string(kBadKey));
  auto keyCopy = std::vector<uint8_t>(fx.key.data(), fx.key.data() + 32);
  keyCopy[31] ^= 1;
  CHECK_EQ(openCode(fx.path, keyCopy.data(), OpenOptions{}), std::string(kBadKey));
}

TEST(rollback_is_erollback) {
  Fixture fx(8 * C);
  const Hash oldTag = fx.tag;
  const auto oldBytes = readWholeFile(fx.path);
  Hash newTag;
  {
    auto f = fx.open();
    uint8_t b[5] = {9, 9, 9, 9, 9};
    f->write(b, 5, 3 * C);
    newTag = f->close();
  }
  CHECK(!(newTag == oldTag));
  // The current file opened with a stale tag: EROLLBACK.
  CHECK_EQ(openCode(fx.path, fx.key.data(), reopenOptions(oldTag)), std::string(kRollback));
  // An attacker restores the old (authentic) file: EROLLBACK for the holder of the new tag.
  const auto newBytes = readWholeFile(fx.path);
  writeWholeFile(fx.path, oldBytes);
  CHECK_EQ(openCode(fx.path, fx.key.data(), reopenOptions(newTag)), std::string(kRollback));
  CHECK_EQ(openCode(fx.path, fx.key.data(), reopenOptions(oldTag)), std::string());
  // Without an expected tag the old version is simply authentic.
  CHECK_EQ(openCode(fx.path, fx.key.data(), OpenOptions{}), std::string());
  writeWholeFile(fx.path, newBytes);
  CHECK_EQ(openCode(fx.path, fx.key.data(), reopenOptions(newTag)), std::string());
  // The MAC is checked before the tag: a damaged header is EINTEGRITY, not EROLLBACK.
  for (size_t off : {size_t{84}, size_t{100}}) {  // inside size_nonce, inside sealed_size
    flipByte(fx.path, off);
    CHECK_EQ(openCode(fx.path, fx.key.data(), reopenOptions(oldTag)), std::string(kIntegrity));
    flipByte(fx.path, off);
  }
  // The key check comes first of all.
  TestKey wrong(1);
  CHECK_EQ(openCode(fx.path, wrong.data(), reopenOptions(oldTag)), std::string(kBadKey));
}

TEST(truncated_or_extended_file_is_eintegrity) {
  for (uint64_t bytes : {uint64_t{0}, uint64_t{100}, 3 * C, 146 * C, 200 * C + 7}) {
    Fixture fx(bytes, bytes);
    const uint64_t len = fileSize(fx.path);
    CHECK_EQ(len, g12.physicalSize(g12.chunkCount(bytes)));
    std::vector<int64_t> deltas = {1, 4096, 12345};
    if (len > 4096) {
      for (int64_t d : {-1, -4096, -4097}) deltas.push_back(d);
      deltas.push_back(-static_cast<int64_t>(len - 4096));  // only the header left
    }
    for (int64_t d : deltas) {
      setFileLength(fx.path, static_cast<uint64_t>(static_cast<int64_t>(len) + d));
      std::string code = openCode(fx.path, fx.key.data(), OpenOptions{});
      std::string codeTag = openCode(fx.path, fx.key.data(), reopenOptions(fx.tag));
      setFileLength(fx.path, len);
      CHECK_MSG(code == kIntegrity && codeTag == kIntegrity,
                "size " + std::to_string(bytes) + " length change " + std::to_string(d) + ": '" + code + "'");
    }
    // Shorter than a header.
    auto whole = readWholeFile(fx.path);
    for (uint64_t keep : {0u, 1u, 151u, 152u, 183u, 184u, 4095u}) {
      writeWholeFile(fx.path, std::vector<uint8_t>(whole.begin(), whole.begin() + keep));
      CHECK_EQ(openCode(fx.path, fx.key.data(), OpenOptions{}), std::string(kIntegrity));
    }
    writeWholeFile(fx.path, whole);
    CHECK_EQ(openCode(fx.path, fx.key.data(), reopenOptions(fx.tag)), std::string());
  }
}

TEST(not_a_shielded_file) {
  TempDir dir;
  TestKey key(1);
  Rng rng(99);
  const std::string path = dir.file("random");
  writeWholeFile(path, rng.bytes(3 * 4096));
  CHECK_EQ(openCode(path, key.data(), OpenOptions{}), std::string(kIntegrity));
  writeWholeFile(path, std::vector<uint8_t>(8192, 0));
  CHECK_EQ(openCode(path, key.data(), OpenOptions{}), std::string(kIntegrity));
  // create=true does not overwrite an existing non-shielded file.
  CHECK_EQ(openCode(path, key.data(), createOptions()), std::string(kIntegrity));
  CHECK_EQ(fileSize(path), 8192u);
}

SHIELDTEST_MAIN()
