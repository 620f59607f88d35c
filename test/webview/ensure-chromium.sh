#!/usr/bin/env bash
# The webview tests need Debian's Chromium; install it when missing (as root), else say how.
set -euo pipefail
browser="${BOND_E2E_CHROMIUM:-/usr/bin/chromium}"
[ -x "$browser" ] && exit 0
if [ "$(id -u)" != 0 ]; then
  echo "webview tests: $browser is missing. Install it with: sudo apt-get install -y chromium" >&2
  exit 1
fi
echo "webview tests: installing chromium (apt-get)" >&2
apt-get update -qq >&2
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >&2
