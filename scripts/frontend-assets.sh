#!/usr/bin/env bash
# The panel's third-party browser assets (htmx, Chart.js, xterm.js and its fit addon) from npm: `npm ci` from the committed
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
# the VPS console's terminal (UMD builds: window.Terminal, window.FitAddon)
cp "$build/node_modules/@xterm/xterm/lib/xterm.js" "$vendor/xterm.js"
cp "$build/node_modules/@xterm/xterm/css/xterm.css" "$vendor/xterm.css"
cp "$build/node_modules/@xterm/addon-fit/lib/addon-fit.js" "$vendor/addon-fit.js"
echo "frontend assets: $(ls "$vendor" | tr '\n' ' ')"
