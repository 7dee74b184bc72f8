// libFuzzer target: arbitrary bytes as an undo journal, read with UndoJournal::readContext and rolled
// back with UndoJournal::rollBack over a small volume (fuzz_common.h). Whatever the bytes:
//   - both may only fail with a ShieldError, and they agree on whether the header is damaged;
//   - nothing outside the volume directory changes;
//   - a rollback that succeeded, run again, leaves every file exactly as the first one did.
// Memory errors and undefined behaviour are crashes too (ASan + UBSan). The work directory is on
// /dev/shm when there is one: rollBack syncs every file it touches.
#include <fcntl.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "crypto.h"
#include "fuzz_common.h"
#include "shield_error.h"
#include "undo_journal.h"

using namespace shieldfs;
using namespace shieldfuzz;

namespace {

const std::string& workDirectory() {
  // The name also lives in a plain array: the exit handler that removes the directory runs after
  // the string below has been destroyed.
  static char name[4096];
  static const std::string dir = [] {
    const char* base = std::getenv("TMPDIR");
    std::string root = std::filesystem::is_directory("/dev/shm") && ::access("/dev/shm", W_OK) == 0
                           ? "/dev/shm"
                           : std::string(base && *base ? base : "/tmp");
    std::string tmpl = root + "/shieldfs-fuzz-journal-XXXXXX";
    if (tmpl.size() >= sizeof name) std::abort();
    std::memcpy(name, tmpl.c_str(), tmpl.size() + 1);
    if (!::mkdtemp(name)) std::abort();
    std::atexit([] {
      std::error_code ec;
      std::filesystem::remove_all(name, ec);
    });
    return std::string(name);
  }();
  return dir;
}

uint32_t u32(const uint8_t* p) { return p[0] | p[1] << 8 | p[2] << 16 | static_cast<uint32_t>(p[3]) << 24; }

// Recomputes the header MAC and the records' MAC chain (FORMAT.md "Undo journal") under the fuzz
// key, with the record boundaries the length fields give.
void reseal(std::vector<uint8_t>& journal) {
  if (journal.size() < 32) return;
  const uint32_t contextLength = u32(journal.data() + 28);
  if (contextLength > 4096 || journal.size() < 32 + contextLength + 32) return;
  uint8_t key[kKeyBytes];
  hkdfSha256(fuzzKey(), kKeyBytes, journal.data() + 12, 16, "shieldfs undo journal v1", key, kKeyBytes);
  size_t position = 32 + contextLength;
  hmacSha256(key, kKeyBytes, journal.data(), position, journal.data() + position);
  std::vector<uint8_t> previous(journal.begin() + position, journal.begin() + position + 32);
  position += 32;
  while (position + 3 <= journal.size()) {
    const size_t pathLength = journal[position + 1] | journal[position + 2] << 8;
    if (position + 3 + pathLength + 12 > journal.size()) break;
    const uint64_t end = position + 3 + pathLength + 12 + uint64_t{u32(journal.data() + position + 3 + pathLength + 8)};
    if (end + 32 > journal.size()) break;
    std::vector<uint8_t> input(previous);
    input.insert(input.end(), journal.begin() + position, journal.begin() + end);
    hmacSha256(key, kKeyBytes, input.data(), input.size(), journal.data() + end);
    previous.assign(journal.begin() + end, journal.begin() + end + 32);
    position = end + 32;
  }
}

void writeFile(const std::string& path, const std::vector<uint8_t>& bytes) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) std::abort();
  size_t done = 0;
  while (done < bytes.size()) {
    ssize_t n = ::write(fd, bytes.data() + done, bytes.size() - done);
    if (n <= 0) std::abort();
    done += static_cast<size_t>(n);
  }
  ::close(fd);
}

// Every entry under `dir`: its type, size and first 64 KiB (rollBack may make files huge and sparse).
std::map<std::string, std::string> snapshot(const std::string& dir) {
  std::map<std::string, std::string> out;
  std::error_code ec;
  for (auto it = std::filesystem::recursive_directory_iterator(dir, ec);
       !ec && it != std::filesystem::recursive_directory_iterator(); it.increment(ec)) {
    const std::string name = it->path().string();
    if (!it->is_regular_file()) {
      out[name] = "directory or other";
      continue;
    }
    std::string content = "size " + std::to_string(it->file_size()) + ":";
    int fd = ::open(name.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) std::abort();
    char buf[65536];
    ssize_t n = ::pread(fd, buf, sizeof buf, 0);
    ::close(fd);
    if (n > 0) content.append(buf, static_cast<size_t>(n));
    out[name] = content;
  }
  return out;
}

std::string fileContent(const std::string& path) {
  std::string out;
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return "missing";
  char buf[4096];
  ssize_t n;
  while ((n = ::read(fd, buf, sizeof buf)) > 0) out.append(buf, static_cast<size_t>(n));
  ::close(fd);
  return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const std::string& dir = workDirectory();
  const std::string journalPath = dir + "/journal", base = dir + "/volume";
  std::vector<uint8_t> journal(data + 1, data + size);
  if (data[0] & kResealJournal) reseal(journal);
  resetFuzzVolume(dir);
  writeFile(journalPath, journal);
  const std::string outside = fileContent(dir + "/outside");

  std::optional<std::string> contextError;
  std::optional<std::vector<uint8_t>> context;
  try {
    context = UndoJournal::readContext(journalPath, fuzzKey());
  } catch (const ShieldError& e) {
    if (e.code() != kIntegrity) std::abort();  // a file that exists and is readable: only damage
    contextError = e.code();
  }
  std::optional<std::map<std::string, std::string>> once;
  try {
    const std::vector<uint8_t> back = UndoJournal::rollBack(journalPath, base, fuzzKey());
    if (contextError) std::abort();                             // rollBack accepted a damaged header
    if (back != context.value_or(std::vector<uint8_t>{})) std::abort();  // another context
    once = snapshot(base);
  } catch (const ShieldError& e) {
    // Damage found by both, or a file the records name that cannot be restored (a directory in its
    // place, a length past what the file system allows).
    if (contextError && e.code() != kIntegrity) std::abort();
  }
  if (fileContent(dir + "/outside") != outside) std::abort();  // changed a file outside the volume
  if (once) {
    try {
      UndoJournal::rollBack(journalPath, base, fuzzKey());
    } catch (const ShieldError&) {
      std::abort();  // the first rollBack succeeded: the same one must succeed again
    }
    if (snapshot(base) != *once) std::abort();  // rolling back twice differs from once
  }
  UndoJournal::discard(journalPath);
  return 0;
}
