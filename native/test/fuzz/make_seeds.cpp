// Writes seed corpora for the fuzz targets: real shielded files made by the core with the fuzz key.
//   fuzz_seeds <header-corpus-dir> <file-corpus-dir>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "format.h"
#include "fuzz/fuzz_common.h"
#include "shielded_file.h"

using namespace shieldfs;

namespace {

std::vector<uint8_t> slurp(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::vector<uint8_t>(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

void spit(const std::string& path, const std::vector<uint8_t>& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
}

// Builds a shielded file by running `build` on it, returns its bytes.
template <typename Build>
std::vector<uint8_t> makeFile(const std::string& scratch, unsigned shift, Build build) {
  ::unlink(scratch.c_str());
  OpenOptions o;
  o.create = true;
  o.chunkShift = shift;
  {
    auto f = ShieldedFile::open(scratch, shieldfuzz::fuzzKey(), o);
    build(*f);
    f->close();
  }
  auto bytes = slurp(scratch);
  ::unlink(scratch.c_str());
  return bytes;
}

// The input form of a file for the kReseal flag: the size in clear in the sealed_size field
// (fuzz_common.h), unsealed here with the fuzz key.
std::vector<uint8_t> withClearSize(std::vector<uint8_t> bytes) {
  Header h = Header::decode(bytes.data(), bytes.size(), "seed");
  uint8_t headerKey[kKeyBytes];
  hkdfSha256(shieldfuzz::fuzzKey(), kKeyBytes, h.fileId.data(), h.fileId.size(), "shieldfs/v1 header key", headerKey,
             kKeyBytes);
  h.sealedSize ^= sizeMask(headerKey, h.sizeNonce);
  h.encode(bytes.data());
  return bytes;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: %s <header-corpus-dir> <file-corpus-dir>\n", argv[0]);
    return 2;
  }
  const std::string headerDir = argv[1], fileDir = argv[2];
  std::filesystem::create_directories(headerDir);
  std::filesystem::create_directories(fileDir);
  const std::string scratch = std::filesystem::temp_directory_path().string() + "/shieldfs-seed-" +
                              std::to_string(::getpid()) + ".shield";
  std::vector<uint8_t> text(3 * 4096 + 123);
  for (size_t i = 0; i < text.size(); i++) text[i] = static_cast<uint8_t>('a' + i % 26);

  struct Seed {
    const char* name;
    std::vector<uint8_t> bytes;
  };
  std::vector<Seed> seeds;
  seeds.push_back({"empty", makeFile(scratch, 12, [](ShieldedFile&) {})});
  seeds.push_back({"small", makeFile(scratch, 12, [&](ShieldedFile& f) { f.write(text.data(), 10, 0); })});
  seeds.push_back({"one-chunk", makeFile(scratch, 12, [&](ShieldedFile& f) { f.write(text.data(), 4096, 0); })});
  seeds.push_back({"three-chunks", makeFile(scratch, 12, [&](ShieldedFile& f) { f.write(text.data(), text.size(), 0); })});
  seeds.push_back({"holes", makeFile(scratch, 12, [&](ShieldedFile& f) {
                     f.write(text.data(), 5, 1);
                     f.write(text.data(), 5, 6 * 4096 + 9);
                   })});
  seeds.push_back({"truncated", makeFile(scratch, 12, [&](ShieldedFile& f) {
                     f.write(text.data(), text.size(), 0);
                     f.truncate(4096 + 7);
                   })});
  seeds.push_back({"shift13", makeFile(scratch, 13, [&](ShieldedFile& f) { f.write(text.data(), text.size(), 100); })});

  int count = 0;
  for (const auto& s : seeds) {
    spit(headerDir + "/" + s.name, std::vector<uint8_t>(s.bytes.begin(), s.bytes.begin() + kHeaderBlockBytes));
    count++;
    for (uint8_t flags : {uint8_t{0}, uint8_t{shieldfuzz::kReseal},
                          uint8_t{shieldfuzz::kReseal | shieldfuzz::kReadWrite | shieldfuzz::kTinyCache},
                          uint8_t{shieldfuzz::kReadWrite | shieldfuzz::kExpectTag},
                          uint8_t{shieldfuzz::kReseal | shieldfuzz::kReadWrite | shieldfuzz::kTinyBudget}}) {
      std::vector<uint8_t> input;
      input.push_back(flags);
      const std::vector<uint8_t> file = (flags & shieldfuzz::kReseal) ? withClearSize(s.bytes) : s.bytes;
      input.insert(input.end(), file.begin(), file.end());
      spit(fileDir + "/" + s.name + "-flags" + std::to_string(flags), input);
      count++;
    }
  }
  std::printf("wrote %d seeds to %s and %s\n", count, headerDir.c_str(), fileDir.c_str());
  return 0;
}
