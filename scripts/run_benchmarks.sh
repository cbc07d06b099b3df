#!/usr/bin/env bash
# Runs every benchmark of docs/benchmarks.md once, writing JSON results to $1 (default
# target/bench-results) and the tables to $1/tables.md, then redraws the chart from that run:
#
#   bash scripts/run_benchmarks.sh [out-dir]
#
# About three minutes on 2 cores. Each bench also runs alone: cargo bench --bench <name>.
set -euo pipefail
cd "$(dirname "$0")/.."
out=$(realpath -m "${1:-target/bench-results}")
mkdir -p "$out"
export BENCH_OUT="$out"
{
  echo "# $(date -u +%FT%TZ), load average: $(cut -d' ' -f1-3 /proc/loadavg)"
  for bench in signing http steady_state ws; do
    echo
    echo "## $bench"
    cargo bench --quiet --bench "$bench" 2>/dev/null | grep -E '^(\||[a-z_ ]+:)'
  done
  echo
  echo "## callgrind (instructions per signature, 300 B eth_call)"
  bash scripts/callgrind_signing.sh
} | tee "$out/tables.md"
python3 scripts/plot_benchmarks.py "$out/http.json" "$out/http-throughput.svg"
