// Shared by the fuzz targets and the seed generator: the fixed key every fuzzed file is opened with,
// and the layout of a fuzz input for fuzz_shielded_file.
//
// fuzz_shielded_file input: one flags byte, then the bytes of the on-disk file.
//   bit 0  re-seal the header (key check, sealed size and MAC under kFuzzKey) before opening, so
//          mutations get past the MAC and exercise the size/height/length checks, the Merkle tree
//          and the chunks. With this bit the input's sealed_size field (bytes 96…103) holds the
//          plaintext size in clear: re-sealing stores it as size XOR size_mask (FORMAT.md "Header
//          block"), so the fuzzer mutates the size itself rather than a masked value
//   bit 1  open read-write and also write, truncate and flush
//   bit 2  smallest Merkle node cache (cacheBytes = 0)
//   bit 3  open with expectedTag = the stored mac (bit 4 set: a different tag -> EROLLBACK)
//   bit 5  tiny key budget (re-key on the first write)
#pragma once

#include <cstddef>
#include <cstdint>

namespace shieldfuzz {

inline const uint8_t* fuzzKey() {
  static uint8_t key[32];
  static bool init = false;
  if (!init) {
    for (int i = 0; i < 32; i++) key[i] = static_cast<uint8_t>(i * 7 + 3);
    init = true;
  }
  return key;
}

enum Flags : uint8_t {
  kReseal = 1,
  kReadWrite = 2,
  kTinyCache = 4,
  kExpectTag = 8,
  kWrongTag = 16,
  kTinyBudget = 32,
};

}  // namespace shieldfuzz
