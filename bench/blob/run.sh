#!/usr/bin/env bash
# Blob throughput to a local S3-compatible server (s3rver from tests/s3) and to the folder
# backend, 0.5 MB and 50 MB objects (issue 7). Usage: bench/blob/run.sh [BUILD_DIR]
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD="${1:-build}"
cmake --build "$BUILD" --target blob_bench >/dev/null
scripts/install-test-tools.sh
dir="$(mktemp -d)"
port=45680
node --openssl-legacy-provider tests/s3/node_modules/s3rver/bin/s3rver.js --directory "$dir/s3" \
  --address 127.0.0.1 --port "$port" --silent --configure-bucket bench &
s3pid=$!
trap 'kill $s3pid 2>/dev/null; rm -rf "$dir"' EXIT
sleep 1.5
export AWS_ACCESS_KEY_ID=S3RVER AWS_SECRET_ACCESS_KEY=S3RVER
for spec in "524288 200 4" "52428800 6 2"; do
  set -- $spec
  "$BUILD/bench/blob/blob_bench" s3 s3://bench/run "http://127.0.0.1:$port" "$1" "$2" "$3"
  "$BUILD/bench/blob/blob_bench" fs "$dir/fs" "$1" "$2" "$3"
done
