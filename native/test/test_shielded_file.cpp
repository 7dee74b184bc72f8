// ShieldedFile against an in-memory model: random writes, reads, truncates, flushes and reopens at
// chunk shifts 12, 16 and 20; holes; the key budget / re-key path; the on-disk format checked by
// hand (FORMAT.md) from the test's own key derivation and Merkle verification.
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "crypto.h"
#include "format.h"
#include "harness.h"
#include "shield_error.h"
#include "shielded_file.h"
#include "test_util.h"

using namespace shieldfs;
using namespace shieldtest;

namespace {

void compareAll(ShieldedFile& f, const std::vector<uint8_t>& model, const std::string& when) {
  CHECK_MSG(f.size() == model.size(), when + ": size " + std::to_string(f.size()) + " vs model " +
                                          std::to_string(model.size()));
  std::vector<uint8_t> got(model.size() + 100, 0xCC);
  size_t n = f.read(got.data(), got.size(), 0);
  CHECK_MSG(n == model.size(), when + ": read returned " + std::to_string(n));
  if (std::memcmp(got.data(), model.data(), model.size()) != 0) {
    size_t i = 0;
    while (got[i] == model[i]) i++;
    FAIL(when + ": content differs from the model at byte " + std::to_string(i));
  }
  for (size_t i = model.size(); i < got.size(); i++) CHECK_MSG(got[i] == 0xCC, when + ": read wrote past its result");
}

// Picks positions and lengths that like chunk boundaries.
uint64_t pickPosition(Rng& rng, uint64_t limit, uint64_t C) {
  if (limit == 0) return 0;
  switch (rng.below(4)) {
    case 0: return rng.below(limit + 1);
    case 1: return std::min(limit, rng.below(limit / C + 1) * C);
    case 2: return std::min(limit, rng.below(limit / C + 1) * C + C - 1);
    default: return std::min(limit, rng.below(limit / C + 1) * C + rng.between(1, 64));
  }
}

uint64_t pickLength(Rng& rng, uint64_t C, uint64_t maxWrite) {
  switch (rng.below(7)) {
    case 0: return rng.between(1, 16);
    case 1: return rng.between(1, C);
    case 2: return C;
    case 3: return C + rng.below(2);  // C or C+1
    case 4: return rng.between(1, 4) * C + rng.below(2) * rng.between(1, C - 1);
    case 5: return rng.between(C, std::max(C, maxWrite));
    default: return rng.between(1, std::max<uint64_t>(3 * C, 1));
  }
}

struct ModelConfig {
  unsigned shift;
  uint64_t maxSize;    // model never grows beyond this
  uint64_t maxWrite;   // largest single write
  int operations;
  uint64_t seed;
  unsigned minHeight;  // the run must reach a tree at least this tall
  size_t cacheBytes = OpenOptions{}.cacheBytes;  // Merkle node cache of every open
};

void runModel(const ModelConfig& cfg) {
  TempDir dir;
  const std::string path = dir.file("model.shield");
  TestKey key(static_cast<uint8_t>(cfg.shift));
  Rng rng(cfg.seed);
  const uint64_t C = uint64_t{1} << cfg.shift;
  const Geometry g(cfg.shift);

  OpenOptions create = createOptions(cfg.shift);
  create.cacheBytes = cfg.cacheBytes;
  auto file = ShieldedFile::open(path, key.data(), create);
  CHECK_EQ(file->chunkSize(), C);
  const FileId fileId = file->fileId();
  std::vector<uint8_t> model;
  Hash tag = file->tag();
  // Sizes worth hitting: the height changes and chunk edges.
  const uint64_t cap1 = Geometry::capacity(1) * C;
  std::vector<uint64_t> special = {0, 1, C - 1, C, C + 1, 2 * C, cap1 - 1, cap1, cap1 + 1, cap1 + C + 1};

  unsigned maxHeight = 0;
  int reopens = 0;
  for (int op = 0; op < cfg.operations; op++) {
    const uint64_t kind = rng.below(100);
    const std::string when = "op " + std::to_string(op);
    // Twice per run, a write far enough out to make the tree cfg.minHeight tall.
    const bool forceHeight = cfg.minHeight > 0 && (op == cfg.operations / 4 || op == cfg.operations * 3 / 4);
    if (kind < 38 || forceHeight) {  // write
      uint64_t pos = pickPosition(rng, std::min<uint64_t>(cfg.maxSize - 1, model.size() + 3 * C), C);
      if (rng.chance(5)) pos = rng.below(cfg.maxSize);  // far away: leaves holes behind
      if (forceHeight) {
        const uint64_t from = Geometry::capacity(cfg.minHeight - 1) * C;
        CHECK(from < cfg.maxSize);
        pos = from + rng.below(cfg.maxSize - from);
      }
      uint64_t len = std::min<uint64_t>(pickLength(rng, C, cfg.maxWrite), cfg.maxSize - pos);
      auto data = rng.bytes(len);
      CHECK_EQ(file->write(data.data(), len, pos), len);
      if (model.size() < pos + len) model.resize(pos + len, 0);
      std::memcpy(model.data() + pos, data.data(), len);
    } else if (kind < 66) {  // read
      uint64_t pos = pickPosition(rng, model.size() + C, C);
      uint64_t len = pickLength(rng, C, cfg.maxWrite);
      std::vector<uint8_t> buf(len + 8, 0xAB);
      size_t got = file->read(buf.data(), len, pos);
      uint64_t expect = pos >= model.size() ? 0 : std::min<uint64_t>(len, model.size() - pos);
      CHECK_MSG(got == expect, when + ": read(" + std::to_string(pos) + ", " + std::to_string(len) + ") returned " +
                                   std::to_string(got) + ", expected " + std::to_string(expect));
      CHECK_MSG(expect == 0 || std::memcmp(buf.data(), model.data() + pos, expect) == 0,
                when + ": read(" + std::to_string(pos) + ", " + std::to_string(len) + ") content differs");
      for (size_t i = got; i < buf.size(); i++) CHECK_MSG(buf[i] == 0xAB, when + ": read wrote past its result");
    } else if (kind < 78) {  // truncate
      uint64_t size = rng.chance(40) ? special[rng.below(special.size())] : rng.below(std::min(cfg.maxSize, model.size() * 2 + 4 * C) + 1);
      size = std::min(size, cfg.maxSize);
      file->truncate(size);
      model.resize(size, 0);
    } else if (kind < 86) {  // flush
      Hash t = file->flush();
      CHECK(t == file->tag());
      Hash again = file->flush();  // nothing changed: same tag
      CHECK(again == t);
      tag = t;
    } else if (kind < 94) {  // close and reopen, sometimes with a tiny node cache
      tag = file->close();
      CHECK_EQ(fileSize(path), g.physicalSize(g.chunkCount(model.size())));
      EXPECT_SHIELD_ERROR("EBADF", file->read(nullptr, 0, 0); file->flush());
      file.reset();
      if (rng.chance(30)) {  // a read-only look first
        OpenOptions ro = reopenOptions(tag);
        ro.readOnly = true;
        auto reader = ShieldedFile::open(path, key.data(), ro);
        compareAll(*reader, model, when + " (read-only reopen)");
        CHECK(reader->close() == tag);
      }
      OpenOptions o = reopenOptions(tag);
      o.cacheBytes = rng.chance(50) ? 0 : cfg.cacheBytes;
      file = ShieldedFile::open(path, key.data(), o);
      CHECK(file->fileId() == fileId);
      CHECK(file->tag() == tag);
      CHECK_EQ(file->size(), model.size());
    } else {
      compareAll(*file, model, when);
    }
    CHECK_MSG(file->size() == model.size(), when + ": size " + std::to_string(file->size()) + " vs model " +
                                                std::to_string(model.size()));
    maxHeight = std::max(maxHeight, Geometry::heightFor(g.chunkCount(model.size())));
    reopens += !forceHeight && kind >= 86 && kind < 94;
  }
  CHECK_MSG(maxHeight >= cfg.minHeight, "the random run only reached height " + std::to_string(maxHeight));
  CHECK_MSG(reopens >= 3, "only " + std::to_string(reopens) + " reopens");
  compareAll(*file, model, "before close");
  tag = file->close();
  file.reset();
  CHECK_EQ(fileSize(path), g.physicalSize(g.chunkCount(model.size())));
  Header h = diskHeader(path, key.data());
  CHECK_EQ(h.size, model.size());
  CHECK_EQ(unsigned(h.height), Geometry::heightFor(g.chunkCount(model.size())));
  CHECK(h.mac == tag);
  auto again = ShieldedFile::open(path, key.data(), reopenOptions(tag));
  compareAll(*again, model, "after reopen");
  CHECK(again->close() == tag);  // nothing changed
}

}  // namespace

