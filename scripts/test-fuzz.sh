#!/usr/bin/env bash
# Fuzzing: builds the libFuzzer targets (native/test/fuzz) with clang + ASan + UBSan into build-fuzz/
# and runs each for FUZZ_SECONDS (default 60). Installs clang + libFuzzer with apt-get when missing
# (Debian: clang, libfuzzer-<clang major>-dev, libclang-rt-<clang major>-dev; needs root).
#   fuzz_header         Header::decode on arbitrary bytes
#   fuzz_shielded_file  arbitrary bytes as a file, opened/read/written through ShieldedFile
#   fuzz_undo_journal   arbitrary bytes as an undo journal, read and rolled back (twice) over a small volume
# The corpus grows in build-fuzz/corpus/<target> (seeded by fuzz_seeds with real files); crashes are
# saved as build-fuzz/artifacts/<target>-crash-*.
# Environment: FUZZ_SECONDS, FUZZ_TARGETS (default "header shielded_file undo_journal"), FUZZ_MAX_LEN (65536),
#              JOBS, CLANGXX (compiler to use).
source "$(dirname "$0")/_common.sh"

FUZZ_SECONDS="${FUZZ_SECONDS:-60}"
FUZZ_TARGETS="${FUZZ_TARGETS:-header shielded_file undo_journal}"
FUZZ_MAX_LEN="${FUZZ_MAX_LEN:-65536}"
BUILD="$SHIELDFS_ROOT/build-fuzz"

find_clangxx() {
  local candidate
  for candidate in ${CLANGXX:-} clang++ clang++-19 clang++-18 clang++-17 clang++-16 clang++-15 clang++-14; do
    if command -v "$candidate" >/dev/null 2>&1; then
      command -v "$candidate"
      return 0
    fi
  done
  return 1
}

# Does this clang link a libFuzzer target?
can_link_fuzzer() {
  local dir
  dir="$(mktemp -d)"
  printf 'extern "C" int LLVMFuzzerTestOneInput(const unsigned char*, unsigned long) { return 0; }\n' >"$dir/t.cpp"
  "$1" -fsanitize=fuzzer,address,undefined "$dir/t.cpp" -o "$dir/t" >/dev/null 2>&1
  local ok=$?
  rm -rf "$dir"
  return $ok
}

apt_updated=0
apt_install() {
  [[ $(id -u) == 0 ]] || die "missing $*; install it (apt-get install $*) or run as root"
  if [[ $apt_updated == 0 ]]; then
    apt-get update -qq
    apt_updated=1
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

section "fuzzing toolchain"
clangxx="$(find_clangxx || true)"
if [[ -z "$clangxx" ]]; then
  echo "clang not found: installing clang"
  apt_install clang
  clangxx="$(find_clangxx)" || die "clang++ still missing after installing clang"
fi
if ! can_link_fuzzer "$clangxx"; then
  major="$("$clangxx" -dumpversion | cut -d. -f1)"
  # libFuzzer itself, and compiler-rt with the fuzzer/ASan/UBSan runtimes clang links in.
  echo "$clangxx cannot link libFuzzer targets: installing libfuzzer-$major-dev libclang-rt-$major-dev"
  apt_install "libfuzzer-$major-dev" "libclang-rt-$major-dev"
  can_link_fuzzer "$clangxx" || die "$clangxx still cannot link -fsanitize=fuzzer"
fi
echo "using $clangxx ($("$clangxx" --version | head -1))"

section "build fuzz targets ($BUILD)"
cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_CXX_COMPILER="$clangxx" \
  -DSHIELDFS_FUZZ=ON -DSHIELDFS_TESTS=OFF -DSHIELDFS_ADDON=OFF -DSHIELDFS_SANITIZE=OFF >/dev/null
cmake --build "$BUILD" --parallel "$JOBS"

section "seed corpus"
rm -rf "$BUILD/seeds"
"$BUILD/fuzz_seeds" "$BUILD/seeds/header" "$BUILD/seeds/shielded_file" "$BUILD/seeds/undo_journal"
mkdir -p "$BUILD/artifacts"

export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
failed=()
for target in $FUZZ_TARGETS; do
  section "fuzz_$target for ${FUZZ_SECONDS}s"
  corpus="$BUILD/corpus/$target"
  mkdir -p "$corpus"
  log="$BUILD/fuzz_$target.log"
  status=0
  "$BUILD/fuzz_$target" "$corpus" "$BUILD/seeds/$target" \
    -max_total_time="$FUZZ_SECONDS" -max_len="$FUZZ_MAX_LEN" -timeout=30 -rss_limit_mb=2048 \
    -print_final_stats=1 -artifact_prefix="$BUILD/artifacts/$target-" >"$log" 2>&1 || status=$?
  grep -E '^#[0-9]+[[:space:]]+(INITED|DONE)|^stat::(number_of_executed_units|average_exec_per_sec|new_units_added|peak_rss_mb)' "$log" || true
  if [[ $status != 0 ]]; then
    echo "fuzz_$target FAILED (exit status $status); log tail:"
    tail -n 60 "$log"
    failed+=("$target")
  else
    echo "fuzz_$target: no crash in ${FUZZ_SECONDS}s ($(find "$corpus" -type f | wc -l) corpus files)"
  fi
done

if [[ ${#failed[@]} != 0 ]]; then
  ls -l "$BUILD/artifacts" >&2 || true
  die "fuzzing found crashes in: ${failed[*]} (inputs in $BUILD/artifacts)"
fi
