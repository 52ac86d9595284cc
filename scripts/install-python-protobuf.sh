#!/usr/bin/env bash
# Installs Debian's python3-protobuf: the independent reader that the TFRecord integration spec
# (spec/integration/tfrecord/) uses to check that what `toTFRecord` writes is what TensorFlow's
# own proto definitions read. Idempotent: does nothing when /usr/bin/python3 already imports it.
set -euo pipefail
if [ -x /usr/bin/python3 ] && /usr/bin/python3 -c 'import google.protobuf' >/dev/null 2>&1; then
  exit 0
fi
export DEBIAN_FRONTEND=noninteractive
SUDO=""
if [ "$(id -u)" != "0" ]; then SUDO="sudo"; fi
if ! $SUDO apt-get install -y --no-install-recommends python3 python3-protobuf; then
  $SUDO apt-get update
  $SUDO apt-get install -y --no-install-recommends python3 python3-protobuf
fi
/usr/bin/python3 -c 'import google.protobuf; print("python3-protobuf", google.protobuf.__version__)'
