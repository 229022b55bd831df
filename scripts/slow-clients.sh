#!/usr/bin/env bash
# The slow-clients benchmark, in one command: builds the release gravida and the benchmark
# binaries, raises the open-file limit (20,000 slowloris sockets need as many descriptors), then
# runs `slowclients`, which starts a fresh gravida on loopback for each load (quiet, slowloris,
# an idle keep-alive flood, slow bodies, 150 unauthenticated and 150 signed calls each sending all
# but the last byte of a declared 8 MiB body), runs two paced valid clients beside it (a new
# connection per call, and a keep-alive EHR calling every 2 s), and prints, per load and client,
# the valid calls answered 200, their p50/p99/slowest answer and the server's peak RSS (see
# crates/bench/src/bin/slowclients/main.rs).
# Usage: scripts/slow-clients.sh [slowclients options, e.g. --seconds 20 --loads big-bodies]
#        GRAVIDA_BENCH_DEBUG=1 scripts/slow-clients.sh ...   # debug binaries, no release build
#        To measure another build (an older release, say), pass its binary: --gravida PATH.
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
# A later --gravida in "$@" wins over this one.
exec "target/$profile/slowclients" --gravida "target/$profile/gravida" "$@"