TEST(model_shift12) { runModel({12, 1600 * 1024, 300 * 1024, 2000, 12, 2}); }
TEST(model_shift16) { runModel({16, 11 * 1024 * 1024, 600 * 1024, 500, 16, 2}); }
// Height 3 (more than 146 * 128 chunks) with the smallest node cache: nodes are evicted (and dirty
// ones written back) all the time.
TEST(model_shift12_height3_tiny_cache) { runModel({12, 90u << 20, 64 * 1024, 300, 99, 3, 0}); }
TEST(model_shift20) { runModel({20, 6 * 1024 * 1024, 3 * 1024 * 1024, 160, 20, 1}); }

TEST(empty_file_life_cycle) {
  TempDir dir;
  const std::string path = dir.file("empty");
  TestKey key(1);
  auto f = ShieldedFile::open(path, key.data(), createOptions());
  CHECK_EQ(f->size(), 0u);
  CHECK_EQ(fileSize(path), 4096u);
  Hash created = f->tag();
  CHECK(f->flush() == created);  // nothing changed
  uint8_t b[4] = {1, 2, 3, 4};
  CHECK_EQ(f->read(b, 4, 0), 0u);
  CHECK_EQ(int(b[0]), 1);
  CHECK_EQ(f->write(b, 0, 100), 0u);  // zero-length write changes nothing
  CHECK(f->close() == created);
  f.reset();
  Header h = diskHeader(path, key.data());
  CHECK_EQ(h.size, 0u);
  CHECK_EQ(h.generation, 0u);
  CHECK_EQ(unsigned(h.height), 0u);
  for (auto x : h.root) CHECK_EQ(int(x), 0);
  auto again = ShieldedFile::open(path, key.data(), reopenOptions(created));
  CHECK_EQ(again->size(), 0u);
}

