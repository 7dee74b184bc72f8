// The two TEE device requests (core/tee_device.h), each one AsyncWorker on the libuv pool: a
// hardware request can take milliseconds and must not block the JavaScript thread. Called as
// snpReport(devicePath, reportData, vmpl, callback) and nsmRequest(devicePath, request, callback);
// the callback gets (error) or (null, Buffer).
#pragma once

#include <napi.h>

#include <array>
#include <string>
#include <vector>

#include "file_workers.h"

namespace shieldfs::addon {

class SnpReportWorker final : public FileWorker {
 public:
  SnpReportWorker(Napi::Function callback, std::string devicePath, const uint8_t* reportData, uint32_t vmpl);

 private:
  void Run() override;
  Napi::Value Result(Napi::Env env) override;
  std::string devicePath_;
  std::array<uint8_t, 64> reportData_;
  uint32_t vmpl_;
  std::vector<uint8_t> response_;
};

class NsmRequestWorker final : public FileWorker {
 public:
  NsmRequestWorker(Napi::Function callback, std::string devicePath, std::vector<uint8_t> request);

 private:
  void Run() override;
  Napi::Value Result(Napi::Env env) override;
  std::string devicePath_;
  std::vector<uint8_t> request_;
  std::vector<uint8_t> response_;
};

Napi::Value SnpReport(const Napi::CallbackInfo& info);
Napi::Value NsmRequest(const Napi::CallbackInfo& info);

}  // namespace shieldfs::addon
