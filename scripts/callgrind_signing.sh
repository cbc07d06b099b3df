#!/usr/bin/env bash
# Instructions per signature (valgrind --tool=callgrind), stable on a shared machine:
# aws-sigv4's sign(), alloy-amb's signing path and the floor, on the 300 B eth_call (or case
# number $SIGN_BENCH_CASE of benches/signing.rs).
#
#   bash scripts/callgrind_signing.sh
#
# Valgrind hides SHA-NI from the program, so SHA-256 runs in software here and weighs more than
# on hardware with SHA extensions: compare the "outside SHA-256" column for the per-call
# overhead; the wall-clock/CPU-time ratios come from `cargo bench --bench signing`.
set -euo pipefail
cd "$(dirname "$0")/.."
iters=${SIGN_BENCH_ITERS:-2000}
bin=$(cargo bench --bench signing --no-run --message-format=json 2>/dev/null |
  python3 -c 'import json,sys
for l in sys.stdin:
    m = json.loads(l)
    if m.get("reason") == "compiler-artifact" and m["target"]["name"] == "signing" and m.get("executable"):
        print(m["executable"])' | tail -1)
out=$(mktemp -d)
printf '| function | instructions / signature | outside SHA-256 compression |\n| --- | ---: | ---: |\n'
for f in aws amb floor; do
  SIGN_BENCH_ONLY=$f SIGN_BENCH_ITERS=$iters valgrind --tool=callgrind \
    --callgrind-out-file="$out/cg.$f" --toggle-collect="signing::run_$f" "$bin" >/dev/null 2>"$out/log.$f"
  total=$(callgrind_annotate "$out/cg.$f" | awk '/PROGRAM TOTALS/ {gsub(",","",$1); print $1}')
  sha=$(callgrind_annotate "$out/cg.$f" | awk '/sha256.*compress/ {gsub(",","",$1); s+=$1} END {print s+0}')
  python3 -c "print(f'| $f | {$total/$iters:,.0f} | {($total-$sha)/$iters:,.0f} |')"
done
rm -rf "$out"
