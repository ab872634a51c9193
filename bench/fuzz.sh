#!/usr/bin/env bash
# Runs the libFuzzer targets of fuzz/ (docs/fuzzing.md) for a set time each.
#
#   bench/fuzz.sh [SECONDS] [TARGET...]     (default: 600 s each; every target)
#
# Builds build-fuzz (clang, IMGPIPE_FUZZ=ON) if needed, then runs each target on a COPY of its
# seed corpus (fuzz/corpus/TARGET), so the committed corpus never changes, with -max_len fitting
# the target, -rss_limit_mb=2048 and -timeout=10. After a crash the target is restarted on the
# grown corpus until its time is used up (at most 5 runs). Prints, per target: executions, exec/s,
# coverage at start and end, new corpus inputs, and the artifact of every crash, leak, timeout or
# OOM. Everything (logs, corpus copies, artifacts) lands in build-fuzz/fuzz-runs/STAMP/.
# Environment: FUZZ_BUILD_DIR (build-fuzz), JOBS (2, build parallelism), FUZZ_ARGS (extra
# libFuzzer flags). Needs no terminal; fine as root. Exit status 1 when anything was found.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=${FUZZ_BUILD_DIR:-$ROOT/build-fuzz}
JOBS=${JOBS:-2}
SECONDS_EACH=${1:-600}
shift || true
ALL_TARGETS=(fuzz_dicom fuzz_http_request fuzz_json fuzz_ws_message fuzz_ws_frames)
TARGETS=("$@")
[[ ${#TARGETS[@]} -gt 0 ]] || TARGETS=("${ALL_TARGETS[@]}")
MODULES="core;http;dicom;db;queue;blob;pacs;algorithms;jobs;push"

log() { echo "[fuzz $(date +%T)] $*" >&2; }

[[ $SECONDS_EACH =~ ^[0-9]+$ && $SECONDS_EACH -gt 0 ]] || { log "SECONDS must be > 0"; exit 2; }
for t in "${TARGETS[@]}"; do
  [[ " ${ALL_TARGETS[*]} " == *" $t "* ]] || { log "unknown target $t (${ALL_TARGETS[*]})"; exit 2; }
done

max_len() {
  case $1 in
    fuzz_dicom) echo 65536 ;;         # the seeds are < 2 KB; room for bigger frames and items
    fuzz_http_request) echo 16384 ;;  # headers, a query, a small multipart body
    fuzz_json) echo 8192 ;;
    fuzz_ws_message) echo 4096 ;;
    fuzz_ws_frames) echo 8192 ;;
  esac
}
dict() {
  case $1 in
    fuzz_http_request) echo "$ROOT/fuzz/http.dict" ;;
    fuzz_json | fuzz_ws_message) echo "$ROOT/fuzz/json.dict" ;;
  esac
}

if [[ ! -f $BUILD/build.ninja ]]; then
  log "configuring $BUILD"
  CC=clang CXX=clang++ cmake -S "$ROOT" -B "$BUILD" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo \
    -DIMGPIPE_FUZZ=ON "-DIMGPIPE_MODULES=$MODULES" >"$BUILD.configure.log" 2>&1 ||
    { cat "$BUILD.configure.log" >&2; exit 2; }
fi
log "building ${TARGETS[*]}"
cmake --build "$BUILD" -j "$JOBS" --target "${TARGETS[@]}" >&2

RUNS=$BUILD/fuzz-runs/$(date +%Y%m%d-%H%M%S)
mkdir -p "$RUNS"
FOUND=0
SUMMARY=()

# Files in a directory; the value of libFuzzer's final stat NAME in LOG (0 when absent).
count() { find "$1" -maxdepth 1 -type f | wc -l; }
stat() { grep -oP "^stat::$2:\s*\K[0-9]+" "$1" | tail -1 || echo 0; }

for t in "${TARGETS[@]}"; do
  dir=$RUNS/$t
  mkdir -p "$dir/corpus" "$dir/artifacts"
  cp "$ROOT/fuzz/corpus/$t/"* "$dir/corpus/"
  seeds=$(count "$dir/corpus")
  flags=(-max_len="$(max_len "$t")" -rss_limit_mb=2048 -timeout=10 -print_final_stats=1
    -artifact_prefix="$dir/artifacts/")
  [[ -n $(dict "$t") ]] && flags+=(-dict="$(dict "$t")")
  # DCMTK allocates an element's declared length (up to 4 GiB, new(nothrow)) before reading it
  # (docs/fuzzing.md, findings). Under ASan such an allocation costs ~15 ms of shadow work and
  # trips libFuzzer's malloc limit; refusing allocations over 1 GiB instead makes DCMTK fail the
  # read as it does when memory is short, and keeps the target at full speed.
  asan=${ASAN_OPTIONS:-}
  [[ $t == fuzz_dicom ]] && asan="allocator_may_return_null=1:max_allocation_size_mb=1024${asan:+:$asan}"
  # shellcheck disable=SC2206
  flags+=(${FUZZ_ARGS:-})
  execs=0
  start=$(date +%s)
  run=0
  cov_start=""
  cov_end=""
  while :; do
    left=$((SECONDS_EACH - ($(date +%s) - start)))
    ((left > 0 && run < 5)) || break
    run=$((run + 1))
    log "$t: run $run, ${left}s"
    rc=0
    (cd "$dir" && ASAN_OPTIONS=$asan "$BUILD/fuzz/$t" "${flags[@]}" -max_total_time="$left" corpus \
      </dev/null >"run$run.log" 2>&1) || rc=$?
    execs=$((execs + $(stat "$dir/run$run.log" number_of_executed_units)))
    [[ -n $cov_start ]] || cov_start=$(grep -oP 'INITED cov: \K[0-9]+' "$dir/run$run.log" | head -1 || true)
    cov_end=$(grep -oP '^#[0-9]+\s+\S+\s+cov: \K[0-9]+' "$dir/run$run.log" | tail -1 || true)
    ((rc == 0)) && break
    log "$t: run $run ended with status $rc (see $dir/run$run.log)"
  done
  elapsed=$(($(date +%s) - start))
  ((elapsed > 0)) || elapsed=1
  artifacts=$(count "$dir/artifacts")
  ((artifacts == 0)) || FOUND=1
  corpus_now=$(count "$dir/corpus")
  line=$(printf '%-18s executions %10d  exec/s %7d  cov %s -> %s  corpus %d -> %d  findings %d' \
    "$t" "$execs" $((execs / elapsed)) "${cov_start:-?}" "${cov_end:-?}" "$seeds" "$corpus_now" \
    "$artifacts")
  SUMMARY+=("$line")
  for a in "$dir/artifacts/"*; do [[ -e $a ]] && SUMMARY+=("    artifact: $a"); done
done

echo "fuzz runs in $RUNS (${SECONDS_EACH}s per target)"
printf '%s\n' "${SUMMARY[@]}"
exit $FOUND
