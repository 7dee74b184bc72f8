// Geometry (FORMAT.md "Layout") against an independent computation, and the header codec.
#include <algorithm>
#include <array>
#include <cstring>
#include <tuple>
#include <vector>

#include "format.h"
#include "harness.h"
#include "test_util.h"

using namespace shieldfs;
using namespace shieldtest;

namespace {

constexpr uint64_t kN = 4096, kF1 = 146, kF2 = 128;

// cap(h) of FORMAT.md, written out by hand.
constexpr uint64_t kCap[6] = {1, 146, 146ull * 128, 146ull * 128 * 128, 146ull * 128 * 128 * 128,
                              146ull * 128 * 128 * 128 * 128};

unsigned refHeight(uint64_t n) {
  unsigned h = 0;
  while (h < 5 && n > kCap[h]) h++;
  return h;
}

// Lays out a full tree of height `top` item by item, exactly as the prose says: "every subtree is
// stored as first child subtree, then the node itself, then the other child subtrees". Each item
// takes the next free bytes after the 4 KiB header. For every item it calls visit(kind, level,
// index, offset, size) with kind 'c' (chunk) or 'n' (node).
template <typename Visit>
struct LayoutWalker {
  uint64_t C;
  Visit& visit;
  uint64_t pos = 4096;

  void subtree(unsigned level, uint64_t index) {
    if (level == 0) {
      visit('c', 0u, index, pos, C);
      pos += C;
      return;
    }
    const uint64_t fan = level == 1 ? kF1 : kF2, first = index * fan;
    subtree(level - 1, first);
    visit('n', level, index, pos, kN);
    pos += kN;
    for (uint64_t d = 1; d < fan; d++) subtree(level - 1, first + d);
  }
};

// Offsets computed top-down inside a full tree of height 5 (the layout is a prefix-closed, so a
// smaller tree has the same offsets). Used for heights 4 and 5, too large to enumerate.
struct TopDown {
  uint64_t C;
  uint64_t size(unsigned level) const {  // bytes of a full subtree of this level
    if (level == 0) return C;
    return kN + (level == 1 ? kF1 : kF2) * size(level - 1);
  }
  // Start of the level-`level` subtree with index `index`.
  uint64_t subtreeStart(unsigned level, uint64_t index) const {
    uint64_t base = 4096;
    const uint64_t firstChunk = index * kCap[level];
    for (unsigned l = 5; l > level; l--) {
      // inside the level-l subtree containing our chunk: which child?
      const uint64_t fan = l == 1 ? kF1 : kF2;
      const uint64_t child = (firstChunk / kCap[l - 1]) % fan;
      if (child != 0) base += kN + child * size(l - 1);
    }
    return base;
  }
  uint64_t chunk(uint64_t i) const { return subtreeStart(0, i); }
  uint64_t node(unsigned level, uint64_t j) const { return subtreeStart(level, j) + size(level - 1); }
  uint64_t physical(uint64_t n) const {
    if (n == 0) return 4096;
    uint64_t end = chunk(n - 1) + C;
    for (unsigned l = 1; l <= refHeight(n); l++) end = std::max(end, node(l, (n - 1) / kCap[l]) + kN);
    return end;
  }
};

void checkEnumeratedLayout(unsigned shift) {
  Geometry g(shift);
  const uint64_t C = uint64_t{1} << shift;
  // Chunk counts whose physical size we check; all fit in a full tree of height 3.
  const std::vector<uint64_t> samples = {1,        2,         145,       146,        147,          292,
                                         293,      1000,      18687,     18688,      18689,        18688 + 146,
                                         18688 + 147, 2 * 18688 + 1, 1000000, kCap[3] - 1, kCap[3]};
  std::vector<uint64_t> expectedEnd(samples.size(), 0);
  uint64_t chunks = 0, nodes = 0, mismatches = 0;
  std::string firstMismatch;
  auto visit = [&](char kind, unsigned level, uint64_t index, uint64_t offset, uint64_t size) {
    uint64_t actual = kind == 'c' ? g.chunkOffset(index) : g.nodeOffset(level, index);
    if (actual != offset) {
      if (mismatches++ == 0)
        firstMismatch = std::string(kind == 'c' ? "chunk " : "node level " + std::to_string(level) + " index ") +
                        std::to_string(index) + ": core " + std::to_string(actual) + ", layout " +
                        std::to_string(offset);
    }
    (kind == 'c' ? chunks : nodes)++;
    for (size_t s = 0; s < samples.size(); s++) {
      const uint64_t n = samples[s];
      bool exists = kind == 'c' ? index < n : (level <= refHeight(n) && index * kCap[level] < n);
      if (exists) expectedEnd[s] = offset + size;  // items come in increasing offset order
    }
  };
  LayoutWalker<decltype(visit)> walker{C, visit};
  walker.subtree(3, 0);
  CHECK_MSG(mismatches == 0, std::to_string(mismatches) + " offsets differ; first: " + firstMismatch);
  CHECK_EQ(chunks, kCap[3]);
  CHECK_EQ(nodes, 1 + 128 + 128 * 128u);
  for (size_t s = 0; s < samples.size(); s++)
    CHECK_MSG(g.physicalSize(samples[s]) == expectedEnd[s],
              "physicalSize(" + std::to_string(samples[s]) + ") = " + std::to_string(g.physicalSize(samples[s])) +
                  ", layout says " + std::to_string(expectedEnd[s]));
}

}  // namespace