TEST(generation_counts_changing_flushes) {
  TempDir dir;
  const std::string path = dir.file("gen");
  TestKey key(2);
  auto f = ShieldedFile::open(path, key.data(), createOptions());
  uint8_t data[100] = {7};
  f->write(data, sizeof data, 0);
  Hash t1 = f->flush();
  CHECK_EQ(diskHeader(path).generation, 1u);
  CHECK(f->flush() == t1);
  CHECK_EQ(diskHeader(path).generation, 1u);
  f->write(data, sizeof data, 50);
  Hash t2 = f->flush();
  CHECK(!(t1 == t2));
  Header h = diskHeader(path, key.data());
  CHECK_EQ(h.generation, 2u);
  CHECK_EQ(h.size, 150u);
  CHECK_EQ(h.encryptions, 2u);
  CHECK(h.mac == t2);
}

TEST(holes_read_as_zero) {
  for (unsigned shift : {12u, 16u}) {
    TempDir dir;
    const std::string path = dir.file("holes");
    TestKey key(3);
    const uint64_t C = uint64_t{1} << shift;
    const Geometry g(shift);
    auto f = ShieldedFile::open(path, key.data(), createOptions(shift));
    std::vector<uint8_t> model;
    Rng rng(shift);
    auto put = [&](uint64_t pos, uint64_t len) {
      auto d = rng.bytes(len);
      f->write(d.data(), len, pos);
      if (model.size() < pos + len) model.resize(pos + len, 0);
      std::memcpy(model.data() + pos, d.data(), len);
    };
    put(10, 5);                   // chunk 0, with zeros before
    put(5 * C + 7, 3);            // chunks 1..4 are holes
    put(300 * C, C);              // height 2, leaf 1 and most of leaf 0 are holes
    compareAll(*f, model, "holes before flush");
    Hash t = f->close();
    f.reset();
    CHECK_EQ(fileSize(path), g.physicalSize(301));
    // Holes take no space (or little) on disk: the file is sparse where nothing was written
    // (checked only where the file system does sparse files at all).
    struct stat st;
    const std::string probe = dir.file("sparse-probe");
    writeWholeFile(probe, {});
    setFileLength(probe, 64u << 20);
    CHECK(::stat(probe.c_str(), &st) == 0);
    const bool sparseFs = st.st_blocks == 0;
    ::unlink(probe.c_str());
    CHECK(::stat(path.c_str(), &st) == 0);
    CHECK_MSG(!sparseFs || uint64_t(st.st_blocks) * 512 < fileSize(path) / 4, "file is not sparse");
    f = ShieldedFile::open(path, key.data(), reopenOptions(t));
    compareAll(*f, model, "holes after reopen");
    // Shrinking then growing again does not bring old bytes back.
    f->truncate(5 * C + 8);
    model.resize(5 * C + 8);
    f->truncate(400 * C + 3);
    model.resize(400 * C + 3, 0);
    compareAll(*f, model, "shrink + grow");
    f->truncate(12);
    model.resize(12);
    f->truncate(3 * C);
    model.resize(3 * C, 0);
    compareAll(*f, model, "shrink into chunk 0 + grow");
    t = f->close();
    f = ShieldedFile::open(path, key.data(), reopenOptions(t));
    compareAll(*f, model, "after second reopen");
    CHECK_EQ(fileSize(path), g.physicalSize(3));
  }
}

