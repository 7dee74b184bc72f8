// The on-disk format of FORMAT.md in code: constants, the header block and the layout arithmetic.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

#include "crypto.h"

namespace shieldfs {

inline constexpr uint16_t kFormatVersion = 1;
inline constexpr size_t kHeaderBlockBytes = 4096;
inline constexpr size_t kHeaderUsedBytes = 184;
inline constexpr size_t kHeaderMacOffset = 152;
inline constexpr size_t kNodeBytes = 4096;
inline constexpr size_t kEntryBytes = kNonceBytes + kGcmTagBytes;  // 28
inline constexpr uint64_t kLeafFanout = 146;                        // entries per leaf node
inline constexpr uint64_t kInnerFanout = 128;                       // child hashes per inner node
inline constexpr unsigned kMaxHeight = 5;
inline constexpr uint64_t kKeyBudget = uint64_t{1} << 32;   // chunk encryptions per chunk key
inline constexpr uint64_t kMaxChunks = kKeyBudget / 2;      // chunks in the largest file
inline constexpr unsigned kMinChunkShift = 12;
inline constexpr unsigned kMaxChunkShift = 20;
inline constexpr unsigned kDefaultChunkShift = 12;
inline constexpr size_t kIdBytes = 16;
inline constexpr size_t kKeyCheckBytes = 16;
inline constexpr size_t kAadBytes = kIdBytes + 8;

using FileId = std::array<uint8_t, kIdBytes>;

// True when every byte is zero: holes, zero subtrees, padding and past-the-end bytes (FORMAT.md).
inline bool allZero(const uint8_t* bytes, size_t len) {
  uint8_t any = 0;
  for (size_t i = 0; i < len; i++) any |= bytes[i];
  return any == 0;
}
using Hash = std::array<uint8_t, kHashBytes>;

// One chunk's leaf entry: the nonce and GCM tag it was sealed with. All zero means a hole.
struct ChunkEntry {
  std::array<uint8_t, kNonceBytes> nonce{};
  std::array<uint8_t, kGcmTagBytes> tag{};
  bool isHole() const;
};

struct Header {
  uint8_t chunkShift = kDefaultChunkShift;
  uint8_t height = 0;
  FileId fileId{};
  FileId keyId{};
  std::array<uint8_t, kIdBytes> checkSalt{};
  std::array<uint8_t, kKeyCheckBytes> keyCheck{};
  FileId sizeNonce{};       // fresh for every header written
  uint64_t sealedSize = 0;  // size XOR sizeMask(header key, sizeNonce): the exact size stays secret
  uint64_t size = 0;        // plaintext size (not stored as such)
  uint64_t encryptions = 0;
  uint64_t generation = 0;
  Hash root{};
  Hash mac{};

  // Writes bytes 0..183 (sealedSize and mac as stored in the struct); the rest of the block stays as is.
  void encode(uint8_t out[kHeaderUsedBytes]) const;
  // Parses and bounds-checks a whole header block. Throws EINTEGRITY for anything malformed that
  // can be seen without the key; the MAC and the size (sealed) are checked by the caller.
  static Header decode(const uint8_t* block, size_t len, const char* path);
  // Checks what needs the plaintext size: the size limit, the height, the root's unused bytes.
  void checkSize(const char* path) const;
};

// Where chunks and nodes live in the file (FORMAT.md, "Layout").
// The 8-byte mask that hides the exact size: HMAC-SHA256(header_key, "shieldfs/v1 size" ‖ size_nonce).
uint64_t sizeMask(const uint8_t headerKey[kKeyBytes], const FileId& sizeNonce);

class Geometry {
 public:
  explicit Geometry(unsigned chunkShift);

  unsigned chunkShift() const { return shift_; }
  uint64_t chunkSize() const { return uint64_t{1} << shift_; }
  uint64_t chunkCount(uint64_t size) const { return (size + chunkSize() - 1) >> shift_; }
  uint64_t maxFileSize() const;
  static uint64_t capacity(unsigned height);  // chunks covered by a tree of this height
  static unsigned heightFor(uint64_t chunks);

  uint64_t chunkOffset(uint64_t chunk) const;
  uint64_t nodeOffset(unsigned level, uint64_t index) const;
  uint64_t physicalSize(uint64_t chunks) const;

 private:
  uint64_t subtreeStart(unsigned level, uint64_t index) const;
  uint64_t childOffset(unsigned level, uint64_t child) const;

  unsigned shift_;
  std::array<uint64_t, kMaxHeight + 2> subtreeBytes_{};  // T(l) of FORMAT.md
};

}  // namespace shieldfs
