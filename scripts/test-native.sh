#!/usr/bin/env bash
# npm run test:native
#   1. the native unit tests (native/test) with plain cmake + ctest in build-native/
#   2. the addon through cmake-js from the same CMakeLists.txt (build-native/addon/): it must not link
#      the system OpenSSL, and node must load it.
# Environment: JOBS (parallel jobs), NATIVE_BUILD_TYPE (default RelWithDebInfo),
#              SHIELDFS_SKIP_CMAKE_JS_ADDON=1 to skip step 2.
source "$(dirname "$0")/_common.sh"

BUILD="$SHIELDFS_ROOT/build-native"

section "native unit tests: configure + build ($BUILD)"
cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE="${NATIVE_BUILD_TYPE:-RelWithDebInfo}" -DSHIELDFS_TESTS=ON \
  -DSHIELDFS_SANITIZE=OFF -DSHIELDFS_FUZZ=OFF >/dev/null
cmake --build "$BUILD" --parallel "$JOBS"

section "native unit tests: ctest"
(cd "$BUILD" && ctest --output-on-failure --parallel "$JOBS")

if [[ "${SHIELDFS_SKIP_CMAKE_JS_ADDON:-0}" != 1 ]]; then
  section "addon through cmake-js ($BUILD/addon)"
  addon="$(build_addon_cmake_js "$BUILD/addon")"
  check_no_system_openssl "$addon"
  SHIELDFS_ADDON_UNDER_TEST="$addon" node -e '
    const addon = require(process.env.SHIELDFS_ADDON_UNDER_TEST);
    // McGrew-Viega test case 14 through the addon (OpenSSL resolved from node).
    const out = addon.gcmSeal(Buffer.alloc(32), Buffer.alloc(12), Buffer.alloc(0), Buffer.alloc(16)).toString("hex");
    const want = "cea7403d4d606b6e074ec5d3baf39d18" + "d0d1c8a799996bf0265b98b5d48ab919";
    if (out !== want) { console.error("gcmSeal:", out); process.exit(1); }
    console.log("loaded", process.env.SHIELDFS_ADDON_UNDER_TEST, "- AES-256-GCM known answer ok");
  '
fi
