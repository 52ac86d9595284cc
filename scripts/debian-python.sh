#!/usr/bin/env bash
# Installs Debian Python packages into Debian's /usr/bin/python3 (the default python3 may be a
# pyenv one, so callers run /usr/bin/python3 explicitly), unless the modules already import.
# Usage: debian-python.sh 'MODULE[, MODULE ...]' PACKAGE [PACKAGE ...]
# e.g.   debian-python.sh 'google.protobuf, PIL' python3-protobuf python3-pil
set -euo pipefail
modules="$1"
shift
/usr/bin/python3 -c "import ${modules}" >/dev/null 2>&1 && exit 0
export DEBIAN_FRONTEND=noninteractive
SUDO=""
if [ "$(id -u)" != "0" ]; then SUDO="sudo"; fi
packages=(python3 "$@")
if ! $SUDO apt-get install -y -qq --no-install-recommends "${packages[@]}" >/dev/null; then
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq --no-install-recommends "${packages[@]}" >/dev/null
fi
/usr/bin/python3 -c "import ${modules}; print('installed for /usr/bin/python3:', '${modules}')"
