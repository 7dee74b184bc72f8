#include "parallel_runner.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <exception>

namespace shieldfs {

namespace {

// Jobs come back to back (a loop of 1 MiB reads); sleeping on a condition variable between them
// costs two context switches per job. Spinning this long first keeps both sides awake across the gap.
constexpr auto kSpin = std::chrono::microseconds(50);

template <typename Ready>
bool spinUntil(Ready&& ready) {
  const auto deadline = std::chrono::steady_clock::now() + kSpin;
  for (unsigned i = 1;; i++) {
    if (ready()) return true;
#if defined(__x86_64__) || defined(__i386__)
    __builtin_ia32_pause();
#endif
    if (i % 64 == 0 && std::chrono::steady_clock::now() > deadline) return false;
  }
}

}  // namespace

struct ParallelRunner::Job {
  const std::function<void(size_t)>* part;
  std::atomic<size_t> remaining;
  std::exception_ptr error;
  std::condition_variable done;

  std::exception_ptr runPart(size_t index) {
    try {
      (*part)(index);
      return nullptr;
    } catch (...) {
      return std::current_exception();
    }
  }
  void partFinished(std::exception_ptr partError) {  // called with the runner's mutex held
    if (partError && !error) error = partError;
    if (remaining.fetch_sub(1) == 1) done.notify_all();
  }
};

ParallelRunner& ParallelRunner::shared() {
  // Never destroyed: helper threads must outlive every file, including ones closed at exit.
  static ParallelRunner* runner = new ParallelRunner(std::max(1u, std::thread::hardware_concurrency()) - 1);
  return *runner;
}

namespace {
thread_local const ParallelRunner* workerPool = nullptr;
thread_local unsigned workerIndex = 0;
}  // namespace

unsigned ParallelRunner::currentWorker() const { return workerPool == this ? workerIndex : 0; }

ParallelRunner::ParallelRunner(unsigned helpers) {
  for (unsigned i = 0; i < helpers; i++) helpers_.emplace_back([this, i] { helperLoop(i + 1); });
}

ParallelRunner::~ParallelRunner() {
  {
    std::lock_guard<std::mutex> lock(mutex_);
    stopping_ = true;
  }
  wake_.notify_all();
  for (auto& t : helpers_) t.join();
}

void ParallelRunner::runJob(size_t parts, const std::function<void(size_t)>& part) {
  if (parts == 0) return;
  Job job{&part, parts, nullptr, {}};
  {
    std::lock_guard<std::mutex> lock(mutex_);
    for (size_t i = 1; i < parts; i++) queue_.emplace_back(&job, i);
    queued_.store(queue_.size(), std::memory_order_release);
  }
  if (parts > 1) wake_.notify_all();

  auto finish = [&](std::exception_ptr error) {
    std::lock_guard<std::mutex> lock(mutex_);
    job.partFinished(error);
  };

  finish(job.runPart(0));
  // Help with our own remaining parts instead of sleeping while helpers are busy elsewhere.
  for (;;) {
    std::unique_lock<std::mutex> lock(mutex_);
    auto it = queue_.begin();
    while (it != queue_.end() && it->first != &job) ++it;
    if (it == queue_.end()) {
      lock.unlock();
      spinUntil([&] { return job.remaining.load(std::memory_order_acquire) == 0; });
      // Parts finish under the mutex, so once we hold it no helper touches `job` any more.
      lock.lock();
      job.done.wait(lock, [&] { return job.remaining == 0; });
      break;
    }
    size_t index = it->second;
    queue_.erase(it);
    queued_.store(queue_.size(), std::memory_order_release);
    lock.unlock();
    finish(job.runPart(index));
  }
  if (job.error) std::rethrow_exception(job.error);
}

void ParallelRunner::helperLoop(unsigned index) {
  workerPool = this;
  workerIndex = index;
  for (;;) {
    spinUntil([&] { return queued_.load(std::memory_order_acquire) > 0; });
    std::unique_lock<std::mutex> lock(mutex_);
    wake_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
    if (stopping_) return;
    auto [job, index] = queue_.front();
    queue_.pop_front();
    queued_.store(queue_.size(), std::memory_order_release);
    lock.unlock();
    std::exception_ptr error = job->runPart(index);
    lock.lock();
    job->partFinished(error);
  }
}

}  // namespace shieldfs
