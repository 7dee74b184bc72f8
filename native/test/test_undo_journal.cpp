// UndoJournal (FORMAT.md "Undo journal (volumes)"): preserve + rollBack restore files byte for byte
// after overwrites, shrinks, growth and replacement; torn and damaged journals; the format checked by
// hand; journaled ShieldedFiles rolled back to their old tag, also after a crash at every durable
// step (the test binary re-runs itself with SHIELDFS_CRASH_AT).
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "crypto.h"
#include "file_descriptor.h"
#include "harness.h"
#include "shield_error.h"
#include "shielded_file.h"
#include "test_util.h"
#include "undo_journal.h"

using namespace shieldfs;
using namespace shieldtest;

namespace {

constexpr size_t kHeaderFixed = 32;  // magic, version, salt, context length
constexpr size_t kRecordOverhead = 1 + 2 + 8 + 4 + 32;  // type, path length, offset, data length, mac

// A volume directory with its journal inside it, as the volume layer lays them out.
struct Volume {
  TempDir dir;
  std::string base = dir.file("volume");
  std::string journalPath = base + "/journal";
  TestKey key{7};
  Volume() { std::filesystem::create_directories(base); }
  std::string file(const std::string& name) const { return base + "/" + name; }
  std::unique_ptr<UndoJournal> journal(std::vector<uint8_t> context = {}) const {
    return std::make_unique<UndoJournal>(journalPath, base, key.data(), std::move(context));
  }
  std::vector<uint8_t> rollBack() const { return UndoJournal::rollBack(journalPath, base, key.data()); }
};

FileDescriptor openJournaled(const std::string& path, UndoJournal* journal) {
  int raw = FileDescriptor::openRaw(path, O_RDWR | O_CREAT, 0600);
  if (raw < 0) throw Failure("open " + path + " failed");
  FileDescriptor fd(raw, path);
  fd.setJournal(journal);
  return fd;
}

void write(const FileDescriptor& fd, uint64_t offset, const std::vector<uint8_t>& bytes) {
  fd.writeAt(bytes.data(), bytes.size(), offset);
}

bool exists(const std::string& path) {
  struct stat st;
  return ::lstat(path.c_str(), &st) == 0;
}

std::vector<std::string> backupsOf(const Volume& v) {
  std::vector<std::string> out;
  for (const auto& e : std::filesystem::directory_iterator(v.base)) {
    std::string name = e.path().filename().string();
    if (name.rfind("journal.backup-", 0) == 0) out.push_back(name);
  }
  return out;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// Restoring bytes
// ---------------------------------------------------------------------------------------------

TEST(rollback_restores_overwritten_bytes) {
  Volume v;
  Rng rng(1);
  const auto original = rng.bytes(3 * 1024 * 1024 + 77);  // preimages split into 1 MiB records
  writeWholeFile(v.file("a"), original);
  auto journal = v.journal({1, 2, 3});
  {
    FileDescriptor fd = openJournaled(v.file("a"), journal.get());
    write(fd, 1234, rng.bytes(7000));
    write(fd, 100, rng.bytes(2'500'000));
    write(fd, original.size() - 3, rng.bytes(10));  // over the end: grows too
  }
  CHECK(journal->active());
  CHECK(readWholeFile(v.file("a")) != original);
  CHECK(v.rollBack() == (std::vector<uint8_t>{1, 2, 3}));
  CHECK(readWholeFile(v.file("a")) == original);
  CHECK(exists(v.journalPath));  // rollBack leaves it; discard deletes it
  UndoJournal::discard(v.journalPath);
  CHECK(!exists(v.journalPath));
}

TEST(rollback_undoes_shrink_and_growth) {
  Volume v;
  Rng rng(2);
  const auto a = rng.bytes(40000), b = rng.bytes(5000);
  std::filesystem::create_directories(v.base + "/sub/dir");
  writeWholeFile(v.file("a"), a);
  writeWholeFile(v.file("sub/dir/b"), b);
  writeWholeFile(v.file("untouched"), b);
  auto journal = v.journal();
  {
    FileDescriptor fa = openJournaled(v.file("a"), journal.get());
    FileDescriptor fb = openJournaled(v.file("sub/dir/b"), journal.get());
    fa.truncate(100);                    // shrink: the cut bytes are preserved
    write(fa, 50, rng.bytes(200));       // over the cut end
    fa.truncate(90000);                  // grow again
    fb.truncate(1 << 20);                // grow only: nothing to preserve but the length
    write(fb, 900000, rng.bytes(10));
    write(fb, 0, rng.bytes(1));
  }
  CHECK_EQ(fileSize(v.file("a")), uint64_t{90000});
  v.rollBack();
  CHECK(readWholeFile(v.file("a")) == a);
  CHECK(readWholeFile(v.file("sub/dir/b")) == b);
  CHECK(readWholeFile(v.file("untouched")) == b);
}

TEST(new_files_cost_nothing) {
  Volume v;
  Rng rng(3);
  auto journal = v.journal();
  const auto fresh = rng.bytes(100000);
  {
    FileDescriptor fd = openJournaled(v.file("new"), journal.get());
    write(fd, 0, fresh);
    write(fd, 5, std::vector<uint8_t>(10, 0));
    fd.truncate(50000);
  }
  CHECK(!journal->active());  // empty at its first change: nothing to preserve, no journal
  CHECK(!exists(v.journalPath));

  // With an existing file changed too, the rollback restores that one and leaves the new one alone.
  const auto original = rng.bytes(1000);
  writeWholeFile(v.file("old"), original);
  {
    FileDescriptor fd = openJournaled(v.file("old"), journal.get());
    write(fd, 0, rng.bytes(2000));
    FileDescriptor again = openJournaled(v.file("new"), journal.get());
    write(again, 0, rng.bytes(10));  // still the transaction that created it: free
  }
  CHECK_EQ(fileSize(v.journalPath), kHeaderFixed + 32 + (kRecordOverhead + 3) + (kRecordOverhead + 3 + 1000));
  v.rollBack();
  CHECK(readWholeFile(v.file("old")) == original);
  CHECK_EQ(fileSize(v.file("new")), uint64_t{50000});

  // finish() forgets it was new: in the next transaction its bytes are committed ones.
  journal->finish();
  const auto committed = readWholeFile(v.file("new"));
  {
    FileDescriptor fd = openJournaled(v.file("new"), journal.get());
    write(fd, 100, rng.bytes(100));
  }
  CHECK(journal->active());
  v.rollBack();
  CHECK(readWholeFile(v.file("new")) == committed);
}

TEST(only_the_first_preimage_of_a_byte_is_kept) {
  Volume v;
  Rng rng(4);
  const auto original = rng.bytes(10000);
  writeWholeFile(v.file("a"), original);
  auto journal = v.journal();
  FileDescriptor fd = openJournaled(v.file("a"), journal.get());
  write(fd, 1000, rng.bytes(1000));
  const uint64_t afterFirst = fileSize(v.journalPath);
  write(fd, 1000, rng.bytes(1000));
  write(fd, 1200, rng.bytes(300));
  CHECK_EQ(fileSize(v.journalPath), afterFirst);  // nothing new to preserve
  write(fd, 500, rng.bytes(2000));                // [500,1000) and [2000,2500) are new
  CHECK_EQ(fileSize(v.journalPath), afterFirst + 2 * (kRecordOverhead + 1 + 500));
  write(fd, 20000, rng.bytes(100));  // past the original length: costs nothing
  fd.truncate(3);
  // The cut preserves what is left of the original: [3, 500) and [2500, 10000).
  CHECK_EQ(fileSize(v.journalPath), afterFirst + 2 * (kRecordOverhead + 1 + 500) + (kRecordOverhead + 1 + 497) +
                                        (kRecordOverhead + 1 + 7500));
  v.rollBack();
  CHECK(readWholeFile(v.file("a")) == original);
}

TEST(replaced_file_is_put_back) {
  Volume v;
  Rng rng(5);
  const auto original = rng.bytes(20000);
  writeWholeFile(v.file("a"), original);
  auto journal = v.journal();
  {
    FileDescriptor fd = openJournaled(v.file("a"), journal.get());
    write(fd, 100, rng.bytes(50));  // changed in place before it is replaced
    fd.truncate(15000);
  }
  journal->preserveReplacement(v.file("a"));
  CHECK_EQ(backupsOf(v).size(), size_t{1});
  writeWholeFile(v.file("a.new"), rng.bytes(30000));
  renamePath(v.file("a.new"), v.file("a"));
  {
    // The file that replaced it: its changes follow the REPLACED record and must not be applied to
    // the restored original.
    FileDescriptor fd = openJournaled(v.file("a"), journal.get());
    write(fd, 0, rng.bytes(25000));
  }
  v.rollBack();
  CHECK(readWholeFile(v.file("a")) == original);
  CHECK(backupsOf(v).empty());  // renamed back
  v.rollBack();                 // again: the backup is gone, the preimages apply once more
  CHECK(readWholeFile(v.file("a")) == original);
  UndoJournal::discard(v.journalPath);
}

TEST(replacement_interrupted_before_the_rename) {
  Volume v;
  Rng rng(6);
  const auto original = rng.bytes(5000);
  writeWholeFile(v.file("a"), original);
  auto journal = v.journal();
  {
    FileDescriptor fd = openJournaled(v.file("a"), journal.get());
    write(fd, 0, rng.bytes(10));
  }
  journal->preserveReplacement(v.file("a"));  // the process dies before its rename
  struct stat st;
  CHECK(::stat(v.file("a").c_str(), &st) == 0 && st.st_nlink == 2);  // the backup is a second name
  v.rollBack();
  CHECK(readWholeFile(v.file("a")) == original);
  CHECK(backupsOf(v).empty());  // the second name went, so the file could be restored
  CHECK(::stat(v.file("a").c_str(), &st) == 0 && st.st_nlink == 1);
  UndoJournal::discard(v.journalPath);
  CHECK(readWholeFile(v.file("a")) == original);
}

// A crash between the backup's link and its record: a stray backup no record names is a second
// name of the file, and the rollback must still restore the file.
TEST(stray_backup_does_not_stop_the_rollback) {
  Volume v;
  Rng rng(61);
  const auto original = rng.bytes(5000);
  writeWholeFile(v.file("a"), original);
  auto journal = v.journal();
  {
    FileDescriptor fd = openJournaled(v.file("a"), journal.get());
    write(fd, 0, rng.bytes(10));
  }
  CHECK(::link(v.file("a").c_str(), (v.journalPath + ".backup-0").c_str()) == 0);
  v.rollBack();
  CHECK(readWholeFile(v.file("a")) == original);
  CHECK(backupsOf(v).empty());
}

TEST(rollback_twice_is_rollback_once) {
  Volume v;
  Rng rng(7);
  const auto a = rng.bytes(70000), b = rng.bytes(9000);
  writeWholeFile(v.file("a"), a);
  writeWholeFile(v.file("b"), b);
  auto journal = v.journal();
  {
    FileDescriptor fa = openJournaled(v.file("a"), journal.get());
    FileDescriptor fb = openJournaled(v.file("b"), journal.get());
    write(fa, 3, rng.bytes(60000));
    fb.truncate(10);
    write(fa, 69000, rng.bytes(5000));
  }
  journal->preserveReplacement(v.file("b"));
  writeWholeFile(v.file("b.new"), rng.bytes(10));
  renamePath(v.file("b.new"), v.file("b"));
  v.rollBack();
  const auto onceA = readWholeFile(v.file("a")), onceB = readWholeFile(v.file("b"));
  CHECK(onceA == a);
  CHECK(onceB == b);
  v.rollBack();
  CHECK(readWholeFile(v.file("a")) == onceA);
  CHECK(readWholeFile(v.file("b")) == onceB);
}

TEST(missing_files_are_skipped) {
  Volume v;
  Rng rng(8);
  writeWholeFile(v.file("a"), rng.bytes(1000));
  const auto b = rng.bytes(1000);
  writeWholeFile(v.file("b"), b);
  auto journal = v.journal();
  {
    FileDescriptor fa = openJournaled(v.file("a"), journal.get());
    FileDescriptor fb = openJournaled(v.file("b"), journal.get());
    write(fa, 0, rng.bytes(10));
    write(fb, 0, rng.bytes(10));
  }
  ::unlink(v.file("a").c_str());
  v.rollBack();
  CHECK(!exists(v.file("a")));  // not re-created
  CHECK(readWholeFile(v.file("b")) == b);
}

TEST(parallel_preserves_from_many_threads) {
  Volume v;
  Rng rng(9);
  const int files = 4, threads = 8;
  std::vector<std::vector<uint8_t>> originals;
  for (int i = 0; i < files; i++) {
    originals.push_back(rng.bytes(256 * 1024));
    writeWholeFile(v.file("f" + std::to_string(i)), originals.back());
  }
  auto journal = v.journal();
  {
    std::vector<FileDescriptor> fds;
    for (int i = 0; i < files; i++) fds.push_back(openJournaled(v.file("f" + std::to_string(i)), journal.get()));
    std::vector<std::thread> pool;
    std::atomic<int> failures{0};
    for (int t = 0; t < threads; t++) {
      pool.emplace_back([&, t] {
        Rng local(100 + t);
        try {
          for (int k = 0; k < 200; k++) {
            const auto& fd = fds[local.below(files)];
            auto bytes = local.bytes(local.between(1, 20000));
            write(fd, local.below(300 * 1024), bytes);
          }
        } catch (...) {
          failures++;
        }
      });
    }
    for (auto& t : pool) t.join();
    CHECK_EQ(failures.load(), 0);
  }
  v.rollBack();
  for (int i = 0; i < files; i++) CHECK(readWholeFile(v.file("f" + std::to_string(i))) == originals[i]);
}

// ---------------------------------------------------------------------------------------------
// Torn and damaged journals
// ---------------------------------------------------------------------------------------------

namespace {

// Three preimages of "a" (ranges 1, 2, 3) in that order; the journal's length before each.
struct ThreeChanges {
  Volume v;
  std::vector<uint8_t> original, changed, journal;
  uint64_t beforeSecond = 0, beforeThird = 0;
  static constexpr uint64_t kRanges[3][2] = {{100, 900}, {5000, 6000}, {9000, 9500}};

  ThreeChanges() {
    Rng rng(10);
    original = rng.bytes(10000);
    writeWholeFile(v.file("a"), original);
    auto j = v.journal({9, 9});
    FileDescriptor fd = openJournaled(v.file("a"), j.get());
    for (int i = 0; i < 3; i++) {
      if (i == 1) beforeSecond = fileSize(v.journalPath);
      if (i == 2) beforeThird = fileSize(v.journalPath);
      write(fd, kRanges[i][0], rng.bytes(kRanges[i][1] - kRanges[i][0]));
    }
    fd.truncate(20000);
    changed = readWholeFile(v.file("a"));
    journal = readWholeFile(v.journalPath);
  }
  // The original with the ranges from `firstUnrestored` on still changed, at the changed length
  // when the length record was not reached.
  std::vector<uint8_t> expected(int firstUnrestored) const {
    std::vector<uint8_t> out = original;
    for (int i = firstUnrestored; i < 3; i++)
      std::copy(changed.begin() + kRanges[i][0], changed.begin() + kRanges[i][1], out.begin() + kRanges[i][0]);
    return out;
  }
};

}  // namespace

TEST(torn_tail_rolls_back_the_written_prefix) {
  ThreeChanges t;
  // The journal ends with the preimage of range 3; the truncate to 20000 needed none (it grew).
  CHECK_EQ(t.journal.size(), t.beforeThird + kRecordOverhead + 1 + 500);
  for (uint64_t cut = t.beforeThird; cut <= t.journal.size(); cut++) {
    writeWholeFile(t.v.file("a"), t.changed);
    writeWholeFile(t.v.journalPath, std::vector<uint8_t>(t.journal.begin(), t.journal.begin() + cut));
    t.v.rollBack();
    CHECK_MSG(readWholeFile(t.v.file("a")) == t.expected(cut == t.journal.size() ? 3 : 2),
              "journal cut at " + std::to_string(cut));
  }
}

TEST(flipped_bit_in_a_record_ends_the_walk_there) {
  ThreeChanges t;
  for (uint64_t at : {t.beforeSecond, t.beforeSecond + 5, t.beforeSecond + 20, t.beforeThird - 1}) {
    writeWholeFile(t.v.file("a"), t.changed);
    auto damaged = t.journal;
    damaged[at] ^= 0x10;
    writeWholeFile(t.v.journalPath, damaged);
    t.v.rollBack();
    CHECK_MSG(readWholeFile(t.v.file("a")) == t.expected(1), "bit flipped at " + std::to_string(at));
  }
}

TEST(damaged_header_is_eintegrity) {
  ThreeChanges t;
  const size_t headerBytes = kHeaderFixed + 2 + 32;
  for (size_t at = 0; at < headerBytes; at++) {
    auto damaged = t.journal;
    damaged[at] ^= 0x01;
    writeWholeFile(t.v.journalPath, damaged);
    EXPECT_SHIELD_ERROR(kIntegrity, UndoJournal::readContext(t.v.journalPath, t.v.key.data()));
    EXPECT_SHIELD_ERROR(kIntegrity, t.v.rollBack());
  }
  writeWholeFile(t.v.journalPath, t.journal);
  TestKey other(8);
  auto e = EXPECT_SHIELD_ERROR(kIntegrity, UndoJournal::readContext(t.v.journalPath, other.data()));
  CHECK(std::string(e.what()).find("is damaged") != std::string::npos);
  EXPECT_SHIELD_ERROR(kIntegrity, UndoJournal::rollBack(t.v.journalPath, t.v.base, other.data()));
}

TEST(journal_shorter_than_its_header_is_no_transaction) {
  ThreeChanges t;
  const size_t headerBytes = kHeaderFixed + 2 + 32;
  for (size_t cut = 0; cut < headerBytes; cut++) {
    writeWholeFile(t.v.file("a"), t.changed);
    writeWholeFile(t.v.journalPath, std::vector<uint8_t>(t.journal.begin(), t.journal.begin() + cut));
    CHECK(!UndoJournal::readContext(t.v.journalPath, t.v.key.data()).has_value());
    CHECK(t.v.rollBack().empty());
    CHECK(readWholeFile(t.v.file("a")) == t.changed);  // nothing was protected by it
  }
  writeWholeFile(t.v.journalPath, std::vector<uint8_t>(t.journal.begin(), t.journal.begin() + headerBytes));
  CHECK(UndoJournal::readContext(t.v.journalPath, t.v.key.data()) == (std::vector<uint8_t>{9, 9}));
}

// ---------------------------------------------------------------------------------------------
// The format by hand (FORMAT.md) and the life cycle
// ---------------------------------------------------------------------------------------------

TEST(format_by_hand) {
  Volume v;
  writeWholeFile(v.file("f"), std::vector<uint8_t>(100, 0xAB));
  const std::vector<uint8_t> context = {'c', 't', 'x'};
  auto journal = v.journal(context);
  {
    FileDescriptor fd = openJournaled(v.file("f"), journal.get());
    write(fd, 10, std::vector<uint8_t>(5, 0xCD));
  }
  const auto bytes = readWholeFile(v.journalPath);
  CHECK(std::memcmp(bytes.data(), "SHLDJRN1", 8) == 0);
  CHECK_EQ(bytes[8] | bytes[9] << 8 | bytes[10] << 16 | bytes[11] << 24, 1);
  CHECK_EQ(bytes[28] | bytes[29] << 8 | bytes[30] << 16 | bytes[31] << 24, 3);
  CHECK(std::memcmp(bytes.data() + 32, context.data(), 3) == 0);
  uint8_t journalKey[32], mac[32];
  hkdfSha256(v.key.data(), 32, bytes.data() + 12, 16, "shieldfs undo journal v1", journalKey, 32);
  hmacSha256(journalKey, 32, bytes.data(), 35, mac);
  CHECK(std::memcmp(mac, bytes.data() + 35, 32) == 0);

  // ORIGINAL_LENGTH "f" 100, then PREIMAGE "f" at 10: five bytes of 0xAB.
  std::vector<uint8_t> chain(bytes.begin() + 35, bytes.begin() + 67);  // previous mac
  size_t at = 67;
  const std::vector<std::vector<uint8_t>> want = {
      {1, 1, 0, 'f', 100, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0},
      {2, 1, 0, 'f', 10, 0, 0, 0, 0, 0, 0, 0, 5, 0, 0, 0, 0xAB, 0xAB, 0xAB, 0xAB, 0xAB}};
  for (const auto& record : want) {
    CHECK(std::equal(record.begin(), record.end(), bytes.begin() + at));
    std::vector<uint8_t> input(chain);
    input.insert(input.end(), record.begin(), record.end());
    hmacSha256(journalKey, 32, input.data(), input.size(), mac);
    CHECK(std::memcmp(mac, bytes.data() + at + record.size(), 32) == 0);
    chain.assign(mac, mac + 32);
    at += record.size() + 32;
  }
  CHECK_EQ(at, bytes.size());
}

TEST(context_round_trip_and_life_cycle) {
  Volume v;
  CHECK(!UndoJournal::readContext(v.journalPath, v.key.data()).has_value());  // none yet
  std::vector<uint8_t> context(4096);
  for (size_t i = 0; i < context.size(); i++) context[i] = static_cast<uint8_t>(i * 13);
  EXPECT_SHIELD_ERROR("EINVAL", UndoJournal(v.journalPath, v.base, v.key.data(), std::vector<uint8_t>(4097)));
  auto journal = v.journal(context);
  CHECK(!journal->active());
  CHECK(!exists(v.journalPath));  // nothing until the transaction begins
  journal->begin();
  journal->begin();  // idempotent
  CHECK(journal->active());
  CHECK(UndoJournal::readContext(v.journalPath, v.key.data()) == context);
  journal->begin(context);                                                  // the same: fine
  EXPECT_SHIELD_ERROR("EINVAL", journal->begin(std::vector<uint8_t>{1}));  // another: refused
  const auto firstSalt = rawRead(v.journalPath, 12, 16);

  // A second journal on the same file (another process, say) must not start over it.
  auto intruder = v.journal();
  auto e = EXPECT_SHIELD_ERROR("EEXIST", intruder->begin());
  CHECK(std::string(e.what()).find("recovery") != std::string::npos);

  journal->finish();
  CHECK(!journal->active());
  CHECK(!exists(v.journalPath));
  journal->finish();  // idempotent
  CHECK(!UndoJournal::readContext(v.journalPath, v.key.data()).has_value());

  // The next change begins a new transaction, with a fresh salt and the other context.
  journal->begin(std::vector<uint8_t>{4, 5});
  CHECK(rawRead(v.journalPath, 12, 16) != firstSalt);
  CHECK(UndoJournal::readContext(v.journalPath, v.key.data()) == (std::vector<uint8_t>{4, 5}));
  journal->finish();
  writeWholeFile(v.file("g"), std::vector<uint8_t>(10, 1));
  {
    FileDescriptor fd = openJournaled(v.file("g"), journal.get());
    write(fd, 0, std::vector<uint8_t>(10, 2));
  }
  CHECK(journal->active());
  CHECK(UndoJournal::readContext(v.journalPath, v.key.data()) == context);
  journal->finish();
}

TEST(paths_outside_the_volume_are_refused) {
  Volume v;
  auto journal = v.journal();
  writeWholeFile(v.dir.file("outside"), std::vector<uint8_t>(10, 1));
  std::filesystem::create_directories(v.base + "/sub");
  writeWholeFile(v.file("in"), std::vector<uint8_t>(10, 1));
  // ".." is refused even where it stays inside: the journal decides on the text, not on symlinks.
  for (const std::string& path : {v.dir.file("outside"), v.base + "/../outside", v.base + "/sub/../in"}) {
    FileDescriptor fd = openJournaled(path, journal.get());
    EXPECT_SHIELD_ERROR("EINVAL", write(fd, 0, std::vector<uint8_t>(3, 2)));
    EXPECT_SHIELD_ERROR("EINVAL", fd.truncate(0));
  }
  EXPECT_SHIELD_ERROR("EINVAL", journal->preserveReplacement(v.dir.file("outside")));
  EXPECT_SHIELD_ERROR("EINVAL", journal->preserveReplacement(v.base));
  CHECK(readWholeFile(v.dir.file("outside")) == std::vector<uint8_t>(10, 1));
  CHECK(readWholeFile(v.file("in")) == std::vector<uint8_t>(10, 1));
  CHECK(!exists(v.journalPath));  // refusing began nothing
  // Spelled differently but inside: fine.
  FileDescriptor fd = openJournaled(v.base + "//./in", journal.get());
  write(fd, 0, std::vector<uint8_t>(3, 2));
  v.rollBack();
  CHECK(readWholeFile(v.file("in")) == std::vector<uint8_t>(10, 1));
}

TEST(discard_removes_journal_and_backups) {
  Volume v;
  writeWholeFile(v.file("a"), std::vector<uint8_t>(10, 1));
  writeWholeFile(v.file("b"), std::vector<uint8_t>(10, 1));
  auto journal = v.journal();
  journal->preserveReplacement(v.file("a"));
  journal->preserveReplacement(v.file("b"));
  CHECK_EQ(backupsOf(v).size(), size_t{2});
  UndoJournal::discard(v.journalPath);
  CHECK(!exists(v.journalPath));
  CHECK(backupsOf(v).empty());
  UndoJournal::discard(v.journalPath);  // nothing there: fine
  UndoJournal::discard(v.dir.file("no-such-directory/journal"));
  CHECK(exists(v.file("a")));
  CHECK(exists(v.file("b")));

  // finish() removes its backups too.
  auto next = v.journal();
  next->preserveReplacement(v.file("a"));
  CHECK_EQ(backupsOf(v).size(), size_t{1});
  next->finish();
  CHECK(backupsOf(v).empty());
}

// ---------------------------------------------------------------------------------------------
// What the host of the volume directory may plant: symlinks, hard links, FIFOs, directories
// ---------------------------------------------------------------------------------------------

namespace {

// An object file (in a fan-out directory, as the object store lays them out) changed through a
// journal, and a file outside the volume that the host would like the rollback to write into.
struct Planted {
  Volume v;
  Rng rng{90};
  std::string object = v.file("objects/ab/cdef");
  std::string outside = v.dir.file("outside");
  std::vector<uint8_t> original = rng.bytes(30000), outsideBytes = rng.bytes(40000);
  Planted() {
    std::filesystem::create_directories(v.base + "/objects/ab");
    writeWholeFile(object, original);
    writeWholeFile(outside, outsideBytes);
    auto journal = v.journal();
    {
      FileDescriptor fd = openJournaled(object, journal.get());
      write(fd, 100, rng.bytes(5000));
      fd.truncate(1000);  // the rollback both writes preimages and sets the length
    }
  }
  void expectOutsideUntouched() const {
    CHECK(readWholeFile(outside) == outsideBytes);
    struct stat st;
    CHECK(::lstat(outside.c_str(), &st) == 0 && S_ISREG(st.st_mode));
  }
};

}  // namespace

TEST(rollback_does_not_follow_a_symlinked_file) {
  Planted p;
  CHECK(::unlink(p.object.c_str()) == 0);
  CHECK(::symlink(p.outside.c_str(), p.object.c_str()) == 0);
  p.v.rollBack();
  p.expectOutsideUntouched();
  struct stat st;
  CHECK(::lstat(p.object.c_str(), &st) == 0 && S_ISLNK(st.st_mode));  // left alone
  // A relative symlink that climbs out is no different.
  CHECK(::unlink(p.object.c_str()) == 0);
  CHECK(::symlink("../../../outside", p.object.c_str()) == 0);
  p.v.rollBack();
  p.expectOutsideUntouched();
}

TEST(rollback_does_not_follow_a_symlinked_directory) {
  Planted p;
  // The fan-out directory moved outside and a symlink in its place: the file is found "inside".
  const std::string elsewhere = p.v.dir.file("elsewhere");
  std::filesystem::rename(p.v.base + "/objects/ab", elsewhere);
  CHECK(::symlink(elsewhere.c_str(), (p.v.base + "/objects/ab").c_str()) == 0);
  const auto changed = readWholeFile(elsewhere + "/cdef");
  p.v.rollBack();
  CHECK(readWholeFile(elsewhere + "/cdef") == changed);
  // The same one level up: objects itself a symlink.
  std::filesystem::remove(p.v.base + "/objects/ab");
  std::filesystem::rename(p.v.base + "/objects", p.v.dir.file("objects-elsewhere"));
  std::filesystem::create_directories(p.v.dir.file("objects-elsewhere"));
  std::filesystem::rename(elsewhere, p.v.dir.file("objects-elsewhere/ab"));
  CHECK(::symlink(p.v.dir.file("objects-elsewhere").c_str(), (p.v.base + "/objects").c_str()) == 0);
  p.v.rollBack();
  CHECK(readWholeFile(p.v.dir.file("objects-elsewhere/ab/cdef")) == changed);
  // A file in place of the directory: nothing to restore either.
  std::filesystem::remove(p.v.base + "/objects");
  writeWholeFile(p.v.base + "/objects", std::vector<uint8_t>(5, 5));
  p.v.rollBack();
  CHECK(readWholeFile(p.v.base + "/objects") == std::vector<uint8_t>(5, 5));
}

TEST(rollback_does_not_write_into_a_hard_link) {
  Planted p;
  CHECK(::unlink(p.object.c_str()) == 0);
  CHECK(::link(p.outside.c_str(), p.object.c_str()) == 0);
  p.v.rollBack();
  p.expectOutsideUntouched();
  // Restored once the other name is gone (the bytes never changed are not in the journal).
  CHECK(::unlink(p.object.c_str()) == 0);
  writeWholeFile(p.object, std::vector<uint8_t>(p.original.begin(), p.original.begin() + 100));
  p.v.rollBack();
  CHECK(readWholeFile(p.object) == p.original);
}

TEST(rollback_skips_fifos_and_directories_without_blocking) {
  Planted p;
  CHECK(::unlink(p.object.c_str()) == 0);
  CHECK(::mkfifo(p.object.c_str(), 0600) == 0);
  p.v.rollBack();  // must not wait for a writer
  CHECK(::unlink(p.object.c_str()) == 0);
  std::filesystem::create_directories(p.object);
  p.v.rollBack();
  struct stat st;
  CHECK(::lstat(p.object.c_str(), &st) == 0 && S_ISDIR(st.st_mode));
}

TEST(backups_are_not_followed) {
  Volume v;
  Rng rng(91);
  const auto original = rng.bytes(3000), outsideBytes = rng.bytes(2000), replacement = rng.bytes(100);
  std::filesystem::create_directories(v.base + "/objects/ab");
  const std::string object = v.file("objects/ab/cdef"), outside = v.dir.file("outside");
  writeWholeFile(object, original);
  writeWholeFile(outside, outsideBytes);
  auto journal = v.journal();
  journal->preserveReplacement(object);
  writeWholeFile(object + ".new", replacement);
  renamePath(object + ".new", object);
  const std::string backup = v.journalPath + ".backup-0";

  // The backup replaced by a symlink to a file outside: not renamed into the volume; the link is
  // removed, never what it names.
  CHECK(::unlink(backup.c_str()) == 0);
  CHECK(::symlink(outside.c_str(), backup.c_str()) == 0);
  v.rollBack();
  CHECK(readWholeFile(object) == replacement);
  CHECK(!exists(backup));
  CHECK(readWholeFile(outside) == outsideBytes);

  // The backup is there, but the directory it goes back to is a symlink to one outside: the
  // backup does not move out of the volume.
  writeWholeFile(backup, original);
  const std::string elsewhere = v.dir.file("elsewhere");
  std::filesystem::rename(v.base + "/objects/ab", elsewhere);
  CHECK(::symlink(elsewhere.c_str(), (v.base + "/objects/ab").c_str()) == 0);
  v.rollBack();
  CHECK(readWholeFile(elsewhere + "/cdef") == replacement);
  std::filesystem::remove(v.base + "/objects/ab");
  std::filesystem::rename(elsewhere, v.base + "/objects/ab");

  // A directory named like the backup stays where it is.
  std::filesystem::create_directories(backup);
  v.rollBack();
  CHECK(std::filesystem::is_directory(backup));
  CHECK(readWholeFile(object) == replacement);
  UndoJournal::discard(v.journalPath);
  CHECK(std::filesystem::is_directory(backup));
  std::filesystem::remove(backup);

  // preserveReplacement keeps nothing of a symlink, and does not follow one on the way.
  CHECK(::unlink(object.c_str()) == 0);
  CHECK(::symlink(outside.c_str(), object.c_str()) == 0);
  auto next = v.journal();
  next->preserveReplacement(object);
  CHECK(backupsOf(v).empty());
  CHECK(!next->active());
  CHECK(::unlink(object.c_str()) == 0);
  std::filesystem::rename(v.base + "/objects/ab", elsewhere);
  CHECK(::symlink(elsewhere.c_str(), (v.base + "/objects/ab").c_str()) == 0);
  next->preserveReplacement(object);
  CHECK(backupsOf(v).empty());
  CHECK(readWholeFile(outside) == outsideBytes);
}

TEST(journal_that_is_no_regular_file_is_eintegrity) {
  Volume v;
  const std::string outside = v.dir.file("outside");
  writeWholeFile(outside, std::vector<uint8_t>(200, 3));
  CHECK(::symlink(outside.c_str(), v.journalPath.c_str()) == 0);
  auto e = EXPECT_SHIELD_ERROR(kIntegrity, UndoJournal::readContext(v.journalPath, v.key.data()));
  CHECK(std::string(e.what()).find("not a regular file") != std::string::npos);
  CHECK_EQ(e.path(), v.journalPath);
  EXPECT_SHIELD_ERROR(kIntegrity, v.rollBack());
  UndoJournal::discard(v.journalPath);  // the link goes, not what it names
  CHECK(!exists(v.journalPath));
  CHECK(readWholeFile(outside) == std::vector<uint8_t>(200, 3));
  CHECK(::symlink("no-such-file", v.journalPath.c_str()) == 0);  // dangling: still no journal of ours
  EXPECT_SHIELD_ERROR(kIntegrity, UndoJournal::readContext(v.journalPath, v.key.data()));
  UndoJournal::discard(v.journalPath);

  CHECK(::mkfifo(v.journalPath.c_str(), 0600) == 0);  // must not wait for a writer
  EXPECT_SHIELD_ERROR(kIntegrity, UndoJournal::readContext(v.journalPath, v.key.data()));
  EXPECT_SHIELD_ERROR(kIntegrity, v.rollBack());
  UndoJournal::discard(v.journalPath);
  CHECK(!exists(v.journalPath));

  std::filesystem::create_directories(v.journalPath);
  EXPECT_SHIELD_ERROR(kIntegrity, UndoJournal::readContext(v.journalPath, v.key.data()));
  EXPECT_SHIELD_ERROR(kIntegrity, v.rollBack());
  // begin() does not create a journal through a symlink either.
  std::filesystem::remove(v.journalPath);
  CHECK(::symlink(v.dir.file("planted-journal").c_str(), v.journalPath.c_str()) == 0);
  EXPECT_SHIELD_ERROR("EEXIST", v.journal()->begin());
  CHECK(!exists(v.dir.file("planted-journal")));
}

TEST(discard_removes_only_backups_it_could_have_made) {
  Volume v;
  const std::string outside = v.dir.file("outside");
  writeWholeFile(outside, std::vector<uint8_t>(10, 4));
  writeWholeFile(v.journalPath, std::vector<uint8_t>(10, 1));
  writeWholeFile(v.journalPath + ".backup-3", std::vector<uint8_t>(10, 1));
  CHECK(::symlink(outside.c_str(), (v.journalPath + ".backup-4").c_str()) == 0);
  std::filesystem::create_directories(v.journalPath + ".backup-5");
  CHECK(::mkfifo((v.journalPath + ".backup-6").c_str(), 0600) == 0);
  writeWholeFile(v.journalPath + ".backup-x", std::vector<uint8_t>(10, 1));
  writeWholeFile(v.journalPath + ".backup-", std::vector<uint8_t>(10, 1));
  UndoJournal::discard(v.journalPath);
  auto left = backupsOf(v);
  std::sort(left.begin(), left.end());
  CHECK(left == (std::vector<std::string>{"journal.backup-", "journal.backup-5", "journal.backup-6", "journal.backup-x"}));
  CHECK(readWholeFile(outside) == std::vector<uint8_t>(10, 4));
}

// ---------------------------------------------------------------------------------------------
// With ShieldedFile
// ---------------------------------------------------------------------------------------------

namespace {

struct Committed {
  std::vector<uint8_t> data;
  Hash tag{};
};

Committed commitFile(const std::string& path, const TestKey& key, size_t bytes, uint64_t seed) {
  Rng rng(seed);
  Committed c{rng.bytes(bytes), {}};
  auto f = ShieldedFile::open(path, key.data(), createOptions(12));
  f->write(c.data.data(), c.data.size(), 0);
  c.tag = f->close();
  return c;
}

void expectCommitted(const std::string& path, const TestKey& key, const Committed& c, const std::string& when) {
  std::unique_ptr<ShieldedFile> f;
  try {
    f = ShieldedFile::open(path, key.data(), reopenOptions(c.tag));
  } catch (const ShieldError& e) {
    FAIL(when + ": the file does not open at its old tag: " + e.code() + ": " + e.what());
  }
  CHECK_MSG(readAll(*f) == c.data, when + ": content differs");
}

// Changes a committed file in every way a transaction can: overwrites across chunks, growth (the tree
// gains a level), a shrink inside a chunk, a re-key (the file is replaced) and more writes after it.
Hash changeThroughJournal(const std::string& path, const TestKey& key, const Hash& tag,
                          std::shared_ptr<UndoJournal> journal, uint64_t keyBudget) {
  Rng rng(77);
  OpenOptions o = reopenOptions(tag);
  o.journal = std::move(journal);
  o.keyBudget = keyBudget;
  auto f = ShieldedFile::open(path, key.data(), o);
  const auto patch = rng.bytes(30000);
  f->write(patch.data(), patch.size(), 5000);
  f->write(patch.data(), patch.size(), 160 * 4096 + 7);  // past the end: a second leaf, height 2
  f->flush();
  f->truncate(100 * 4096 + 17);
  f->write(patch.data(), 9000, 2);  // passes the budget: re-key, renamed over the file at the flush
  f->flush();
  f->write(patch.data(), 100, 4096 * 3);
  return f->close();
}

}  // namespace

TEST(shielded_file_rolls_back_to_its_old_tag) {
  Volume v;
  const std::string path = v.file("data.shield");
  const Committed old = commitFile(path, v.key, 150 * 4096 + 100, 11);
  auto journal = std::make_shared<UndoJournal>(v.journalPath, v.base, v.key.data(), std::vector<uint8_t>{});
  // Budget: the 151 chunks of the commit, then the first writes; the 3 chunks of the last write
  // before the second flush do not fit, so the file is re-keyed there.
  const Hash changed = changeThroughJournal(path, v.key, old.tag, journal, 151 + 8 + 8 + 1 + 2);
  CHECK(changed != old.tag);
  CHECK_EQ(backupsOf(v).size(), size_t{1});  // the re-key replaced the file
  v.rollBack();
  expectCommitted(path, v.key, old, "after rollBack");
  v.rollBack();
  expectCommitted(path, v.key, old, "after a second rollBack");
  UndoJournal::discard(v.journalPath);
  journal.reset();
  expectCommitted(path, v.key, old, "after discard");
}

TEST(shielded_file_changes_stand_after_finish) {
  Volume v;
  const std::string path = v.file("data.shield");
  const Committed old = commitFile(path, v.key, 10 * 4096, 12);
  auto journal = std::make_shared<UndoJournal>(v.journalPath, v.base, v.key.data(), std::vector<uint8_t>{});
  const Hash changed = changeThroughJournal(path, v.key, old.tag, journal, 1000);
  journal->finish();
  CHECK(!exists(v.journalPath));
  auto f = ShieldedFile::open(path, v.key.data(), reopenOptions(changed));
  CHECK_EQ(f->size(), uint64_t{4096 * 100 + 17});
}

// A file stays open across transactions; after a re-key it is another inode under the same name,
// and the next transaction's records must still name it where it is.
TEST(re_keyed_file_is_journaled_in_the_next_transaction) {
  Volume v;
  const std::string path = v.file("data.shield");
  const Committed first = commitFile(path, v.key, 20 * 4096, 14);
  auto journal = std::make_shared<UndoJournal>(v.journalPath, v.base, v.key.data(), std::vector<uint8_t>{});
  OpenOptions o = reopenOptions(first.tag);
  o.journal = journal;
  o.keyBudget = 30;
  auto f = ShieldedFile::open(path, v.key.data(), o);
  Rng rng(15);
  Committed second{first.data, {}};
  const auto patch = rng.bytes(8 * 4096);
  const FileId keyId = f->keyId();
  f->write(patch.data(), patch.size(), 0);  // 28 encryptions
  f->write(patch.data(), patch.size(), 0);  // 36 > 30: re-keyed first
  CHECK(f->keyId() != keyId);
  std::copy(patch.begin(), patch.end(), second.data.begin());
  second.tag = f->flush();
  journal->finish();

  f->write(patch.data(), 100, 7);  // the next transaction
  f->truncate(5);
  f->flush();
  f.reset();
  v.rollBack();
  expectCommitted(path, v.key, second, "the second transaction rolled back");
}

TEST(a_new_shielded_file_costs_no_journal) {
  Volume v;
  auto journal = std::make_shared<UndoJournal>(v.journalPath, v.base, v.key.data(), std::vector<uint8_t>{});
  OpenOptions o = createOptions(12);
  o.journal = journal;
  o.keyBudget = 401;  // re-keyed at the last write: the re-keyed file is new too, and replaces a new file
  auto f = ShieldedFile::open(v.file("fresh.shield"), v.key.data(), o);
  Rng rng(13);
  const auto data = rng.bytes(200 * 4096);
  f->write(data.data(), data.size(), 0);
  f->flush();
  f->write(data.data(), 5000, 100);  // overwrites what this transaction wrote itself
  f->write(data.data(), data.size(), 0);
  f->close();
  CHECK(!journal->active());
  CHECK(!exists(v.journalPath));
}

// The crash sweep: a child process (this binary again) changes a committed file through a journal
// with SHIELDFS_CRASH_AT=any:n, for n = 1, 2, … until it gets through. After each crash, recovery
// (rollBack when there is a journal, then discard) must give back the committed file byte for byte;
// a crash after the child's finish() has removed the journal leaves the file at its new tag.
TEST(crash_at_every_step_rolls_back_to_the_old_tag) {
  Volume v;
  const std::string path = v.file("data.shield");
  const Committed old = commitFile(path, v.key, 150 * 4096 + 100, 11);
  const auto pristine = readWholeFile(path);
  const std::string tagFile = v.dir.file("new-tag");
  int n = 1, landedNew = 0;
  for (;; n++) {
    CHECK_MSG(n < 1000, "the child never got through");
    writeWholeFile(path, pristine);
    ::unlink(tagFile.c_str());
    for (const auto& e : std::filesystem::directory_iterator(v.base))  // not part of the volume
      if (e.path().filename().string().find(".rekey-") != std::string::npos) std::filesystem::remove(e.path());
    pid_t child = ::fork();
    if (child == 0) {
      ::setenv("SHIELDFS_CRASH_AT", ("any:" + std::to_string(n)).c_str(), 1);
      ::setenv("SHIELDFS_JOURNAL_CHILD", v.dir.path().c_str(), 1);
      int devnull = ::open("/dev/null", O_WRONLY);
      ::dup2(devnull, 1);
      ::execl("/proc/self/exe", "/proc/self/exe", "journal_crash_child", static_cast<char*>(nullptr));
      ::_exit(127);
    }
    int status = 0;
    CHECK(::waitpid(child, &status, 0) == child);
    const bool crashed = WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL;
    CHECK_MSG(crashed || (WIFEXITED(status) && WEXITSTATUS(status) == 0),
              "child " + std::to_string(n) + " failed with status " + std::to_string(status));
    const std::string when = "crash at step " + std::to_string(n);
    const bool journalLeft = UndoJournal::readContext(v.journalPath, v.key.data()).has_value();
    if (journalLeft) v.rollBack();
    UndoJournal::discard(v.journalPath);
    if (!journalLeft && exists(tagFile)) {  // the transaction had ended
      const auto newTag = readWholeFile(tagFile);
      Hash tag;
      std::copy(newTag.begin(), newTag.end(), tag.begin());
      auto f = ShieldedFile::open(path, v.key.data(), reopenOptions(tag));
      CHECK_EQ(f->size(), uint64_t{4096 * 100 + 17});
      if (!crashed) break;
      landedNew++;
      continue;
    }
    CHECK_MSG(crashed, "the child got through but left its journal");
    CHECK_MSG(readWholeFile(path) == pristine, when + ": not restored byte for byte");
    expectCommitted(path, v.key, old, when);
  }
  CHECK_MSG(n > 40, "only " + std::to_string(n) + " durable steps: the sweep did not reach the journal");
  CHECK_MSG(landedNew > 0, "no crash point after the journal was removed");
}

// The child of the crash sweep (runs only when SHIELDFS_JOURNAL_CHILD names the sweep's directory).
TEST(journal_crash_child) {
  const char* dir = std::getenv("SHIELDFS_JOURNAL_CHILD");
  if (!dir) return;
  const std::string base = std::string(dir) + "/volume", path = base + "/data.shield";
  TestKey key(7);
  auto journal = std::make_shared<UndoJournal>(base + "/journal", base, key.data(), std::vector<uint8_t>{1});
  OpenOptions probe;
  probe.readOnly = true;
  Hash tag;
  {
    auto f = ShieldedFile::open(path, key.data(), probe);
    tag = f->tag();
  }
  const Hash changed = changeThroughJournal(path, key, tag, journal, 151 + 8 + 8 + 1 + 2);
  writeWholeFile(std::string(dir) + "/new-tag", std::vector<uint8_t>(changed.begin(), changed.end()));
  journal->finish();
}

SHIELDTEST_MAIN()
