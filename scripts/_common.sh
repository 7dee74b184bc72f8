# Shared by scripts/*.sh (sourced, not run).
# - cd to the repository root
# - JOBS: parallel build jobs (default: number of cores)
# - npm_config_nodedir: where cmake-js and node-gyp find the Node.js headers. Set to the prefix of
#   the running `node` when it ships its headers there (/usr -> /usr/include/node), so neither tool
#   downloads anything. An explicit npm_config_nodedir (e.g. from .npmrc via `npm run`) wins.

set -euo pipefail

SHIELDFS_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$SHIELDFS_ROOT"

JOBS="${JOBS:-$(nproc 2>/dev/null || echo 2)}"

if [[ -z "${npm_config_nodedir:-}" ]]; then
  _node_prefix="$(node -p "require('path').resolve(process.execPath, '..', '..')")"
  if [[ -f "$_node_prefix/include/node/node_api.h" ]]; then
    export npm_config_nodedir="$_node_prefix"
  fi
fi

section() {
  printf '\n\033[1m==> %s\033[0m\n' "$*"
}

die() {
  printf '\033[31merror:\033[0m %s\n' "$*" >&2
  exit 1
}

# Builds the addon with cmake-js from CMakeLists.txt into $1 (build dir), extra args passed through
# (e.g. --CDSHIELDFS_SANITIZE=ON). Prints the absolute path of the .node file last.
build_addon_cmake_js() {
  local out="$1"
  shift
  [[ -x node_modules/.bin/cmake-js ]] || die "cmake-js is missing: run npm ci first"
  node_modules/.bin/cmake-js build --directory "$SHIELDFS_ROOT" --out "$out" --parallel "$JOBS" \
    --log-level warn "$@" >&2
  local addon
  addon="$(find "$out" -name 'shieldfs.node' -type f -printf '%T@ %p\n' | sort -n | tail -1 | cut -d' ' -f2-)"
  [[ -n "$addon" ]] || die "cmake-js produced no shieldfs.node under $out"
  echo "$addon"
}

# Fails when the addon links a libcrypto/libssl of its own: it must use the OpenSSL inside node.
check_no_system_openssl() {
  local addon="$1"
  if readelf -d "$addon" | grep -E 'NEEDED.*lib(crypto|ssl)' >&2; then
    die "$addon links the system OpenSSL; it must resolve OpenSSL from the node binary"
  fi
}
