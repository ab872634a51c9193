#!/usr/bin/env bash
# Queue full-cycle throughput and wake-up latency, SQLite and PostgreSQL, 1 and 8 threads, single
# and batched (10). Usage: bench/queue/run.sh [BUILD_DIR]; prints one line per configuration.
set -euo pipefail
BIN=${1:-build}/bench/queue/queue_bench
[ -x "$BIN" ] || { echo "build $BIN first (cmake --build build --target queue_bench)" >&2; exit 1; }
for backend in sqlite postgres; do
  for threads in 1 8; do
    for batch in 1 10; do
      n=$((batch == 1 ? 2000 : 20000))
      "$BIN" "$backend" "$threads" "$batch" "$n"
    done
  done
done
