#!/usr/bin/env bash
# Starts a one-node Ceph cluster with the RADOS Gateway (S3 API) on 127.0.0.1 for the object-store
# integration specs, and writes .tmp/rgw.env (RXFEED_S3_ENDPOINT, _ACCESS_KEY, _SECRET_KEY, _REGION).
#
# Recipe (ARCHITECTURE.md section 8): Debian's radosgw + ceph-mon + ceph-osd; one monitor on
# 127.0.0.1 (msgr v1 only), one BlueStore OSD on a sparse file under .tmp/rgw/, `auth none`,
# pools of size 1, radosgw with beast on 127.0.0.1:$RXFEED_RGW_PORT. No systemd is needed: every
# daemon runs from its own config file and forks into the background.
#
# Idempotent: when the gateway already answers, only the env file is rewritten; when the daemons
# are gone but .tmp/rgw/ holds a cluster (a rebooted machine), they are restarted on the same data.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"
DIR="$ROOT/.tmp/rgw"
CONF="$DIR/ceph.conf"
PORT="${RXFEED_RGW_PORT:-7480}"
MON_PORT="${RXFEED_RGW_MON_PORT:-6789}"
ACCESS_KEY="rxfeedaccesskey"
SECRET_KEY="rxfeedsecretkey0123456789abcdefghijklmn"
ENV_FILE="$ROOT/.tmp/rgw.env"
started=$(date +%s)

log() { echo "start-rgw: $*"; }

write_env() {
  mkdir -p "$ROOT/.tmp"
  cat > "$ENV_FILE" <<EOF
export RXFEED_S3_ENDPOINT=http://127.0.0.1:$PORT
export RXFEED_S3_ACCESS_KEY=$ACCESS_KEY
export RXFEED_S3_SECRET_KEY=$SECRET_KEY
export RXFEED_S3_REGION=us-east-1
EOF
}

# HTTP status of GET / on the gateway ("000" when nothing answers). Node is always present here.
gateway_status() {
  node -e "fetch('http://127.0.0.1:$PORT/', { signal: AbortSignal.timeout(2000) })
    .then((r) => console.log(r.status), () => console.log('000'))"
}

if [ -f "$DIR/user.done" ] && [ "$(gateway_status)" = "200" ]; then
  write_env
  log "already running on 127.0.0.1:$PORT"
  exit 0
fi

if ! command -v radosgw >/dev/null || ! command -v ceph-mon >/dev/null || ! command -v ceph-osd >/dev/null; then
  log "installing radosgw ceph-mon ceph-osd"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends radosgw ceph-mon ceph-osd uuid-runtime >/dev/null
fi

mkdir -p "$DIR/run" "$DIR/log" "$DIR/mon/a" "$DIR/osd/0" "$DIR/rgw"

if [ ! -f "$CONF" ]; then
  FSID=$(cat /proc/sys/kernel/random/uuid)
  cat > "$CONF" <<EOF
[global]
fsid = $FSID
mon_host = v1:127.0.0.1:$MON_PORT
mon_initial_members = a
public_addr = 127.0.0.1
ms_bind_msgr2 = false
ms_bind_ipv6 = false
auth_cluster_required = none
auth_service_required = none
auth_client_required = none
auth_allow_insecure_global_id_reclaim = true
osd_pool_default_size = 1
osd_pool_default_min_size = 1
osd_pool_default_pg_num = 8
osd_pool_default_pgp_num = 8
osd_pool_default_pg_autoscale_mode = off
mon_allow_pool_size_one = true
mon_max_pg_per_osd = 1000
mon_warn_on_pool_no_redundancy = false
osd_crush_chooseleaf_type = 0
run_dir = $DIR/run
admin_socket = $DIR/run/\$cluster-\$name.asok
log_file = $DIR/log/\$name.log
pid_file = $DIR/run/\$name.pid
log_to_stderr = false
err_to_stderr = true
[mon]
mon_data = $DIR/mon/\$id
mon_osd_full_ratio = 0.99
mon_osd_nearfull_ratio = 0.98
[osd]
osd_data = $DIR/osd/\$id
osd_objectstore = bluestore
bluestore_block_create = true
bluestore_block_size = 10737418240
bluestore_block_db_create = false
bluestore_block_wal_create = false
osd_memory_target = 939524096
bluestore_cache_autotune = true
osd_op_num_shards = 2
osd_op_num_threads_per_shard = 1
# At start an OSD sends crush commands to the monitor, on Pacific sometimes before it knows the
# cluster fsid ('wrong fsid', exit 250); the script places osd.0 in the CRUSH map itself instead.
osd_crush_update_on_start = false
osd_class_update_on_start = false
[client.rgw.a]
rgw_frontends = beast endpoint=127.0.0.1:$PORT
rgw_data = $DIR/rgw
rgw_dns_name = 127.0.0.1
rgw_enable_usage_log = false
rgw_thread_pool_size = 64
EOF
fi

