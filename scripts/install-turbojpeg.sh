#!/usr/bin/env bash
# Installs Debian's libturbojpeg0-dev and builds rxfeed's optional libjpeg-turbo binding
# (src/adapters/turbojpeg/build.sh -> dist/src/adapters/turbojpeg/turbojpeg.node), the JPEG decoder
# of the decode tasks (about 7x sharp's rate on small images). The decode spec checks under CI that
# it is built. Idempotent: the package install is skipped when the header is present.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -e /usr/include/turbojpeg.h ]; then
  export DEBIAN_FRONTEND=noninteractive
  SUDO=""
  if [ "$(id -u)" != "0" ]; then SUDO="sudo"; fi
  if ! $SUDO apt-get install -y --no-install-recommends libturbojpeg0-dev gcc libc6-dev; then
    $SUDO apt-get update
    $SUDO apt-get install -y --no-install-recommends libturbojpeg0-dev gcc libc6-dev
  fi
fi
RXFEED_REQUIRE_TURBOJPEG=1 bash src/adapters/turbojpeg/build.sh
