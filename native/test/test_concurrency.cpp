// Several threads on one ShieldedFile (disjoint byte ranges, some sharing chunks), and several files
// at once sharing the process-wide ParallelRunner.
#include <atomic>
#include <chrono>
#include <cstring>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "harness.h"
#include "parallel_runner.h"
#include "shield_error.h"
#include "shielded_file.h"
#include "test_util.h"

using namespace shieldfs;
using namespace shieldtest;

namespace {

void threadsOnOneFile(unsigned shift, uint64_t rangeBytes, unsigned threads, int iterations) {
  TempDir dir;
  const std::string path = dir.file("shared");
  TestKey key(static_cast<uint8_t>(shift));
  const uint64_t C = uint64_t{1} << shift;
  auto f = ShieldedFile::open(path, key.data(), createOptions(shift));
  f->truncate(rangeBytes * threads);
  std::vector<std::vector<uint8_t>> models(threads, std::vector<uint8_t>(rangeBytes, 0));
  std::atomic<bool> failed{false};
  std::vector<std::string> errors(threads);
  std::atomic<bool> stop{false};
  std::string flusherError;

  auto worker = [&](unsigned t) {
    try {
      Rng rng(1000 + t);
      const uint64_t base = t * rangeBytes;
      std::vector<uint8_t>& model = models[t];
      for (int i = 0; i < iterations && !failed; i++) {
        uint64_t pos = rng.below(rangeBytes);
        uint64_t len = 1 + rng.below(std::min<uint64_t>(rangeBytes - pos, rng.chance(20) ? rangeBytes : 3 * C));
        if (rng.chance(55)) {
          auto d = rng.bytes(len);
          if (f->write(d.data(), len, base + pos) != len) throw Failure("short write");
          std::memcpy(model.data() + pos, d.data(), len);
        } else {
          std::vector<uint8_t> buf(len);
          if (f->read(buf.data(), len, base + pos) != len) throw Failure("short read");
          if (std::memcmp(buf.data(), model.data() + pos, len) != 0)
            throw Failure("thread " + std::to_string(t) + " read wrong bytes at " + std::to_string(base + pos));
        }
      }
    } catch (const std::exception& e) {
      errors[t] = e.what();
      failed = true;
    }
  };
  // Meanwhile: flushes and metadata calls from another thread.
  std::thread flusher([&] {
    try {
      while (!stop && !failed) {
        Hash t = f->flush();
        (void)t;
        (void)f->size();
        (void)f->tag();
        (void)f->encryptions();
        std::this_thread::sleep_for(std::chrono::milliseconds(3));
      }
    } catch (const std::exception& e) {
      flusherError = std::string("flusher: ") + e.what();
      failed = true;
    }
  });
  std::vector<std::thread> pool;
  for (unsigned t = 0; t < threads; t++) pool.emplace_back(worker, t);
  for (auto& th : pool) th.join();
  stop = true;
  flusher.join();
  for (const auto& e : errors) CHECK_MSG(e.empty(), e);
  CHECK_MSG(flusherError.empty(), flusherError);
  CHECK_EQ(f->size(), rangeBytes * threads);
  Hash tag = f->close();
  auto again = ShieldedFile::open(path, key.data(), reopenOptions(tag));
  auto all = readAll(*again);
  for (unsigned t = 0; t < threads; t++)
    CHECK_MSG(std::memcmp(all.data() + t * rangeBytes, models[t].data(), rangeBytes) == 0,
              "range of thread " + std::to_string(t) + " differs after reopen");
}

}  // namespace

TEST(threads_share_chunks_shift12) {
  // Ranges of 3.5 chunks: neighbouring threads write into the same chunks.
  threadsOnOneFile(12, 3 * 4096 + 2048 + 7, 6, 1000);
}

TEST(threads_large_ranges_shift16) {
  // 1 MiB + a bit per thread: large calls are split over the ParallelRunner.
  threadsOnOneFile(16, (1u << 20) + 12345, 4, 200);
}

TEST(many_files_in_parallel) {
  TempDir dir;
  const unsigned files = 4;
  std::vector<std::string> errors(files);
  std::vector<std::thread> pool;
  for (unsigned i = 0; i < files; i++) {
    pool.emplace_back([&, i] {
      try {
        TestKey key(static_cast<uint8_t>(i));
        Rng rng(i);
        const std::string path = dir.file("f" + std::to_string(i));
        auto f = ShieldedFile::open(path, key.data(), createOptions(12 + i));
        std::vector<uint8_t> model;
        for (int k = 0; k < 15; k++) {
          uint64_t pos = rng.below(model.size() + 1), len = rng.between(1, 1u << 20);
          auto d = rng.bytes(len);
          f->write(d.data(), len, pos);
          if (model.size() < pos + len) model.resize(pos + len);
          std::memcpy(model.data() + pos, d.data(), len);
          if (readAll(*f) != model) throw Failure("file " + std::to_string(i) + " differs");
        }
        Hash t = f->close();
        auto again = ShieldedFile::open(path, key.data(), reopenOptions(t));
        if (readAll(*again) != model) throw Failure("file " + std::to_string(i) + " differs after reopen");
      } catch (const std::exception& e) {
        errors[i] = e.what();
      }
    });
  }
  for (auto& t : pool) t.join();
  for (const auto& e : errors) CHECK_MSG(e.empty(), e);
}

TEST(parallel_runner_runs_all_parts_and_rethrows) {
  ParallelRunner runner(3);
  CHECK_EQ(runner.threads(), 4u);
  for (size_t parts : {size_t{1}, size_t{2}, size_t{7}, size_t{64}}) {
    std::vector<std::atomic<int>> hits(parts);
    runner.run(parts, [&](size_t i) { hits[i]++; });
    for (size_t i = 0; i < parts; i++) CHECK_EQ(hits[i].load(), 1);
  }
  bool threw = false;
  try {
    runner.run(8, [](size_t i) {
      if (i == 5) throw ShieldError("EIO", "part 5 failed");
    });
  } catch (const ShieldError& e) {
    threw = e.code() == "EIO";
  }
  CHECK(threw);
  // Jobs from several threads at once.
  std::atomic<long> sum{0};
  std::vector<std::thread> callers;
  for (int t = 0; t < 4; t++)
    callers.emplace_back([&] {
      for (int k = 0; k < 50; k++) runner.run(5, [&](size_t i) { sum += static_cast<long>(i); });
    });
  for (auto& c : callers) c.join();
  CHECK_EQ(sum.load(), 4L * 50 * (0 + 1 + 2 + 3 + 4));
}

SHIELDTEST_MAIN()
