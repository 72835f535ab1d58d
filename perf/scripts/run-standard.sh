#!/usr/bin/env bash
# The standard perf set, one command (perf/RESULTS.md): builds the targets
# in BUILD, runs the micro-benchmarks (perf/run-bench.sh) and the
# svcgw-pktgen runs, and writes a markdown report.
#   perf/scripts/run-standard.sh [BUILD] [REPORT]    (REPS=5 by default)
# Each pktgen run is bounded (seconds); the whole set takes ~15 minutes.
set -euo pipefail
cd "$(dirname "$0")/../.."
build=${1:-build-perf}
report=${2:-perf/results-$(date -u +%Y%m%dT%H%M%SZ).md}
reps=${REPS:-5}
s=perf/scripts
[ -d "$build" ] || meson setup "$build" >/dev/null
ninja -C "$build" -j2 app/svcgw perf/svcgw-bench perf/svcgw-pktgen >/dev/null
ring() { "$s/pktgen-runs.sh" "$build" "$reps" "$@"; }
memif() { "$s/memif-pair.sh" "$build" "$@"; }
{
  echo "# svcgw standard perf set, $(date -u +%F)"
  echo "machine: $(uname -m), $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), load $(cut -d' ' -f1-3 /proc/loadavg)"
  echo "command: perf/scripts/run-standard.sh $build (REPS=$reps); cells are median [min..max]"
  echo
  echo "## Micro-benchmarks (perf/run-bench.sh $build)"
  echo '```'
  perf/run-bench.sh "$build" 'Worker|Packet|Flow|Table|Maglev'
  echo '```'
  echo
  echo "## svcgw-pktgen, ring link (Worker in-process, 1 core)"
  echo "| run | figures | reps | command |"
  echo "|---|---|---|---|"
  d="--duration 2"
  for f in 1000 100000 1000000; do ring "flows $f fullnat" -- --flows $f --clients 4096 $d; done
  ring "flows 100000 nat" -- --flows 100000 --clients 4096 --mode nat $d
  for v in 1 1000 100000; do ring "vips $v" -- --vips $v --flows 200000 --backends 2 --clients 2 $d; done
  for b in 2 100 1000; do ring "backends $b" -- --backends $b --flows 100000 --clients 4096 $d; done
  ring "2 workers (interleaved on 1 core)" -- --workers 2 --flows 100000 --clients 4096 $d
  ring "udp" -- --mix udp --flows 100000 --clients 4096 $d
  ring "syn (new connections)" -- --mix syn --flows 100000 --clients 4096 --duration 1
  ring "handshake+data+FIN" -- --mix handshake --flows 10000 --clients 4096 $d
  ring "disruption: remove 1 of 16 at 1 s" -- --flows 100000 --clients 4096 --change-at 1 --remove 1 $d
  ring "disruption: remove 1 of 16, syn" -- --mix syn --flows 100000 --clients 4096 --change-at 0.5 --remove 1 --duration 1
  echo
  echo "## svcgw vs dpdk-testpmd macswap over net_memif (lcore 0 pktgen, lcore 1 forwarder)"
  echo "| run | figures | reps | command |"
  echo "|---|---|---|---|"
  memif testpmd "$reps" "testpmd macswap (ceiling)" -- --flows 10000 --clients 4096 $d
  memif svcgw "$reps" "svcgw fullnat, 1 worker" -- --flows 10000 --clients 4096 $d
  memif svcgw "$reps" "svcgw nat, 1 worker" -- --flows 10000 --clients 4096 --mode nat $d
  HUGE=1 memif svcgw 1 "svcgw fullnat on hugepages, 1M flows (footprint)" -- --flows 1000000 --clients 4096 $d
} | tee "$report"
echo "report: $report" >&2
