#!/usr/bin/env bash
# Runs the micro-benchmarks with repetitions and prints median/min/max per
# benchmark, the form perf/RESULTS.md records, with the rows' sanity
# counters (lost_bursts, unopened, misses...). Exit status 1 when a row
# failed (SkipWithError, or a sanity counter != 0).
# Usage: perf/run-bench.sh BUILD [FILTER]
set -euo pipefail
build=${1:-build}
filter=${2:-.}
bench="$build/perf/svcgw-bench"
[ -x "$bench" ] || { echo "run-bench: $bench not built" >&2; exit 1; }
out=$(mktemp)
log=$(mktemp)
trap 'rm -f "$out" "$log"' EXIT
echo "# $(date -u +%F) $(uname -m), $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
echo "# $bench --benchmark_filter='$filter' --benchmark_repetitions=7"
# The console log names the benchmarks that finished, so a crash names the
# one that was running: the next one after the log's last line.
status=0
"$bench" --benchmark_filter="$filter" --benchmark_repetitions=7 \
  --benchmark_out="$out" --benchmark_out_format=json >"$log" 2>&1 || status=$?
if [ "$status" -ne 0 ]; then
  echo "run-bench: $bench exited with status $status; the last lines it printed:" >&2
  tail -n 5 "$log" >&2
  exit "$status"
fi
# One table (median/min/max, the sanity counters); a failed row (an error,
# or a sanity counter != 0) fails the run.
python3 "$(dirname "$0")/scripts/summarize.py" --bench "$out"
