#!/usr/bin/env bash
# The standard perf set, one command (perf/RESULTS.md): builds the targets
# in BUILD, runs the micro-benchmarks, the svcgw-pktgen ring runs, svcgw vs
# dpdk-testpmd over net_memif, testpmd io on net_null, the SIGHUP disruption
# run and the memory footprint, and writes a markdown report.
#   perf/scripts/run-standard.sh [BUILD] [REPORT]     (REPS=3 by default)
# Headline runs first (memif ratio, disruption, memory), then the ring
# sweeps, then the micro-benchmarks.
# Sized for <= 15 minutes on a 2-core machine: every run is bounded by a
# timeout, and a section that would start past BUDGET_S (default 840 s) is
# skipped and says so. The helper scripts clean up their processes, sockets,
# EAL runtime dirs and hugepage files on any exit.
set -euo pipefail
cd "$(dirname "$0")/../.."
build=${1:-build-perf}
report=${2:-perf/results-$(date -u +%Y%m%dT%H%M%SZ).md}
reps=${REPS:-3}
budget=${BUDGET_S:-840}
s=perf/scripts
d="--duration 1"   # measured seconds per pktgen run (after its warm-up)
start=$SECONDS
tools/install-deps.sh  # a fresh clone: dpdk-testpmd, benchmark, ...
[ -d "$build" ] || meson setup "$build" >/dev/null
ninja -C "$build" -j2 app/svcgw perf/svcgw-bench perf/svcgw-pktgen >/dev/null
within() {
  if [ $((SECONDS - start)) -ge "$budget" ]; then
    echo "| $1 | skipped: time budget (${budget}s) spent | | |"
    return 1
  fi
}
ring() { within "$1" && "$s/pktgen-runs.sh" "$build" "$reps" "$@" || true; }
memif() { within "$3" && "$s/memif-pair.sh" "$build" "$@" || true; }
testpmd_null() {
  # dpdk-testpmd io forwarding on net_null (no link at all): the per-core
  # ceiling of DPDK's own forwarding loop on this machine.
  local i out vals=()
  for i in $(seq "$reps"); do
    out=$(timeout -k 5 30 dpdk-testpmd -l 0-1 --no-pci --no-huge -m 512 --no-shconf \
      --no-telemetry "--file-prefix=svcgwp_null_$$_$i" --log-level=error \
      --vdev net_null0 --vdev net_null1 -- --forward-mode=io --auto-start --stats-period 1 \
      --nb-cores=1 --total-num-mbufs=16384 2>&1 </dev/null & pid=$!; sleep 6; kill -INT $pid; wait $pid) || true
    rm -rf "/var/run/dpdk/svcgwp_null_$$_$i"
    # Rx-pps of both ports in the last stats print, summed.
    vals+=("$(grep -E 'Rx-pps:' <<<"$out" | tail -2 | awk '{s += $2} END {print s / 1e6}')")
  done
  python3 -c "
import statistics, sys
v = [float(x) for x in sys.argv[1:]]
print(f'| testpmd io on net_null (2 ports, 1 fwd core) | Mpps {statistics.median(v):.2f} [{min(v):.2f}..{max(v):.2f}] | n={len(v)} | see run-standard.sh testpmd_null |')
" "${vals[@]}"
}
{
  echo "# svcgw standard perf set, $(date -u '+%F %H:%M') UTC"
  echo
  echo "machine: $(uname -m), $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), kernel $(uname -r), DPDK $(pkg-config --modversion libdpdk 2>/dev/null || echo '?'), commit $(git rev-parse --short HEAD)$(git diff --quiet -- lib app || echo '+local changes in lib/app')"
  echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "command: perf/scripts/run-standard.sh $build (REPS=$reps); cells are median [min..max] over n runs"
  echo
  echo "## svcgw vs dpdk-testpmd macswap over net_memif (pktgen lcore 0; forwarder lcore 1; runs alternate)"
  echo "| run | figures | reps | command |"
  echo "|---|---|---|---|"
  memif both "$reps" "fullnat, 1 worker, 10k established flows" -- --flows 10000 --clients 4096 $d
  memif svcgw "$reps" "nat, 1 worker, 10k established flows" -- --flows 10000 --clients 4096 --mode nat $d
  CHANGE="1 1" memif svcgw "$reps" "disruption over memif: SIGHUP reload removes 1 of 16" -- \
    --flows 10000 --clients 4096 --duration 2.5
  within "testpmd io net_null" >/dev/null && testpmd_null
  echo
  echo "## Memory (svcgw on hugepages, 1 worker, fullnat)"
  within "footprint" >/dev/null && { "$s/footprint.sh" "$build" || echo "| footprint | failed | |"; }
  echo
  echo "## svcgw-pktgen, ring link (Worker in-process, 1 core; worker ns/pkt timed apart)"
  echo "| run | figures | reps | command |"
  echo "|---|---|---|---|"

  for f in 1000 100000 1000000; do ring "flows $f fullnat, 64 backends" -- --flows $f --clients 4096 --backends 64 $d; done
  ring "flows 100000 nat" -- --flows 100000 --clients 4096 --mode nat $d
  # Flows spread over min(VIPs, flows / clients) services, one client has
  # 64k source ports (64 clients for 1 VIP, 2 for many), and fullnat has
  # 64k SNAT ports per backend (100k flows over 2 backends fit).
  ring "vips 1" -- --vips 1 --flows 100000 --backends 2 --clients 64 $d
  for v in 1000 100000; do ring "vips $v" -- --vips $v --flows 100000 --backends 2 --clients 2 $d; done
  for b in 2 100 1000; do ring "backends $b" -- --backends $b --flows 100000 --clients 4096 $d; done
  ring "2 workers (interleaved on 1 core)" -- --workers 2 --flows 100000 --clients 4096 $d
  ring "udp" -- --mix udp --flows 100000 --clients 4096 $d
  ring "syn (new connections)" -- --mix syn --flows 100000 --clients 4096 $d
  ring "handshake+data+FIN" -- --mix handshake --flows 10000 --clients 4096 $d
  # Endpoint churn: 1000 changes (remove 1 of 16, add it back, ...) every
  # 2 ms; even flow slots stay established through all of them.
  ring "disruption: 1000 changes, remove/add back 1 of 16 every 2 ms (upsert)" -- --flows 100000 \
    --clients 4096 --change-at 0.2 --remove 1 --changes 1000 --change-every-ms 2 --duration 2.5
  echo
  echo "## Micro-benchmarks (svcgw-bench, synthetic frames, ns per iteration)"
  echo '```'
  if within "micro-benchmarks" >/dev/null; then
    json=$(mktemp)
    timeout -k 5 400 "$build/perf/svcgw-bench" --benchmark_filter='Worker|Packet|Flow|Table|Maglev' \
      --benchmark_repetitions="$reps" --benchmark_min_time=0.1 --benchmark_format=json \
      --benchmark_out="$json" --benchmark_out_format=json >/dev/null 2>&1 || echo "(svcgw-bench failed or timed out)"
    python3 "$s/summarize.py" --bench "$json" || true
    rm -f "$json"
  else
    echo "skipped: time budget"
  fi
  echo '```'
  echo
  echo
  echo "total time: $((SECONDS - start)) s; load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"
} | tee "$report"
echo "report: $report" >&2
