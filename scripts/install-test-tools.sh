#!/usr/bin/env bash
# Installs the npm tools that tests run as separate processes, pinned by their package-lock.json:
# tests/s3 (s3rver, the local S3 server of src/blob/s3/s3_blob_store_test.cc).
# Skips the work when the lock file did not change since the last install. Needs Node.js and npm.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v npm >/dev/null 2>&1; then
  echo "install-test-tools: npm is needed (install Node.js); the S3 tests will fail without it." >&2
  exit 1
fi
for dir in tests/s3; do
  if [ ! -f "$dir/node_modules/.package-lock.json" ] ||
     [ "$dir/package-lock.json" -nt "$dir/node_modules/.package-lock.json" ]; then
    (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error)
  fi
done
