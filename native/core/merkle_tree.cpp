#include "merkle_tree.h"

#include <algorithm>
#include <cstring>
#include <vector>

#include "shield_error.h"

namespace shieldfs {
namespace {

size_t slotBytes(unsigned level) { return level == 1 ? kEntryBytes : kHashBytes; }
uint64_t fanout(unsigned level) { return level == 1 ? kLeafFanout : kInnerFanout; }

}  // namespace

MerkleTree::MerkleTree(const FileDescriptor& file, const Geometry& geometry, size_t cacheBytes)
    : file_(file), geometry_(geometry), capacity_(std::max<size_t>(cacheBytes / kNodeBytes, 4 * (kMaxHeight + 1))) {}

void MerkleTree::reset(uint64_t chunkCount, const Hash& root) {
  dropAll();
  chunks_ = chunkCount;
  height_ = Geometry::heightFor(chunkCount);
  root_ = root;
}

MerkleTree::Node* MerkleTree::cached(unsigned level, uint64_t index) {
  auto it = cache_.find(cacheKey(level, index));
  return it == cache_.end() ? nullptr : it->second.get();
}

MerkleTree::Node* MerkleTree::cachedParent(const Node& node) {
  return node.level >= height_ ? nullptr : cached(node.level + 1, node.index / kInnerFanout);
}

void MerkleTree::unlink(Node& n) {
  if (hand_ == n.ringPosition) ++hand_;
  ring_.erase(n.ringPosition);
}

MerkleTree::Node& MerkleTree::insert(unsigned level, uint64_t index, bool dirty) {
  auto owned = std::make_unique<Node>();
  Node& n = *owned;
  n.level = level;
  n.index = index;
  n.dirty = dirty;
  n.ringPosition = ring_.insert(hand_, &n);  // just behind the hand: the last to be looked at
  cache_.emplace(cacheKey(level, index), std::move(owned));
  if (Node* parent = cachedParent(n)) parent->cachedChildren++;
  return n;
}

MerkleTree::Node& MerkleTree::node(unsigned level, uint64_t index) {
  if (Node* hit = cached(level, index)) {
    hit->referenced = true;
    return *hit;
  }
  Hash expected;
  if (level == height_) {
    expected = root_;
  } else {
    Node& parent = node(level + 1, index / kInnerFanout);
    std::memcpy(expected.data(), parent.bytes.data() + (index % kInnerFanout) * kHashBytes, kHashBytes);
  }
  Node& n = insert(level, index, false);
  // An all-zero parent slot means "nothing written below here": the node is all holes and has no
  // bytes on disk to read.
  if (!allZero(expected.data(), kHashBytes)) {
    uint64_t offset = geometry_.nodeOffset(level, index);
    size_t got = file_.readAt(n.bytes.data(), kNodeBytes, offset);
    Hash actual;
    if (got == kNodeBytes) sha256(static_cast<uint8_t>(level), n.bytes.data(), kNodeBytes, actual.data());
    if (got != kNodeBytes || !constantTimeEqual(actual.data(), expected.data(), kHashBytes)) {
      uint64_t firstChunk = index * Geometry::capacity(level);
      drop(n);
      throw ShieldError(kIntegrity,
                        "EINTEGRITY: Merkle node (level " + std::to_string(level) + ", index " + std::to_string(index) +
                            ") of '" + file_.path() + "' at byte " + std::to_string(offset) +
                            (got != kNodeBytes ? " is missing (file truncated)" : " does not match its parent") +
                            "; chunks from " + std::to_string(firstChunk) +
                            " cannot be trusted. The file was modified outside the shield: restore it from a backup.",
                        0, "read", file_.path(), static_cast<int64_t>(firstChunk));
    }
    requireZeroPastEnd(n);
  }
  evictIfFull(&n);
  return n;
}

void MerkleTree::forEachUnstoredNode(const std::function<void(unsigned level, uint64_t index)>& visit) {
  if (chunks_ == 0 || height_ == 0) return;
  struct Pending {
    unsigned level;
    uint64_t index;
    bool stored;
  };
  // Depth first with an explicit list: a tree is at most kMaxHeight levels, but a file of many
  // holes can have millions of unstored nodes below one zero slot.
  std::vector<Pending> pending{{height_, 0, !allZero(root_.data(), kHashBytes)}};
  std::vector<uint8_t> childStored(kInnerFanout);
  while (!pending.empty()) {
    const Pending at = pending.back();
    pending.pop_back();
    if (!at.stored) visit(at.level, at.index);
    if (at.level == 1) continue;
    const uint64_t perChild = Geometry::capacity(at.level - 1);
    const uint64_t first = at.index * Geometry::capacity(at.level);
    const uint64_t children = std::min<uint64_t>(kInnerFanout, (chunks_ - first + perChild - 1) / perChild);
    if (at.stored) {
      // Copied out before the children are visited: loading them may evict this node.
      const Node& n = node(at.level, at.index);
      for (uint64_t c = 0; c < children; c++) childStored[c] = !allZero(n.bytes.data() + c * kHashBytes, kHashBytes);
    } else {
      std::fill(childStored.begin(), childStored.end(), 0);
    }
    for (uint64_t c = children; c-- > 0;) pending.push_back({at.level - 1, at.index * kInnerFanout + c, childStored[c] != 0});
  }
}

void MerkleTree::requireZeroPastEnd(Node& n) {
  // Slots for chunks past the end of the file, and a leaf's padding, are zero (FORMAT.md): a node
  // that hashes correctly but breaks this was not written by the shield.
  const uint64_t firstChunk = n.index * Geometry::capacity(n.level);
  const uint64_t below = std::min(Geometry::capacity(n.level), chunks_ - firstChunk);
  const uint64_t perSlot = Geometry::capacity(n.level - 1);
  const size_t used = static_cast<size_t>((below + perSlot - 1) / perSlot) * slotBytes(n.level);
  if (!allZero(n.bytes.data() + used, kNodeBytes - used)) {
    std::string where = "(level " + std::to_string(n.level) + ", index " + std::to_string(n.index) + ")";
    drop(n);
    throw ShieldError(kIntegrity,
                      "EINTEGRITY: Merkle node " + where + " of '" + file_.path() +
                          "' has data past the end of the file; it was not written by the shield",
                      0, "read", file_.path(), static_cast<int64_t>(firstChunk));
  }
}

void MerkleTree::evictIfFull(const Node* keep) {
  while (cache_.size() > capacity_) {
    // Two sweeps at most: the first clears every second-chance bit it passes.
    Node* victim = nullptr;
    for (size_t step = 0; step < 2 * ring_.size() + 1 && !victim; step++) {
      if (hand_ == ring_.end()) hand_ = ring_.begin();
      Node* candidate = *hand_++;
      if (candidate == keep || candidate->cachedChildren != 0) continue;
      if (candidate->referenced)
        candidate->referenced = false;
      else
        victim = candidate;
    }
    if (!victim) return;
    if (victim->dirty) writeNode(*victim);
    drop(*victim);
  }
}

void MerkleTree::writeNode(Node& n) {
  Hash hash;
  sha256(static_cast<uint8_t>(n.level), n.bytes.data(), kNodeBytes, hash.data());
  file_.writeAt(n.bytes.data(), kNodeBytes, geometry_.nodeOffset(n.level, n.index));
  n.dirty = false;
  if (n.level == height_) {
    root_ = hash;
    return;
  }
  Node* parent = cachedParent(n);
  if (!parent) throw std::logic_error("Merkle node cached without its parent");  // invariant of the cache
  std::memcpy(parent->bytes.data() + (n.index % kInnerFanout) * kHashBytes, hash.data(), kHashBytes);
  parent->dirty = true;
}

void MerkleTree::drop(Node& n) {
  if (Node* parent = cachedParent(n)) parent->cachedChildren--;
  unlink(n);
  cache_.erase(cacheKey(n.level, n.index));
}

void MerkleTree::dropAll() {
  cache_.clear();
  ring_.clear();
  hand_ = ring_.end();
}

template <typename Visit>
void MerkleTree::forEachEntrySlot(uint64_t first, uint64_t count, bool modify, Visit&& visit) {
  if (height_ == 0) {  // the only chunk's entry lives in the root
    if (count) visit(0, root_.data());
    return;
  }
  // One cache lookup per leaf, not per chunk.
  for (uint64_t done = 0; done < count;) {
    const uint64_t chunk = first + done;
    const uint64_t inLeaf = std::min(count - done, kLeafFanout - chunk % kLeafFanout);
    Node& leaf = node(1, chunk / kLeafFanout);
    if (modify) leaf.dirty = true;
    uint8_t* slot = leaf.bytes.data() + (chunk % kLeafFanout) * kEntryBytes;
    for (uint64_t k = 0; k < inLeaf; k++, slot += kEntryBytes) visit(done + k, slot);
    done += inLeaf;
  }
}

ChunkEntry MerkleTree::entry(uint64_t chunk) {
  ChunkEntry e;
  entries(chunk, 1, &e);
  return e;
}

void MerkleTree::entries(uint64_t first, uint64_t count, ChunkEntry* out) {
  forEachEntrySlot(first, count, false, [&](uint64_t k, const uint8_t* slot) {
    std::memcpy(out[k].nonce.data(), slot, kNonceBytes);
    std::memcpy(out[k].tag.data(), slot + kNonceBytes, kGcmTagBytes);
  });
}

void MerkleTree::setEntries(uint64_t first, uint64_t count, const ChunkEntry* in) {
  forEachEntrySlot(first, count, true, [&](uint64_t k, uint8_t* slot) {
    std::memcpy(slot, in[k].nonce.data(), kNonceBytes);
    std::memcpy(slot + kNonceBytes, in[k].tag.data(), kGcmTagBytes);
  });
}

void MerkleTree::loadLeaves(uint64_t first, uint64_t end) {
  if (height_ == 0 || first >= end) return;
  for (uint64_t leaf = first / kLeafFanout; leaf <= (end - 1) / kLeafFanout && leaf * kLeafFanout < chunks_; leaf++)
    node(1, leaf);
}

void MerkleTree::resize(uint64_t newChunks) {
  if (newChunks == chunks_) return;
  unsigned newHeight = Geometry::heightFor(newChunks);

  if (newChunks > chunks_) {
    // Chunks past the old end are holes: their slots in existing nodes are already zero, so only
    // a taller tree needs work: a chain of new nodes above the old top.
    if (newHeight > height_) {
      // Settle the old tree first (rare: once per height change), so its root is current.
      writeDirtyNodes();
      unsigned oldHeight = height_;
      Hash oldRoot = root_;
      Node* oldTop = oldHeight >= 1 ? cached(oldHeight, 0) : nullptr;
      height_ = newHeight;
      root_.fill(0);
      if (allZero(oldRoot.data(), kHashBytes)) {
        dropAll();  // all holes: the taller tree is made of virtual zero nodes
      } else {
        unsigned lowestNew = oldHeight == 0 ? 1 : oldHeight + 1;
        for (unsigned l = newHeight; l >= lowestNew; l--) insert(l, 0, true);
        Node* parent = cached(lowestNew, 0);
        // Height 0 kept chunk 0's entry in the root; otherwise the root is the old top's hash.
        std::memcpy(parent->bytes.data(), oldRoot.data(), oldHeight == 0 ? kEntryBytes : kHashBytes);
        if (oldTop) parent->cachedChildren++;
      }
    }
    chunks_ = newChunks;
    return;
  }

  // Shrinking.
  if (newChunks == 0) {
    dropAll();
    chunks_ = 0;
    height_ = 0;
    root_.fill(0);
    return;
  }
  if (newHeight == 0) {
    ChunkEntry first = entry(0);
    dropAll();
    chunks_ = 1;
    height_ = 0;
    root_.fill(0);
    std::memcpy(root_.data(), first.nonce.data(), kNonceBytes);
    std::memcpy(root_.data() + kNonceBytes, first.tag.data(), kGcmTagBytes);
    return;
  }
  // Clear the slots past the new end along the new rightmost path, so the dropped chunks read as
  // holes if the file grows again.
  uint64_t last = newChunks - 1;
  for (unsigned l = 1; l <= newHeight; l++) {
    Node& n = node(l, last / Geometry::capacity(l));
    uint64_t firstStale = (last % Geometry::capacity(l)) / Geometry::capacity(l - 1) + 1;
    size_t from = firstStale * slotBytes(l), to = fanout(l) * slotBytes(l);
    if (from < to && !allZero(n.bytes.data() + from, to - from)) {
      std::memset(n.bytes.data() + from, 0, to - from);
      n.dirty = true;
    }
  }
  if (newHeight < height_) node(newHeight, 0).dirty = true;  // its hash becomes the new root
  std::vector<Node*> outside;
  for (auto& [key, n] : cache_) {
    if (n->level > newHeight || n->index > last / Geometry::capacity(n->level)) outside.push_back(n.get());
  }
  height_ = newHeight;
  chunks_ = newChunks;
  for (Node* n : outside) {
    unlink(*n);
    cache_.erase(cacheKey(n->level, n->index));
  }
  for (auto& [key, n] : cache_) n->cachedChildren = 0;
  for (auto& [key, n] : cache_)
    if (Node* parent = cachedParent(*n)) parent->cachedChildren++;
}

void MerkleTree::writeDirtyNodes() {
  for (unsigned l = 1; l <= height_; l++) {
    std::vector<Node*> dirty;
    for (auto& [key, n] : cache_)
      if (n->level == l && n->dirty) dirty.push_back(n.get());
    std::sort(dirty.begin(), dirty.end(), [](Node* a, Node* b) { return a->index < b->index; });
    for (Node* n : dirty) writeNode(*n);
  }
}

}  // namespace shieldfs
