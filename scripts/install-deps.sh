#!/usr/bin/env bash
# Installs every Debian 12 package that imgpipe's build, run, tests and benchmarks need.
# Idempotent: packages already present are skipped by apt. Uses sudo when not root.
set -euo pipefail

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive

BUILD_PKGS=(
  build-essential cmake ninja-build ccache lld pkg-config git
  libboost1.81-dev libboost-json1.81-dev libboost-url1.81-dev
  libdcmtk-dev libopenjp2-7-dev libopencv-imgproc-dev libopencv-imgcodecs-dev
  libsqlite3-dev libpq-dev libspdlog-dev libfmt-dev zlib1g-dev libpng-dev libjpeg-dev libssl-dev
  libcurl4-openssl-dev
  libgtest-dev libgmock-dev libbenchmark-dev
)
# Independent encoders and decoders the decoding tests compare against (run as separate processes).
TEST_PKGS=(dcmtk libgdcm-tools curl python3 python3-pydicom python3-numpy python3-websockets postgresql
  python3-botocore  # cross-checks the S3 request signer (src/blob/s3/sigv4_test.cc)
  python3-jwt python3-cryptography  # JWT vectors for src/auth's verifier (tests/api/jwt_vectors.py)
  chromium  # the web frontend's end-to-end tests (driven by npm playwright-core)
  nginx-light  # deploy/nginx/imgpipe.conf in front of two servers (tests/api/test_nginx_lb.py)
  openssl  # the throw-away CA of tests/api/test_tls_nginx.py (deploy/nginx/imgpipe-tls.conf)
  prometheus  # promtool: checks /metrics and deploy/prometheus/alerts.yml (check and test rules)
  orthanc orthanc-dicomweb iproute2)  # a real PACS, in its own network namespace, for DICOM export
                                      # and the upstream DICOMweb proxy (tests/api/orthanc.py)
# Only for bench/: wrk for load, redis-server and hiredis for the Redis Streams peer of the queue
# benchmark.
BENCH_PKGS=(wrk procps redis-server libhiredis-dev)

want=("${BUILD_PKGS[@]}" "${TEST_PKGS[@]}")
# Only what compiling needs (the build stage of deploy/container/Containerfile).
if [ "${IMGPIPE_BUILD_DEPS_ONLY:-0}" = "1" ]; then want=("${BUILD_PKGS[@]}"); fi
if [ "${IMGPIPE_BENCH_DEPS:-0}" = "1" ]; then want+=("${BENCH_PKGS[@]}"); fi

missing=()
for p in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#want[@]} packages present"
  exit 0
fi
echo "install-deps: installing ${missing[*]}"
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
