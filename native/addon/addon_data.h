// What the addon keeps per environment (the main thread and each worker thread), so it is
// context-aware: the constructors of the classes it instantiates itself. Set up by Init (addon.cpp).
#pragma once

#include <napi.h>

namespace shieldfs::addon {

struct AddonData {
  Napi::FunctionReference nativeFile;
  Napi::FunctionReference nativeLock;
};

}  // namespace shieldfs::addon
