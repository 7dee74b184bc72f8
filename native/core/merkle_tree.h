// The Merkle tree of one shielded file: leaf nodes hold chunk entries, inner nodes hold child
// hashes, the header holds the root. Nodes are read lazily, verified against their (already
// verified) parent and kept in a bounded cache; changed nodes are hashed and written back
// bottom-up on flush or when the cache evicts them.
#pragma once

#include <array>
#include <cstdint>
#include <list>
#include <memory>
#include <string>
#include <unordered_map>

#include "file_descriptor.h"
#include <functional>

#include "format.h"

namespace shieldfs {

class MerkleTree {
 public:
  MerkleTree(const FileDescriptor& file, const Geometry& geometry, size_t cacheBytes);

  // Adopts the state described by a verified header.
  void reset(uint64_t chunkCount, const Hash& root);

  uint64_t chunkCount() const { return chunks_; }
  unsigned height() const { return height_; }
  // The root as of the last writeDirtyNodes(); stale while nodes are dirty.
  const Hash& root() const { return root_; }
  size_t cachedNodes() const { return cache_.size(); }

  ChunkEntry entry(uint64_t chunk);
  void entries(uint64_t first, uint64_t count, ChunkEntry* out);  // entries of chunks first … first+count-1
  void setEntries(uint64_t first, uint64_t count, const ChunkEntry* in);
  // Loads (and so verifies) the stored leaves that chunks first … end-1 fall in, so a damaged
  // leaf is found before a write changes anything.
  void loadLeaves(uint64_t first, uint64_t end);
  // Grows (new chunks are holes) or shrinks the tree to `chunkCount` chunks.
  void resize(uint64_t chunkCount);
  // Hashes and writes every changed node, deepest level first, and recomputes the root.
  void writeDirtyNodes();
  // Calls visit(level, index) for every node inside the file's range that is not stored (its parent
  // slot, or the root, is zero: an all-hole subtree), loading and so verifying every stored node on
  // the way. For `shield volume verify`: a node slot that is not stored must hold zeros on disk.
  // Only on a tree without unwritten changes.
  void forEachUnstoredNode(const std::function<void(unsigned level, uint64_t index)>& visit);

 private:
  struct Node {
    unsigned level = 0;
    uint64_t index = 0;
    bool dirty = false;
    unsigned cachedChildren = 0;
    bool referenced = true;  // CLOCK's second-chance bit
    std::list<Node*>::iterator ringPosition;
    std::array<uint8_t, kNodeBytes> bytes{};
  };

  static uint64_t cacheKey(unsigned level, uint64_t index) { return (uint64_t{level} << 56) | index; }
  Node* cached(unsigned level, uint64_t index);
  Node* cachedParent(const Node& node);
  Node& node(unsigned level, uint64_t index);  // verified and cached
  Node& insert(unsigned level, uint64_t index, bool dirty);
  // Calls visit(k, slot) for the entry slot of chunk first+k, k < count, leaf by leaf.
  template <typename Visit>
  void forEachEntrySlot(uint64_t first, uint64_t count, bool modify, Visit&& visit);
  void unlink(Node& node);  // out of the ring, keeping the clock hand valid
  void requireZeroPastEnd(Node& node);
  void evictIfFull(const Node* keep);
  void writeNode(Node& node);
  void drop(Node& node);
  void dropAll();

  const FileDescriptor& file_;
  const Geometry& geometry_;
  size_t capacity_;
  uint64_t chunks_ = 0;
  unsigned height_ = 0;
  Hash root_{};
  std::unordered_map<uint64_t, std::unique_ptr<Node>> cache_;
  // Eviction is CLOCK (second chance): a hit only sets a bit, no list work on the hot path. A node
  // with cached children is never evicted, so a cached node always has its ancestors cached.
  std::list<Node*> ring_;
  std::list<Node*>::iterator hand_ = ring_.end();
};

}  // namespace shieldfs
