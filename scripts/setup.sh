#!/usr/bin/env bash
# Sets up a fresh Debian 12 / Ubuntu machine for Slipway, idempotently: every step is
# skipped when it is already done, so a second run takes seconds.
#   SLIPWAY_SETUP_SKIP_APT=1   skip the Debian package step
#   SLIPWAY_SETUP_SKIP_IMAGES=1 skip building the local container images
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf 'setup: %s\n' "$*"; }
as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else say "need root for: $*"; exit 1; fi; }

# Debian packages, each with why we need it.
PACKAGES=(
  docker.io        # the container engine that runs every pod
  busybox-static   # the static busybox behind the slipway/busybox:1 test image
  debootstrap      # builds the slipway/debian:12 image without a registry
  curl             # the quickstart waits for the controller's /readyz
  git              # checkout, the local working-tree listing, and build context from git
  ca-certificates  # TLS for npm
  chromium         # the web UI's browser tests (playwright-core drives it)
  procps           # ps/pkill, used by scripts and tests to check for leftover processes
  postgresql       # the store contract tests run against a real PostgreSQL
)

if [ "${SLIPWAY_SETUP_SKIP_APT:-0}" != 1 ]; then
  missing=()
  for pkg in "${PACKAGES[@]}"; do
    dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    say "installing ${missing[*]}"
    as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  else
    say "Debian packages present"
  fi
fi

# The Docker engine: start it when it does not answer. There is often no systemd
# (containers, CI runners), so dockerd is started directly in that case.
if ! docker info >/dev/null 2>&1; then
  if [ "$(ps -o comm= -p 1 2>/dev/null)" = systemd ] && command -v systemctl >/dev/null; then
    say "starting docker (systemd)"
    as_root systemctl start docker
  elif ! pgrep -x dockerd >/dev/null; then
    say "starting dockerd"
    as_root sh -c 'nohup dockerd >/var/log/slipway-dockerd.log 2>&1 &'
  fi
  for _ in $(seq 1 60); do docker info >/dev/null 2>&1 && break; sleep 1; done
  if ! docker info >/dev/null 2>&1; then
    say "the Docker engine did not answer within 60s; last lines of its log:"
    tail -n 30 /var/log/slipway-dockerd.log 2>/dev/null || true
    exit 1
  fi
fi
say "Docker engine $(docker version --format '{{.Server.Version}}') answers"

# Node dependencies (better-sqlite3 compiles from source here: ~2.5 minutes the first time).
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  say "installing npm dependencies"
  npm ci --no-audit --no-fund --loglevel=error
fi

# The TypeScript build into dist/, when any source is newer.
if [ ! -f dist/bundle/slipway.js ] || [ -n "$(find src scripts/build-cli.mjs package.json tsconfig.json tsconfig.build.json -newer dist/bundle/slipway.js -print -quit)" ]; then
  say "building dist/"
  npm run --silent build:server
fi
# The web UI into dist-ui/ (React + Vite), when any of its sources is newer.
if [ ! -f dist-ui/index.html ] || [ -n "$(find ui package.json -newer dist-ui/index.html -print -quit)" ]; then
  say "building dist-ui/"
  npm run --silent build:ui
fi

if [ "${SLIPWAY_SETUP_SKIP_IMAGES:-0}" != 1 ]; then
  scripts/images/build-images.sh
fi
say "ready"
