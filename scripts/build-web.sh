#!/usr/bin/env bash
# Builds the web frontend (web/ -> web/dist) with the npm packages pinned in web/package-lock.json.
# Skips the work when nothing changed since the last build. Needs Node.js >= 20.19 (Vite 8).
set -euo pipefail
cd "$(dirname "$0")/../web"

need="20.19.0"
have="$(node --version 2>/dev/null | sed 's/^v//' || true)"
if [ -z "$have" ] || [ "$(printf '%s\n%s\n' "$need" "$have" | sort -V | head -1)" != "$need" ]; then
  echo "build-web: Node.js >= $need is needed (found: ${have:-none}); the web frontend is not built." >&2
  echo "build-web: install a current Node.js, then run scripts/build-web.sh." >&2
  exit 1
fi

# npm ci only when the lock file changed since the last install.
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  npm ci --no-audit --no-fund --loglevel=error
fi

stamp=dist/index.html
if [ -f "$stamp" ] && [ -z "$(find src index.html package-lock.json vite.config.ts tsconfig.json scripts -newer "$stamp" -print -quit)" ]; then
  echo "build-web: web/dist is up to date"
  exit 0
fi
npm run build --silent
