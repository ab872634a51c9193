#!/bin/bash
# Every scale-out measure of issue 7, one after the other; Markdown tables on stdout, progress on
# stderr, raw JSON and per-table Markdown in bench/cluster/out/<date-time>/.
#   bench/cluster/run.sh [IMGPIPE_BIN]
# Knobs (environment): JOBS (backlog per throughput run, 3000), LAT_N (latency jobs, 500),
# QUIET_LOAD (wait for the 1-minute load below this before each run; 0 = do not wait; 1.5).
# Needs /usr/bin/python3 with pydicom and websockets, PostgreSQL 15, node and tests/s3's s3rver.
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
BIN="${1:-${IMGPIPE_BIN:-$HERE/../../build/src/app/imgpipe}}"
JOBS="${JOBS:-3000}"
LAT_N="${LAT_N:-500}"
QUIET_LOAD="${QUIET_LOAD:-1.5}"
OUT="$HERE/out/$(date +%Y%m%d-%H%M%S)"
mkdir -p "$OUT"
PY=/usr/bin/python3
common=(--bin "$BIN" --quiet-load "$QUIET_LOAD")

{ echo "# $(date -Is) $(nproc) cores; uptime: $(uptime)"; } | tee "$OUT/environment.txt" >&2

section() { echo; echo "### $1"; echo; }
scaling() {  # NAME ARGS...
  local name="$1"; shift
  $PY "$HERE/scaling.py" "${common[@]}" --out "$OUT/$name.json" "$@" 2>"$OUT/$name.log" \
    | tee "$OUT/$name.md"
}
latency() {
  local name="$1"; shift
  $PY "$HERE/latency.py" "${common[@]}" -n "$LAT_N" --out "$OUT/$name.json" "$@" \
    2>"$OUT/$name.log" | tee "$OUT/$name.md"
}

section "Throughput, external 50 ms sleep, PostgreSQL + s3rver"
scaling s3_sleep --blobs s3 --workers 1,2,4 --jobs "$JOBS"
section "Throughput, external 50 ms sleep, PostgreSQL + one shared blob folder"
scaling folder_sleep --blobs folder --workers 1,2,4 --jobs "$JOBS"
section "Capacity: external program without the sleep, 4 workers"
scaling s3_noop --blobs s3 --workers 4 --algorithm bench_noop --jobs "$JOBS"
scaling folder_noop --blobs folder --workers 4 --algorithm bench_noop --jobs "$JOBS"
section "One slot (1 worker, concurrency 1): a job's own time"
scaling s3_one_slot --blobs s3 --workers 1 --concurrency 1 --jobs 300 --clients 16
section "Latency, window_level, api+push and worker processes on PostgreSQL"
latency lat_split_folder --layout split --blobs folder
latency lat_split_s3 --layout split --blobs s3
latency lat_single_folder --layout single --blobs folder
echo >&2 "raw results: $OUT"
