#!/usr/bin/env bash
# README command 1: set up a fresh machine (idempotent) and run Slipway's main job on its
# embedded defaults: validate, plan and run every example pipeline in disposable containers,
# then start the controller on http://127.0.0.1:8080 with the examples as jobs and run a build through it.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh

slipway() { node bin/slipway.js "$@"; }

echo
echo "== Slipway $(slipway --version)"
for example in examples/*/; do
  echo
  echo "== slipway validate ${example}"
  slipway validate "$example"
done
echo
echo "== the plan of examples/web-service (what the runtime executes), in short:"
slipway validate examples/web-service --format json | node -e '
  const r = JSON.parse(require("fs").readFileSync(0, "utf8"));
  console.log(JSON.stringify(r.summary));'
for example in examples/*/; do
  echo
  echo "== slipway run ${example} --network offline"
  slipway run "$example" --network offline
done

# The controller on its embedded defaults, with the examples as jobs. Each example becomes
# a local git repository (the controller builds commits, not working trees).
state=.slipway-quickstart
mkdir -p "$state/repos"
jobs=""
for example in examples/*/; do
  name=$(basename "$example")
  repo="$PWD/$state/repos/$name"
  mkdir -p "$repo"
  find "$repo" -mindepth 1 -maxdepth 1 ! -name .git -exec rm -rf {} +
  cp -a "$example." "$repo/"
  rm -rf "$repo/.slipway"
  git -C "$repo" init -q -b main 2>/dev/null || true
  git -C "$repo" add -A
  git -C "$repo" -c user.name=slipway -c user.email=quickstart@localhost commit -q -m "quickstart: $name" 2>/dev/null || true
  jobs="$jobs  $name:\n    repo: $repo\n"
done
printf "listen: 127.0.0.1:8080\ndata_dir: %s\njobs:\n%b" "$PWD/$state/data" "$jobs" > "$state/slipway.server.yml"

if [ -f "$state/server.pid" ] && kill -0 "$(cat "$state/server.pid")" 2>/dev/null; then
  kill "$(cat "$state/server.pid")"; sleep 1
fi
export SLIPWAY_ADMIN_TOKEN="${SLIPWAY_ADMIN_TOKEN:-$(cat "$state/token" 2>/dev/null || head -c 18 /dev/urandom | base64 | tr '+/' '-_')}"
printf '%s\n' "$SLIPWAY_ADMIN_TOKEN" > "$state/token"; chmod 600 "$state/token"
echo
echo "== slipway server --config $state/slipway.server.yml (log: $state/server.log)"
nohup node bin/slipway.js server --config "$state/slipway.server.yml" > "$state/server.log" 2>&1 &
echo $! > "$state/server.pid"
for _ in $(seq 1 100); do
  curl -fsS http://127.0.0.1:8080/readyz > /dev/null 2>&1 && break
  sleep 0.2
done
curl -fsS http://127.0.0.1:8080/readyz > /dev/null || { cat "$state/server.log"; exit 1; }
echo
echo "== slipway trigger web-service --follow (a build through the controller)"
SLIPWAY_TOKEN="$SLIPWAY_ADMIN_TOKEN" slipway trigger web-service --follow
echo
echo "The controller keeps running: open http://127.0.0.1:8080 and sign in with the token in $state/token."
echo "  export SLIPWAY_TOKEN=\$(cat $state/token); node bin/slipway.js builds"
echo "  stop it with: kill \$(cat $state/server.pid)"
echo "The C/Make example keeps its object files in a cache volume between runs (that is its cache:);"
echo "  node bin/slipway.js cache list --all   shows it; node bin/slipway.js cache prune --all removes it"
echo
echo "quickstart: done. See docs/pipeline.md to write your own .slipway.yml."
