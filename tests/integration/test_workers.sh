#!/usr/bin/env bash
# The walkthrough's expose and scale-out steps with two worker lcores: flows
# are spread over two rx queues (af_packet fanout), so replies of a fullnat
# flow may arrive at the worker that does not own it and must be handed over.
set -uo pipefail
source "$(dirname "$0")/lib.sh"

RIG_NAME=workers
if [ "$RIG_GATEWAY" != svcgw ]; then
    echo "workers: tests the daemon's lcores; not applicable to SVCGW_GATEWAY=$RIG_GATEWAY" >&2
    exit 2
fi
# Workers = every lcore but the main one; two workers need three lcores, and
# the box may have two CPUs: map lcores 1 and 2 onto CPU 1 (EAL --lcores).
RIG_DPDK_LCORES=${SVCGW_WORKER_LCORES:-0@0,1@1,2@1}
rig_init 14 fullnat
# One queue pair per worker.
RIG_DPDK_DEVICE="net_af_packet0,iface=veth-gw,qpairs=2"
rig_expose_and_scale
workers_started() {
    grep -Eiq 'worker|lcore' "$RIG_GW_LOG" || { echo "no worker/lcore line in the log"; return 1; }
}
rig_check "the daemon reports its workers in the log" workers_started
rig_check "gateway still running" rig_gateway_alive
rig_finish
