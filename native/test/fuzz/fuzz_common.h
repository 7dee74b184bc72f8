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
//
// fuzz_undo_journal input: one flags byte, then the bytes of an undo journal, rolled back over the
// small volume resetFuzzVolume() lays out (journal at <dir>/journal, volume directory <dir>/volume).
//   bit 0  re-seal the journal under kFuzzKey before reading it: the header MAC and the MAC chain of
//          the records, as far as their length fields lay them out, so mutations get past the MACs
//          and exercise the checks of the records themselves and the restoring
#pragma once

#include <sys/stat.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

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

// The volume a fuzzed journal is rolled back over: <dir>/volume/{a, d/b}, a backup the journal may
// name (<dir>/journal.backup-0) and a file outside the volume that must never change (<dir>/outside).
inline void resetFuzzVolume(const std::string& dir) {
  std::error_code ec;
  std::filesystem::remove_all(dir + "/volume", ec);
  std::filesystem::create_directories(dir + "/volume/d");
  auto put = [](const std::string& path, size_t size, uint8_t seed) {
    std::vector<uint8_t> bytes(size);
    for (size_t i = 0; i < size; i++) bytes[i] = static_cast<uint8_t>(seed + i * 31);
    FILE* f = std::fopen(path.c_str(), "wb");
    if (!f) std::abort();
    if (size && std::fwrite(bytes.data(), 1, size, f) != size) std::abort();
    std::fclose(f);
  };
  put(dir + "/volume/a", 8192, 1);
  put(dir + "/volume/d/b", 100, 2);
  put(dir + "/journal.backup-0", 50, 3);
  put(dir + "/outside", 64, 4);
}

enum Flags : uint8_t {
  kReseal = 1,
  kReadWrite = 2,
  kTinyCache = 4,
  kExpectTag = 8,
  kWrongTag = 16,
  kTinyBudget = 32,
};

enum JournalFlags : uint8_t {
  kResealJournal = 1,
};

}  // namespace shieldfuzz
