#!/usr/bin/env bash
# npm run test:sanitize
#   1. native unit tests built with -DSHIELDFS_SANITIZE=ON (ASan + UBSan) in build-sanitize/, via ctest
#   2. the addon built with cmake-js and the same sanitizers (build-sanitize/addon/)
#   3. the JS test suite (vitest) against that addon: SHIELDFS_ADDON=<sanitized .node>, with gcc's
#      libasan + libubsan preloaded into node (node itself is not instrumented, so the runtime must
#      be loaded first). Any sanitizer report fails the script, even one from a worker process whose
#      failure vitest might not notice (ASan reports go to build-sanitize/sanitizer-logs/asan.<pid>,
#      UBSan reports are found in the kept test output).
# Environment: JOBS, VITEST_ARGS (extra arguments for `vitest run`, e.g. a file filter),
#              SHIELDFS_SANITIZE_SKIP_JS=1 to stop after step 1.
source "$(dirname "$0")/_common.sh"

BUILD="$SHIELDFS_ROOT/build-sanitize"
CXX_FOR_SANITIZE="${CXX_FOR_SANITIZE:-g++}"
command -v "$CXX_FOR_SANITIZE" >/dev/null || die "$CXX_FOR_SANITIZE not found"

section "sanitized native unit tests: configure + build ($BUILD)"
cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_COMPILER="$CXX_FOR_SANITIZE" \
  -DSHIELDFS_SANITIZE=ON -DSHIELDFS_TESTS=ON -DSHIELDFS_FUZZ=OFF >/dev/null
cmake --build "$BUILD" --parallel "$JOBS"

section "sanitized native unit tests: ctest"
(cd "$BUILD" && ctest --output-on-failure --parallel "$JOBS")

[[ "${SHIELDFS_SANITIZE_SKIP_JS:-0}" == 1 ]] && exit 0

section "sanitized addon through cmake-js ($BUILD/addon)"
addon="$(build_addon_cmake_js "$BUILD/addon" --config RelWithDebInfo --CDSHIELDFS_SANITIZE=ON \
  --cxx "$(command -v "$CXX_FOR_SANITIZE")")"
check_no_system_openssl "$addon"
readelf -d "$addon" | grep -q 'NEEDED.*libasan' || die "$addon is not built with AddressSanitizer"
echo "sanitized addon: $addon"

libasan="$("$CXX_FOR_SANITIZE" -print-file-name=libasan.so)"
libubsan="$("$CXX_FOR_SANITIZE" -print-file-name=libubsan.so)"
[[ -f "$libasan" && -f "$libubsan" ]] || die "sanitizer runtimes not found ($libasan, $libubsan)"

logs="$BUILD/sanitizer-logs"
rm -rf "$logs"
mkdir -p "$logs"

section "JS test suite under ASan + UBSan (vitest, SHIELDFS_ADDON=$addon)"
# detect_leaks=0: node does not free everything at exit.
# ASan writes its reports to $logs/asan.<pid> (log_path), whichever process (vitest forks workers)
# they come from. UBSan cannot: with both runtimes preloaded it ignores log_path and prints to stderr,
# so the whole vitest output is kept and scanned for reports as well.
# abort_on_error: report and abort, so a worker never carries on after a report.
asan_options="detect_leaks=0:halt_on_error=1:abort_on_error=1:handle_segv=1:allow_user_segv_handler=1"
asan_options+=":detect_stack_use_after_return=0:check_initialization_order=1"
asan_options+=":log_path=$logs/asan"
ubsan_options="print_stacktrace=1:halt_on_error=1:abort_on_error=1"
output="$logs/vitest-output.txt"
set +e
env \
  SHIELDFS_ADDON="$addon" \
  LD_PRELOAD="$libasan:$libubsan${LD_PRELOAD:+:$LD_PRELOAD}" \
  ASAN_OPTIONS="$asan_options" \
  UBSAN_OPTIONS="$ubsan_options" \
  node node_modules/vitest/vitest.mjs run ${VITEST_ARGS:-} 2>&1 | tee "$output"
status=${PIPESTATUS[0]}
set -e

problems=0
shopt -s nullglob
asan_reports=("$logs"/asan.*)
shopt -u nullglob
if [[ ${#asan_reports[@]} != 0 ]]; then
  section "AddressSanitizer reports"
  for report in "${asan_reports[@]}"; do
    echo "--- $report"
    cat "$report"
  done
  problems=$((problems + ${#asan_reports[@]}))
fi
report_pattern='(: runtime error: |ERROR: (Address|Leak|UndefinedBehavior|Thread|Memory)Sanitizer|SUMMARY: [A-Za-z]*Sanitizer)'
if grep -Eq "$report_pattern" "$output"; then
  section "sanitizer reports in the test output"
  grep -En -A3 "$report_pattern" "$output" | head -200
  problems=$((problems + 1))
fi
[[ $problems == 0 ]] || die "sanitizers reported problems while running the JS tests (see above; output kept in $logs)"
[[ $status == 0 ]] || die "vitest failed under the sanitizers (exit status $status)"
echo "JS tests passed under ASan + UBSan with no sanitizer reports"
