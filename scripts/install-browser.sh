#!/usr/bin/env bash
# Debian's Chromium for the browser tests (headless, driven by Playwright's driver; never
# `playwright install`). .ci/run calls this when chromium is missing.
set -euo pipefail
if command -v chromium >/dev/null 2>&1; then
  echo "chromium already installed: $(chromium --version 2>/dev/null || true)"
  exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update
apt-get install -y --no-install-recommends chromium
chromium --version
