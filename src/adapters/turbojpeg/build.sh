#!/usr/bin/env bash
# Builds rxfeed's optional libjpeg-turbo binding (turbojpeg.c) into dist/src/adapters/turbojpeg/.
#
# Node-API is ABI-stable, so the C compiler and Node's own headers are all it needs: no node-gyp,
# no Python, no download. The decode task falls back to sharp when the binding is absent, so a
# failed build is one line and is not fatal (exit 0) unless RXFEED_REQUIRE_TURBOJPEG=1.
#
# Two callers: the repository's `npm run build` (with --apt: installs libturbojpeg0-dev via apt-get
# when it is missing and we are root, for CI machines), and scripts/install-binding.mjs when a user
# installs the package (never --apt: an npm install must not change the user's system packages).
# CC, CPPFLAGS, CFLAGS and LDFLAGS are honoured, e.g. for headers outside the compiler's default
# path: CPPFLAGS=-I/opt/homebrew/include LDFLAGS=-L/opt/homebrew/lib npm rebuild rxfeed
#
# Usage: bash src/adapters/turbojpeg/build.sh [--apt]   (from anywhere)
set -uo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../../.." && pwd)"
out="$root/dist/src/adapters/turbojpeg"

fail() {
  echo "rxfeed: $1; JPEG decode will use sharp" >&2
  [ "${RXFEED_REQUIRE_TURBOJPEG:-0}" = 1 ] && exit 1
  exit 0
}

if [ "${1:-}" = --apt ] && [ ! -e /usr/include/turbojpeg.h ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "rxfeed: installing libturbojpeg0-dev"
  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends libturbojpeg0-dev >/dev/null 2>&1 ||
    { apt-get update -qq >/dev/null 2>&1 &&
      DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends libturbojpeg0-dev >/dev/null 2>&1; }
fi

cc="${CC:-cc}"
command -v "$cc" >/dev/null || fail "no C compiler ($cc)"
# Asking the compiler finds the header wherever its include path (and CPPFLAGS) reaches.
# shellcheck disable=SC2086 # the flags are word lists, as make splits them
echo '#include <turbojpeg.h>' | "$cc" ${CPPFLAGS:-} -E -x c - >/dev/null 2>&1 || fail "libturbojpeg headers not found"

# Node's headers ship with its binary distribution (<prefix>/include/node); node-gyp's cache is
# the second place to look.
node_bin="$(node -p 'process.execPath')"
node_version="$(node -p 'process.versions.node')"
include=""
for candidate in "$(dirname "$(dirname "$node_bin")")/include/node" \
  "${HOME:-/root}/.cache/node-gyp/$node_version/include/node" /usr/include/node /usr/local/include/node; do
  if [ -e "$candidate/node_api.h" ]; then include="$candidate"; break; fi
done
[ -n "$include" ] || fail "Node's headers (node_api.h) not found"

mkdir -p "$out" || fail "cannot create $out"
# shellcheck disable=SC2086
"$cc" -O2 -shared -fPIC -fvisibility=hidden -Wall -Wextra -DNAPI_VERSION=8 -I"$include" ${CPPFLAGS:-} ${CFLAGS:-} \
  "$here/turbojpeg.c" ${LDFLAGS:-} -lturbojpeg -o "$out/turbojpeg.node.tmp" ||
  { rm -f "$out/turbojpeg.node.tmp"; fail "compiling the libjpeg-turbo binding failed"; }
# Renamed into place only once built, so a failed build never leaves a half-written binding to load.
mv "$out/turbojpeg.node.tmp" "$out/turbojpeg.node" || fail "cannot write $out/turbojpeg.node"
node -e "
  const tj = require(process.argv[1]);
  if (typeof tj.decode !== 'function') process.exit(1);
" "$out/turbojpeg.node" || { rm -f "$out/turbojpeg.node"; fail "the built libjpeg-turbo binding does not load"; }
echo "rxfeed: built the libjpeg-turbo binding ($out/turbojpeg.node)"