TEST(hole_slot_bytes_are_ignored) {
  // A hole's slot may hold anything on disk: its entry says "hole", so the bytes are never read.
  TempDir dir;
  const std::string path = dir.file("hole-garbage");
  TestKey key(4);
  const Geometry g(12);
  auto f = ShieldedFile::open(path, key.data(), createOptions());
  uint8_t one = 1;
  f->write(&one, 1, 10 * 4096);  // chunks 0..9 are holes
  Hash t = f->close();
  f.reset();
  std::vector<uint8_t> garbage(4096, 0x5A);
  rawWrite(path, g.chunkOffset(3), garbage.data(), garbage.size());
  f = ShieldedFile::open(path, key.data(), reopenOptions(t));
  std::vector<uint8_t> buf(4096, 1);
  CHECK_EQ(f->read(buf.data(), buf.size(), 3 * 4096), 4096u);
  for (auto b : buf) CHECK_EQ(int(b), 0);
}

TEST(large_writes_and_reads_span_windows_and_threads) {
  TempDir dir;
  const std::string path = dir.file("large");
  TestKey key(5);
  Rng rng(5);
  auto f = ShieldedFile::open(path, key.data(), createOptions(12));
  // 20 MiB + a bit: more than the 8 MiB write window, split over parallel parts.
  std::vector<uint8_t> model = rng.bytes((20u << 20) + 12345);
  CHECK_EQ(f->write(model.data() + 1000, model.size() - 1000, 1000), model.size() - 1000);
  std::memset(model.data(), 0, 1000);
  compareAll(*f, model, "large");
  std::vector<uint8_t> part(3u << 20);
  CHECK_EQ(f->read(part.data(), part.size(), 777777), part.size());
  CHECK(std::memcmp(part.data(), model.data() + 777777, part.size()) == 0);
  Hash t = f->close();
  f = ShieldedFile::open(path, key.data(), reopenOptions(t));
  compareAll(*f, model, "large after reopen");
}

