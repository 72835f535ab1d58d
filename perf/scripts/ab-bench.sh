#!/usr/bin/env bash
# Interleaved A/B of two svcgw-bench builds on the same benchmarks: runs A,
# B, A, B, ... ROUNDS times each (one repetition per run, so that a burst of
# load on a shared machine hits both sides alike), then prints, per
# benchmark and side, median [min..max] over the rounds and n.
#
#   perf/scripts/ab-bench.sh BUILD_A BUILD_B FILTER [ROUNDS] [-- extra svcgw-bench args]
#   e.g. perf/scripts/ab-bench.sh /tmp/before/build build 'MaglevBuild' 9
#
# A benchmark present in only one build (a new row) is reported for that
# side alone. AB_TIME=cpu_time compares CPU time instead of wall time (on a
# loaded machine wall time mostly measures the scheduler). Needs python3.
set -euo pipefail
if [ $# -lt 3 ]; then
    sed -n '2,12p' "$0" >&2
    exit 2
fi
a=$1 b=$2 filter=$3
rounds=${4:-7}
shift $(($# < 4 ? $# : 4))
[ "${1:-}" = "--" ] && shift
extra=("$@")
for build in "$a" "$b"; do
    [ -x "$build/perf/svcgw-bench" ] || { echo "ab-bench: no $build/perf/svcgw-bench" >&2; exit 2; }
done
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
for r in $(seq 1 "$rounds"); do
    for side in A B; do
        build=$a
        [ "$side" = B ] && build=$b
        "$build/perf/svcgw-bench" --benchmark_filter="$filter" --benchmark_format=json \
            "${extra[@]}" > "$out/$side.$r.json" 2> "$out/$side.$r.err" || {
            echo "ab-bench: $build failed in round $r:" >&2
            tail -5 "$out/$side.$r.err" >&2
            exit 1
        }
    done
done
python3 - "$out" "$rounds" "$a" "$b" "${AB_TIME:-real_time}" <<'EOF'
import json, statistics, sys, glob, os
out, rounds, a, b, field = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4], sys.argv[5]
times = {}  # name -> side -> [per-round time]
units = {}
for side in ("A", "B"):
    for path in sorted(glob.glob(os.path.join(out, side + ".*.json"))):
        for bm in json.load(open(path))["benchmarks"]:
            if bm.get("run_type", "iteration") != "iteration":
                continue
            times.setdefault(bm["name"], {}).setdefault(side, []).append(bm[field])
            units[bm["name"]] = bm.get("time_unit", "ns")
print(f"A = {a}\nB = {b}\nper side: median [min..max] n={rounds}, {field} per iteration")
for name in times:
    cells = []
    for side in ("A", "B"):
        v = sorted(times[name].get(side, []))
        cells.append(f"{side} {statistics.median(v):.4g} [{v[0]:.4g}..{v[-1]:.4g}]" if v else f"{side} -")
    ratio = ""
    if all(times[name].get(s) for s in ("A", "B")):
        ratio = f"  B/A {statistics.median(times[name]['B']) / statistics.median(times[name]['A']):.2f}"
    print(f"{name:55s} {units[name]:2s}  {cells[0]:28s} {cells[1]:28s}{ratio}")
EOF
