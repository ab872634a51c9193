#!/usr/bin/env bash
# Side-by-side benchmark of imgpipe and Orthanc 1.10 (+ DICOMweb plugin) on this machine.
#
# Run as root (it creates a private network namespace): bench/pacs_vs_orthanc.sh
# Prints a Markdown table on stdout, progress on stderr, raw numbers and logs in bench/out/RUN/.
# Every load run lasts BENCH_DURATION seconds; the whole run is capped at BENCH_BUDGET_S seconds.
# Both servers run, one after the other, inside a network namespace that has only `lo`, so
# Orthanc (which binds 0.0.0.0) and every request stay on loopback. See bench/README.md.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
IMGPIPE_BIN=${IMGPIPE_BIN:-$ROOT/build/src/app/imgpipe}
# Uploads need the admin key: the bench's own unless one is given (the server inherits it).
export IMGPIPE_ADMIN_KEY=${IMGPIPE_ADMIN_KEY:-imgpipe-bench-admin-key-0123456789}
DURATION=${BENCH_DURATION:-10}
THREADS=${BENCH_THREADS:-2}
CONNS=${BENCH_CONNECTIONS:-16}
INGEST_N=${BENCH_INGEST_N:-8000}
MAL_DIM=${BENCH_MALFORMED_DIM:-35000}
MAL_TIMEOUT=${BENCH_MALFORMED_TIMEOUT:-60}
BUDGET=${BENCH_BUDGET_S:-570}
ORTHANC_BIN=${ORTHANC_BIN:-/usr/sbin/Orthanc}
ORTHANC_PLUGIN=${ORTHANC_DICOMWEB_PLUGIN:-/usr/share/orthanc/plugins/libOrthancDicomWeb.so}
ORTHANC_PORT=8042
PY=/usr/bin/python3 # Debian's, which has python3-pydicom
QIDO_STUDIES=28

log() { echo "[bench $(date +%T)] $*" >&2; }
ABORTED=""
die() {
  log "ERROR: $*"
  ABORTED="$*"
  exit 1
}

[ "$(id -u)" -eq 0 ] || die "run as root (needs ip netns)"
for tool in ip wrk curl dcmcjpeg "$PY" "$ORTHANC_BIN"; do
  command -v "$tool" >/dev/null || die "missing $tool (IMGPIPE_BENCH_DEPS=1 scripts/install-deps.sh)"
done
[ -f "$ORTHANC_PLUGIN" ] || die "missing $ORTHANC_PLUGIN (package orthanc-dicomweb)"
"$PY" -c 'import pydicom' 2>/dev/null || die "python3-pydicom is not installed"

RUN_ID=$(date +%Y%m%d-%H%M%S)
OUT=${BENCH_OUT:-$HERE/out/$RUN_ID}
mkdir -p "$OUT"
[ -n "${BENCH_OUT:-}" ] || ln -sfn "$RUN_ID" "$HERE/out/latest"
RESULTS=$OUT/results.tsv
: >"$RESULTS"
TMP=$(mktemp -d /tmp/imgpipe-bench.XXXXXX)
FIX=$TMP/fixtures
NS=imgpipe-bench-$$
SERVER_PIDS=()
BG_PIDS=()
SKIPPED_IMGPIPE=0

stop_pid() { # PID: TERM, up to 10 s grace, then KILL; reaps it when it is our child
  local pid=$1
  kill -0 "$pid" 2>/dev/null || return 0
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 100); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}

# The Markdown report (stdout and summary.md); also printed, partial, when the run aborts.
REPORT_STATE=0 # 0: nothing to report yet, 1: results being collected, 2: printed
print_report() {
  REPORT_STATE=2
  {
    echo "## imgpipe vs Orthanc ($(date -I), $(nproc) CPUs, wrk -t$THREADS -c$CONNS -d${DURATION}s)"
    echo
    if [ -n "$ABORTED" ]; then
      echo "**Run aborted, results are partial:** $ABORTED"
      echo
    fi
    if [ "$SKIPPED_IMGPIPE" = 1 ]; then
      echo "**imgpipe half skipped:** \`$IMGPIPE_BIN\` does not exist (build it, or set IMGPIPE_BIN)."
      echo
    fi
    "$PY" "$HERE/report.py" table "$RESULTS"
    echo
    echo "Orthanc has no render cache: both preview rows compare against the same Orthanc run."
    echo "Malformed file: Rows/Columns and JPEG SOF claim ${MAL_DIM}x${MAL_DIM}, 4.4 KB of scan."
    echo "Raw numbers: $OUT"
  } | tee "$OUT/summary.md"
}

cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  set +e
  local pid
  for pid in "${BG_PIDS[@]}"; do kill "$pid" 2>/dev/null; done
  for pid in "${SERVER_PIDS[@]}"; do stop_pid "$pid"; done
  if ip netns list | grep -qw "^$NS"; then
    for pid in $(ip netns pids "$NS"); do kill -KILL "$pid" 2>/dev/null; done # ours only
    ip netns del "$NS"
  fi
  if [ "${BENCH_KEEP_TMP:-0}" = 1 ]; then log "kept $TMP"; else rm -rf "$TMP"; fi
  if [ "$REPORT_STATE" = 1 ]; then
    [ -n "$ABORTED" ] || ABORTED="interrupted (exit status $rc)"
    print_report
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Watchdog: the whole run is bounded even if a server hangs (every curl/wrk is bounded too).
(
  trap 'kill "$sp" 2>/dev/null; exit 0' TERM
  sleep "$BUDGET" &
  sp=$!
  wait "$sp" && echo "[bench] time budget of ${BUDGET}s exceeded, aborting" >&2 && kill -TERM $$
) &
BG_PIDS+=($!)

rec() { printf '%s\t%s\n' "$1" "$2" >>"$RESULTS"; }
nsx() { ip netns exec "$NS" "$@"; }
# Runs a long command (wrk, the malformed requests) in the background and waits for it: bash acts
# on INT/TERM during `wait` at once, but ignores a lone SIGINT while a foreground child runs.
# The command must be a plain executable (not a function), so $! is its PID for cleanup to kill.
run_bg() {
  "$@" &
  local p=$!
  BG_PIDS+=("$p")
  wait "$p"
}
http() { nsx curl -sS -m "${CURL_MAX:-30}" "$@"; }
now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", b - a }'; }
kb_to_mb() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }
proc_kb() { awk -v k="$2:" '$1 == k { print $2 }' "/proc/$1/status" 2>/dev/null || echo 0; }
uid_of() { "$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]][sys.argv[3]])' \
  "$FIX/manifest.json" "$1" "$2"; }

# POST one DICOM file. Prints "HTTP_CODE SECONDS"; the response body goes to $3.
AUTH=() # imgpipe half: the admin key header, when IMGPIPE_ADMIN_KEY is set (DESIGN.md)
post_dicom() {
  http -o "$3" -w '%{http_code} %{time_total}' -X POST -H 'Content-Type: application/dicom' "${AUTH[@]}" \
    --data-binary @"$2" "$1" 2>>"$OUT/curl-errors.log" || true
}

# GET URL once into probe-KEY.body; 0 when 200. Records a failure for KEY otherwise.
probe() {
  local key=$1 url=$2 res code
  res=$(http -o "$OUT/probe-$key.body" -w '%{http_code} %{content_type} %{size_download}' \
    "$url" 2>>"$OUT/curl-errors.log" || true)
  echo "$url -> $res" >"$OUT/probe-$key.txt"
  code=${res%% *}
  [ "$code" = 200 ] && return 0
  log "$key: GET $url answered '${res:-nothing}', skipping its load run"
  rec "$key" "FAIL"
  rec "$key.note" "HTTP ${code:-000}"
  return 1
}

# A fixed-duration wrk run against URL; records req/s, p50/p99 (ms), non-2xx, socket errors.
run_wrk() {
  local key=$1 url=$2 f=$OUT/wrk-$1.txt rps p50 p99 non2xx sock
  log "$key: wrk ${DURATION}s $url"
  run_bg ip netns exec "$NS" wrk -t"$THREADS" -c"$CONNS" -d"${DURATION}s" --timeout 10s --latency \
    "$url" >"$f" 2>&1 || true
  read -r rps p50 p99 non2xx sock < <("$PY" "$HERE/report.py" wrk "$f")
  rec "$key" "$rps"
  rec "$key.p50" "$p50"
  rec "$key.p99" "$p99"
  if [ "$non2xx" != 0 ] || [ "$sock" != 0 ]; then
    rec "$key.note" "$non2xx non-2xx, $sock socket errors"
  fi
}

# Ingest: INGEST_N distinct files POSTed once each by wrk + ingest.lua (see that file).
# Args: KEY BASE_URL POST_PATH [BEARER_KEY]
run_ingest() {
  local key=$1 base=$2 path=$3 f=$OUT/wrk-$1.txt line rate ok failed exhausted err p50 p99 secs
  log "$key: ingest of up to $INGEST_N files, ${DURATION}s, POST $path"
  run_bg ip netns exec "$NS" wrk -t"$THREADS" -c"$CONNS" -d"${DURATION}s" --timeout 10s --latency \
    -s "$HERE/ingest.lua" \
    "$base" -- "$TMP/ingest.list" "$path" "$THREADS" "${4:-}" >"$f" 2>&1 || true
  line=$(grep '^INGEST ' "$f" || echo "INGEST ok=0 failed=0 rate=nan exhausted=no first_error=wrk")
  rate=$(sed -n 's/.* rate=\([^ ]*\).*/\1/p' <<<"$line")
  ok=$(sed -n 's/.* ok=\([^ ]*\).*/\1/p' <<<"$line")
  failed=$(sed -n 's/.* failed=\([^ ]*\).*/\1/p' <<<"$line")
  exhausted=$(sed -n 's/.* exhausted=\([^ ]*\).*/\1/p' <<<"$line")
  err=$(sed -n 's/.* first_error=\(.*\)$/\1/p' <<<"$line")
  secs=$(sed -n 's/.* elapsed=\([^ ]*\).*/\1/p' <<<"$line")
  read -r _ p50 p99 _ _ < <("$PY" "$HERE/report.py" wrk "$f")
  rec "$key" "$rate"
  rec "$key.ok" "$ok"
  rec "$key.failed" "$failed"
  rec "$key.elapsed_s" "$secs"
  if [ "$exhausted" = yes ]; then
    # The tail of the run was sentinel GETs, so wrk's percentiles no longer describe POSTs.
    p50=n/a p99=n/a
    rec "$key.note" "all $INGEST_N files in ${secs}s"
  fi
  rec "$key.p50" "$p50"
  rec "$key.p99" "$p99"
  [ "${failed:-0}" = 0 ] || rec "$key.note" "$failed failed, first: ${err:0:80}"
}

# Samples VmRSS of PID every 10 ms into FILE until stop_rss_poll.
start_rss_poll() {
  local pid=$1 file=$2
  (
    while [ -r "/proc/$pid/status" ]; do
      while read -r k v _; do [ "$k" = VmRSS: ] && echo "$v" && break; done <"/proc/$pid/status"
      sleep 0.01
    done
  ) >"$file" 2>/dev/null &
  POLL_PID=$!
  BG_PIDS+=("$POLL_PID")
}
stop_rss_poll() {
  kill "$POLL_PID" 2>/dev/null || true
  wait "$POLL_PID" 2>/dev/null || true
}

# Malformed JPEG: upload, then (when accepted) one preview; wall times and the server's peak RSS
# (VmHWM after resetting it through clear_refs, and the max of the 10 ms VmRSS samples).
# Args: SERVER PID UPLOAD_URL PREVIEW_URL_FUNCTION HEALTH_URL
run_malformed() {
  local srv=$1 pid=$2 upload_url=$3 preview_fn=$4 health=$5 res code t0 t1 purl peak_poll hwm
  log "$srv: malformed JPEG (${MAL_DIM}x${MAL_DIM} claimed), preview timeout ${MAL_TIMEOUT}s"
  echo 5 >"/proc/$pid/clear_refs" 2>/dev/null || true # resets VmHWM to the current RSS
  rec "$srv.malformed_rss_before_mb" "$(kb_to_mb "$(proc_kb "$pid" VmRSS)")"
  start_rss_poll "$pid" "$OUT/rss-$srv-malformed.txt"
  run_bg ip netns exec "$NS" curl -sS -m "$MAL_TIMEOUT" -o "$OUT/$srv-malformed-upload.body" \
    -w '%{http_code} %{time_total}' -X POST -H 'Content-Type: application/dicom' "${AUTH[@]}" \
    --data-binary @"$FIX/malformed.dcm" "$upload_url" >"$TMP/mal-upload.txt" 2>>"$OUT/curl-errors.log" || true
  res=$(cat "$TMP/mal-upload.txt")
  code=${res%% *}
  rec "$srv.malformed_upload_s" "${res#* }"
  rec "$srv.malformed_upload_s.note" "HTTP $code"
  if [[ $code == 2* ]]; then
    purl=$($preview_fn "$OUT/$srv-malformed-upload.body")
    t0=$(now)
    run_bg ip netns exec "$NS" curl -sS -m "$MAL_TIMEOUT" -o /dev/null -w '%{http_code}' "$purl" \
      >"$TMP/mal-preview.txt" 2>>"$OUT/curl-errors.log" || true
    res=$(cat "$TMP/mal-preview.txt")
    t1=$(now)
    rec "$srv.malformed_preview_s" "$(elapsed "$t0" "$t1")"
    if [ "$res" = 000 ]; then
      rec "$srv.malformed_preview_s.note" "no answer: timed out"
    else
      rec "$srv.malformed_preview_s.note" "HTTP $res"
    fi
  else
    rec "$srv.malformed_preview_s" "n/a"
    rec "$srv.malformed_preview_s.note" "upload rejected"
  fi
  sleep 0.2
  stop_rss_poll
  hwm=$(proc_kb "$pid" VmHWM)
  peak_poll=$(sort -n "$OUT/rss-$srv-malformed.txt" | tail -1)
  [ "${peak_poll:-0}" -gt "${hwm:-0}" ] && hwm=$peak_poll
  rec "$srv.malformed_peak_rss_mb" "$(kb_to_mb "${hwm:-0}")"
  if kill -0 "$pid" 2>/dev/null && [ "$(http -o /dev/null -w '%{http_code}' "$health" || true)" = 200 ]; then
    rec "$srv.malformed_survived" yes
  else
    rec "$srv.malformed_survived" no
    rec "$srv.malformed_peak_rss_mb.note" "server died or stopped answering"
  fi
}

# ---------------------------------------------------------------------------------------------
# Fixtures and namespace.

log "generating fixtures in $FIX ($INGEST_N ingest files)"
"$PY" "$HERE/gen_fixtures.py" "$FIX" "$INGEST_N" "$MAL_DIM"
dcmcjpeg +ee +un "$FIX/cr12_raw.dcm" "$FIX/cr12_jpeg.dcm"
ls "$FIX"/ingest/*.dcm >"$TMP/ingest.list"
cp "$FIX/manifest.json" "$OUT/"

REPORT_STATE=1
ip netns add "$NS"
ip -n "$NS" link set lo up

{
  echo "date: $(date -Is)"
  echo "host: $(nproc) cpus, $(awk '/MemTotal/ {print $2 " kB"}' /proc/meminfo), load $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "orthanc: $(dpkg-query -W -f='${Version}' orthanc 2>/dev/null), dicomweb $(dpkg-query -W -f='${Version}' orthanc-dicomweb 2>/dev/null)"
  echo "wrk: -t$THREADS -c$CONNS -d${DURATION}s; ingest files: $INGEST_N; malformed dim: $MAL_DIM"
  echo "imgpipe: $IMGPIPE_BIN"
} >"$OUT/environment.txt"

# ---------------------------------------------------------------------------------------------
# Orthanc half.

orthanc_preview_url() { # upload response body -> preview URL of that instance
  echo "http://127.0.0.1:$ORTHANC_PORT/instances/$("$PY" "$HERE/report.py" json-get "$1" ID)/preview"
}

orthanc_count() {
  http "http://127.0.0.1:$ORTHANC_PORT/statistics" >"$TMP/stats.json" 2>/dev/null || true
  "$PY" "$HERE/report.py" json-get "$TMP/stats.json" CountInstances
}

bench_orthanc() {
  local dir=$TMP/orthanc base="http://127.0.0.1:$ORTHANC_PORT" pid f res n ct j12 before after
  mkdir -p "$dir/db"
  cat >"$dir/orthanc.json" <<EOF
{
  "Name": "imgpipe-bench",
  "StorageDirectory": "$dir/db",
  "IndexDirectory": "$dir/db",
  "Plugins": ["$ORTHANC_PLUGIN"],
  "HttpPort": $ORTHANC_PORT,
  "RemoteAccessAllowed": true,
  "AuthenticationEnabled": false,
  "DicomServerEnabled": false,
  "KeepAlive": true,
  "DicomWeb": { "Enable": true, "Root": "/dicom-web/", "EnableWado": false }
}
EOF
  cp "$dir/orthanc.json" "$OUT/orthanc.json"
  log "orthanc: starting in netns $NS"
  ip netns exec "$NS" "$ORTHANC_BIN" "$dir/orthanc.json" >"$OUT/orthanc.log" 2>&1 &
  pid=$! # ip netns exec execs Orthanc, so this is Orthanc's PID
  SERVER_PIDS+=("$pid")
  for _ in $(seq 300); do
    kill -0 "$pid" 2>/dev/null || die "orthanc exited at start, see $OUT/orthanc.log"
    [ "$(CURL_MAX=2 http -o /dev/null -w '%{http_code}' "$base/system" 2>/dev/null || true)" = 200 ] && break
    sleep 0.1
  done
  [ "$(cat "/proc/$pid/comm")" = Orthanc ] || die "pid $pid is not Orthanc"
  sleep 1
  rec orthanc.idle_rss_mb "$(kb_to_mb "$(proc_kb "$pid" VmRSS)")"

  for f in "$FIX"/qido/*.dcm; do
    res=$(post_dicom "$base/instances" "$f" /dev/null)
    [ "${res%% *}" = 200 ] || die "orthanc rejected $f: $res"
  done
  if probe orthanc.qido "$base/dicom-web/studies"; then
    n=$("$PY" "$HERE/report.py" json-len "$OUT/probe-orthanc.qido.body")
    [ "$n" = "$QIDO_STUDIES" ] || rec orthanc.qido.note "returned $n studies"
    run_wrk orthanc.qido "$base/dicom-web/studies"
  fi

  post_dicom "$base/instances" "$FIX/ct16.dcm" "$TMP/o-ct.json" >/dev/null
  post_dicom "$base/instances" "$FIX/cr12_jpeg.dcm" "$TMP/o-j12.json" >/dev/null
  ct=$(orthanc_preview_url "$TMP/o-ct.json")
  j12=$(orthanc_preview_url "$TMP/o-j12.json")
  if probe orthanc.preview_ct "$ct"; then run_wrk orthanc.preview_ct "$ct"; fi
  if probe orthanc.preview_j12 "$j12"; then run_wrk orthanc.preview_j12 "$j12"; fi

  before=$(orthanc_count)
  run_ingest orthanc.ingest "$base" /instances
  after=$(orthanc_count)
  rec orthanc.ingest.server_count "$((${after:-0} - ${before:-0}))"

  run_malformed orthanc "$pid" "$base/instances" orthanc_preview_url "$base/system"
  log "orthanc: stopping"
  stop_pid "$pid"
}

# ---------------------------------------------------------------------------------------------
# imgpipe half (DESIGN.md's contract; the binary may not exist yet).

IMGPIPE_PID=""
IMGPIPE_URL=""
start_imgpipe() { # LABEL CACHE_MB ('' = the default, cache on)
  local label=$1 cache=$2 envs
  if [ -n "$cache" ]; then envs=(env IMGPIPE_RENDER_CACHE_MB="$cache"); else envs=(env -u IMGPIPE_RENDER_CACHE_MB); fi
  log "imgpipe: starting ($label) in netns $NS"
  ip netns exec "$NS" "${envs[@]}" "$IMGPIPE_BIN" serve --listen 127.0.0.1:0 --data-dir "$TMP/imgpipe-data" \
    >"$OUT/imgpipe-$label.out" 2>"$OUT/imgpipe-$label.log" &
  IMGPIPE_PID=$!
  SERVER_PIDS+=("$IMGPIPE_PID")
  IMGPIPE_URL=""
  for _ in $(seq 300); do
    kill -0 "$IMGPIPE_PID" 2>/dev/null || die "imgpipe exited at start, see $OUT/imgpipe-$label.log"
    IMGPIPE_URL=$(grep -m1 -o 'listening on http://[^[:space:]]*' "$OUT/imgpipe-$label.out" | sed 's/^listening on //' || true)
    [ -n "$IMGPIPE_URL" ] && break
    sleep 0.1
  done
  [ -n "$IMGPIPE_URL" ] || die "imgpipe printed no 'listening on' line within 30 s"
  IMGPIPE_URL=${IMGPIPE_URL%/}
}

imgpipe_image_url() { # manifest key -> preview URL
  echo "$IMGPIPE_URL/pacs/studies/$(uid_of "$1" study)/series/$(uid_of "$1" series)/images/$(uid_of "$1" sop)/preview?format=png"
}
imgpipe_malformed_url() { imgpipe_image_url malformed; }

UPLOAD_FAILS=0
imgpipe_upload() { # FILE: counts and logs a failure (the probes then record what it breaks)
  local res
  res=$(post_dicom "$IMGPIPE_URL/pacs/images" "$1" "$TMP/i-upload.json")
  [[ ${res%% *} == 20[01] ]] && return 0
  log "imgpipe rejected $1: $res $(head -c 300 "$TMP/i-upload.json")"
  UPLOAD_FAILS=$((UPLOAD_FAILS + 1))
}

bench_imgpipe() {
  local f n ct j12 mode cache
  if [ ! -x "$IMGPIPE_BIN" ]; then
    log "imgpipe: $IMGPIPE_BIN does not exist: SKIPPING the imgpipe half (set IMGPIPE_BIN)"
    SKIPPED_IMGPIPE=1
    return 0
  fi
  mkdir -p "$TMP/imgpipe-data"
  [ -z "${IMGPIPE_ADMIN_KEY:-}" ] || AUTH=(-H "Authorization: Bearer $IMGPIPE_ADMIN_KEY")
  # Instance 1, render cache OFF: idle RSS, QIDO, cache-less previews.
  start_imgpipe nocache 0
  sleep 1
  rec imgpipe.idle_rss_mb "$(kb_to_mb "$(proc_kb "$IMGPIPE_PID" VmRSS)")"
  for f in "$FIX"/qido/*.dcm; do imgpipe_upload "$f"; done
  [ "$UPLOAD_FAILS" = 0 ] || rec imgpipe.qido.note "$UPLOAD_FAILS of $QIDO_STUDIES uploads failed"
  if probe imgpipe.qido "$IMGPIPE_URL/dicomweb/studies"; then
    n=$("$PY" "$HERE/report.py" json-len "$OUT/probe-imgpipe.qido.body")
    [ "$n" = "$QIDO_STUDIES" ] || rec imgpipe.qido.note "returned $n studies"
    run_wrk imgpipe.qido "$IMGPIPE_URL/dicomweb/studies"
  fi
  imgpipe_upload "$FIX/ct16.dcm"
  imgpipe_upload "$FIX/cr12_jpeg.dcm"
  # Instance 2 (same data dir, so it also checks that the images survive a restart): cache ON.
  for mode in nocache cache; do
    if [ "$mode" = cache ]; then
      stop_pid "$IMGPIPE_PID"
      start_imgpipe cache ""
    fi
    ct=$(imgpipe_image_url ct16)
    j12=$(imgpipe_image_url cr12)
    if probe "imgpipe.preview_ct.$mode" "$ct"; then run_wrk "imgpipe.preview_ct.$mode" "$ct"; fi
    if probe "imgpipe.preview_j12.$mode" "$j12"; then run_wrk "imgpipe.preview_j12.$mode" "$j12"; fi
  done
  run_ingest imgpipe.ingest "$IMGPIPE_URL" /pacs/images "${IMGPIPE_ADMIN_KEY:-}"
  run_malformed imgpipe "$IMGPIPE_PID" "$IMGPIPE_URL/pacs/images" imgpipe_malformed_url "$IMGPIPE_URL/dicomweb/studies"
  log "imgpipe: stopping"
  stop_pid "$IMGPIPE_PID"
}

if [ "${BENCH_SKIP_ORTHANC:-0}" != 1 ]; then bench_orthanc; fi
bench_imgpipe

print_report
