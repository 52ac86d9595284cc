#!/usr/bin/env bash
# Builds rxfeed's optional libjpeg-turbo binding (turbojpeg.c) into dist/src/adapters/turbojpeg/.
#
# Node-API is ABI-stable, so the C compiler and Node's own headers are all it needs: no node-gyp,
# no Python, no download. The decode task falls back to sharp when the binding is absent, so a
# failed build is reported and is not fatal (exit 0) unless RXFEED_REQUIRE_TURBOJPEG=1.
#
# Usage: bash src/adapters/turbojpeg/build.sh   (from anywhere; installs libturbojpeg0-dev via
# apt-get when it is missing and we are root)
set -uo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(cd "$here/../../.." && pwd)"
out="$root/dist/src/adapters/turbojpeg"

fail() {
  echo "turbojpeg: $1; rxfeed will decode JPEG with sharp instead" >&2
  [ "${RXFEED_REQUIRE_TURBOJPEG:-0}" = 1 ] && exit 1
  exit 0
}

if [ ! -e /usr/include/turbojpeg.h ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "turbojpeg: installing libturbojpeg0-dev"
  DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends libturbojpeg0-dev >/dev/null 2>&1 ||
    { apt-get update -qq >/dev/null 2>&1 &&
      DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends libturbojpeg0-dev >/dev/null 2>&1; }
fi
[ -e /usr/include/turbojpeg.h ] || fail "turbojpeg.h not found (apt-get install libturbojpeg0-dev)"

cc="${CC:-cc}"
command -v "$cc" >/dev/null || fail "no C compiler ($cc)"

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

mkdir -p "$out"
"$cc" -O2 -shared -fPIC -fvisibility=hidden -Wall -Wextra -DNAPI_VERSION=8 -I"$include" \
  "$here/turbojpeg.c" -lturbojpeg -o "$out/turbojpeg.node.tmp" || fail "compilation failed"
mv "$out/turbojpeg.node.tmp" "$out/turbojpeg.node"
node -e "
  const tj = require(process.argv[1]);
  if (typeof tj.decode !== 'function') process.exit(1);
" "$out/turbojpeg.node" || fail "the built binding does not load"
echo "turbojpeg: built $out/turbojpeg.node"
