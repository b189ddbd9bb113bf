#!/usr/bin/env bash
# Make headless Chromium and its driver available for the browser tests:
# use the installed ones, or install Debian's chromium and chromium-driver.
# Exits non-zero if they cannot be had: the browser tests must run, not skip.
set -euo pipefail

have() {
  command -v chromium >/dev/null 2>&1 && command -v chromedriver >/dev/null 2>&1
}

if have; then
  echo "chromium: $(chromium --version 2>/dev/null | head -n1)"
  exit 0
fi

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo -n "$@"; fi; }

echo "chromium: not installed; installing Debian's chromium and chromium-driver"
export DEBIAN_FRONTEND=noninteractive
if ! as_root apt-get install -y -qq chromium chromium-driver >/dev/null 2>&1; then
  as_root apt-get update -qq
  as_root apt-get install -y -qq chromium chromium-driver >/dev/null
fi
if have; then
  echo "chromium: $(chromium --version 2>/dev/null | head -n1)"
  exit 0
fi
echo "chromium: could not be installed" >&2
exit 1