TEST(open_errors) {
  TempDir dir;
  TestKey key(6);
  EXPECT_SHIELD_ERROR("ENOENT", ShieldedFile::open(dir.file("missing"), key.data(), OpenOptions{}));
  EXPECT_SHIELD_ERROR("EISDIR", ShieldedFile::open(dir.path(), key.data(), OpenOptions{}));
  OpenOptions bad = createOptions(11);
  EXPECT_SHIELD_ERROR("EINVAL", ShieldedFile::open(dir.file("bad"), key.data(), bad));
  bad.chunkShift = 21;
  EXPECT_SHIELD_ERROR("EINVAL", ShieldedFile::open(dir.file("bad"), key.data(), bad));

  const std::string path = dir.file("f");
  auto f = ShieldedFile::open(path, key.data(), createOptions(14));
  // The file is locked: another writer or reader is refused.
  EXPECT_SHIELD_ERROR("EBUSY", ShieldedFile::open(path, key.data(), OpenOptions{}));
  OpenOptions ro;
  ro.readOnly = true;
  EXPECT_SHIELD_ERROR("EBUSY", ShieldedFile::open(path, key.data(), ro));
  Hash t = f->close();
  f.reset();
  // Readers share.
  auto r1 = ShieldedFile::open(path, key.data(), ro);
  auto r2 = ShieldedFile::open(path, key.data(), ro);
  EXPECT_SHIELD_ERROR("EBUSY", ShieldedFile::open(path, key.data(), OpenOptions{}));
  uint8_t b = 0;
  EXPECT_SHIELD_ERROR("EBADF", r1->write(&b, 1, 0));
  EXPECT_SHIELD_ERROR("EBADF", r1->truncate(0));
  CHECK(r1->close() == t);
  CHECK(r2->close() == t);
  r1.reset();
  r2.reset();
  // The chunk size is fixed at creation.
  OpenOptions other;
  other.chunkShift = 12;
  EXPECT_SHIELD_ERROR("EINVAL", ShieldedFile::open(path, key.data(), other));
  other.chunkShift = 14;
  auto f2 = ShieldedFile::open(path, key.data(), other);
  CHECK_EQ(f2->chunkSize(), 1u << 14);
  // create=true on an existing file opens it.
  f2->close();
  f2.reset();
  auto f3 = ShieldedFile::open(path, key.data(), createOptions(0));
  CHECK(f3->tag() == t);
  // Past the largest file size.
  EXPECT_SHIELD_ERROR("EFBIG", f3->truncate(Geometry(14).maxFileSize() + 1));
  EXPECT_SHIELD_ERROR("EFBIG", f3->write(&b, 1, Geometry(14).maxFileSize()));
  f3->close();
  EXPECT_SHIELD_ERROR("EBADF", f3->write(&b, 1, 0));
  EXPECT_SHIELD_ERROR("EBADF", f3->close());
}

// ---------------------------------------------------------------------------------------------
// Key budget
// ---------------------------------------------------------------------------------------------

TEST(rekey_with_small_budget) {
  TempDir dir;
  const std::string path = dir.file("rekey");
  TestKey key(7);
  Rng rng(7);
  const uint64_t C = 4096;
  OpenOptions o = createOptions(12);
  o.keyBudget = 10;
  auto f = ShieldedFile::open(path, key.data(), o);
  std::vector<uint8_t> model;
  FileId firstKey = f->keyId();
  int keyChanges = 0;
  FileId lastKey = firstKey;
  for (int i = 0; i < 60; i++) {
    // At most 5 chunks in the file and 3 per write: a fresh key always has room for the write.
    uint64_t pos = rng.below(5 * C - 1), len = std::min(rng.between(1, 2 * C), 5 * C - pos);
    auto d = rng.bytes(len);
    CHECK_EQ(f->write(d.data(), len, pos), len);
    if (model.size() < pos + len) model.resize(pos + len, 0);
    std::memcpy(model.data() + pos, d.data(), len);
    CHECK_MSG(f->encryptions() <= 10, "encryptions " + std::to_string(f->encryptions()) + " past the budget");
    if (!(f->keyId() == lastKey)) {
      keyChanges++;
      lastKey = f->keyId();
    }
    if (i % 7 == 0) compareAll(*f, model, "rekey write " + std::to_string(i));
    if (i % 13 == 0) f->flush();
  }
  CHECK_MSG(keyChanges >= 3, "only " + std::to_string(keyChanges) + " re-keys");
  Hash t = f->close();
  f.reset();
  // No temporary files are left behind.
  auto names = dir.entries();
  CHECK_MSG(names.size() == 1, "leftover files next to the shielded file: " + std::to_string(names.size()));
  Header h = diskHeader(path);
  CHECK(h.keyId == lastKey);
  CHECK(!(h.keyId == firstKey));
  CHECK(h.encryptions <= 10);
  auto again = ShieldedFile::open(path, key.data(), reopenOptions(t));
  compareAll(*again, model, "after rekey reopen");
  CHECK(again->keyId() == lastKey);
}