running() { [ -f "$DIR/run/$1.pid" ] && kill -0 "$(cat "$DIR/run/$1.pid")" 2>/dev/null; }

# The gateway does not answer: stop whatever is left of our daemons (one may be half-way through
# shutting down, which would look alive) and wait for them to exit, then start all three afresh.
for daemon in client.rgw.a osd.0 mon.a; do
  if running "$daemon"; then
    pid=$(cat "$DIR/run/$daemon.pid")
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    kill -9 "$pid" 2>/dev/null || true
  fi
  rm -f "$DIR/run/$daemon.pid"
done

# Monitor.
if [ ! -f "$DIR/mon/a/done" ]; then
  rm -rf "$DIR/mon/a" && mkdir -p "$DIR/mon/a"
  FSID=$(ceph-conf -c "$CONF" --lookup fsid)
  monmaptool --create --clobber --fsid "$FSID" --addv a "[v1:127.0.0.1:$MON_PORT]" "$DIR/monmap" >/dev/null
  ceph-authtool --create-keyring "$DIR/mon.keyring" --gen-key -n mon. --cap mon 'allow *' >/dev/null
  ceph-mon -c "$CONF" --mkfs -i a --monmap "$DIR/monmap" --keyring "$DIR/mon.keyring"
  touch "$DIR/mon/a/done"
fi
ceph-mon -c "$CONF" -i a 2>>"$DIR/log/mon-start.log"

ceph_cli() { timeout 30 ceph -c "$CONF" --connect-timeout 10 "$@"; }
for _ in $(seq 1 60); do
  ceph_cli mon stat >/dev/null 2>&1 && break
  sleep 0.5
done

# One OSD on a sparse file (BlueStore creates it at mkfs).
if [ ! -f "$DIR/osd/0/ready" ]; then
  rm -rf "$DIR/osd/0" && mkdir -p "$DIR/osd/0"
  # The uuid is kept so a retry after a failed mkfs re-registers the same osd.0 (idempotent).
  [ -f "$DIR/osd.uuid" ] || cat /proc/sys/kernel/random/uuid > "$DIR/osd.uuid"
  OSD_UUID=$(cat "$DIR/osd.uuid")
  ceph_cli osd new "$OSD_UUID" 0 >/dev/null
  ceph_cli osd crush add osd.0 1.0 root=default host=localhost >/dev/null 2>&1
  ceph-osd -c "$CONF" -i 0 --mkfs --osd-uuid "$OSD_UUID" 2>>"$DIR/log/osd-mkfs.log"
  touch "$DIR/osd/0/ready"
fi
ceph-osd -c "$CONF" -i 0 2>>"$DIR/log/osd-start.log"
for _ in $(seq 1 120); do
  ceph_cli osd stat 2>/dev/null | grep -q '1 up' && break
  sleep 0.5
done

# The gateway creates its pools on first start.
radosgw -c "$CONF" -n client.rgw.a 2>>"$DIR/log/rgw-start.log"
for _ in $(seq 1 120); do
  [ "$(gateway_status)" = "200" ] && break
  sleep 0.5
done
if [ "$(gateway_status)" != "200" ]; then
  echo "start-rgw: the gateway did not answer on 127.0.0.1:$PORT; see $DIR/log/" >&2
  tail -n 30 "$DIR/log/client.rgw.a.log" >&2 || true
  exit 1
fi

if ! radosgw-admin -c "$CONF" user info --uid=rxfeed >/dev/null 2>&1; then
  radosgw-admin -c "$CONF" user create --uid=rxfeed --display-name=rxfeed \
    --access-key="$ACCESS_KEY" --secret-key="$SECRET_KEY" >/dev/null
fi
touch "$DIR/user.done"
write_env
log "ready on 127.0.0.1:$PORT in $(( $(date +%s) - started )) s"
