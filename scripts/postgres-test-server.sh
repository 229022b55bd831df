#!/usr/bin/env bash
# A throwaway PostgreSQL for the store tests: `start` prints GRAVIDA_TEST_POSTGRES_URL=...,
# `stop` stops it. Idempotent and fast on a second run: it installs PostgreSQL from Debian's
# packages only if no server binaries are found, keeps its cluster in target/postgres, listens
# on loopback only, and reuses a cluster that is already running.
#
# It also starts a second cluster that accepts only TLS (pg_hba has `hostssl` lines and no
# `host` line), with a throwaway CA and a server certificate for `localhost` made here by
# openssl, and prints GRAVIDA_TEST_POSTGRES_TLS_URL=... and GRAVIDA_TEST_POSTGRES_TLS_CA=...
# (the CA certificate's path) for the TLS tests.
set -euo pipefail
cd "$(dirname "$0")/.."

PORT="${GRAVIDA_TEST_POSTGRES_PORT:-54329}"
DATA="$PWD/target/postgres/data"
LOG="$PWD/target/postgres/server.log"
SOCKETS="$PWD/target/postgres"
TLS_PORT="${GRAVIDA_TEST_POSTGRES_TLS_PORT:-54330}"
TLS_DIR="$PWD/target/postgres-tls"
TLS_DATA="$TLS_DIR/data"

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
  start_tls "$bin"
}

# The TLS-only cluster. The CA and the server certificate are made once per cluster (a new
# cluster gets new ones); the CA's key is thrown away, so nothing else can be signed with it.
start_tls() {
  local bin="$1" certs="$TLS_DIR/certs"
  mkdir -p "$TLS_DIR"
  if [ "$(id -u)" = 0 ]; then chown postgres "$TLS_DIR"; fi
  if [ ! -f "$TLS_DATA/PG_VERSION" ]; then
    rm -rf "$certs" && mkdir -p "$certs"
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 30 \
      -subj "/CN=Gravida test CA" -keyout "$certs/ca.key" -out "$certs/ca.crt" 2>/dev/null
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
      -subj "/CN=localhost" -keyout "$certs/server.key" -out "$certs/server.csr" 2>/dev/null
    printf 'subjectAltName=DNS:localhost\nextendedKeyUsage=serverAuth\n' > "$certs/server.ext"
    openssl x509 -req -in "$certs/server.csr" -CA "$certs/ca.crt" -CAkey "$certs/ca.key" \
      -CAcreateserial -days 30 -extfile "$certs/server.ext" -out "$certs/server.crt" 2>/dev/null
    rm -f "$certs/ca.key" "$certs/server.csr" "$certs/ca.srl"
    chmod 600 "$certs/server.key"
    if [ "$(id -u)" = 0 ]; then chown -R postgres "$certs"; fi
    as_owner "$bin/initdb" -D "$TLS_DATA" -U gravida --auth=trust -E UTF8 >/dev/null
    # Only TLS over TCP; the Unix socket (for pg_ctl) stays local.
    printf 'local all all trust\nhostssl all all 127.0.0.1/32 trust\nhostssl all all ::1/128 trust\n' \
      > "$TLS_DATA/pg_hba.conf"
    printf "ssl = on\nssl_cert_file = '%s'\nssl_key_file = '%s'\n" \
      "$certs/server.crt" "$certs/server.key" >> "$TLS_DATA/postgresql.conf"
  fi
  if ! as_owner "$bin/pg_ctl" -D "$TLS_DATA" status >/dev/null 2>&1; then
    as_owner "$bin/pg_ctl" -D "$TLS_DATA" -l "$TLS_DIR/server.log" -w \
      -o "-h localhost -p $TLS_PORT -k $TLS_DIR -F" start >&2
  fi
  echo "GRAVIDA_TEST_POSTGRES_TLS_URL=postgres://gravida@localhost:$TLS_PORT/postgres"
  echo "GRAVIDA_TEST_POSTGRES_TLS_CA=$certs/ca.crt"
}

stop() {
  local bin
  bin=$(find_bin || true)
  [ -n "$bin" ] && [ -f "$DATA/PG_VERSION" ] && as_owner "$bin/pg_ctl" -D "$DATA" -m fast stop >&2 || true
  [ -n "$bin" ] && [ -f "$TLS_DATA/PG_VERSION" ] && as_owner "$bin/pg_ctl" -D "$TLS_DATA" -m fast stop >&2 || true
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
