// libFuzzer target: arbitrary bytes written as a file, then opened and read (and optionally written)
// through ShieldedFile. Whatever the bytes, the core may only ever fail with a ShieldError; any other
// exception escapes LLVMFuzzerTestOneInput and terminates (a crash libFuzzer reports), as do memory
// errors and undefined behaviour (ASan + UBSan).
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "crypto.h"
#include "format.h"
#include "fuzz_common.h"
#include "shield_error.h"
#include "shielded_file.h"

using namespace shieldfs;
using namespace shieldfuzz;

namespace {

const std::string& workPath() {
  static const std::string path = [] {
    const char* base = std::getenv("TMPDIR");
    std::string tmpl = std::string(base && *base ? base : "/tmp") + "/shieldfs-fuzz-XXXXXX";
    std::vector<char> buf(tmpl.begin(), tmpl.end());
    buf.push_back('\0');
    if (!::mkdtemp(buf.data())) std::abort();
    std::string dir = buf.data();
    return dir + "/fuzzed.shield";
  }();
  static const bool cleanupRegistered = [] {
    std::atexit([] {
      std::error_code ec;
      std::filesystem::remove_all(std::filesystem::path(workPath()).parent_path(), ec);
    });
    return true;
  }();
  (void)cleanupRegistered;
  return path;
}

void writeFile(const std::string& path, const uint8_t* data, size_t size) {
  ::unlink(path.c_str());
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) std::abort();
  size_t done = 0;
  while (done < size) {
    ssize_t n = ::write(fd, data + done, size - done);
    if (n <= 0) std::abort();
    done += static_cast<size_t>(n);
  }
  ::close(fd);
}

// Makes the header authentic under the fuzz key (FORMAT.md "Keys" / "Header block"), as
// ShieldedFile::sealHeader does: the clear size the input carries in sealed_size is sealed with the
// mask of the header's size_nonce, then the key check and the MAC are computed.
void reseal(std::vector<uint8_t>& file) {
  if (file.size() < kHeaderBlockBytes) return;
  Header h;
  try {
    h = Header::decode(file.data(), file.size(), "fuzz");
  } catch (const ShieldError&) {
    return;
  }
  const uint8_t* key = fuzzKey();
  hkdfSha256(key, kKeyBytes, h.checkSalt.data(), h.checkSalt.size(), "shieldfs/v1 key check", h.keyCheck.data(),
             h.keyCheck.size());
  uint8_t headerKey[kKeyBytes];
  hkdfSha256(key, kKeyBytes, h.fileId.data(), h.fileId.size(), "shieldfs/v1 header key", headerKey, kKeyBytes);
  h.size = h.sealedSize;  // in clear in the fuzz input (fuzz_common.h)
  h.sealedSize = h.size ^ sizeMask(headerKey, h.sizeNonce);
  uint8_t bytes[kHeaderUsedBytes];
  h.encode(bytes);
  hmacSha256(headerKey, kKeyBytes, bytes, kHeaderMacOffset, h.mac.data());
  h.encode(file.data());
}

void exercise(const std::string& path, uint8_t flags, const uint8_t* storedMac) {
  OpenOptions o;
  o.readOnly = !(flags & kReadWrite);
  if (flags & kTinyCache) o.cacheBytes = 0;
  if (flags & kTinyBudget) o.keyBudget = 1;
  if ((flags & kExpectTag) && storedMac) {
    Hash tag;
    std::memcpy(tag.data(), storedMac, tag.size());
    if (flags & kWrongTag) tag[0] ^= 1;
    o.expectedTag = tag;
  }
  std::unique_ptr<ShieldedFile> f;
  try {
    f = ShieldedFile::open(path, fuzzKey(), o);
  } catch (const ShieldError&) {
    return;
  }
  const uint64_t size = f->size();
  const uint64_t C = f->chunkSize();
  // The on-disk length was checked against the authenticated size, so this stays small.
  const size_t len = static_cast<size_t>(std::min<uint64_t>(size, 4u << 20));
  std::vector<uint8_t> buf(len + 1);
  try {
    f->read(buf.data(), len, 0);
  } catch (const ShieldError&) {
  }
  for (uint64_t pos = 0; pos < size && pos < (4u << 20); pos += C) {  // chunk by chunk, unaligned
    try {
      f->read(buf.data(), std::min<uint64_t>(C, len), pos + (pos ? 1 : 0));
    } catch (const ShieldError&) {
    }
  }
  if (flags & kReadWrite) {
    const uint8_t data[7] = {1, 2, 3, 4, 5, 6, 7};
    try {
      f->write(data, sizeof data, size / 2);
    } catch (const ShieldError&) {
    }
    try {
      f->truncate(size / 3 + 1);
    } catch (const ShieldError&) {
    }
    try {
      f->write(data, sizeof data, size + C + 3);
    } catch (const ShieldError&) {
    }
    try {
      f->flush();
    } catch (const ShieldError&) {
    }
  }
  try {
    f->close();
  } catch (const ShieldError&) {
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const uint8_t flags = data[0];
  std::vector<uint8_t> file(data + 1, data + size);
  if (flags & kReseal) reseal(file);
  const std::string& path = workPath();
  writeFile(path, file.data(), file.size());
  exercise(path, flags, file.size() >= kHeaderUsedBytes ? file.data() + kHeaderMacOffset : nullptr);
  return 0;
}
