// One AsyncWorker per file operation. Each copies what it needs out of JavaScript in its
// constructor, runs the core call on a libuv pool thread in Execute (no JavaScript there), and
// calls back as callback(error) or callback(null, result).
#pragma once

#include <napi.h>

#include <memory>
#include <optional>

#include "../core/shielded_file.h"
#include "../core/shield_error.h"
#include "arguments.h"

namespace shieldfs::addon {

class FileWorker : public Napi::AsyncWorker {
 protected:
  FileWorker(Napi::Function callback, const char* name) : Napi::AsyncWorker(callback, name) {}
  virtual void Run() = 0;                       // worker thread
  virtual Napi::Value Result(Napi::Env env) = 0;  // main thread, after Run succeeded

 private:
  void Execute() final;
  void OnOK() final;
  std::optional<ShieldError> error_;
};

class OpenWorker final : public FileWorker {
 public:
  OpenWorker(Napi::Function callback, OpenRequest request);
  ~OpenWorker() override;

 private:
  void Run() override;
  Napi::Value Result(Napi::Env env) override;
  OpenRequest request_;
  std::shared_ptr<ShieldedFile> file_;
};

// read() and write(): the same shape, one direction each.
class IoWorker final : public FileWorker {
 public:
  enum class Direction { Read, Write };
  IoWorker(Napi::Function callback, std::shared_ptr<ShieldedFile> file, IoRequest io, Direction direction);

 private:
  void Run() override;
  Napi::Value Result(Napi::Env env) override;
  std::shared_ptr<ShieldedFile> file_;
  IoRequest io_;
  Direction direction_;
  Napi::ObjectReference keepAlive_;  // the caller's buffer stays alive while the pool thread uses it
  size_t done_ = 0;
};

class TruncateWorker final : public FileWorker {
 public:
  TruncateWorker(Napi::Function callback, std::shared_ptr<ShieldedFile> file, uint64_t size);

 private:
  void Run() override;
  Napi::Value Result(Napi::Env env) override;
  std::shared_ptr<ShieldedFile> file_;
  uint64_t size_;
};

// flush() and close() both make the file durable and answer its tag.
class FlushWorker final : public FileWorker {
 public:
  enum class Then { KeepOpen, Close };
  FlushWorker(Napi::Function callback, std::shared_ptr<ShieldedFile> file, Then then);

 private:
  void Run() override;
  Napi::Value Result(Napi::Env env) override;
  std::shared_ptr<ShieldedFile> file_;
  Then then_;
  Hash tag_{};
};

}  // namespace shieldfs::addon
