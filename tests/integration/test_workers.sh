#!/usr/bin/env bash
# The walkthrough's expose and scale-out steps with two worker lcores: flows
# are spread over two rx queues (af_packet fanout), so replies of a fullnat
# flow may arrive at the worker that does not own it and must be handed over.
# Asserted beyond the walkthrough's own checks: two workers started, both
# received frames, and frames were handed over between them (so the spread
# and the hand-off path really ran).
set -uo pipefail
source "$(dirname "$0")/lib.sh"

RIG_NAME=workers
rig_daemon_only "tests the daemon's lcores"
# Workers = every lcore but the main one; two workers need three lcores, and
# the box may have two CPUs: map lcores 1 and 2 onto CPU 1 (EAL --lcores).
RIG_DPDK_LCORES=${SVCGW_WORKER_LCORES:-0@0,1@1,2@1}
rig_init 14 fullnat
# The plain device: the daemon gives af_packet one queue pair per worker.
rig_expose_and_scale
workers_started() {
    local n
    n=$(grep -Ec 'worker [0-9]+ on lcore [0-9]+' "$RIG_GW_LOG")
    [ "$n" -eq 2 ] || { echo "$n 'worker N on lcore M' lines in the log, want 2"; return 1; }
}
rig_check "the daemon started two workers" workers_started
# Per-worker counters: "rx handoff_in handoff_out" of each worker, one line each.
worker_events() {
    rig_stats '.workers[] | "\(.events.rx // 0) \(.events.handoff_in // 0) \(.events.handoff_out // 0)"'
}
both_received() {
    local lines rx n=0
    lines=$(worker_events)
    echo "per worker (rx handoff_in handoff_out): $(tr '\n' ';' <<<"$lines")"
    [ "$(grep -c . <<<"$lines")" -eq 2 ] || return 1
    while read -r rx _; do
        [ "$rx" -gt 0 ] && n=$((n + 1))
    done <<<"$lines"
    [ "$n" -eq 2 ]
}
rig_check "both workers received frames (rx > 0 on each)" both_received
handed_over() {
    local lines in=0 out=0 rx i o
    lines=$(worker_events)
    while read -r rx i o; do
        in=$((in + i))
        out=$((out + o))
    done <<<"$lines"
    echo "hand-offs: $out out, $in in"
    [ "$out" -gt 0 ] && [ "$in" -gt 0 ]
}
rig_check "frames were handed over between the workers (hand-offs > 0)" handed_over
rig_check "gateway still running" rig_gateway_alive
rig_finish
