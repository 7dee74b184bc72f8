#include "file_workers.h"

#include "js_errors.h"
#include "native_file.h"

namespace shieldfs::addon {

void FileWorker::Execute() {
  try {
    Run();
  } catch (const ShieldError& e) {
    error_ = e;
  } catch (const std::exception& e) {
    error_ = ShieldError("EIO", e.what());
  }
}

void FileWorker::OnOK() {
  Napi::Env env = Env();
  Napi::HandleScope scope(env);
  if (error_) {
    Callback().Call({toJsError(env, *error_).Value()});
  } else {
    Napi::Value result = Result(env);
    Callback().Call({env.Null(), result});
  }
}

OpenWorker::OpenWorker(Napi::Function callback, OpenRequest request)
    : FileWorker(callback, "shieldfs.open"), request_(std::move(request)) {}
OpenWorker::~OpenWorker() = default;  // request_.key wipes itself
void OpenWorker::Run() { file_ = ShieldedFile::open(request_.path, request_.key.data(), request_.options); }
Napi::Value OpenWorker::Result(Napi::Env env) { return NativeFile::Wrap(env, std::move(file_)); }

IoWorker::IoWorker(Napi::Function callback, std::shared_ptr<ShieldedFile> file, IoRequest io, Direction direction)
    : FileWorker(callback, direction == Direction::Read ? "shieldfs.read" : "shieldfs.write"),
      file_(std::move(file)),
      io_(io),
      direction_(direction),
      keepAlive_(Napi::Persistent(io.buffer)) {}
void IoWorker::Run() {
  done_ = direction_ == Direction::Read ? file_->read(io_.data, io_.length, io_.position)
                                        : file_->write(io_.data, io_.length, io_.position);
}
Napi::Value IoWorker::Result(Napi::Env env) { return Napi::Number::New(env, static_cast<double>(done_)); }

TruncateWorker::TruncateWorker(Napi::Function callback, std::shared_ptr<ShieldedFile> file, uint64_t size)
    : FileWorker(callback, "shieldfs.truncate"), file_(std::move(file)), size_(size) {}
void TruncateWorker::Run() { file_->truncate(size_); }
Napi::Value TruncateWorker::Result(Napi::Env env) { return env.Undefined(); }

FlushWorker::FlushWorker(Napi::Function callback, std::shared_ptr<ShieldedFile> file, Then then)
    : FileWorker(callback, then == Then::Close ? "shieldfs.close" : "shieldfs.flush"), file_(std::move(file)), then_(then) {}
void FlushWorker::Run() { tag_ = then_ == Then::Close ? file_->close() : file_->flush(); }
Napi::Value FlushWorker::Result(Napi::Env env) { return Napi::String::New(env, toHex(tag_.data(), tag_.size())); }

}  // namespace shieldfs::addon
