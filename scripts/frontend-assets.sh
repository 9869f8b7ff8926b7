#!/usr/bin/env bash
# The panel's third-party browser assets (htmx, Chart.js) from npm: `npm ci` from the committed
# package-lock.json, then their dist files into berth_frontend/static/vendor/ (git-ignored).
# Skips npm when node_modules already matches the lock file.
set -euo pipefail
cd "$(dirname "$0")/../services/frontend"
vendor=berth_frontend/static/vendor
stamp=node_modules/.package-lock.json
if [ ! -f "$stamp" ] || [ package-lock.json -nt "$stamp" ]; then
  npm ci --no-audit --no-fund --loglevel=error
fi
mkdir -p "$vendor"
cp node_modules/htmx.org/dist/htmx.min.js "$vendor/htmx.min.js"
cp node_modules/chart.js/dist/chart.umd.min.js "$vendor/chart.umd.min.js"
echo "frontend assets: $(ls "$vendor" | tr '\n' ' ')"
