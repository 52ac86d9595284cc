#!/usr/bin/env bash
# Installs the independent reader the TFRecord integration spec (spec/integration/tfrecord/)
# checks rxfeed against: Debian's python3-protobuf (parses tf.train.Example with Google's protobuf
# runtime) and python3-pil (decodes the TFDS JPEGs with libjpeg). They go into Debian's
# /usr/bin/python3, which the spec calls explicitly (the default python3 may be a pyenv one).
# Idempotent: does nothing when both already import.
set -euo pipefail
check() { [ -x /usr/bin/python3 ] && /usr/bin/python3 -c 'import google.protobuf, PIL' >/dev/null 2>&1; }
if check; then
  exit 0
fi
export DEBIAN_FRONTEND=noninteractive
SUDO=""
if [ "$(id -u)" != "0" ]; then SUDO="sudo"; fi
packages=(python3 python3-protobuf python3-pil)
if ! $SUDO apt-get install -y --no-install-recommends "${packages[@]}"; then
  $SUDO apt-get update
  $SUDO apt-get install -y --no-install-recommends "${packages[@]}"
fi
/usr/bin/python3 -c 'import google.protobuf, PIL; print("python3-protobuf", google.protobuf.__version__, "python3-pil", PIL.__version__)'
