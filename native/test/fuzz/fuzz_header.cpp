// libFuzzer target: Header::decode on arbitrary bytes. It must either throw a ShieldError with code
// EINTEGRITY or return a header that encodes back to exactly the bytes it came from; then
// Header::checkSize on a size taken from the sealed_size bytes must either refuse with EINTEGRITY or
// accept a size, height and layout that add up.
#include <cstdint>
#include <cstdlib>
#include <cstring>

#include "format.h"
#include "shield_error.h"

using namespace shieldfs;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  Header h;
  try {
    h = Header::decode(data, size, "fuzz-input");
  } catch (const ShieldError& e) {
    if (e.code() != kIntegrity) std::abort();
    return 0;
  }
  if (size < kHeaderBlockBytes) std::abort();  // accepted a short block
  uint8_t again[kHeaderUsedBytes];
  h.encode(again);
  if (std::memcmp(again, data, kHeaderUsedBytes) != 0) std::abort();  // lossy round trip
  for (size_t i = kHeaderUsedBytes; i < kHeaderBlockBytes; i++)
    if (data[i] != 0) std::abort();  // accepted non-zero padding

  // The size is sealed; the fuzzer controls it directly through the sealed_size bytes here.
  // checkSize() may only refuse with EINTEGRITY; what it accepts must be a layout that adds up.
  h.size = h.sealedSize;
  try {
    h.checkSize("fuzz-input");
  } catch (const ShieldError& e) {
    if (e.code() != kIntegrity) std::abort();
    return 0;
  }
  Geometry g(h.chunkShift);
  if (h.size > g.maxFileSize()) std::abort();  // accepted a size past the largest file
  const uint64_t chunks = g.chunkCount(h.size);
  if (chunks > kMaxChunks) std::abort();
  const unsigned height = Geometry::heightFor(chunks);
  if (height != h.height || height > kMaxHeight) std::abort();  // accepted a height that does not match
  const uint64_t physical = g.physicalSize(chunks);
  if (physical < kHeaderBlockBytes) std::abort();
  if (chunks > 0) {
    if (g.chunkOffset(chunks - 1) + g.chunkSize() > physical) std::abort();
    for (unsigned l = 1; l <= height; l++)
      if (g.nodeOffset(l, (chunks - 1) / Geometry::capacity(l)) + kNodeBytes > physical) std::abort();
  }
  return 0;
}
