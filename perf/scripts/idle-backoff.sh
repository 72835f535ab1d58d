#!/usr/bin/env bash
# dpdk.idle: poll vs adaptive on the real daemon (1 worker, fullnat) over
# net_memif against svcgw-pktgen, the two modes alternating run by run:
#   - idle: the worker thread's CPU time (/proc/PID/task/TID/schedstat)
#     over IDLE_S seconds with the link up and no traffic;
#   - 1k pps: pktgen --rate 1000, its round-trip latency p50/p99 (what
#     adaptive adds is the difference to poll) and the worker's CPU;
#   - full load: pktgen at its maximum rate, Mpps out.
# Prints one markdown row per mode, cells median [min..max] over REPS runs.
#   perf/scripts/idle-backoff.sh BUILD [REPS]
set -euo pipefail
build=$1 reps=${2:-3}
pktgen="$build/perf/svcgw-pktgen"
svcgw="$build/app/svcgw"
here=$(dirname "$0")
# shellcheck source=perf/scripts/lib.sh
. "$here/lib.sh"
perf_tmp_init
ready_max_s=20
pktgen_max_s=60
idle_s=${IDLE_S:-5}
shape=(--vips 1 --backends 16 --flows 1000 --clients 1000)

# ns the task has run so far (schedstat's first field).
task_ns() { cut -d' ' -f1 "/proc/$1/task/$2/schedstat"; }
# The worker's thread: EAL names it rte-worker-N.
worker_tid() {
  local t
  for t in /proc/"$1"/task/*; do
    if grep -q '^rte-worker' "$t/comm" 2>/dev/null; then
      basename "$t"
      return 0
    fi
  done
  return 1
}
# cpu_share PID TID CMD...: runs CMD, sets $share to the worker's share of a
# core over CMD's run time (no subshell: CMD may register file prefixes).
cpu_share() {
  local pid=$1 tid=$2 before after t0 t1
  shift 2
  before=$(task_ns "$pid" "$tid")
  t0=$(date +%s%N)
  "$@"
  t1=$(date +%s%N)
  after=$(task_ns "$pid" "$tid")
  share=$(python3 -c "print(f'{($after - $before) / ($t1 - $t0):.4f}')")
}

# pktgen_run I TAG SOCK ARGS...: one pktgen run; its RESULT line in $perf_tmp/TAG.I.
pktgen_run() {
  local i=$1 tag=$2 sock=$3
  shift 3
  perf_prefix pg "$i.$tag"
  if ! timeout -k 5 "$pktgen_max_s" "$pktgen" --link memif --peer svcgw "${shape[@]}" "$@" \
      -- -l 0 --no-pci --no-huge -m 512 --no-shconf --no-telemetry "--file-prefix=$prefix" \
      --log-level=error --vdev "net_memif0,role=client,socket=$sock,socket-abstract=no" \
      >"$perf_tmp/pg.$tag.$i.log" 2>&1; then
    echo "idle-backoff: pktgen $tag run $i failed:" >&2
    tail -3 "$perf_tmp/pg.$tag.$i.log" >&2
  fi
  { grep '^RESULT' "$perf_tmp/pg.$tag.$i.log" || echo RESULT; } | head -1 >"$perf_tmp/$tag.$i"
}

# start_daemon MODE I TAG: svcgw with dpdk.idle MODE on a fresh memif socket
# ($sock); sets $pid and $tid (its worker thread). One daemon per pktgen
# session: the memif PMD unmaps a departed peer's rings under a polling
# worker, so a daemon outliving its client can crash (perf/RESULTS.md).
start_daemon() {
  local mode=$1 i=$2 tag=$3
  sock="$perf_tmp/memif.$tag.$i.sock"
  local cfg="$perf_tmp/svcgw.$tag.$i.yaml" log="$perf_tmp/gw.$tag.$i.log"
  local dev="net_memif0,role=server,socket=$sock,socket-abstract=no"
  perf_prefix gw "$tag.$i"
  "$pktgen" "${shape[@]}" --emit-config "$cfg" --device "$dev" >/dev/null
  perf_daemon_config "$cfg" "$prefix" false
  sed -i "s|^dpdk: {\(.*\)}|dpdk: {\1, idle: $mode}|" "$cfg"
  perf_spawn "$log" "$svcgw" -c "$cfg" -- --no-shconf --log-level=error
  pid=$perf_peer_pid
  if ! perf_wait_for "$log" 'running:' "$ready_max_s" || ! tid=$(worker_tid "$pid"); then
    echo "idle-backoff: svcgw ($mode) did not start" >&2
    tail -5 "$log" >&2
    perf_stop_peer
    return 1
  fi
}

run_one() {
  local mode=$1 i=$2 pid tid sock idle="" low_cpu="" low="RESULT" full="RESULT"
  if start_daemon "$mode" "$i" "low.$mode"; then
    cpu_share "$pid" "$tid" sleep "$idle_s"
    idle=$share
    cpu_share "$pid" "$tid" pktgen_run "$i" "low.$mode" "$sock" --rate 1000 --duration 5
    low_cpu=$share
    low=$(cat "$perf_tmp/low.$mode.$i")
    perf_stop_peer
  fi
  if start_daemon "$mode" "$i" "full.$mode"; then
    pktgen_run "$i" "full.$mode" "$sock" --duration 2
    full=$(sed 's/ \([a-z]\)/ full_\1/g' "$perf_tmp/full.$mode.$i")
    perf_stop_peer
    grep 'worker 0:' "$perf_tmp/gw.full.$mode.$i.log" | cut -c1-240 |
      sed "s/^/#   $mode run $i: /" >>"$perf_tmp/notes" || true
  fi
  echo "RESULT ${idle:+idle_cpu=$idle} ${low_cpu:+low_cpu=$low_cpu} ${low#RESULT} ${full#RESULT}" \
    >>"$perf_tmp/results.$mode"
}

for i in $(seq "$reps"); do
  for mode in poll adaptive; do
    run_one "$mode" "$i"
  done
done
python3 - "$perf_tmp" "$reps" <<'PY'
import statistics, sys, os
tmp, reps = sys.argv[1], sys.argv[2]
def cell(vals, scale=1.0, fmt="{:.1f}"):
    if not vals:
        return "-"
    v = [x * scale for x in vals]
    return f"{fmt.format(statistics.median(v))} [{fmt.format(min(v))}..{fmt.format(max(v))}]"
print("| dpdk.idle | worker CPU idle, % of a core | worker CPU at 1k pps, % | RTT p50 at 1k pps, us | RTT p99 at 1k pps, us | Mpps out, full load | n |")
print("|---|---|---|---|---|---|---|")
for mode in ("poll", "adaptive"):
    path = os.path.join(tmp, "results." + mode)
    runs = []
    for line in open(path) if os.path.exists(path) else []:
        runs.append({k: float(v) for k, v in (f.split("=", 1) for f in line.split()[1:])})
    col = lambda k: [r[k] for r in runs if k in r]
    print(f"| {mode} | {cell(col('idle_cpu'), 100)} | {cell(col('low_cpu'), 100)} | "
          f"{cell(col('lat_p50_ns'), 1e-3)} | {cell(col('lat_p99_ns'), 1e-3)} | "
          f"{cell(col('full_rx_mpps'), 1, '{:.3f}')} | {len(runs)} |")
PY
[ -f "$perf_tmp/notes" ] && cat "$perf_tmp/notes" || true
