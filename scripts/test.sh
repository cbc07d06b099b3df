#!/usr/bin/env bash
# The project's test command (README: "Run all the tests"). Installs anvil for the end-to-end
# tests if it is missing, then runs every test: unit, integration, SigV4 vectors, doc tests.
# Tests that could not run (anvil missing outside CI) print a `SKIPPED:` line; they are counted
# at the end, so a skip never looks like a pass.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -z "${ANVIL_BIN:-}" ]; then
  if [ ! -x node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil ]; then
    npm install --no-save --no-package-lock --no-audit --no-fund @foundry-rs/anvil@1.7.1
  fi
  export ANVIL_BIN="$PWD/node_modules/@foundry-rs/anvil-linux-amd64/bin/anvil"
fi
log=$(mktemp)
trap 'rm -f "$log"' EXIT
cargo test --workspace --all-features "$@" 2>&1 | tee "$log"
skipped=$(grep -c '^SKIPPED: ' "$log" || true)
if [ "$skipped" -gt 0 ]; then
  echo
  echo "== $skipped test(s) SKIPPED (they passed without running):"
  grep '^SKIPPED: ' "$log"
fi
