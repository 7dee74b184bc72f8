#include "format.h"

#include <algorithm>
#include <cstring>
#include <string>

#include "shield_error.h"

namespace shieldfs {
namespace {

constexpr char kMagic[8] = {'S', 'H', 'I', 'E', 'L', 'D', 'F', 'S'};

void putU64(uint8_t* p, uint64_t v) {
  for (int i = 0; i < 8; i++) p[i] = static_cast<uint8_t>(v >> (8 * i));
}
uint64_t getU64(const uint8_t* p) {
  uint64_t v = 0;
  for (int i = 7; i >= 0; i--) v = (v << 8) | p[i];
  return v;
}

[[noreturn]] void malformed(const char* path, const std::string& what) {
  throw ShieldError(kIntegrity,
                    std::string("EINTEGRITY: header of '") + path + "' is not a valid shieldfs v1 header (" + what +
                        "); the file is corrupted or not a shielded file",
                    0, "open", path);
}

}  // namespace

bool ChunkEntry::isHole() const { return allZero(nonce.data(), nonce.size()) && allZero(tag.data(), tag.size()); }

void Header::encode(uint8_t out[kHeaderUsedBytes]) const {
  std::memset(out, 0, kHeaderUsedBytes);
  std::memcpy(out, kMagic, 8);
  out[8] = kFormatVersion & 0xff;
  out[9] = kFormatVersion >> 8;
  out[10] = chunkShift;
  out[11] = height;
  std::memcpy(out + 16, fileId.data(), kIdBytes);
  std::memcpy(out + 32, keyId.data(), kIdBytes);
  std::memcpy(out + 48, checkSalt.data(), kIdBytes);
  std::memcpy(out + 64, keyCheck.data(), kKeyCheckBytes);
  std::memcpy(out + 80, sizeNonce.data(), kIdBytes);
  putU64(out + 96, sealedSize);
  putU64(out + 104, encryptions);
  putU64(out + 112, generation);
  std::memcpy(out + 120, root.data(), kHashBytes);
  std::memcpy(out + kHeaderMacOffset, mac.data(), kHashBytes);
}

Header Header::decode(const uint8_t* block, size_t len, const char* path) {
  if (len < kHeaderBlockBytes) malformed(path, "shorter than 4096 bytes");
  if (std::memcmp(block, kMagic, 8) != 0) malformed(path, "bad magic");
  uint16_t version = static_cast<uint16_t>(block[8] | (block[9] << 8));
  if (version != kFormatVersion) malformed(path, "unsupported version " + std::to_string(version));
  Header h;
  h.chunkShift = block[10];
  h.height = block[11];
  if (h.chunkShift < kMinChunkShift || h.chunkShift > kMaxChunkShift) malformed(path, "bad chunk size");
  if (h.height > kMaxHeight) malformed(path, "bad tree height");
  if (!allZero(block + 12, 4)) malformed(path, "reserved bytes set");
  if (!allZero(block + kHeaderUsedBytes, kHeaderBlockBytes - kHeaderUsedBytes)) malformed(path, "padding bytes set");
  std::memcpy(h.fileId.data(), block + 16, kIdBytes);
  std::memcpy(h.keyId.data(), block + 32, kIdBytes);
  std::memcpy(h.checkSalt.data(), block + 48, kIdBytes);
  std::memcpy(h.keyCheck.data(), block + 64, kKeyCheckBytes);
  std::memcpy(h.sizeNonce.data(), block + 80, kIdBytes);
  h.sealedSize = getU64(block + 96);
  h.encryptions = getU64(block + 104);
  h.generation = getU64(block + 112);
  std::memcpy(h.root.data(), block + 120, kHashBytes);
  std::memcpy(h.mac.data(), block + kHeaderMacOffset, kHashBytes);
  return h;
}

void Header::checkSize(const char* path) const {
  const Geometry geometry(chunkShift);
  if (size > geometry.maxFileSize()) malformed(path, "size too large");
  const uint64_t chunks = geometry.chunkCount(size);
  if (height != Geometry::heightFor(chunks)) malformed(path, "tree height does not match the size");
  // The root's unused bytes are zero: all of it for an empty file, the last 4 when it holds an entry.
  const size_t rootUsed = chunks == 0 ? 0 : (height == 0 ? kEntryBytes : kHashBytes);
  if (!allZero(root.data() + rootUsed, kHashBytes - rootUsed)) malformed(path, "root padding set");
}

uint64_t sizeMask(const uint8_t headerKey[kKeyBytes], const FileId& sizeNonce) {
  static constexpr char kLabel[] = "shieldfs/v1 size";
  uint8_t input[sizeof kLabel - 1 + kIdBytes];
  std::memcpy(input, kLabel, sizeof kLabel - 1);
  std::memcpy(input + sizeof kLabel - 1, sizeNonce.data(), kIdBytes);
  uint8_t mac[kHashBytes];
  hmacSha256(headerKey, kKeyBytes, input, sizeof input, mac);
  return getU64(mac);
}

Geometry::Geometry(unsigned chunkShift) : shift_(chunkShift) {
  subtreeBytes_[0] = chunkSize();
  subtreeBytes_[1] = kNodeBytes + kLeafFanout * chunkSize();
  for (unsigned l = 2; l < subtreeBytes_.size(); l++) subtreeBytes_[l] = kNodeBytes + kInnerFanout * subtreeBytes_[l - 1];
}

uint64_t Geometry::capacity(unsigned height) {
  if (height == 0) return 1;
  uint64_t c = kLeafFanout;
  for (unsigned l = 1; l < height; l++) c *= kInnerFanout;
  return c;
}

unsigned Geometry::heightFor(uint64_t chunks) {
  unsigned h = 0;
  while (chunks > capacity(h)) h++;
  return h;
}

uint64_t Geometry::maxFileSize() const {
  // At most half the chunk key's nonce budget, so a re-key (which seals every chunk once) always
  // leaves room for the write that triggered it (FORMAT.md, "Nonces and the key budget").
  uint64_t chunks = std::min(capacity(kMaxHeight), kMaxChunks);
  uint64_t limit = uint64_t{1} << 62;
  return chunks > (limit >> shift_) ? limit : chunks << shift_;
}

uint64_t Geometry::childOffset(unsigned level, uint64_t child) const {
  return child == 0 ? 0 : kNodeBytes + child * subtreeBytes_[level - 1];
}

uint64_t Geometry::subtreeStart(unsigned level, uint64_t index) const {
  uint64_t offset = kHeaderBlockBytes;
  for (unsigned parent = level + 1; index != 0; parent++) {
    offset += childOffset(parent, index % kInnerFanout);
    index /= kInnerFanout;
  }
  return offset;
}

uint64_t Geometry::chunkOffset(uint64_t chunk) const {
  return subtreeStart(1, chunk / kLeafFanout) + childOffset(1, chunk % kLeafFanout);
}

uint64_t Geometry::nodeOffset(unsigned level, uint64_t index) const {
  return subtreeStart(level, index) + subtreeBytes_[level - 1];
}

uint64_t Geometry::physicalSize(uint64_t chunks) const {
  if (chunks == 0) return kHeaderBlockBytes;
  uint64_t end = chunkOffset(chunks - 1) + chunkSize();
  unsigned height = heightFor(chunks);
  for (unsigned l = 1; l <= height; l++) {
    uint64_t nodeEnd = nodeOffset(l, (chunks - 1) / capacity(l)) + kNodeBytes;
    if (nodeEnd > end) end = nodeEnd;
  }
  return end;
}

}  // namespace shieldfs
