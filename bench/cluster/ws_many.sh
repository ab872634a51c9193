#!/usr/bin/env bash
# Connections beyond one process (issue 7): 50,000 idle WebSockets through the shipped nginx
# config over 3 push processes on one PostgreSQL, then one result to each (bench/cluster/ws_many.py
# explains the layout). Needs nginx-light, postgresql, Node 20 and `npm ci` in bench/push (the ws
# package). Run as root: it widens the ephemeral port range for the run (nginx opens one upstream
# connection per WebSocket, all from 127.0.0.1) and restores it afterwards.
#   bench/cluster/ws_many.sh [IMGPIPE_BIN] [N] [PUSH]
set -euo pipefail
cd "$(dirname "$0")/../.."
BIN="${1:-build/src/app/imgpipe}"
N="${2:-50000}"
PUSH="${3:-3}"

[ -d bench/push/node_modules/ws ] || (cd bench/push && npm ci --no-audit --no-fund --loglevel=error)
echo "open files limit (each process): $(ulimit -n)"
old_range="$(sysctl -n net.ipv4.ip_local_port_range | tr -s '\t ' ' ')"
restore() { sysctl -q -w net.ipv4.ip_local_port_range="$old_range"; }
if [ "$(id -u)" -eq 0 ]; then
  trap restore EXIT
  sysctl -q -w net.ipv4.ip_local_port_range="10000 65000"
fi
echo "ephemeral ports: $(sysctl -n net.ipv4.ip_local_port_range), somaxconn $(sysctl -n net.core.somaxconn)"
/usr/bin/python3 bench/cluster/ws_many.py "$BIN" "$N" "$PUSH"
