#!/usr/bin/env bash
# README command 1: set up a fresh machine (idempotent) and run Slipway's main job on its
# embedded defaults: validate, plan and run every example pipeline in disposable containers.
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
echo
echo "quickstart: done. See docs/pipeline.md to write your own .slipway.yml."
