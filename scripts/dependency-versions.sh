#!/usr/bin/env bash
# Prints imgpipe's dependencies with the versions installed on this machine, as Markdown tables:
# the Debian packages of scripts/install-deps.sh (BUILD_PKGS, TEST_PKGS; BENCH_PKGS with --bench)
# and the fuzzing toolchain (dpkg-query), then the npm packages each package.json names directly,
# at the version its package-lock.json pins.
#
#   scripts/dependency-versions.sh                   # the tables on stdout
#   scripts/dependency-versions.sh --update FILE     # replaces the part of FILE between
#       <!-- dependency-versions:begin --> and <!-- dependency-versions:end --> (docs/security.md)
#
# A package that is not installed shows "not installed": run scripts/install-deps.sh first.
set -euo pipefail
cd "$(dirname "$0")/.."

update=""
bench=0
while [ $# -gt 0 ]; do
  case "$1" in
    --update) update="$2"; shift 2 ;;
    --bench) bench=1; shift ;;
    *) echo "usage: $0 [--bench] [--update FILE]" >&2; exit 2 ;;
  esac
done

# The package arrays, read from install-deps.sh without running it.
eval "$(sed -n '/^BUILD_PKGS=(/,/^want=/p' scripts/install-deps.sh | sed '$d')"
# bench/fuzz.sh builds with clang and links libFuzzer from libclang-rt (docs/fuzzing.md).
FUZZ_PKGS=(clang libclang-rt-14-dev)

version_of() {
  local v
  v="$(dpkg-query -W -f='${Status} ${Version}' "$1" 2>/dev/null || true)"
  case "$v" in
    "install ok installed "*) echo "${v#install ok installed }" ;;
    *) echo "not installed" ;;
  esac
}

table() {  # table ROLE PACKAGE...
  local role="$1"
  shift
  for p in "$@"; do
    echo "| \`$p\` | $(version_of "$p") | $role |"
  done
}

render() {
  echo "Debian packages (\`dpkg-query\`; Debian 12 security updates move these versions):"
  echo
  echo "| package | installed version | needed for |"
  echo "|---|---|---|"
  table build "${BUILD_PKGS[@]}"
  table test "${TEST_PKGS[@]}"
  table fuzzing "${FUZZ_PKGS[@]}"
  if [ "$bench" = 1 ]; then table bench "${BENCH_PKGS[@]}"; fi
  local node
  node="$(node --version 2>/dev/null || echo "not installed")"
  echo
  echo "Node.js (builds the web frontend, runs the npm tools below): $node."
  echo
  echo "npm packages named by each package.json, at the version its package-lock.json pins (the"
  echo "locks pin every transitive package too):"
  echo
  echo "| package | locked version | declared | where |"
  echo "|---|---|---|---|"
  /usr/bin/python3 - web tests/s3 bench/push <<'PY'
import json, os, sys
for d in sys.argv[1:]:
    with open(os.path.join(d, "package.json")) as f:
        pkg = json.load(f)
    lock = {}
    lock_path = os.path.join(d, "package-lock.json")
    if os.path.exists(lock_path):
        with open(lock_path) as f:
            lock = json.load(f).get("packages", {})
    for kind in ("dependencies", "devDependencies"):
        for name, wanted in sorted(pkg.get(kind, {}).items()):
            locked = lock.get("node_modules/" + name, {}).get("version", "not locked")
            role = "" if kind == "dependencies" else " (dev)"
            print(f"| `{name}` | {locked} | {wanted} | `{d}/`{role} |")
PY
}

if [ -z "$update" ]; then
  render
  exit 0
fi
begin='<!-- dependency-versions:begin -->'
end='<!-- dependency-versions:end -->'
grep -qF "$begin" "$update" && grep -qF "$end" "$update" || {
  echo "$update has no $begin ... $end section" >&2
  exit 1
}
tables="$(mktemp)"
trap 'rm -f "$tables"' EXIT
render >"$tables"
/usr/bin/python3 - "$update" "$tables" "$begin" "$end" <<'PY'
import sys
path, tables, begin, end = sys.argv[1:]
text = open(path).read()
head, rest = text.split(begin, 1)
_, tail = rest.split(end, 1)
with open(tables) as f:
    body = f.read()
with open(path, "w") as f:
    f.write(head + begin + "\n" + body + end + tail)
PY
echo "dependency-versions: updated $update"
