// MerkleTree with a tiny node cache (cacheBytes 0 -> the minimum capacity) on multi-level trees:
// evictions write dirty nodes back, the cache stays bounded, and the result is bit-identical to a
// tree that never evicts.
#include <fcntl.h>

#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "file_descriptor.h"
#include "format.h"
#include "harness.h"
#include "merkle_tree.h"
#include "shield_error.h"
#include "shielded_file.h"
#include "test_util.h"

using namespace shieldfs;
using namespace shieldtest;

namespace {

// The smallest cache the tree allows (MerkleTree keeps at least 4 * (kMaxHeight + 1) nodes).
constexpr size_t kMinNodes = 4 * (kMaxHeight + 1);

FileDescriptor openRw(const std::string& path) {
  int fd = FileDescriptor::openRaw(path, O_RDWR | O_CREAT, 0600);
  if (fd < 0) FAIL("cannot open " + path);
  return FileDescriptor(fd, path);
}

ChunkEntry randomEntry(Rng& rng) {
  ChunkEntry e;
  do rng.fill(e.nonce.data(), e.nonce.size());
  while (e.isHole());
  rng.fill(e.tag.data(), e.tag.size());
  return e;
}

bool same(const ChunkEntry& a, const ChunkEntry& b) { return a.nonce == b.nonce && a.tag == b.tag; }

}  // namespace

TEST(tiny_cache_matches_big_cache) {
  TempDir dir;
  const Geometry g(12);
  FileDescriptor smallFile = openRw(dir.file("small")), bigFile = openRw(dir.file("big"));
  MerkleTree small(smallFile, g, 0), big(bigFile, g, 64u << 20);
  // Height 3: more than cap(2) = 18688 chunks.
  const uint64_t chunks = 2 * Geometry::capacity(2) + 1000;
  CHECK_EQ(Geometry::heightFor(chunks), 3u);
  small.reset(0, Hash{});
  big.reset(0, Hash{});
  small.resize(chunks);
  big.resize(chunks);
  CHECK_EQ(small.height(), 3u);

  Rng rng(1);
  std::map<uint64_t, ChunkEntry> entries;
  // Touch ~270 leaves under three inner nodes, in a scattered order.
  for (int round = 0; round < 3; round++) {
    for (uint64_t leaf = round; leaf * 146 < chunks; leaf += 1 + rng.below(2)) {
      uint64_t chunk = leaf * 146 + rng.below(146);
      if (chunk >= chunks) continue;
      ChunkEntry e = randomEntry(rng);
      entries[chunk] = e;
      small.setEntries(chunk, 1, &e);
      big.setEntries(chunk, 1, &e);
      CHECK_MSG(small.cachedNodes() <= kMinNodes, "cache holds " + std::to_string(small.cachedNodes()) + " nodes");
    }
  }
  CHECK(big.cachedNodes() > 200);  // the big cache really holds everything
  // Entries read back through the evicting cache (re-reading evicted nodes from disk).
  for (const auto& [chunk, e] : entries) CHECK_MSG(same(small.entry(chunk), e), "chunk " + std::to_string(chunk));
  CHECK(small.entry(1).isHole() || entries.count(1));
  small.writeDirtyNodes();
  big.writeDirtyNodes();
  CHECK_MSG(small.root() == big.root(), "roots differ between a tiny and a big cache");
  CHECK(small.cachedNodes() <= kMinNodes);

  // Every node that the big tree wrote has identical bytes in the small tree's file.
  for (uint64_t leaf = 0; leaf * 146 < chunks; leaf++) {
    auto a = rawRead(dir.file("big"), g.nodeOffset(1, leaf), 4096);
    if (a.empty()) continue;
    auto b = rawRead(dir.file("small"), g.nodeOffset(1, leaf), 4096);
    CHECK_MSG(a == b, "leaf " + std::to_string(leaf) + " differs on disk");
  }
  for (uint64_t j = 0; j * Geometry::capacity(2) < chunks; j++)
    CHECK(rawRead(dir.file("big"), g.nodeOffset(2, j), 4096) == rawRead(dir.file("small"), g.nodeOffset(2, j), 4096));

  // A fresh tiny-cache tree over the same file verifies everything top-down.
  MerkleTree reader(smallFile, g, 0);
  reader.reset(chunks, small.root());
  Rng order(2);
  for (int k = 0; k < 3; k++) {
    for (const auto& [chunk, e] : entries) {
      CHECK_MSG(same(reader.entry(chunk), e), "reader chunk " + std::to_string(chunk));
      CHECK(reader.cachedNodes() <= kMinNodes);
      uint64_t hole = order.below(chunks);
      if (!entries.count(hole)) CHECK(reader.entry(hole).isHole());
    }
  }
}

