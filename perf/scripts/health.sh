#!/usr/bin/env bash
# Issue 14 §3: 10,000 backends probed at a 1 s interval by svcgw's health
# checker (svcgw-health-bench: the daemon's checker, overlay, ControlState
# and VIP table, probing one listener per backend over loopback in a
# network namespace of its own), then 50 backends killed one by one:
#   - probe CPU (the control loop's thread time per wall second), probes/s;
#   - death -> removal from the published ring, median and max;
#   - worker Mpps (svcgw-pktgen ring link, one core) without and with the
#     prober running on the other core.
# Usage: perf/scripts/health.sh BUILD [REPS]   (needs root: a netns)
# Prints markdown rows (perf/RESULTS.md form). Every run is bounded.
set -euo pipefail
build=$1 reps=${2:-3}
here=$(dirname "$0")
# shellcheck source=perf/scripts/lib.sh
. "$here/lib.sh"
perf_tmp_init
bench="$build/perf/svcgw-health-bench"
[ -x "$bench" ] || { echo "health: $bench not built" >&2; exit 1; }
args=(--backends 10000 --services 100 --interval-ms 1000 --fall 3 --seconds 10 --deaths 50)
keys=probes_per_s,probe_cpu_pct,user_pct,system_pct,cpu_us_per_probe,deferred
keys+=,removal_median_ms,removal_max_ms,fall_x_interval_ms

for i in $(seq "$reps"); do
  timeout -k 5 120 taskset -c 1 "$bench" "${args[@]}" >"$perf_tmp/run" 2>&1 ||
    { echo "health: run $i failed:" >&2; tail -5 "$perf_tmp/run" >&2; }
  grep '^RESULT' "$perf_tmp/run" >>"$perf_tmp/health" || true
done
python3 "$here/summarize.py" --keys "$keys" "10k backends, 1 s, fall 3" \
  "svcgw-health-bench ${args[*]}" "$perf_tmp/health"

# Worker Mpps: the same pktgen run alone, then beside a prober on CPU 1.
pktgen_args=(--flows 100000 --clients 4096 --backends 64 --duration 1)
taskset -c 0 "$here/pktgen-runs.sh" "$build" "$reps" "worker alone (CPU 0)" -- "${pktgen_args[@]}"
timeout -k 5 300 taskset -c 1 "$bench" "${args[@]}" --seconds 120 --deaths 0 \
  >"$perf_tmp/beside" 2>&1 &
prober=$!
perf_pids+=("$prober")
sleep 4 # its warm-up: every backend probed twice
taskset -c 0 "$here/pktgen-runs.sh" "$build" "$reps" "worker beside 10k probes/s (CPU 1)" -- \
  "${pktgen_args[@]}"
kill -TERM "$prober" 2>/dev/null || true
wait "$prober" 2>/dev/null || true
