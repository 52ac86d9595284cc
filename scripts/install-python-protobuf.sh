#!/usr/bin/env bash
# Installs the independent reader the TFRecord integration spec (spec/integration/tfrecord/)
# checks rxfeed against: Debian's python3-protobuf (parses tf.train.Example with Google's protobuf
# runtime) and python3-pil (decodes the TFDS JPEGs with libjpeg), into /usr/bin/python3, which the
# spec calls explicitly. Idempotent: does nothing when both already import.
set -euo pipefail
exec bash "$(dirname "$0")/debian-python.sh" 'google.protobuf, PIL' python3-protobuf python3-pil