TEST(rekey_multi_level_file_with_holes) {
  TempDir dir;
  const std::string path = dir.file("rekey2");
  TestKey key(8);
  Rng rng(8);
  const uint64_t C = 4096;
  std::vector<uint8_t> model;
  auto put = [&](ShieldedFile& f, uint64_t pos, uint64_t len) {
    auto d = rng.bytes(len);
    f.write(d.data(), len, pos);
    if (model.size() < pos + len) model.resize(pos + len, 0);
    std::memcpy(model.data() + pos, d.data(), len);
  };
  auto f = ShieldedFile::open(path, key.data(), createOptions(12));
  for (uint64_t chunk : {0u, 1u, 145u, 146u, 300u, 600u}) put(*f, chunk * C + 5, 100);
  Hash t = f->close();
  f.reset();
  OpenOptions o = reopenOptions(t);
  o.keyBudget = 2 * 601 + 2;  // the file spans 601 chunks (mostly holes); re-keys seal only stored ones
  o.cacheBytes = 0;
  f = ShieldedFile::open(path, key.data(), o);
  FileId before = f->keyId();
  const uint64_t chunks[] = {0, 1, 2, 145, 146, 147, 300, 450, 599, 600};
  for (int i = 0; i < 1300; i++) put(*f, chunks[rng.below(10)] * C + rng.below(C - 50), rng.between(1, 50));
  CHECK(!(f->keyId() == before));
  compareAll(*f, model, "after rekeys");
  t = f->close();
  f = ShieldedFile::open(path, key.data(), reopenOptions(t));
  compareAll(*f, model, "reopened");
  CHECK_EQ(fileSize(path), Geometry(12).physicalSize(Geometry(12).chunkCount(model.size())));
}

// FORMAT.md: no chunk key ever passes its budget. Real files have at most half the budget in
// chunks, so a re-key always leaves room; a (test-only) budget below that refuses the write with
// EFBIG instead of passing the bound.
TEST(budget_holds_when_file_has_more_chunks_than_budget) {
  TempDir dir;
  const std::string path = dir.file("big-vs-budget");
  TestKey key(13);
  std::vector<uint8_t> data(12 * 4096, 0x33);
  Hash t;
  {
    auto f = ShieldedFile::open(path, key.data(), createOptions(12));
    f->write(data.data(), data.size(), 0);
    t = f->close();
  }
  OpenOptions o = reopenOptions(t);
  o.keyBudget = 10;
  auto f = ShieldedFile::open(path, key.data(), o);
  uint8_t b = 1;
  EXPECT_SHIELD_ERROR("EFBIG", f->write(&b, 1, 0));
  CHECK_EQ(f->encryptions(), uint64_t{12});  // nothing more was sealed under any key
  std::vector<uint8_t> back(data.size());
  CHECK_EQ(f->read(back.data(), back.size(), 0), back.size());
  CHECK(back == data);
}

// A re-key builds the re-keyed file beside the committed one and renames it into place only at the
// next flush. When truncate() shrinks the file to a size inside a chunk, it re-seals that chunk, which
// may re-key; if the process then dies without a flush, the committed file is untouched: it opens at
// its last tag with all of its content (the unfinished re-keyed file is left beside it).
TEST(rekey_during_truncate_commits_consistent_file) {
  TempDir dir;
  const std::string path = dir.file("rekey-truncate");
  TestKey key(9);
  const uint64_t C = 4096;
  std::vector<uint8_t> data(300 * C, 0x42);
  Hash committed;
  {
    auto f = ShieldedFile::open(path, key.data(), createOptions(12));
    f->write(data.data(), data.size(), 0);
    f->write(data.data(), data.size(), 0);  // 600 encryptions under the first key
    committed = f->close();
  }
  pid_t child = ::fork();
  if (child == 0) {
    int code = 0;
    try {
      OpenOptions o;
      o.keyBudget = 600;  // 600 chunks sealed so far: the re-seal of the new last chunk re-keys first
      auto f = ShieldedFile::open(path, key.data(), o);
      FileId before = f->keyId();
      f->truncate(100 * C + 10);
      if (f->keyId() == before) code = 4;  // no re-key happened: the test does not test anything
      (void)f.release();  // die without flush or close
    } catch (...) {
      code = 3;
    }
    ::_exit(code);
  }
  int status = 0;
  CHECK(::waitpid(child, &status, 0) == child);
  CHECK_MSG(WIFEXITED(status) && WEXITSTATUS(status) == 0, "child exited with " + std::to_string(WEXITSTATUS(status)));
  CHECK_EQ(dir.entries().size(), size_t{2});  // the committed file and the abandoned re-keyed one
  std::unique_ptr<ShieldedFile> f;
  try {
    f = ShieldedFile::open(path, key.data(), reopenOptions(committed));
  } catch (const ShieldError& e) {
    FAIL(std::string("the committed file does not open at its tag: ") + e.code() + ": " + e.what());
  }
  CHECK_EQ(f->size(), 300 * C);
  compareAll(*f, data, "committed content after the crash");
}

