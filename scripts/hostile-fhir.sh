#!/usr/bin/env bash
# The hostile-FHIR-server benchmark (issue: memory that holds and a deadline that is kept):
# builds the release gravida and the benchmark binaries, then runs `hostile`, which serves huge,
# dripping and stalled FHIR searches on loopback to rounds of 16 concurrent hook calls and prints
# the slowest answer against fhir.deadline_ms and gravida's peak RSS per shape (see
# crates/bench/src/bin/hostile.rs).
# Usage: scripts/hostile-fhir.sh [hostile options, e.g. --rounds 5 --shapes many,drip]
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -p gravida -p gravida-bench --bins
exec target/release/hostile --gravida target/release/gravida "$@"
