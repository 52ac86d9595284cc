#!/usr/bin/env bash
# Installs the peer the benchmark bench/peers/ measures rxfeed against: PyTorch's DataLoader from
# Debian's python3-torch, with python3-numpy and python3-pil (JPEG decode), python3-protobuf
# (tf.train.Example) and python3-crcmod (CRC32C in C). They go into Debian's /usr/bin/python3,
# which the benchmark calls explicitly (the default python3 may be a pyenv one).
# Not part of CI: benchmarks are run by hand (npm run bench:peers).
# Idempotent: does nothing when everything already imports.
set -euo pipefail
check() { [ -x /usr/bin/python3 ] && /usr/bin/python3 -c 'import torch, numpy, PIL, google.protobuf, crcmod' >/dev/null 2>&1; }
if check; then
  exit 0
fi
export DEBIAN_FRONTEND=noninteractive
SUDO=""
if [ "$(id -u)" != "0" ]; then SUDO="sudo"; fi
packages=(python3 python3-torch python3-numpy python3-pil python3-protobuf python3-crcmod)
if ! $SUDO apt-get install -y -qq --no-install-recommends "${packages[@]}" >/dev/null; then
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${packages[@]}" >/dev/null
fi
/usr/bin/python3 -c 'import torch, numpy, PIL, google.protobuf; print("python3-torch", torch.__version__, "python3-numpy", numpy.__version__, "python3-pil", PIL.__version__, "python3-protobuf", google.protobuf.__version__)'