TEST(capacity_and_height) {
  for (unsigned h = 0; h <= 5; h++) CHECK_EQ(Geometry::capacity(h), kCap[h]);
  CHECK_EQ(Geometry::capacity(5), 39191576576ull);
  CHECK_EQ(Geometry::heightFor(0), 0u);
  CHECK_EQ(Geometry::heightFor(1), 0u);
  for (unsigned h = 1; h <= 5; h++) {
    CHECK_EQ(Geometry::heightFor(kCap[h - 1] + 1), h);
    CHECK_EQ(Geometry::heightFor(kCap[h]), h);
  }
  for (unsigned shift = 12; shift <= 20; shift++) {
    Geometry g(shift);
    const uint64_t C = uint64_t{1} << shift;
    CHECK_EQ(g.chunkSize(), C);
    CHECK_EQ(g.chunkShift(), shift);
    CHECK_EQ(g.chunkCount(0), 0u);
    CHECK_EQ(g.chunkCount(1), 1u);
    CHECK_EQ(g.chunkCount(C), 1u);
    CHECK_EQ(g.chunkCount(C + 1), 2u);
    CHECK_EQ(g.maxFileSize(), kMaxChunks * C);  // 2^31 chunks: half the key budget (FORMAT.md)
    CHECK(kMaxChunks <= kCap[5]);
  }
}

TEST(layout_literal_4k_prefix) {
  // FORMAT.md: [header][c0][leaf0][c1…c145][inner(2,0)][c146][leaf1][c147…]
  Geometry g(12);
  CHECK_EQ(g.chunkOffset(0), 4096u);
  CHECK_EQ(g.nodeOffset(1, 0), 8192u);
  CHECK_EQ(g.chunkOffset(1), 12288u);
  CHECK_EQ(g.chunkOffset(145), 12288u + 144 * 4096);
  CHECK_EQ(g.nodeOffset(2, 0), 12288u + 145 * 4096);
  CHECK_EQ(g.chunkOffset(146), 12288u + 146 * 4096);
  CHECK_EQ(g.nodeOffset(1, 1), 12288u + 147 * 4096);
  CHECK_EQ(g.chunkOffset(147), 12288u + 148 * 4096);
  CHECK_EQ(g.physicalSize(0), 4096u);
  CHECK_EQ(g.physicalSize(1), 8192u);            // h = 0: header + chunk 0, no node
  CHECK_EQ(g.physicalSize(2), 16384u);           // c0, leaf0, c1
  CHECK_EQ(g.physicalSize(146), 4096u + 147 * 4096);
  CHECK_EQ(g.physicalSize(147), 4096u + 150 * 4096);  // + inner(2,0), c146, leaf1
  CHECK_EQ(g.physicalSize(148), 4096u + 151 * 4096);  // + c147
}

