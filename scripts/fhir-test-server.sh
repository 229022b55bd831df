#!/usr/bin/env bash
# Installs (once) and starts (if not already up) a real FHIR R4 server on loopback for the tests:
# sekmet-fhir from PyPI (FastAPI + SQLite, bearer-token auth, R4 search and paging), pinned.
# Usage: scripts/fhir-test-server.sh [start|stop|status]
# Environment: FHIR_PORT (8090), FHIR_TOKEN (gravida-test-token), FHIR_DIR (./target/fhir-test-server)
# On success it prints the two variables the tests read:
#   GRAVIDA_TEST_FHIR_URL=http://127.0.0.1:8090/fhir  GRAVIDA_TEST_FHIR_TOKEN=...
set -euo pipefail
PORT="${FHIR_PORT:-8090}"
TOKEN="${FHIR_TOKEN:-gravida-test-token}"
DIR="${FHIR_DIR:-$PWD/target/fhir-test-server}"
BASE="http://127.0.0.1:$PORT/fhir"
VENV="$DIR/venv"
VERSION=0.1.1

up() { curl -fsS -o /dev/null -H "Authorization: Bearer $TOKEN" "$BASE/Patient?_count=1" 2>/dev/null; }

case "${1:-start}" in
  stop)
    [ -f "$DIR/pid" ] && kill "$(cat "$DIR/pid")" 2>/dev/null || true
    rm -f "$DIR/pid"
    for _ in $(seq 1 20); do up || exit 0; sleep 0.5; done
    echo "still up" >&2; exit 1 ;;
  status)
    if up; then echo "up at $BASE"; else echo down; exit 1; fi
    exit 0 ;;
esac

mkdir -p "$DIR"
if ! "$VENV/bin/python" -c "import importlib.metadata as m,sys; sys.exit(m.version('sekmet-fhir')!='$VERSION')" 2>/dev/null; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q --disable-pip-version-check "sekmet-fhir==$VERSION"
fi
if ! up; then
  cat > "$DIR/settings.yaml" <<YAML
base_url: $BASE
host: 127.0.0.1
port: $PORT
data_dir: $DIR/data
server_auth: {types: [bearer], tokens: [$TOKEN]}
simulator: {enabled: false}
validation: {inbound: warn}
YAML
  rm -rf "$DIR/data"   # a fresh store on each start: the tests load what they need
  nohup "$VENV/bin/sekmet" serve -c "$DIR/settings.yaml" > "$DIR/server.log" 2>&1 &
  echo $! > "$DIR/pid"
  for _ in $(seq 1 120); do up && break; sleep 0.5; done
  if ! up; then
    echo "FHIR server did not start; log:" >&2
    tail -n 40 "$DIR/server.log" >&2
    exit 1
  fi
fi
echo "GRAVIDA_TEST_FHIR_URL=$BASE"
echo "GRAVIDA_TEST_FHIR_TOKEN=$TOKEN"
