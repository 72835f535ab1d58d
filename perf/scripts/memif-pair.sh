#!/usr/bin/env bash
# Two-process runs over net_memif: svcgw-pktgen (lcore 0) against either the
# svcgw daemon (1 worker on lcore 1) or dpdk-testpmd --forward-mode=macswap
# (forwarding on lcore 1), same link and cores. Repeats REPS times and prints
# median/min/max. Usage:
#   perf/scripts/memif-pair.sh BUILD svcgw|testpmd REPS LABEL -- PKTGEN ARGS
# Extra: HUGE=1 runs svcgw on hugepages and reports its hugepage footprint
# and RSS (memory per flow).
set -euo pipefail
build=$1 peer=$2 reps=$3 label=$4
shift 4
[ "${1:-}" = "--" ] && shift
pktgen="$build/perf/svcgw-pktgen"
svcgw="$build/app/svcgw"
tmp=$(mktemp -d)
peer_pid=""
cleanup() {
  if [ -n "$peer_pid" ] && kill -0 "$peer_pid" 2>/dev/null; then
    kill -INT "$peer_pid" 2>/dev/null || true
    sleep 1
    kill -KILL "$peer_pid" 2>/dev/null || true
  fi
  rm -rf "$tmp"
}
trap cleanup EXIT
free_huge() { cat /sys/kernel/mm/hugepages/hugepages-2048kB/free_hugepages; }
for i in $(seq "$reps"); do
  sock="$tmp/memif$i.sock"
  dev="net_memif0,role=server,socket=$sock,socket-abstract=no"
  huge_before=$(free_huge)
  if [ "$peer" = testpmd ]; then
    dpdk-testpmd -l 0-1 --no-pci --no-huge -m 1024 --no-shconf "--file-prefix=svcgw_tp_$$_$i" \
      --log-level=error --vdev "$dev" -- --forward-mode=macswap --auto-start \
      --stats-period 10 --total-num-mbufs=16384 --rxq=1 --txq=1 --nb-cores=1 </dev/null >"$tmp/peer.log" 2>&1 &
    peer_pid=$!
  else
    "$pktgen" "$@" --emit-config "$tmp/svcgw.yaml" --device "$dev"
    if [ "${HUGE:-0}" = 1 ]; then
      sed -i "s/file_prefix: svcgw_perf/file_prefix: svcgw_perf_$$_$i, memory_mb: 400, hugepages: on/" "$tmp/svcgw.yaml"
      "$svcgw" -c "$tmp/svcgw.yaml" -- --no-pci --log-level=error >"$tmp/peer.log" 2>&1 &
    else
      sed -i "s/file_prefix: svcgw_perf/file_prefix: svcgw_perf_$$_$i/" "$tmp/svcgw.yaml"
      "$svcgw" -c "$tmp/svcgw.yaml" -- --no-pci --no-huge --no-shconf --log-level=error \
        >"$tmp/peer.log" 2>&1 &
    fi
    peer_pid=$!
  fi
  for _ in $(seq 100); do [ -S "$sock" ] && break; sleep 0.1; done
  [ -S "$sock" ] || { echo "memif-pair: $peer did not start" >&2; tail -5 "$tmp/peer.log" >&2; exit 1; }
  timeout 120 "$pktgen" --link memif --peer "$([ "$peer" = testpmd ] && echo macswap || echo svcgw)" "$@" \
    -- -l 0 --no-pci --no-huge -m 512 --no-shconf "--file-prefix=svcgw_pg_$$_$i" \
    --log-level=error --vdev "net_memif0,role=client,socket=$sock,socket-abstract=no" >"$tmp/pg.log" 2>&1 || {
      echo "memif-pair: pktgen failed" >&2; tail -5 "$tmp/pg.log" >&2; }
  grep '^RESULT' "$tmp/pg.log" >>"$tmp/results" || true
  if [ "${HUGE:-0}" = 1 ] && [ "$peer" = svcgw ]; then
    rss=$(awk '/VmRSS/ {print $2}' "/proc/$peer_pid/status" 2>/dev/null || echo 0)
    echo "#   run $i: svcgw hugepages used $(( (huge_before - $(free_huge)) * 2 )) MiB, RSS $((rss / 1024)) MiB" >>"$tmp/notes"
  fi
  kill -INT "$peer_pid" 2>/dev/null || true
  wait "$peer_pid" 2>/dev/null || true
  peer_pid=""
  grep -E '^svcgw: worker 0' "$tmp/peer.log" | cut -c1-300 | sed "s/^/#   run $i: /" >>"$tmp/notes" || true
done
python3 "$(dirname "$0")/summarize.py" "$label" "--link memif --peer $peer $*" "$tmp/results" 2>/dev/null \
  || echo "| $label | (no successful run) | \`$*\` |"
[ -f "$tmp/notes" ] && head -3 "$tmp/notes" || true
