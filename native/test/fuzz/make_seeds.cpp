// Writes seed corpora for the fuzz targets: real shielded files and undo journals made by the core
// with the fuzz key.
//   fuzz_seeds <header-corpus-dir> <file-corpus-dir> [<journal-corpus-dir>]
#include <fcntl.h>
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

#include "file_descriptor.h"
#include "format.h"
#include "fuzz/fuzz_common.h"
#include "shielded_file.h"
#include "undo_journal.h"

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

// An undo journal of a transaction over the fuzz volume (fuzz_common.h), as the journal target
// lays it out, left unfinished; returns its bytes.
template <typename Change>
std::vector<uint8_t> makeJournal(const std::string& scratchDir, Change change) {
  shieldfuzz::resetFuzzVolume(scratchDir);
  const std::string journalPath = scratchDir + "/journal", base = scratchDir + "/volume";
  UndoJournal::discard(journalPath);
  {
    UndoJournal journal(journalPath, base, shieldfuzz::fuzzKey(), {'s', 'e', 'e', 'd'});
    auto open = [&](const std::string& name) {
      FileDescriptor fd(FileDescriptor::openRaw(base + "/" + name, O_RDWR), base + "/" + name);
      fd.setJournal(&journal);
      return fd;
    };
    change(journal, open, base);
  }
  auto bytes = slurp(journalPath);
  UndoJournal::discard(journalPath);
  return bytes;
}

void writeJournalSeeds(const std::string& dir, const std::string& scratchDir) {
  std::filesystem::create_directories(dir);
  const std::vector<uint8_t> junk(6000, 0x5A);
  struct Seed {
    const char* name;
    std::vector<uint8_t> bytes;
  };
  std::vector<Seed> seeds;
  seeds.push_back({"begun", makeJournal(scratchDir, [](UndoJournal& j, auto&, const std::string&) { j.begin(); })});
  seeds.push_back({"overwrite", makeJournal(scratchDir, [&](UndoJournal&, auto& open, const std::string&) {
                     auto a = open("a");
                     a.writeAt(junk.data(), 3000, 100);
                     a.writeAt(junk.data(), 6000, 5000);  // past the end too
                   })});
  seeds.push_back({"shrink-grow", makeJournal(scratchDir, [&](UndoJournal&, auto& open, const std::string&) {
                     auto a = open("a");
                     auto b = open("d/b");
                     a.truncate(10);
                     b.truncate(20000);
                     b.writeAt(junk.data(), 10, 50);
                   })});
  seeds.push_back({"replaced", makeJournal(scratchDir, [&](UndoJournal& j, auto& open, const std::string& base) {
                     auto a = open("a");
                     a.writeAt(junk.data(), 20, 0);
                     j.preserveReplacement(base + "/a");
                     auto b = open("d/b");
                     b.writeAt(junk.data(), 5, 95);
                   })});
  int count = 0;
  for (const auto& s : seeds) {
    for (uint8_t flags : {uint8_t{0}, uint8_t{shieldfuzz::kResealJournal}}) {
      std::vector<uint8_t> input{flags};
      input.insert(input.end(), s.bytes.begin(), s.bytes.end());
      spit(dir + "/" + s.name + "-flags" + std::to_string(flags), input);
      count++;
    }
  }
  std::printf("wrote %d seeds to %s\n", count, dir.c_str());
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3 && argc != 4) {
    std::fprintf(stderr, "usage: %s <header-corpus-dir> <file-corpus-dir> [<journal-corpus-dir>]\n", argv[0]);
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
  if (argc == 4) {
    const std::string scratchDir = scratch + ".journal";
    writeJournalSeeds(argv[3], scratchDir);
    std::error_code ec;
    std::filesystem::remove_all(scratchDir, ec);
  }
  return 0;
}
