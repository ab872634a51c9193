#!/usr/bin/env bash
# CTest auth_jwt_pyjwt: tokens made by PyJWT (tests/api/jwt_vectors.py) checked by
# auth_jwt_vectors_test (JwtPyJwtVectorsTest). Usage: run_jwt_vectors.sh TEST_BINARY
# Fails when the script fails, when the gtest case fails, and when the case did not run and pass
# (a skip or an empty filter would otherwise exit 0).
set -euo pipefail
binary="$1"
here="$(cd "$(dirname "$0")" && pwd)"
dir="$(mktemp -d "${TMPDIR:-/tmp}/imgpipe-jwt-vectors-XXXXXX")"
trap 'rm -rf "$dir"' EXIT

/usr/bin/python3 "$here/jwt_vectors.py" "$dir"
log="$dir/gtest.log"
IMGPIPE_JWT_VECTORS_DIR="$dir" "$binary" --gtest_filter='JwtPyJwtVectorsTest.*' | tee "$log"
grep -q '^\[  PASSED  \] 1 test\.' "$log" || { echo "run_jwt_vectors: the case did not pass" >&2; exit 1; }
