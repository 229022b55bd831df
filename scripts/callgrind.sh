#!/usr/bin/env bash
# Instructions per hook call, in one command: builds the release gravida and the benchmark
# binaries, then runs `callcount`, which runs gravida under `valgrind --tool=callgrind` for the
# prefetch and the fetch request of the load benchmark (1 and 1 + N calls each) and a bare
# `serde_json::Value` parse of the same patient, and prints instructions per warm call and their
# ratio to the bare parse (see crates/bench/src/bin/callcount.rs). Instruction counts repeat from
# run to run on this noisy host, where wall-clock figures wander: report both.
# Needs valgrind (Debian: apt-get install valgrind). Takes about five minutes after the build.
# Usage: scripts/callgrind.sh [callcount options, e.g. --calls 40 --out target/callgrind]
set -euo pipefail
cd "$(dirname "$0")/.."
command -v valgrind >/dev/null || { echo "callgrind.sh: valgrind is not installed" >&2; exit 1; }
cargo build --release -p gravida -p gravida-bench --bin gravida --bin callcount
exec target/release/callcount --gravida target/release/gravida "$@"
