#!/usr/bin/env bash
# End-to-end latency and throughput of the pipeline (POST /api/process -> result message on the
# results queue) and each built-in algorithm's time through the worker next to its bare call.
# Usage: bench/pipeline/run.sh [BUILD_DIR]
set -euo pipefail
BIN=${1:-build}/bench/pipeline/pipeline_bench
[ -x "$BIN" ] || { echo "build $BIN first (cmake --build build --target pipeline_bench)" >&2; exit 1; }
"$BIN" latency 1000
for workers in 2 4; do
  "$BIN" throughput 5000 8 "$workers"
done
"$BIN" overhead 20
