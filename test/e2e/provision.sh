#!/usr/bin/env bash
# Provision the end-to-end harness: Debian's Chromium and code-server's build dependencies, then
# code-server 4.100.3 (VS Code 1.100.3; runs on Node 20) in a cache folder outside the project's
# own dependencies. Idempotent: what is present is reused. Prints the code-server binary's path as
# the last line. A missing piece is an error that says what to do, never a skip.
set -euo pipefail
CODE_SERVER_VERSION=4.100.3
cache="${BOND_E2E_CACHE:-${XDG_CACHE_HOME:-${HOME:-/tmp}/.cache}/bond-studio-e2e}"
say() { printf 'e2e provision: %s\n' "$*" >&2; }

packages=(libkrb5-dev libxkbfile-dev libsecret-1-dev ripgrep chromium)
missing=()
for package in "${packages[@]}"; do
  dpkg -s "$package" >/dev/null 2>&1 || missing+=("$package")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ]; then
    say "missing system packages: ${missing[*]}. Install them with: sudo apt-get install -y ${missing[*]}"
    exit 1
  fi
  say "installing ${missing[*]} (apt-get)"
  apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >&2
fi

binary="$cache/code-server/node_modules/.bin/code-server"
if [ ! -x "$binary" ]; then
  # @vscode/ripgrep's postinstall downloads rg from GitHub; hand it Debian's rg in the tarball it looks for.
  tmp="${TMPDIR:-/tmp}"
  rg_cache="$tmp/vscode-ripgrep-cache-1.15.11"
  rg_tarball="$rg_cache/ripgrep-v13.0.0-10-x86_64-unknown-linux-musl.tar.gz"
  if [ ! -f "$rg_tarball" ]; then
    mkdir -p "$rg_cache"
    staging=$(mktemp -d)
    cp "$(command -v rg)" "$staging/rg"
    tar -czf "$rg_tarball" -C "$staging" rg
    rm -rf "$staging"
  fi
  say "installing code-server $CODE_SERVER_VERSION into $cache/code-server (about two minutes)"
  rm -rf "$cache/code-server"
  mkdir -p "$cache/code-server"
  cd "$cache/code-server"
  echo '{"private": true}' > package.json
  # As root, code-server's postinstall insists on this (npm 11 ignores it; the script reads it).
  export npm_config_unsafe_perm=true
  # node-pty's postinstall runs `npx node-gyp`, which would otherwise wait for a yes.
  export npm_config_yes=true
  npm install "code-server@$CODE_SERVER_VERSION" --no-audit --no-fund >&2
  # npm 11 skips dependency install scripts until approved; code-server's postinstall builds VS Code's
  # native modules, so approve it (and argon2, its password hashing) and run them.
  npm install-scripts approve code-server argon2 >&2
  npm rebuild code-server argon2 --foreground-scripts >&2
  cd - >/dev/null
fi
if ! "$binary" --version >/dev/null 2>&1; then
  say "code-server at $binary does not start; delete $cache and run this again"
  exit 1
fi
say "ready: $("$binary" --version | head -n 1)"
echo "$binary"
