#!/usr/bin/env bash
# Bring up throw-away PostgreSQL+PostGIS, Redis and Mosquitto servers on their own ports, run the
# given command with their URLs exported, and stop them afterwards. Installs what is
# missing with apt (Debian/Ubuntu). Reuses nothing that happens to be running.
set -euo pipefail

PG_PORT=${RESCUE_TEST_PG_PORT:-55432}
REDIS_PORT=${RESCUE_TEST_REDIS_PORT:-56379}
MQTT_PORT=${RESCUE_TEST_MQTT_PORT:-51883}
WORK=$(mktemp -d /tmp/rescue-test-services.XXXXXX)
chmod 755 "$WORK"

need=()
pg_bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
if [ -z "$pg_bin" ]; then
  need+=(postgresql)
fi
pg_ver=$(basename "$(dirname "${pg_bin:-/x/15/bin}")")
if ! ls /usr/share/postgresql/"$pg_ver"/extension/postgis.control >/dev/null 2>&1; then
  need+=("postgresql-${pg_ver}-postgis-3")
fi
command -v redis-server >/dev/null || need+=(redis-server)
[ -x /usr/sbin/mosquitto ] || command -v mosquitto >/dev/null || need+=(mosquitto)
[ -x /usr/bin/chromium ] || need+=(chromium)
# fc-list's output is read whole first: `fc-list | grep -q` under pipefail fails with 141
# (SIGPIPE) whenever grep exits before fc-list has written everything.
fonts=$(fc-list : family 2>/dev/null || true)
case "$fonts" in *"WenQuanYi Micro Hei"*) ;; *) need+=(fonts-wqy-microhei) ;; esac
if [ ${#need[@]} -gt 0 ]; then
  echo "test-services: installing ${need[*]}"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
  pg_bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
fi

cleanup() {
  set +e
  [ -f "$WORK/redis.pid" ] && kill "$(cat "$WORK/redis.pid")" 2>/dev/null
  [ -f "$WORK/mosquitto.pid" ] && kill "$(cat "$WORK/mosquitto.pid")" 2>/dev/null
  if [ -d "$WORK/pg" ]; then
    run_pg "$pg_bin/pg_ctl" -D "$WORK/pg" -m immediate stop >/dev/null 2>&1
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT INT TERM

run_pg() {
  if [ "$(id -u)" -eq 0 ]; then
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

[ "$(id -u)" -eq 0 ] && chown postgres "$WORK"
run_pg "$pg_bin/initdb" -D "$WORK/pg" -U postgres -A trust -E UTF8 --no-locale >/dev/null
cat >> "$WORK/pg/postgresql.conf" <<CONF
port = $PG_PORT
listen_addresses = '127.0.0.1'
unix_socket_directories = '$WORK'
fsync = off
synchronous_commit = off
full_page_writes = off
max_connections = 200
CONF
run_pg "$pg_bin/pg_ctl" -D "$WORK/pg" -l "$WORK/pg.log" -w start >/dev/null
run_pg "$pg_bin/psql" -h 127.0.0.1 -p "$PG_PORT" -U postgres -q -c "CREATE DATABASE rescue_test" >/dev/null

redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save "" --appendonly no \
  --daemonize yes --pidfile "$WORK/redis.pid" --logfile "$WORK/redis.log" --dir "$WORK"
for _ in $(seq 50); do
  redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1 && break
  sleep 0.1
done

# Mosquitto (issue 19): anonymous on loopback only, persistence in the temp dir (sessions
# survive a consumer restart), queues deep enough for the MQTT tests.
mosquitto_bin=$(command -v mosquitto || echo /usr/sbin/mosquitto)
mkdir -p "$WORK/mosquitto"
cat > "$WORK/mosquitto.conf" <<CONF
listener $MQTT_PORT 127.0.0.1
allow_anonymous true
persistence true
persistence_location $WORK/mosquitto/
max_queued_messages 100000
max_inflight_messages 0
pid_file $WORK/mosquitto.pid
log_dest file $WORK/mosquitto.log
user $(id -un)
CONF
"$mosquitto_bin" -c "$WORK/mosquitto.conf" -d
for _ in $(seq 50); do
  (exec 3<>"/dev/tcp/127.0.0.1/$MQTT_PORT") 2>/dev/null && break
  sleep 0.1
done

export RESCUE_TEST_POSTGRES_URL="postgresql+psycopg://postgres@127.0.0.1:$PG_PORT/rescue_test"
export RESCUE_TEST_REDIS_URL="redis://127.0.0.1:$REDIS_PORT/0"
export RESCUE_TEST_MQTT_URL="mqtt://127.0.0.1:$MQTT_PORT"
export RESCUE_TEST_CHROMIUM=/usr/bin/chromium
echo "test-services: PostgreSQL $pg_ver+PostGIS on :$PG_PORT, Redis on :$REDIS_PORT, Mosquitto on :$MQTT_PORT"
"$@"
