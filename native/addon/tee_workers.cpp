#include "tee_workers.h"

#include <cstring>

#include "../core/tee_device.h"
#include "js_errors.h"

namespace shieldfs::addon {

SnpReportWorker::SnpReportWorker(Napi::Function callback, std::string devicePath, const uint8_t* reportData, uint32_t vmpl)
    : FileWorker(callback, "shieldfs.snpReport"), devicePath_(std::move(devicePath)), vmpl_(vmpl) {
  std::memcpy(reportData_.data(), reportData, reportData_.size());
}
void SnpReportWorker::Run() { response_ = TeeDevice::snpReport(devicePath_, reportData_.data(), vmpl_); }
Napi::Value SnpReportWorker::Result(Napi::Env env) { return Napi::Buffer<uint8_t>::Copy(env, response_.data(), response_.size()); }

NsmRequestWorker::NsmRequestWorker(Napi::Function callback, std::string devicePath, std::vector<uint8_t> request)
    : FileWorker(callback, "shieldfs.nsmRequest"), devicePath_(std::move(devicePath)), request_(std::move(request)) {}
void NsmRequestWorker::Run() { response_ = TeeDevice::nsmRequest(devicePath_, request_.data(), request_.size()); }
Napi::Value NsmRequestWorker::Result(Napi::Env env) { return Napi::Buffer<uint8_t>::Copy(env, response_.data(), response_.size()); }

Napi::Value SnpReport(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto path = parsePath(info, 0, "devicePath");
  auto reportData = path ? parseBytes(info, 1, "reportData") : std::nullopt;
  if (!reportData) return env.Undefined();
  if (reportData->length != TeeDevice::kReportDataBytes) {
    invalidArgument(env, "reportData must be 64 bytes").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  auto vmpl = parseSize(info, 2, "vmpl");
  if (!vmpl) return env.Undefined();
  if (*vmpl > 3) {
    invalidArgument(env, "vmpl must be 0 to 3").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  auto callback = parseCallback(info, 3);
  if (!callback) return env.Undefined();
  (new SnpReportWorker(*callback, *path, reportData->data, static_cast<uint32_t>(*vmpl)))->Queue();
  return env.Undefined();
}

Napi::Value NsmRequest(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto path = parsePath(info, 0, "devicePath");
  auto request = path ? parseBytes(info, 1, "request") : std::nullopt;
  if (!request) return env.Undefined();
  if (request->length == 0 || request->length > TeeDevice::kNsmRequestMaxBytes) {
    invalidArgument(env, "an NSM request is 1 to 4096 bytes").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  auto callback = parseCallback(info, 2);
  if (!callback) return env.Undefined();
  (new NsmRequestWorker(*callback, *path, std::vector<uint8_t>(request->data, request->data + request->length)))->Queue();
  return env.Undefined();
}

}  // namespace shieldfs::addon