// ---------------------------------------------------------------------------------------------
// FORMAT.md conformance: decode a file by hand
// ---------------------------------------------------------------------------------------------

TEST(on_disk_format_by_hand) {
  TempDir dir;
  const std::string path = dir.file("conformance");
  TestKey key(10);
  Rng rng(10);
  const unsigned shift = 12;
  const uint64_t C = 4096;
  const Geometry g(shift);
  std::map<uint64_t, std::vector<uint8_t>> written;  // chunk -> plaintext (whole chunk)
  uint64_t size = 0;
  {
    auto f = ShieldedFile::open(path, key.data(), createOptions(shift));
    for (uint64_t chunk : {0u, 2u, 145u, 146u, 147u, 400u}) {
      auto d = rng.bytes(C);
      f->write(d.data(), C, chunk * C);
      written[chunk] = d;
    }
    auto tail = rng.bytes(100);  // a partial last chunk
    f->write(tail.data(), tail.size(), 401 * C);
    std::vector<uint8_t> last(C, 0);
    std::memcpy(last.data(), tail.data(), tail.size());
    written[401] = last;
    size = 401 * C + 100;
    f->close();
  }
  auto file = readWholeFile(path);
  const uint64_t n = g.chunkCount(size);
  const unsigned h = Geometry::heightFor(n);
  CHECK_EQ(h, 2u);
  CHECK_EQ(uint64_t(file.size()), g.physicalSize(n));

  // Header fields and MAC.
  CHECK(std::memcmp(file.data(), "SHIELDFS", 8) == 0);
  CHECK_EQ(int(file[10]), 12);
  CHECK_EQ(int(file[11]), 2);
  auto u64 = [&](size_t off) {
    uint64_t v = 0;
    for (int i = 7; i >= 0; i--) v = v << 8 | file[off + i];
    return v;
  };
  CHECK_EQ(u64(104), 7u);  // 7 chunk encryptions
  CHECK_EQ(u64(112), 1u);  // one committed flush
  const uint8_t* fileId = file.data() + 16;
  const uint8_t* keyId = file.data() + 32;
  const uint8_t* checkSalt = file.data() + 48;
  uint8_t headerKey[32], keyCheck[16], chunkKey[32], mac[32];
  hkdfSha256(key.data(), 32, fileId, 16, "shieldfs/v1 header key", headerKey, 32);
  // sealed_size (96) = size XOR the first 8 bytes (LE) of HMAC(header_key, "shieldfs/v1 size" ‖
  // size_nonce (80)); the size itself appears nowhere in clear.
  {
    std::vector<uint8_t> input;
    for (char c : std::string("shieldfs/v1 size")) input.push_back(static_cast<uint8_t>(c));
    input.insert(input.end(), file.begin() + 80, file.begin() + 96);
    uint8_t sizeMac[32];
    hmacSha256(headerKey, 32, input.data(), input.size(), sizeMac);
    uint64_t mask = 0;
    for (int i = 7; i >= 0; i--) mask = mask << 8 | sizeMac[i];
    CHECK_EQ(u64(96) ^ mask, size);
    for (size_t off = 0; off + 8 <= 184; off++) CHECK_MSG(u64(off) != size, "size in clear at " + std::to_string(off));
  }
  hkdfSha256(key.data(), 32, checkSalt, 16, "shieldfs/v1 key check", keyCheck, 16);
  uint8_t salt[32];
  std::memcpy(salt, fileId, 16);
  std::memcpy(salt + 16, keyId, 16);
  hkdfSha256(key.data(), 32, salt, 32, "shieldfs/v1 chunk key", chunkKey, 32);
  CHECK(std::memcmp(keyCheck, file.data() + 64, 16) == 0);
  hmacSha256(headerKey, 32, file.data(), 152, mac);
  CHECK(std::memcmp(mac, file.data() + 152, 32) == 0);
  for (size_t i = 184; i < 4096; i++) CHECK_EQ(int(file[i]), 0);

  // Merkle tree top-down: root = node_hash(2, inner(2,0)); inner slots = hashes of leaves.
  auto nodeAt = [&](unsigned level, uint64_t index) { return file.data() + g.nodeOffset(level, index); };
  uint8_t hash[32];
  sha256(2, nodeAt(2, 0), 4096, hash);
  CHECK(std::memcmp(hash, file.data() + 120, 32) == 0);  // root
  for (uint64_t leaf = 0; leaf <= (n - 1) / 146; leaf++) {
    const uint8_t* slot = nodeAt(2, 0) + leaf * 32;
    bool any = false;
    for (int i = 0; i < 32; i++) any |= slot[i] != 0;
    CHECK(any);  // every leaf has a written chunk in this file
    sha256(1, nodeAt(1, leaf), 4096, hash);
    CHECK(std::memcmp(hash, slot, 32) == 0);
    for (int i = 0; i < 8; i++) CHECK_EQ(int(nodeAt(1, leaf)[4088 + i]), 0);
  }
  for (uint64_t slot = (n - 1) / 146 + 1; slot < 128; slot++)
    for (int i = 0; i < 32; i++) CHECK_EQ(int(nodeAt(2, 0)[slot * 32 + i]), 0);

  // Chunks: entries in the leaves, AES-256-GCM with aad = file_id || u64(i).
  GcmCipher cipher(chunkKey);
  for (uint64_t i = 0; i < n; i++) {
    const uint8_t* entry = nodeAt(1, i / 146) + (i % 146) * 28;
    bool hole = true;
    for (int k = 0; k < 28; k++) hole = hole && entry[k] == 0;
    auto it = written.find(i);
    CHECK_MSG(hole == (it == written.end()), "chunk " + std::to_string(i) + " hole flag");
    if (hole) continue;
    uint8_t aad[24];
    std::memcpy(aad, fileId, 16);
    for (int k = 0; k < 8; k++) aad[16 + k] = static_cast<uint8_t>(i >> (8 * k));
    std::vector<uint8_t> plain(C);
    CHECK_MSG(cipher.open(entry, aad, 24, file.data() + g.chunkOffset(i), C, plain.data(), entry + 12),
              "chunk " + std::to_string(i) + " does not decrypt by hand");
    CHECK_MSG(plain == it->second, "chunk " + std::to_string(i) + " plaintext");
  }
  // Entries past the end are zero.
  for (uint64_t i = n; i < 3 * 146; i++) {
    const uint8_t* entry = nodeAt(1, i / 146) + (i % 146) * 28;
    for (int k = 0; k < 28; k++) CHECK_EQ(int(entry[k]), 0);
  }
}

