#!/usr/bin/env bash
# docs/security.md lists every package scripts/install-deps.sh installs for the build
# (BUILD_PKGS) and for the tests (TEST_PKGS), as scripts/dependency-versions.sh writes them
# (`name` in a table row), and keeps its "Reporting a vulnerability" section.
set -euo pipefail
root="${1:-$(dirname "$0")/..}"
doc="$root/docs/security.md"
eval "$(sed -n '/^BUILD_PKGS=(/,/^want=/p' "$root/scripts/install-deps.sh" | sed '$d')"
[ "${#BUILD_PKGS[@]}" -gt 10 ] || { echo "could not read BUILD_PKGS"; exit 1; }
missing=0
for p in "${BUILD_PKGS[@]}" "${TEST_PKGS[@]}"; do
  if ! grep -qF "| \`$p\` |" "$doc"; then
    echo "docs/security.md does not list $p (run scripts/dependency-versions.sh --update docs/security.md)"
    missing=1
  fi
done
grep -q '^## Reporting a vulnerability' "$doc" || { echo "no 'Reporting a vulnerability'"; missing=1; }
exit "$missing"
