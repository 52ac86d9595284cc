#!/usr/bin/env bash
# Installs the peer the benchmark bench/peers/ measures rxfeed against: PyTorch's DataLoader from
# Debian's python3-torch, with python3-numpy and python3-pil (JPEG decode), python3-protobuf
# (tf.train.Example) and python3-crcmod (CRC32C in C), into /usr/bin/python3, which the benchmark
# calls explicitly. Not part of CI: named so that servers.sh (which runs every install-*.sh)
# leaves it out; benchmarks are run by hand (npm run bench:peers).
# Idempotent: does nothing when everything already imports.
set -euo pipefail
exec bash "$(dirname "$0")/debian-python.sh" 'torch, numpy, PIL, google.protobuf, crcmod' \
  python3-torch python3-numpy python3-pil python3-protobuf python3-crcmod