TEST(tiny_cache_detects_tampering_after_eviction) {
  TempDir dir;
  const Geometry g(12);
  FileDescriptor file = openRw(dir.file("t"));
  MerkleTree tree(file, g, 0);
  tree.reset(0, Hash{});
  const uint64_t chunks = 100 * 146;
  tree.resize(chunks);
  Rng rng(3);
  for (uint64_t leaf = 0; leaf < 100; leaf++) {
    ChunkEntry e = randomEntry(rng);
    tree.setEntries(leaf * 146 + 5, 1, &e);
  }
  tree.writeDirtyNodes();
  Hash root = tree.root();
  // Leaf 3 is long evicted; damage it on disk.
  flipByte(dir.file("t"), g.nodeOffset(1, 3) + 100);
  MerkleTree reader(file, g, 0);
  reader.reset(chunks, root);
  CHECK(!reader.entry(0 * 146 + 5).isHole());
  auto e = EXPECT_SHIELD_ERROR(kIntegrity, reader.entry(3 * 146 + 5));
  CHECK_EQ(e.chunk(), int64_t(3 * 146));
  CHECK(!reader.entry(4 * 146 + 5).isHole());  // other leaves unaffected
}

TEST(tiny_cache_shrink_and_grow) {
  TempDir dir;
  const Geometry g(12);
  FileDescriptor file = openRw(dir.file("s")), refFile = openRw(dir.file("r"));
  MerkleTree tree(file, g, 0), ref(refFile, g, 1u << 30);
  tree.reset(0, Hash{});
  ref.reset(0, Hash{});
  Rng rng(4);
  std::map<uint64_t, ChunkEntry> entries;
  auto set = [&](uint64_t chunk) {
    if (chunk >= tree.chunkCount()) {
      tree.resize(chunk + 1);
      ref.resize(chunk + 1);
    }
    ChunkEntry e = randomEntry(rng);
    tree.setEntries(chunk, 1, &e);
    ref.setEntries(chunk, 1, &e);
    entries[chunk] = e;
  };
  for (uint64_t c = 0; c < 40000; c += 97 + rng.below(200)) set(c);
  CHECK_EQ(tree.height(), 3u);
  for (uint64_t newCount : {30000ull, 18688ull, 18689ull, 5000ull, 146ull, 147ull, 1ull}) {
    tree.resize(newCount);
    ref.resize(newCount);
    for (auto it = entries.begin(); it != entries.end();) it = it->first >= newCount ? entries.erase(it) : ++it;
    CHECK_EQ(tree.height(), Geometry::heightFor(newCount));
    // Grow back: the dropped chunks must be holes.
    tree.resize(newCount * 2 + 10);
    ref.resize(newCount * 2 + 10);
    for (uint64_t c = newCount; c < newCount * 2 + 10; c += 1 + newCount / 50) {
      CHECK_MSG(tree.entry(c).isHole(), "chunk " + std::to_string(c) + " survived a shrink to " + std::to_string(newCount));
    }
    for (const auto& [chunk, e] : entries) CHECK(same(tree.entry(chunk), e));
    tree.writeDirtyNodes();
    ref.writeDirtyNodes();
    CHECK_MSG(tree.root() == ref.root(), "roots differ after resize to " + std::to_string(newCount));
    CHECK(tree.cachedNodes() <= kMinNodes + kMaxHeight);
    // Add a few entries again.
    for (int k = 0; k < 20; k++) set(rng.below(tree.chunkCount()));
  }
}

TEST(bulk_entries_span_leaves_with_tiny_cache) {
  // entries()/setEntries() over ranges that cross leaf (and inner node) boundaries, with evictions
  // in the middle of a range, agree with one-at-a-time access on a tree that never evicts.
  TempDir dir;
  const Geometry g(12);
  FileDescriptor file = openRw(dir.file("bulk")), refFile = openRw(dir.file("ref"));
  MerkleTree tree(file, g, 0), ref(refFile, g, 1u << 30);
  const uint64_t chunks = Geometry::capacity(2) + 5000;  // height 3
  tree.reset(0, Hash{});
  ref.reset(0, Hash{});
  tree.resize(chunks);
  ref.resize(chunks);
  Rng rng(6);
  std::vector<ChunkEntry> model(chunks);
  for (int round = 0; round < 60; round++) {
    const uint64_t count = rng.between(1, 146 * 40);  // up to 40 leaves at once, more than the cache holds
    const uint64_t first = rng.below(chunks - count + 1);
    std::vector<ChunkEntry> batch(count);
    for (auto& e : batch) e = rng.chance(10) ? ChunkEntry{} : randomEntry(rng);
    tree.setEntries(first, count, batch.data());
    for (uint64_t k = 0; k < count; k++) {
      model[first + k] = batch[k];
      ref.setEntries(first + k, 1, &batch[k]);
    }
    CHECK(tree.cachedNodes() <= kMinNodes);
    // Read back a random range in bulk and a few single entries.
    const uint64_t rc = rng.between(1, 146 * 30), rf = rng.below(chunks - rc + 1);
    std::vector<ChunkEntry> got(rc);
    tree.entries(rf, rc, got.data());
    for (uint64_t k = 0; k < rc; k++) CHECK_MSG(same(got[k], model[rf + k]), "bulk chunk " + std::to_string(rf + k));
    for (int k = 0; k < 20; k++) {
      uint64_t c = rng.below(chunks);
      CHECK(same(tree.entry(c), model[c]));
    }
  }
  tree.writeDirtyNodes();
  ref.writeDirtyNodes();
  CHECK_MSG(tree.root() == ref.root(), "roots differ between bulk/tiny-cache and single/big-cache updates");
  MerkleTree reader(file, g, 0);
  reader.reset(chunks, tree.root());
  std::vector<ChunkEntry> all(chunks);
  reader.entries(0, chunks, all.data());
  for (uint64_t c = 0; c < chunks; c++) CHECK_MSG(same(all[c], model[c]), "reopened chunk " + std::to_string(c));
}

