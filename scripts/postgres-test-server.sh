#!/usr/bin/env bash
# A throwaway PostgreSQL for the store tests: `start` prints GRAVIDA_TEST_POSTGRES_URL=...,
# `stop` stops it. Idempotent and fast on a second run: it installs PostgreSQL from Debian's
# packages only if no server binaries are found, keeps its cluster in target/postgres, listens
# on loopback only, and reuses a cluster that is already running.
set -euo pipefail
cd "$(dirname "$0")/.."

PORT="${GRAVIDA_TEST_POSTGRES_PORT:-54329}"
DATA="$PWD/target/postgres/data"
LOG="$PWD/target/postgres/server.log"
SOCKETS="$PWD/target/postgres"

find_bin() {
  local dir
  dir=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)
  [ -n "$dir" ] && [ -x "$dir/initdb" ] && echo "$dir"
}

# PostgreSQL refuses to run as root: run it as the `postgres` user when we are root.
as_owner() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

start() {
  local bin
  bin=$(find_bin || true)
  if [ -z "$bin" ]; then
    echo "installing PostgreSQL from Debian's packages" >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2 && apt-get install -y -qq postgresql >&2
    bin=$(find_bin)
  fi
  mkdir -p "$SOCKETS"
  if [ "$(id -u)" = 0 ]; then chown postgres "$SOCKETS"; fi
  if [ ! -f "$DATA/PG_VERSION" ]; then
    as_owner "$bin/initdb" -D "$DATA" -U gravida --auth=trust -E UTF8 >/dev/null
  fi
  if ! as_owner "$bin/pg_ctl" -D "$DATA" status >/dev/null 2>&1; then
    as_owner "$bin/pg_ctl" -D "$DATA" -l "$LOG" -w -o "-h 127.0.0.1 -p $PORT -k $SOCKETS -F" start >&2
  fi
  echo "GRAVIDA_TEST_POSTGRES_URL=postgres://gravida@127.0.0.1:$PORT/postgres"
}

stop() {
  local bin
  bin=$(find_bin || true)
  [ -n "$bin" ] && [ -f "$DATA/PG_VERSION" ] && as_owner "$bin/pg_ctl" -D "$DATA" -m fast stop >&2 || true
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
