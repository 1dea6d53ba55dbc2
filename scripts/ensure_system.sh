#!/usr/bin/env bash
# The system tools the tests use, from Debian's packages: headless Chromium for the browser tests
# (tests/test_browser.py; not Playwright's own browser download, which needs Playwright's CDN) and git-lfs for
# the Space-push check (tests/test_repo.py). Set PLAYWRIGHT_CHROMIUM to use another browser binary.
# Tests that need a missing tool are skipped with the reason.
set -euo pipefail
bin="${PLAYWRIGHT_CHROMIUM:-/usr/bin/chromium}"
want=()
[ -x "$bin" ] || want+=(chromium)
git lfs version >/dev/null 2>&1 || want+=(git-lfs)
[ ${#want[@]} -eq 0 ] && exit 0
if command -v apt-get >/dev/null 2>&1; then
  sudo=""; [ "$(id -u)" = 0 ] || { command -v sudo >/dev/null 2>&1 && sudo="sudo"; }
  if [ "$(id -u)" = 0 ] || [ -n "$sudo" ]; then
    echo "ensure_system: installing ${want[*]} from Debian's packages…"
    $sudo apt-get update -q >/dev/null && $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${want[@]}" >/dev/null
    # Debian's git-lfs turns its filters on for every repository of the machine (/etc/gitconfig). Off again:
    # this repository keeps its binaries as plain git objects, and only scripts/push_space.sh uses LFS, in a
    # clone of its own (git lfs install --local).
    if [[ " ${want[*]} " == *" git-lfs "* ]]; then $sudo git lfs uninstall --system --skip-repo >/dev/null; fi
    exit 0
  fi
fi
echo "ensure_system: cannot install ${want[*]} (no apt-get or no root); the tests that need them will be skipped." >&2
