#!/usr/bin/env bash
# Starts CongoDB (a MongoDB wire-compatible emulator, ARCHITECTURE.md section 8) on 127.0.0.1 for
# the MongoDB integration specs and writes `export RXFEED_MONGODB_URI=...` to .tmp/congodb.env.
# Idempotent: reuses the unpacked package and a server that is already answering.
# No mongod exists in this machine's registries; any real server works the same: set
# RXFEED_MONGODB_URI yourself and skip this script.
set -euo pipefail
cd "$(dirname "$0")/.."
root="$PWD"
dir="$root/.tmp/congodb"
pkg="$dir/package"
port="${RXFEED_CONGODB_PORT:-27127}"
envfile="$root/.tmp/congodb.env"
mkdir -p "$dir"

# 1. The package: its normal install fails on a dependency version missing from this registry, so
#    pack it, unpack it, and install only what the emulator imports, into that folder (never into
#    the project's package.json).
if [ ! -f "$pkg/dist_ts/congodb/index.js" ] || [ ! -d "$pkg/node_modules/mingo" ]; then
  rm -rf "$pkg" "$dir"/push.rocks-smartmongo-*.tgz
  (cd "$dir" && npm pack --silent @push.rocks/smartmongo@2.2.0 >/dev/null && tar xzf push.rocks-smartmongo-2.2.0.tgz)
  # A package.json with no dependencies, so npm installs exactly the listed packages.
  (cd "$pkg" && node -e "
    const fs = require('fs'); const p = JSON.parse(fs.readFileSync('package.json', 'utf8'));
    p.dependencies = {}; p.devDependencies = {}; p.scripts = {};
    fs.writeFileSync('package.json', JSON.stringify(p, null, 2));" \
    && npm install --no-audit --no-fund --no-save --loglevel=error \
      bson@6 mingo@7 @push.rocks/smartfs @push.rocks/smartpath @push.rocks/smartpromise @push.rocks/smartrx)
fi

# 2. The server, unless one already answers on the port.
ready() { node -e "
  const s = require('net').connect($port, '127.0.0.1');
  s.on('connect', () => { s.end(); process.exit(0); });
  s.on('error', () => process.exit(1));" 2>/dev/null; }
if ! ready; then
  log="$dir/server.log"
  nohup node "$root/scripts/congodb/server.mjs" "$pkg" "$port" >"$log" 2>&1 &
  echo $! >"$dir/server.pid"
  for _ in $(seq 1 100); do
    if grep -q '^ready' "$log" 2>/dev/null; then break; fi
    if ! kill -0 "$(cat "$dir/server.pid")" 2>/dev/null; then cat "$log" >&2; exit 1; fi
    sleep 0.1
  done
  grep -q '^ready' "$log" || { echo "CongoDB did not start; see $log" >&2; exit 1; }
fi

echo "export RXFEED_MONGODB_URI=mongodb://127.0.0.1:$port/?directConnection=true" >"$envfile"
echo "CongoDB listening on 127.0.0.1:$port (env in $envfile)"
