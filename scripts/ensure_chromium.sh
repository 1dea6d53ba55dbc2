#!/usr/bin/env bash
# Make sure a headless Chromium exists for the browser tests (tests/test_browser.py).
# We use Debian's `chromium` package, not Playwright's own browser download (which needs
# internet access to Playwright's CDN). Set PLAYWRIGHT_CHROMIUM to use another binary.
set -euo pipefail
bin="${PLAYWRIGHT_CHROMIUM:-/usr/bin/chromium}"
if [ -x "$bin" ]; then exit 0; fi
if command -v apt-get >/dev/null 2>&1 && [ "$(id -u)" = 0 ]; then
  echo "ensure_chromium: installing Debian's chromium package…"
  apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null
elif command -v apt-get >/dev/null 2>&1 && command -v sudo >/dev/null 2>&1; then
  sudo apt-get update -q >/dev/null && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >/dev/null
else
  echo "ensure_chromium: no Chromium at $bin and no apt-get; browser tests will be skipped." >&2
fi
