#!/usr/bin/env bash
# Repeats one svcgw-pktgen run and prints median/min/max of its RESULT
# fields (perf/RESULTS.md form). Usage:
#   perf/scripts/pktgen-runs.sh BUILD REPS LABEL -- PKTGEN ARGS (ring link)
# The EAL arguments (no hugepages, private file prefix, one lcore) are added.
set -euo pipefail
build=$1 reps=$2 label=$3
shift 3
[ "${1:-}" = "--" ] && shift
pktgen="$build/perf/svcgw-pktgen"
[ -x "$pktgen" ] || { echo "pktgen-runs: $pktgen not built" >&2; exit 1; }
out=$(mktemp)
trap 'rm -f "$out"' EXIT
for i in $(seq "$reps"); do
  eal=(--no-huge --no-pci --no-shconf --no-telemetry -l 0 -m 2048 --log-level=error
       "--file-prefix=svcgw_pg_$$_$i")
  if ! timeout 120 "$pktgen" "$@" -- "${eal[@]}" >"$out.run" 2>&1; then
    echo "pktgen-runs: run $i failed:" >&2; tail -5 "$out.run" >&2
    continue
  fi
  grep '^RESULT' "$out.run" >>"$out" || true
  grep -E '^(change|worker|EAL)' "$out.run" | sed "s/^/#   run $i: /" >>"$out.notes" || true
done
python3 "$(dirname "$0")/summarize.py" "$label" "$*" "$out"
[ -f "$out.notes" ] && head -4 "$out.notes"
rm -f "$out.run" "$out.notes"
