#!/usr/bin/env bash
# The panel's third-party browser assets (htmx, Chart.js) from npm: `npm ci` from the committed
# services/frontend/package-lock.json into var/build/frontend-npm/ (outside the source tree,
# git-ignored), then their dist files into berth_frontend/static/vendor/ (git-ignored).
# Skips npm when the installed tree already matches the lock file.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
src="$root/services/frontend"
build="$root/var/build/frontend-npm"
vendor="$src/berth_frontend/static/vendor"
mkdir -p "$build"
if ! cmp -s "$src/package-lock.json" "$build/package-lock.json" \
  || [ ! -f "$build/node_modules/.package-lock.json" ]; then
  cp "$src/package.json" "$src/package-lock.json" "$build/"
  (cd "$build" && npm ci --no-audit --no-fund --loglevel=error)
fi
mkdir -p "$vendor"
cp "$build/node_modules/htmx.org/dist/htmx.min.js" "$vendor/htmx.min.js"
cp "$build/node_modules/chart.js/dist/chart.umd.min.js" "$vendor/chart.umd.min.js"
echo "frontend assets: $(ls "$vendor" | tr '\n' ' ')"
