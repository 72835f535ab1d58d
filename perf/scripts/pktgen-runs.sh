#!/usr/bin/env bash
# Repeats one svcgw-pktgen ring-link run (svcgw's Worker in-process) and
# prints median/min/max of its RESULT fields (perf/RESULTS.md form). Usage:
#   perf/scripts/pktgen-runs.sh BUILD REPS LABEL -- PKTGEN ARGS
# The EAL arguments (no hugepages, private file prefix, one lcore) are added;
# each run is bounded by a timeout and its EAL runtime dir is removed.
# PERF_RAW=FILE also appends each run's RESULT line, prefixed by LABEL, to
# FILE (the raw points of a sweep, for perf/scripts/plots.sh).
set -euo pipefail
build=$1 reps=$2 label=$3
shift 3
[ "${1:-}" = "--" ] && shift
pktgen="$build/perf/svcgw-pktgen"
here=$(dirname "$0")
# shellcheck source=perf/scripts/lib.sh
. "$here/lib.sh"
perf_tmp_init
[ -x "$pktgen" ] || { echo "pktgen-runs: $pktgen not built" >&2; exit 1; }
out="$perf_tmp/results"
for i in $(seq "$reps"); do
  perf_prefix ring "$i"
  eal=(--no-huge --no-pci --no-shconf --no-telemetry -l 0 -m 2048 --log-level=error
       "--file-prefix=$prefix")
  if ! timeout -k 5 90 "$pktgen" "$@" -- "${eal[@]}" >"$perf_tmp/run" 2>&1; then
    echo "pktgen-runs: run $i failed:" >&2
    tail -5 "$perf_tmp/run" >&2
    perf_release_prefix "$prefix"
    continue
  fi
  perf_release_prefix "$prefix"
  grep '^RESULT' "$perf_tmp/run" >>"$out" || true
  if [ -n "${PERF_RAW:-}" ]; then
    grep '^RESULT' "$perf_tmp/run" | sed "s/^/$label /" >>"$PERF_RAW" || true
  fi
  grep -E '^(change|worker|EAL|warm-up)' "$perf_tmp/run" | cut -c1-400 | sed "s/^/#   run $i: /" \
    >>"$perf_tmp/notes" || true
done
python3 "$here/summarize.py" "$label" "$*" "$out"
[ -f "$perf_tmp/notes" ] && head -4 "$perf_tmp/notes" || true
