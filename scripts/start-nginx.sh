#!/usr/bin/env bash
# Starts Debian's nginx with its own prefix and config under .tmp/nginx/ on 127.0.0.1 as a plain
# HTTP object store for the specs and benchmarks, and writes .tmp/nginx.env (RXFEED_HTTP_ENDPOINT).
#
#   /shared/  ->  ../shared/data/      (read-only test data; JSON autoindex)
#   /www/     ->  .tmp/nginx/www/      (specs and benchmarks drop generated shards here)
#
# nginx serves byte ranges, suffix ranges, If-Range and ETags on static files, and
# `autoindex_format json` gives a listing the HTTP store reads. Idempotent: when it already
# answers, only the env file is rewritten (and the config reloaded if it changed).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"
DIR="$ROOT/.tmp/nginx"
PORT="${RXFEED_NGINX_PORT:-7481}"
SHARED="$(cd "$ROOT/.." && pwd)/shared/data/"
ENV_FILE="$ROOT/.tmp/nginx.env"
started=$(date +%s%N)

log() { echo "start-nginx: $*"; }

write_env() {
  echo "export RXFEED_HTTP_ENDPOINT=http://127.0.0.1:$PORT" > "$ENV_FILE"
}

health() {
  node -e "fetch('http://127.0.0.1:$PORT/www/', { signal: AbortSignal.timeout(2000) })
    .then((r) => console.log(r.status), () => console.log('000'))"
}

if ! command -v nginx >/dev/null && [ ! -x /usr/sbin/nginx ]; then
  log "installing nginx"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends nginx >/dev/null
fi
NGINX=$(command -v nginx || echo /usr/sbin/nginx)

mkdir -p "$DIR/logs" "$DIR/tmp" "$DIR/www"
cat > "$DIR/nginx.conf.new" <<EOF
daemon on;
worker_processes 2;
pid $DIR/nginx.pid;
error_log $DIR/logs/error.log warn;
events { worker_connections 1024; }
http {
  include /etc/nginx/mime.types;
  default_type application/octet-stream;
  access_log off;
  sendfile on;
  tcp_nopush on;
  keepalive_timeout 65;
  keepalive_requests 100000;
  client_body_temp_path $DIR/tmp/body;
  proxy_temp_path $DIR/tmp/proxy;
  fastcgi_temp_path $DIR/tmp/fastcgi;
  uwsgi_temp_path $DIR/tmp/uwsgi;
  scgi_temp_path $DIR/tmp/scgi;
  server {
    listen 127.0.0.1:$PORT;
    server_name localhost;
    location /shared/ {
      alias $SHARED;
      autoindex on;
      autoindex_format json;
    }
    location /www/ {
      alias $DIR/www/;
      autoindex on;
      autoindex_format json;
    }
  }
}
EOF

if [ -f "$DIR/nginx.pid" ] && kill -0 "$(cat "$DIR/nginx.pid")" 2>/dev/null && [ "$(health)" = "200" ]; then
  if ! cmp -s "$DIR/nginx.conf.new" "$DIR/nginx.conf"; then
    mv "$DIR/nginx.conf.new" "$DIR/nginx.conf"
    "$NGINX" -p "$DIR" -c "$DIR/nginx.conf" -s reload
  fi
  write_env
  log "already running on 127.0.0.1:$PORT"
  exit 0
fi

mv "$DIR/nginx.conf.new" "$DIR/nginx.conf"
"$NGINX" -p "$DIR" -c "$DIR/nginx.conf" -t -q
"$NGINX" -p "$DIR" -c "$DIR/nginx.conf"
for _ in $(seq 1 50); do
  [ "$(health)" = "200" ] && break
  sleep 0.1
done
if [ "$(health)" != "200" ]; then
  echo "start-nginx: nginx did not answer on 127.0.0.1:$PORT" >&2
  tail -n 20 "$DIR/logs/error.log" >&2 || true
  exit 1
fi
write_env
log "ready on 127.0.0.1:$PORT in $(( ($(date +%s%N) - started) / 1000000 )) ms"
