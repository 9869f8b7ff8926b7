#!/usr/bin/env bash
# Debian packages that pip and npm cannot bring: bubblewrap, passt (pasta) and iproute2 (the
# deploy service's app sandbox and its network namespace); with --browser, chromium (the
# browser tests drive it through Playwright's driver; never `playwright install`); with
# --bench, wrk. Installs only what is missing; needs root for apt.
set -euo pipefail
need=()
command -v bwrap >/dev/null 2>&1 || need+=(bubblewrap)
command -v pasta >/dev/null 2>&1 || need+=(passt)
command -v ip >/dev/null 2>&1 || need+=(iproute2)
if [ "${1:-}" = "--browser" ] && ! command -v chromium >/dev/null 2>&1; then
  need+=(chromium)
fi
# the benchmarks' load generator (make bench)
if [ "${1:-}" = "--bench" ] && ! command -v wrk >/dev/null 2>&1; then
  need+=(wrk)
fi
[ ${#need[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -ne 0 ]; then
  echo "missing Debian packages: ${need[*]} (install them: sudo apt-get install -y ${need[*]})" >&2
  exit 1
fi
echo "installing Debian packages: ${need[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${need[@]}"
