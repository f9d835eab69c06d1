#!/usr/bin/env bash
# README command 2: set up what is missing (idempotent), then run the whole suite:
# typecheck, lint, dependency rules, and every test. The last line is always
# "N passed, N failed" (static checks count as one test each).
set -uo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh || { echo "0 passed, 1 failed"; exit 1; }

static_failed=0
static_passed=0
check() {
  local name=$1; shift
  echo "== $name"
  if "$@"; then static_passed=$((static_passed + 1)); else echo "FAILED: $name"; static_failed=$((static_failed + 1)); fi
}
check typecheck npm run --silent typecheck
check eslint npx eslint .
check prettier npx prettier --check --log-level warn .
check dependency-rules npm run --silent deps

echo "== tests"
mkdir -p test-output
node scripts/run-tests.mjs "$@" | tee test-output/summary.log
status=${PIPESTATUS[0]}
last=$(tail -n 1 test-output/summary.log)
passed=$(sed -E 's/^([0-9]+) passed.*/\1/' <<<"$last")
failed=$(sed -E 's/^[0-9]+ passed, ([0-9]+) failed.*/\1/' <<<"$last")
skipped=$(grep -oE '[0-9]+ skipped' <<<"$last" | grep -oE '[0-9]+' || true)
[[ $passed =~ ^[0-9]+$ ]] || passed=0
[[ $failed =~ ^[0-9]+$ ]] || failed=1
total_passed=$((passed + static_passed))
total_failed=$((failed + static_failed))
echo
echo "${total_passed} passed, ${total_failed} failed${skipped:+, ${skipped} skipped}"
[[ $status -eq 0 && $total_failed -eq 0 ]]