TEST(height0_root_is_chunk_entry) {
  TempDir dir;
  const std::string path = dir.file("h0");
  TestKey key(11);
  auto f = ShieldedFile::open(path, key.data(), createOptions(12));
  uint8_t d[10] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10};
  f->write(d, sizeof d, 0);
  f->close();
  auto file = readWholeFile(path);
  CHECK_EQ(file.size(), 8192u);
  CHECK_EQ(int(file[11]), 0);
  for (int i = 28; i < 32; i++) CHECK_EQ(int(file[120 + i]), 0);  // root (120) = entry + 4 zero bytes
  uint8_t salt[32], chunkKey[32];
  std::memcpy(salt, file.data() + 16, 16);
  std::memcpy(salt + 16, file.data() + 32, 16);
  hkdfSha256(key.data(), 32, salt, 32, "shieldfs/v1 chunk key", chunkKey, 32);
  uint8_t aad[24] = {};
  std::memcpy(aad, file.data() + 16, 16);
  GcmCipher cipher(chunkKey);
  std::vector<uint8_t> plain(4096);
  CHECK(cipher.open(file.data() + 120, aad, 24, file.data() + 4096, 4096, plain.data(), file.data() + 132));
  CHECK(std::memcmp(plain.data(), d, sizeof d) == 0);
  for (size_t i = sizeof d; i < plain.size(); i++) CHECK_EQ(int(plain[i]), 0);  // zero past the end
}

SHIELDTEST_MAIN()
