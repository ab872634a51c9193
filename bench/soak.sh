#!/usr/bin/env bash
# Soak (issue 9): the pipeline at 70% of its measured maximum with WebSocket clients connected,
# for 10 minutes (MINUTES); prints RSS, open files and p99 latency over time and the verdicts.
#   bench/soak.sh [IMGPIPE_BIN] [MINUTES]
set -euo pipefail
HERE="$(cd "$(dirname "$0")" && pwd)"
BIN="${1:-${IMGPIPE_BIN:-$HERE/../build/src/app/imgpipe}}"
exec /usr/bin/python3 "$HERE/soak/soak.py" --bin "$BIN" --minutes "${2:-10}"
