#!/usr/bin/env bash
# The load benchmark, in one command: builds the release gravida and the benchmark binaries,
# then runs `loadgen`, which starts gravida and the bare axum baseline on loopback, loads both
# with the same patient-view requests, checks every answer and prints the figures (see
# crates/bench). Exits non-zero if any answer was wrong.
# Usage: scripts/bench.sh [loadgen options, e.g. --concurrency 8 --requests 10000]
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -p gravida -p gravida-bench --bins
exec target/release/loadgen --gravida target/release/gravida --baseline target/release/baseline "$@"
