#!/usr/bin/env bash
# Two-process runs over net_memif: svcgw-pktgen (lcore 0) against either the
# svcgw daemon (control on lcore 0, 1 worker on lcore 1) or dpdk-testpmd
# --forward-mode=macswap (main lcore 0, forwarding lcore 1): same link, same
# cores. Repeats REPS times and prints one RESULTS.md row (median [min..max]).
#   perf/scripts/memif-pair.sh BUILD svcgw|testpmd|both REPS LABEL -- PKTGEN ARGS
# Env:
#   CHANGE="AT R"  svcgw only: at AT seconds pktgen rewrites svcgw's config
#                  without the last R backends of every service and sends
#                  SIGHUP (the disruption run over the real daemon).
#   PERF_LCORES    svcgw's dpdk.lcores (default "0-1"); "0@0,1@1,2@1" runs
#                  two workers on CPU 1 (lib.sh perf_daemon_config).
# Every wait is bounded; processes, sockets, EAL runtime dirs and hugepage
# files of this script's file prefixes are removed on any exit.
set -euo pipefail
build=$1 peer=$2 reps=$3 label=$4
shift 4
[ "${1:-}" = "--" ] && shift
pktgen="$build/perf/svcgw-pktgen"
svcgw="$build/app/svcgw"
here=$(dirname "$0")
# shellcheck source=perf/scripts/lib.sh
. "$here/lib.sh"
perf_tmp_init
# Startup of the peer: the memif socket appears at EAL init, but a client
# that connects before the peer's port is started is refused for good, so we
# wait for the peer's own "forwarding" line.
ready_max_s=20
pktgen_max_s=90

# run_one PEER I: one run against PEER; its RESULT line goes to results.PEER.
run_one() {
  local peer=$1 i=$2
  shift 2
  local sock="$perf_tmp/memif$i.$peer.sock"
  local dev="net_memif0,role=server,socket=$sock,socket-abstract=no"
  local log="$perf_tmp/peer$i.$peer.log" ready pg_peer cfg at remove pg_prefix
  local extra=()
  if [ "$peer" = testpmd ]; then
    perf_prefix tp "$i"
    # Non-interactive (no -i) with --auto-start: testpmd starts forwarding at
    # once; --stats-period keeps it running (without it, it waits for Enter
    # on stdin, which is /dev/null here, and exits at once).
    perf_spawn "$log" dpdk-testpmd -l 0-1 --no-pci --no-huge -m 1024 --no-shconf \
      "--file-prefix=$prefix" --log-level=error --vdev "$dev" -- \
      --forward-mode=macswap --auto-start --stats-period 10 --total-num-mbufs=16384 \
      --rxq=1 --txq=1 --nb-cores=1 --burst=32
    ready='forwards packets on'
    pg_peer=macswap
  else
    perf_prefix gw "$i"
    cfg="$perf_tmp/svcgw$i.yaml"
    "$pktgen" "$@" --emit-config "$cfg" --device "$dev"
    perf_daemon_config "$cfg" "$prefix" false
    if [ -n "${CHANGE:-}" ]; then
      read -r at remove <<<"$CHANGE"
      "$pktgen" "$@" --remove "$remove" --emit-config "$cfg.new" --device "$dev"
      perf_daemon_config "$cfg.new" "$prefix" false
    fi
    perf_spawn "$log" "$svcgw" -c "$cfg" -- --no-shconf --log-level=error
    ready='running:'
    pg_peer=svcgw
    if [ -n "${CHANGE:-}" ]; then
      extra=(--change-at "$at" --remove "$remove" --reload-pid "$perf_peer_pid"
             --reload-from "$cfg.new" --reload-to "$cfg")
    fi
  fi
  if ! perf_wait_for "$log" "$ready" "$ready_max_s"; then
    echo "memif-pair: $peer did not become ready in ${ready_max_s}s" >&2
    tail -5 "$log" >&2
    perf_stop_peer
    return 0
  fi
  perf_prefix pg "$i.$peer"
  pg_prefix=$prefix
  if timeout -k 5 "$pktgen_max_s" "$pktgen" --link memif --peer "$pg_peer" "$@" "${extra[@]}" \
      -- -l 0 --no-pci --no-huge -m 512 --no-shconf --no-telemetry "--file-prefix=$pg_prefix" \
      --log-level=error --vdev "net_memif0,role=client,socket=$sock,socket-abstract=no" \
      >"$perf_tmp/pg$i.$peer.log" 2>&1; then
    grep '^RESULT' "$perf_tmp/pg$i.$peer.log" >>"$perf_tmp/results.$peer" || true
    grep -E '^(change|warm-up|  error )' "$perf_tmp/pg$i.$peer.log" | sed "s/^/#   $peer run $i: /" \
      >>"$perf_tmp/notes" || true
  else
    echo "memif-pair: pktgen run $i against $peer failed:" >&2
    tail -5 "$perf_tmp/pg$i.$peer.log" >&2
  fi
  perf_stop_peer
  grep -E 'reload:|worker 0' "$log" | cut -c1-300 | sed "s/^/#   $peer run $i: /" \
    >>"$perf_tmp/notes" || true
}

# "both": testpmd and svcgw alternate run by run, so a load change on the
# shared machine hits both sides of the ratio alike.
peers=$peer
[ "$peer" = both ] && peers="testpmd svcgw"
for i in $(seq "$reps"); do
  for p in $peers; do
    run_one "$p" "$i" "$@"
  done
done
for p in $peers; do
  python3 "$here/summarize.py" "$label ($p)" "--link memif --peer $p $*${CHANGE:+ (CHANGE=$CHANGE)}" \
    "$perf_tmp/results.$p"
done
if [ "$peer" = both ]; then
  python3 "$here/summarize.py" --ratio "$label: svcgw / testpmd Mpps out" "per-run pairs" \
    "$perf_tmp/results.svcgw" "$perf_tmp/results.testpmd"
fi
[ -f "$perf_tmp/notes" ] && head -8 "$perf_tmp/notes" || true
