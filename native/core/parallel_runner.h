// Splits one large read or write over the machine's cores. A small process-wide pool of helper
// threads takes parts of a job; the calling thread always works on the job too, so a job never
// waits for a busy pool to make progress.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>
#include <vector>

namespace shieldfs {

class ParallelRunner {
 public:
  static ParallelRunner& shared();
  explicit ParallelRunner(unsigned helpers);
  ~ParallelRunner();

  unsigned threads() const { return static_cast<unsigned>(helpers_.size()) + 1; }
  // 1…threads()-1 on this pool's helper threads, 0 on any other thread: an index for per-thread state.
  unsigned currentWorker() const;
  // Runs part(0) … part(parts-1), in parallel where threads are free; returns when all are done.
  // Exceptions thrown by parts are rethrown (the first one).
  template <typename Part>
  void run(size_t parts, Part&& part) {
    if (parts == 1) return part(0);  // the common small call: no queue, no std::function
    runJob(parts, std::function<void(size_t)>(std::ref(part)));
  }

 private:
  void runJob(size_t parts, const std::function<void(size_t)>& part);
  struct Job;
  void helperLoop(unsigned index);

  std::mutex mutex_;
  std::condition_variable wake_;
  std::deque<std::pair<Job*, size_t>> queue_;
  std::atomic<size_t> queued_{0};  // queue_.size(), readable without the mutex while spinning
  bool stopping_ = false;
  std::vector<std::thread> helpers_;
};

}  // namespace shieldfs
