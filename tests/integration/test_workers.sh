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
# The plain device: the daemon gives af_packet one queue pair per worker.
rig_expose_and_scale
workers_started() {
    local n
    n=$(grep -Ec 'worker [0-9]+ on lcore [0-9]+' "$RIG_GW_LOG")
    [ "$n" -eq 2 ] || { echo "$n 'worker N on lcore M' lines in the log, want 2"; return 1; }
}
rig_check "the daemon started two workers" workers_started
rig_check "gateway still running" rig_gateway_alive
rig_finish
