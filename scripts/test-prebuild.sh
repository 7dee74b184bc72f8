#!/usr/bin/env bash
# npm run test:prebuild
#   1. npm run build:prebuild (prebuildify --napi --strip -> prebuilds/linux-x64/shieldfs.node)
#   2. moves build/ aside (restored on exit, also on failure or Ctrl-C), so nothing but the prebuild
#      can load, and checks which .node file the process maps
#   3. a quick subset of the JS tests with PREBUILDS_ONLY=1
# Environment: PREBUILD_TESTS (regex of test file names; default "shielded-file|aead-kat|tamper";
#              when nothing matches, the whole suite runs), SHIELDFS_SKIP_PREBUILD_BUILD=1 to reuse
#              an existing prebuild.
source "$(dirname "$0")/_common.sh"

ASIDE="$SHIELDFS_ROOT/build.prebuild-aside"
# A previous run that was killed may have left build/ aside.
if [[ -d "$ASIDE" && ! -e build ]]; then
  mv "$ASIDE" build
fi
[[ -e "$ASIDE" ]] && die "$ASIDE exists next to build/: resolve it by hand"

if [[ "${SHIELDFS_SKIP_PREBUILD_BUILD:-0}" != 1 ]]; then
  section "npm run build:prebuild"
  npm run build:prebuild
fi

arch="$(node -p 'process.platform + "-" + process.arch')"
prebuild="$(find "prebuilds/$arch" -name '*.node' -type f 2>/dev/null | head -1)"
[[ -n "$prebuild" ]] || die "no prebuild in prebuilds/$arch"
prebuild="$SHIELDFS_ROOT/$prebuild"
check_no_system_openssl "$prebuild"
echo "prebuild: $prebuild ($(stat -c %s "$prebuild") bytes)"

restore_build() {
  if [[ -e "$ASIDE" ]]; then
    rm -rf build  # anything a test might have created meanwhile
    mv "$ASIDE" build
    echo "restored build/"
  fi
}
if [[ -e build ]]; then
  mv build "$ASIDE"
  trap restore_build EXIT
  trap 'exit 130' INT TERM
  echo "moved build/ aside to $ASIDE"
fi

export PREBUILDS_ONLY=1
unset SHIELDFS_ADDON

section "which addon loads"
node --import tsx scripts/check-addon-origin.mjs "$prebuild"

section "JS tests against the prebuild (PREBUILDS_ONLY=1, no build/)"
pattern="${PREBUILD_TESTS:-shielded-file|aead-kat|tamper}"
mapfile -t files < <(find test -maxdepth 1 -name '*.test.ts' | grep -E "$pattern" | sort)
if [[ ${#files[@]} == 0 ]]; then
  echo "no test file matches /$pattern/: running the whole suite"
fi
node node_modules/vitest/vitest.mjs run "${files[@]}"
