#!/usr/bin/env bash
# Queue full-cycle throughput and wake-up latency, SQLite and PostgreSQL, 1 and 8 threads, single
# and batched (10); each configuration also on the Redis Streams peer, in memory (redis) and
# with an fsync per write (redis-aof-always), when redis_streams_bench was built (hiredis found)
# and redis-server is installed.
# Usage: bench/queue/run.sh [BUILD_DIR]; prints one line per configuration and backend.
set -euo pipefail
BIN=${1:-build}/bench/queue/queue_bench
REDIS_BIN=${1:-build}/bench/queue/redis_streams_bench
[ -x "$BIN" ] || { echo "build $BIN first (cmake --build build --target queue_bench)" >&2; exit 1; }
redis=0
if [ -x "$REDIS_BIN" ] && command -v redis-server >/dev/null; then
  redis=1
else
  echo "skipping the Redis peer: needs $REDIS_BIN and redis-server" \
    "(IMGPIPE_BENCH_DEPS=1 scripts/install-deps.sh, then rebuild)" >&2
fi
# Each configuration on every backend in turn, so that each line has its peers next to it.
for threads in 1 8; do
  for batch in 1 10; do
    # Batched runs long enough (2-4 s on SQLite) that the first second, while the database file
    # grows, does not weigh on the figure.
    n=$((batch == 1 ? 5000 : 100000))
    "$BIN" sqlite "$threads" "$batch" "$n"
    "$BIN" postgres "$threads" "$batch" "$((n / 2))"
    if [ "$redis" = 1 ]; then
      "$REDIS_BIN" redis "$threads" "$batch" "$n"
      "$REDIS_BIN" redis-aof-always "$threads" "$batch" "$n"
    fi
  done
done