TEST(layout_enumerated_shift12) { checkEnumeratedLayout(12); }
TEST(layout_enumerated_shift16) { checkEnumeratedLayout(16); }
TEST(layout_enumerated_shift20) { checkEnumeratedLayout(20); }

TEST(layout_no_overlap_and_order_small_files) {
  // All items of files of several sizes, as the core places them: disjoint, inside physicalSize,
  // and the file ends exactly at the last item.
  for (unsigned shift : {12u, 16u, 20u}) {
    Geometry g(shift);
    const uint64_t C = g.chunkSize();
    for (uint64_t n : {1ull, 2ull, 146ull, 147ull, 300ull, 18689ull, 20000ull}) {
      std::vector<std::tuple<uint64_t, uint64_t, std::string>> items;
      for (uint64_t i = 0; i < n; i++) items.emplace_back(g.chunkOffset(i), C, "c" + std::to_string(i));
      const unsigned h = Geometry::heightFor(n);
      for (unsigned l = 1; l <= h; l++)
        for (uint64_t j = 0; j * kCap[l] < n; j++)
          items.emplace_back(g.nodeOffset(l, j), kN, "n" + std::to_string(l) + "." + std::to_string(j));
      std::sort(items.begin(), items.end());
      CHECK_EQ(std::get<0>(items.front()), 4096u);
      for (size_t k = 1; k < items.size(); k++) {
        const auto& [prevOff, prevSize, prevName] = items[k - 1];
        const auto& [off, size, name] = items[k];
        (void)size;
        CHECK_MSG(prevOff + prevSize <= off, "overlap between " + prevName + " and " + name + " (n=" +
                                                 std::to_string(n) + ", shift " + std::to_string(shift) + ")");
      }
      uint64_t end = 0;
      for (const auto& [off, size, name] : items) end = std::max(end, off + size);
      CHECK_EQ(g.physicalSize(n), end);
      // Order of the first items: chunk 0, leaf 0, chunk 1, ...
      if (h >= 1) {
        CHECK(g.chunkOffset(0) < g.nodeOffset(1, 0));
        CHECK(g.nodeOffset(1, 0) < g.chunkOffset(1));
      }
    }
  }
}

