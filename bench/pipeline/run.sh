#!/usr/bin/env bash
# End-to-end latency and throughput of the pipeline (POST /api/process -> result message on the
# results queue) and each built-in algorithm's time through the worker next to its bare call.
# Usage: bench/pipeline/run.sh [BUILD_DIR]
set -euo pipefail
BIN=${1:-build}/bench/pipeline/pipeline_bench
[ -x "$BIN" ] || { echo "build $BIN first (cmake --build build --target pipeline_bench)" >&2; exit 1; }
# Every run in its own directory, spread by ext4 to a block group of its own (chattr +T, best
# effort). On ext4 without a journal (this VM's disk) allocating an inode skips, one by one,
# every inode of its group freed in the last minutes: without this a run pays for the files the
# previous run removed (up to -40% throughput, back to back).
base=$(mktemp -d /tmp/pipeline-bench-runs.XXXXXX)
trap 'rm -rf "$base"' EXIT
chattr +T "$base" 2>/dev/null || true
export IMGPIPE_TEST_TMPDIR=$base
"$BIN" latency 1000
# 8 clients on 4 workers, then 16 on 16: each client's jobs run one at a time (FIFO per client),
# so small jobs need about as many clients and worker threads as the disk has flushes in flight.
for config in "8 4" "16 16"; do
  # shellcheck disable=SC2086
  "$BIN" throughput 5000 $config
done
"$BIN" overhead 20
