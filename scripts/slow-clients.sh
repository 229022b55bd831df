#!/usr/bin/env bash
# The slow-clients benchmark, in one command: builds the release gravida and the benchmark
# binaries, raises the open-file limit (20,000 slowloris sockets need as many descriptors), then
# runs `slowclients`, which starts a fresh gravida on loopback for each load (quiet, slowloris,
# an idle keep-alive flood, slow bodies), runs a paced valid client beside it, and prints, per
# load, the valid calls answered 200, the slowest answer and the server's peak RSS (see
# crates/bench/src/bin/slowclients.rs).
# Usage: scripts/slow-clients.sh [slowclients options, e.g. --seconds 20 --loads slowloris]
#        GRAVIDA_BENCH_DEBUG=1 scripts/slow-clients.sh ...   # debug binaries, no release build
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ -n "${GRAVIDA_BENCH_DEBUG:-}" ]]; then
  profile=debug
  cargo build -p gravida -p gravida-bench --bin gravida --bin slowclients
else
  profile=release
  cargo build --release -p gravida -p gravida-bench --bin gravida --bin slowclients
fi
# As many descriptors as the hard limit allows, up to 65536 (the client side holds one per
# connection; the server holds at most http.max_connections).
hard=$(ulimit -Hn)
if [[ "$hard" == unlimited || "$hard" -gt 65536 ]]; then hard=65536; fi
ulimit -n "$hard"
if [[ "$hard" -lt 22000 ]]; then
  echo "note: the open-file limit is $hard; slowloris opens fewer connections than asked" >&2
fi
exec "target/$profile/slowclients" --gravida "target/$profile/gravida" "$@"