TEST(layout_top_down_heights_4_and_5) {
  Rng rng(45);
  for (unsigned shift : {12u, 16u, 20u}) {
    Geometry g(shift);
    TopDown ref{uint64_t{1} << shift};
    std::vector<uint64_t> chunks = {0, 1, 145, 146, kCap[2] - 1, kCap[2], kCap[3] - 1, kCap[3], kCap[3] + 1,
                                    kCap[4] - 1, kCap[4], kCap[4] + 147, kCap[5] - 1};
    for (int k = 0; k < 3000; k++) chunks.push_back(rng.below(kCap[5]));
    for (uint64_t i : chunks) {
      CHECK_MSG(g.chunkOffset(i) == ref.chunk(i), "chunk " + std::to_string(i));
    }
    for (int k = 0; k < 3000; k++) {
      unsigned level = static_cast<unsigned>(rng.between(1, 5));
      uint64_t j = rng.below(kCap[5] / kCap[level]);
      CHECK_MSG(g.nodeOffset(level, j) == ref.node(level, j),
                "node " + std::to_string(level) + "." + std::to_string(j));
    }
    std::vector<uint64_t> sizes = {1, kCap[3] + 1, kCap[4] - 1, kCap[4], kCap[4] + 1, kCap[5] - 1, kCap[5]};
    for (int k = 0; k < 500; k++) sizes.push_back(rng.between(1, kCap[5]));
    for (uint64_t n : sizes)
      CHECK_MSG(g.physicalSize(n) == ref.physical(n), "physicalSize(" + std::to_string(n) + ")");
    // The layout only grows: a file is a prefix of any bigger file.
    for (int k = 0; k < 500; k++) {
      uint64_t a = rng.between(1, kCap[5]), b = rng.between(1, kCap[5]);
      if (a > b) std::swap(a, b);
      CHECK(g.physicalSize(a) <= g.physicalSize(b));
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Header
// ---------------------------------------------------------------------------------------------

namespace {

// A header with a size within the largest file, the height implied by the size and unused root
// bytes zero (FORMAT.md "Header block" and "Errors"): checkSize() accepts it. sealedSize and
// sizeNonce are random: decode() does not look at them, and only ShieldedFile unseals.
Header consistentHeader(Rng& rng, unsigned shift, uint64_t size) {
  Header h;
  h.chunkShift = static_cast<uint8_t>(shift);
  const uint64_t chunks = Geometry(shift).chunkCount(size);
  h.height = static_cast<uint8_t>(refHeight(chunks));
  rng.fill(h.fileId.data(), h.fileId.size());
  rng.fill(h.keyId.data(), h.keyId.size());
  rng.fill(h.checkSalt.data(), h.checkSalt.size());
  rng.fill(h.keyCheck.data(), h.keyCheck.size());
  rng.fill(h.sizeNonce.data(), h.sizeNonce.size());
  h.sealedSize = rng.next();
  h.size = size;
  h.encryptions = rng.next();
  h.generation = rng.next();
  rng.fill(h.root.data(), h.root.size());
  const size_t rootUsed = chunks == 0 ? 0 : (h.height == 0 ? 28 : 32);
  for (size_t i = rootUsed; i < 32; i++) h.root[i] = 0;
  rng.fill(h.mac.data(), h.mac.size());
  return h;
}

Header randomHeader(Rng& rng) {
  const unsigned shift = static_cast<unsigned>(rng.between(12, 20));
  const uint64_t max = kMaxChunks << shift;
  uint64_t size;
  switch (rng.below(4)) {
    case 0: size = rng.below(3 << shift); break;                  // height 0 / 1
    case 1: size = rng.below(max + 1); break;                      // mostly height 5
    case 2: size = rng.below(kCap[rng.between(1, 5)] << shift) + 1; break;
    default: size = (kCap[rng.between(0, 5)] << shift) + rng.below(2); break;  // height edges
  }
  return consistentHeader(rng, shift, std::min(size, max));
}

std::vector<uint8_t> encodeBlock(const Header& h) {
  std::vector<uint8_t> block(kHeaderBlockBytes, 0);
  h.encode(block.data());
  return block;
}

void expectMalformed(const std::vector<uint8_t>& block, size_t len, const std::string& what) {
  try {
    Header::decode(block.data(), len, "/x/file");
  } catch (const ShieldError& e) {
    CHECK_MSG(e.code() == kIntegrity, what + ": code " + e.code());
    CHECK_MSG(e.path() == "/x/file", what + ": path " + e.path());
    return;
  }
  FAIL(what + ": decode accepted a malformed header");
}

// checkSize() must refuse h (size over the limit, height ≠ the height of the size, root padding).
void expectBadSize(const Header& h, const std::string& what) {
  try {
    h.checkSize("/x/file");
  } catch (const ShieldError& e) {
    CHECK_MSG(e.code() == kIntegrity, what + ": code " + e.code());
    CHECK_MSG(e.path() == "/x/file", what + ": path " + e.path());
    return;
  }
  FAIL(what + ": checkSize accepted it");
}

}  // namespace

TEST(header_round_trip) {
  Rng rng(1);
  for (int k = 0; k < 2000; k++) {
    Header h = randomHeader(rng);
    auto block = encodeBlock(h);
    Header d = Header::decode(block.data(), block.size(), "p");
    CHECK_EQ(int(d.chunkShift), int(h.chunkShift));
    CHECK_EQ(int(d.height), int(h.height));
    CHECK(d.fileId == h.fileId);
    CHECK(d.keyId == h.keyId);
    CHECK(d.checkSalt == h.checkSalt);
    CHECK(d.keyCheck == h.keyCheck);
    CHECK(d.sizeNonce == h.sizeNonce);
    CHECK_EQ(d.sealedSize, h.sealedSize);
    CHECK_EQ(d.size, 0u);  // not stored as such: unsealed by ShieldedFile after the MAC
    CHECK_EQ(d.encryptions, h.encryptions);
    CHECK_EQ(d.generation, h.generation);
    CHECK(d.root == h.root);
    CHECK(d.mac == h.mac);
    auto again = encodeBlock(d);
    CHECK(again == block);
    h.checkSize("p");
  }
}

TEST(header_byte_layout) {
  // Offsets written out from FORMAT.md's header table.
  Header h;
  h.chunkShift = 16;
  h.height = 3;
  for (size_t i = 0; i < 16; i++) {
    h.fileId[i] = static_cast<uint8_t>(0x10 + i);
    h.keyId[i] = static_cast<uint8_t>(0x20 + i);
    h.checkSalt[i] = static_cast<uint8_t>(0x30 + i);
    h.keyCheck[i] = static_cast<uint8_t>(0x60 + i);
    h.sizeNonce[i] = static_cast<uint8_t>(0xA0 + i);
  }
  h.sealedSize = 0x0102030405060708ull;
  h.size = 0x5152535455565758ull;  // never written: encode() writes sealedSize as set
  h.encryptions = 0x1112131415161718ull;
  h.generation = 0x2122232425262728ull;
  for (size_t i = 0; i < 32; i++) {
    h.root[i] = static_cast<uint8_t>(0x40 + i);
    h.mac[i] = static_cast<uint8_t>(0x80 + i);
  }
  std::vector<uint8_t> block(kHeaderBlockBytes, 0xEE);
  h.encode(block.data());
  CHECK_EQ(kHeaderUsedBytes, size_t{184});
  CHECK_EQ(kHeaderMacOffset, size_t{152});
  CHECK_EQ(std::string(block.begin(), block.begin() + 8), std::string("SHIELDFS"));
  CHECK_EQ(int(block[8]), 1);
  CHECK_EQ(int(block[9]), 0);
  CHECK_EQ(int(block[10]), 16);
  CHECK_EQ(int(block[11]), 3);
  for (size_t i = 12; i < 16; i++) CHECK_EQ(int(block[i]), 0);
  for (size_t i = 0; i < 16; i++) {
    CHECK_EQ(int(block[16 + i]), int(0x10 + i));  // file_id
    CHECK_EQ(int(block[32 + i]), int(0x20 + i));  // key_id
    CHECK_EQ(int(block[48 + i]), int(0x30 + i));  // check_salt
    CHECK_EQ(int(block[64 + i]), int(0x60 + i));  // key_check
    CHECK_EQ(int(block[80 + i]), int(0xA0 + i));  // size_nonce
  }
  for (size_t i = 0; i < 8; i++) {  // little-endian u64s
    CHECK_EQ(int(block[96 + i]), int(8 - i));      // sealed_size
    CHECK_EQ(int(block[104 + i]), int(0x18 - i));  // encryptions
    CHECK_EQ(int(block[112 + i]), int(0x28 - i));  // generation
  }
  for (size_t i = 0; i < 32; i++) {
    CHECK_EQ(int(block[120 + i]), int(0x40 + i));  // root
    CHECK_EQ(int(block[152 + i]), int(0x80 + i));  // mac
  }
  // encode() writes the used bytes only.
  for (size_t i = 184; i < kHeaderBlockBytes; i++) CHECK_EQ(int(block[i]), 0xEE);
}

TEST(size_mask_by_hand) {
  // size_mask = the first 8 bytes, read as a little-endian integer, of
  // HMAC-SHA256(header_key, "shieldfs/v1 size" ‖ size_nonce) (FORMAT.md "Header block").
  Rng rng(6);
  for (int k = 0; k < 200; k++) {
    uint8_t headerKey[32];
    rng.fill(headerKey, sizeof headerKey);
    FileId nonce;
    rng.fill(nonce.data(), nonce.size());
    std::vector<uint8_t> input = {'s', 'h', 'i', 'e', 'l', 'd', 'f', 's', '/', 'v', '1', ' ', 's', 'i', 'z', 'e'};
    input.insert(input.end(), nonce.begin(), nonce.end());
    CHECK_EQ(input.size(), size_t{32});
    uint8_t mac[32];
    hmacSha256(headerKey, 32, input.data(), input.size(), mac);
    uint64_t expected = 0;
    for (int i = 7; i >= 0; i--) expected = expected << 8 | mac[i];
    CHECK_EQ(sizeMask(headerKey, nonce), expected);
    CHECK_EQ(testSizeMask(headerKey, nonce), expected);
    // Another nonce, another mask.
    FileId other = nonce;
    other[rng.below(16)] ^= static_cast<uint8_t>(1 + rng.below(255));
    CHECK(sizeMask(headerKey, other) != expected);
  }
  // A known answer, computed outside this code base (Python's hmac): header_key = 00 01 … 1f,
  // size_nonce = 20 21 … 2f; the HMAC is 957d6f5d9e15e01d…, read little-endian 0x1de0159e5d6f7d95.
  uint8_t headerKey[32];
  FileId nonce;
  for (int i = 0; i < 32; i++) headerKey[i] = static_cast<uint8_t>(i);
  for (int i = 0; i < 16; i++) nonce[i] = static_cast<uint8_t>(0x20 + i);
  CHECK_EQ(sizeMask(headerKey, nonce), 0x1de0159e5d6f7d95ull);
}

TEST(header_decode_leaves_size_checks_to_check_size) {
  // decode() cannot see the size (it is sealed): a height 0…5 that does not match, unused root
  // bytes and a sealed size of any value all decode; checkSize() on the unsealed size refuses them.
  Rng rng(4);
  for (unsigned shift : {12u, 20u}) {
    const Header good = consistentHeader(rng, shift, 300ull << shift);  // height 2
    for (unsigned height = 0; height <= 5; height++) {
      Header h = good;
      h.height = static_cast<uint8_t>(height);
      auto block = encodeBlock(h);
      Header d = Header::decode(block.data(), block.size(), "p");
      CHECK_EQ(int(d.height), int(height));
    }
    for (uint64_t sealed : {uint64_t{0}, ~uint64_t{0}, uint64_t{1} << 63}) {
      Header h = good;
      h.sealedSize = sealed;
      auto block = encodeBlock(h);
      CHECK_EQ(Header::decode(block.data(), block.size(), "p").sealedSize, sealed);
    }
    Header empty = consistentHeader(rng, shift, 0);
    empty.root.fill(0xff);
    auto block = encodeBlock(empty);
    Header::decode(block.data(), block.size(), "p");
    expectBadSize(empty, "empty file with a non-zero root");
  }
}

TEST(header_accepts_boundaries) {
  Rng rng(2);
  for (unsigned shift : {12u, 16u, 20u}) {
    const uint64_t C = uint64_t{1} << shift;
    for (uint64_t size : {uint64_t{0}, uint64_t{1}, C, C + 1, kCap[1] * C, kCap[1] * C + 1, kCap[3] * C + 1,
                          kMaxChunks * C}) {
      Header h = consistentHeader(rng, shift, size);
      auto block = encodeBlock(h);
      Header d = Header::decode(block.data(), block.size(), "p");
      CHECK_EQ(int(d.chunkShift), int(shift));
      CHECK_EQ(int(d.height), int(h.height));
      d.size = size;  // as ShieldedFile unseals it
      d.checkSize("p");
    }
  }
  CHECK_EQ(int(consistentHeader(rng, 12, kMaxChunks * 4096).height), 5);
  // A longer buffer is fine (only the block is looked at).
  Header h = randomHeader(rng);
  auto block = encodeBlock(h);
  block.resize(3 * kHeaderBlockBytes, 0xAB);
  Header::decode(block.data(), block.size(), "p");
}

TEST(header_rejects_inconsistent_size_height_root) {
  Rng rng(5);
  for (unsigned shift : {12u, 20u}) {
    const uint64_t C = uint64_t{1} << shift;
    for (uint64_t size : {uint64_t{0}, uint64_t{5}, C + 1, kCap[1] * C + 1, kCap[3] * C, kMaxChunks * C}) {
      const Header good = consistentHeader(rng, shift, size);
      good.checkSize("p");
      for (unsigned height = 0; height <= 5; height++) {
        if (height == good.height) continue;
        Header h = good;
        h.height = static_cast<uint8_t>(height);
        expectBadSize(h, "size " + std::to_string(size) + " with height " + std::to_string(height));
      }
      // Unused root bytes: all 32 for an empty file, the last 4 for height 0.
      const size_t rootUsed = size == 0 ? 0 : (good.height == 0 ? 28 : 32);
      for (size_t i = rootUsed; i < 32; i++) {
        Header h = good;
        h.root[i] = 0x01;
        expectBadSize(h, "root byte " + std::to_string(i) + " set, size " + std::to_string(size));
      }
    }
    // Past the largest file (2^31 chunks, FORMAT.md "Parameters").
    Header h = consistentHeader(rng, shift, kMaxChunks * C);
    CHECK_EQ(kMaxChunks, uint64_t{1} << 31);
    for (uint64_t size : {kMaxChunks * C + 1, kMaxChunks * C + C, kCap[5] * C, ~uint64_t{0}, ~uint64_t{0} - C}) {
      h.size = size;
      expectBadSize(h, "size " + std::to_string(size));
    }
  }
}

TEST(header_rejects_every_malformed_field) {
  Rng rng(3);
  const Header good = randomHeader(rng);
  const auto base = encodeBlock(good);
  Header::decode(base.data(), base.size(), "p");  // sanity

  for (size_t len : {size_t{0}, size_t{1}, kHeaderUsedBytes, size_t{4095}}) expectMalformed(base, len, "length " + std::to_string(len));
  for (size_t i = 0; i < 8; i++) {
    for (uint8_t mask : {uint8_t{0x01}, uint8_t{0x20}, uint8_t{0x80}}) {
      auto b = base;
      b[i] ^= mask;
      expectMalformed(b, b.size(), "magic byte " + std::to_string(i));
    }
  }
  for (uint16_t version : {uint16_t{0}, uint16_t{2}, uint16_t{0x0100}, uint16_t{0x0101}, uint16_t{0xffff}}) {
    auto b = base;
    b[8] = static_cast<uint8_t>(version);
    b[9] = static_cast<uint8_t>(version >> 8);
    expectMalformed(b, b.size(), "version " + std::to_string(version));
  }
  for (int shift : {0, 1, 11, 21, 32, 255}) {
    auto b = base;
    b[10] = static_cast<uint8_t>(shift);
    expectMalformed(b, b.size(), "chunk_shift " + std::to_string(shift));
  }
  for (int height : {6, 7, 64, 255}) {
    auto b = base;
    b[11] = static_cast<uint8_t>(height);
    expectMalformed(b, b.size(), "height " + std::to_string(height));
  }
  for (size_t i = 12; i < 16; i++) {
    for (uint8_t v : {uint8_t{1}, uint8_t{0x80}, uint8_t{0xff}}) {
      auto b = base;
      b[i] = v;
      expectMalformed(b, b.size(), "reserved byte " + std::to_string(i));
    }
  }
  for (size_t i = kHeaderUsedBytes; i < kHeaderBlockBytes; i++) {
    auto b = base;
    b[i] = static_cast<uint8_t>(1u << (i % 8));
    expectMalformed(b, b.size(), "padding byte " + std::to_string(i));
  }
  // Bytes 16…183 (ids, salt, key check, size_nonce, sealed_size, counters, root, mac) are free-form
  // for decode(): they are checked against the key and the MAC by ShieldedFile, and what depends on
  // the size (root padding included) by checkSize() after the MAC (see test_tamper).
  for (size_t i = 16; i < kHeaderUsedBytes; i++) {
    auto b = base;
    b[i] ^= 0xff;
    Header::decode(b.data(), b.size(), "p");
  }
}

TEST(chunk_entry_hole) {
  ChunkEntry e;
  CHECK(e.isHole());
  for (size_t i = 0; i < kNonceBytes; i++) {
    ChunkEntry x;
    x.nonce[i] = 1;
    CHECK(!x.isHole());
  }
  for (size_t i = 0; i < kGcmTagBytes; i++) {
    ChunkEntry x;
    x.tag[i] = 0x80;
    CHECK(!x.isHole());
  }
}

SHIELDTEST_MAIN()
