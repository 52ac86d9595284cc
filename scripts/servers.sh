#!/usr/bin/env bash
# Installs the tools and starts the real servers the integration specs use, all on loopback:
# every scripts/install-*.sh, then every scripts/start-*.sh (Ceph RGW, nginx, CongoDB ...). Each is
# idempotent: a second run only checks health and rewrites its .tmp/<name>.env, which
# scripts/test.js loads. Set RXFEED_SKIP_SERVERS=1 to skip (integration specs then skip too, unless
# RXFEED_REQUIRE_SERVERS=1).
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "${RXFEED_SKIP_SERVERS:-0}" = "1" ]; then
  echo "servers: skipped (RXFEED_SKIP_SERVERS=1)"
  exit 0
fi
mkdir -p .tmp
for script in scripts/install-*.sh scripts/start-*.sh; do
  [ -e "$script" ] || continue
  started=$(date +%s)
  bash "$script"
  echo "servers: $script ready in $(( $(date +%s) - started )) s"
done