TEST(height0_root_entry) {
  // Height 0: the only chunk's entry is the root (28 bytes + 4 zero bytes).
  TempDir dir;
  const Geometry g(12);
  FileDescriptor file = openRw(dir.file("h0"));
  MerkleTree tree(file, g, 0);
  tree.reset(0, Hash{});
  tree.resize(1);
  CHECK_EQ(tree.height(), 0u);
  Rng rng(8);
  ChunkEntry e = randomEntry(rng);
  tree.setEntries(0, 1, &e);
  tree.writeDirtyNodes();
  CHECK(std::memcmp(tree.root().data(), e.nonce.data(), 12) == 0);
  CHECK(std::memcmp(tree.root().data() + 12, e.tag.data(), 16) == 0);
  for (size_t i = 28; i < 32; i++) CHECK_EQ(int(tree.root()[i]), 0);
  // Grow to height 1 and back: the entry survives, the root padding is zero again.
  tree.resize(2);
  CHECK_EQ(tree.height(), 1u);
  CHECK(same(tree.entry(0), e));
  tree.writeDirtyNodes();
  tree.resize(1);
  tree.writeDirtyNodes();
  CHECK(same(tree.entry(0), e));
  for (size_t i = 28; i < 32; i++) CHECK_EQ(int(tree.root()[i]), 0);
}

TEST(shielded_file_with_tiny_cache_on_height3_file) {
  // End to end: a sparse height-3 file written and read with cacheBytes = 0.
  TempDir dir;
  const std::string path = dir.file("h3");
  TestKey key(12);
  Rng rng(12);
  const uint64_t C = 4096;
  std::map<uint64_t, std::vector<uint8_t>> model;  // offset -> bytes (non-overlapping: one per leaf)
  OpenOptions o = createOptions(12);
  o.cacheBytes = 0;
  auto f = ShieldedFile::open(path, key.data(), o);
  const uint64_t leaves = 2 * 128 + 40;  // spans three inner nodes
  for (uint64_t pass = 0; pass < 2; pass++) {
    for (uint64_t leaf = pass; leaf < leaves; leaf += 2) {
      uint64_t pos = (leaf * 146 + rng.below(140)) * C + rng.below(C);
      auto d = rng.bytes(rng.between(1, 3 * C));
      f->write(d.data(), d.size(), pos);
      model[pos] = d;
    }
    if (pass == 0) f->flush();
  }
  CHECK_EQ(Geometry::heightFor(Geometry(12).chunkCount(f->size())), 3u);
  auto verify = [&](ShieldedFile& file, const std::string& when) {
    for (const auto& [pos, d] : model) {
      std::vector<uint8_t> buf(d.size() + 2 * C);
      uint64_t from = pos >= C ? pos - C : 0;
      size_t n = file.read(buf.data(), buf.size(), from);
      CHECK(n >= pos - from + d.size());
      CHECK_MSG(std::memcmp(buf.data() + (pos - from), d.data(), d.size()) == 0,
                when + ": bytes at " + std::to_string(pos));
    }
  };
  verify(*f, "before close");
  Hash t = f->close();
  OpenOptions r = reopenOptions(t);
  r.cacheBytes = 0;
  f = ShieldedFile::open(path, key.data(), r);
  verify(*f, "after reopen");
  // Holes between the writes read as zeros.
  std::vector<uint8_t> buf(C, 0xFF);
  uint64_t holeChunk = 145 * 146 + 145;
  bool inModel = false;
  for (const auto& [pos, d] : model) inModel = inModel || (pos / C <= holeChunk && (pos + d.size()) / C >= holeChunk);
  if (!inModel) {
    f->read(buf.data(), C, holeChunk * C);
    for (auto b : buf) CHECK_EQ(int(b), 0);
  }
}

SHIELDTEST_MAIN()
