#!/usr/bin/env bash
# ClientIP session affinity with two workers (issue 10 §2). A client's
# connections are spread over both workers (af_packet fanout, then the
# owner hand-off by client port), and each worker opens some of them. After
# a ring change (a second pod), every connection of a client that was
# already sent to pod a must still go to pod a, whichever worker opens it;
# clients never seen before follow the new ring (so the change is live).
# Several client addresses: each is a different point on the ring, so a
# per-worker affinity would send some of them to pod c.
set -uo pipefail
source "$(dirname "$0")/lib.sh"

RIG_NAME=affinity
rig_daemon_only "tests the daemon's workers and API"
# Two workers on a box that may have two CPUs: lcores 1 and 2 share CPU 1.
RIG_DPDK_LCORES=${SVCGW_WORKER_LCORES:-0@0,1@1,2@1}
rig_init 57 fullnat
rig_add_pod a
rig_add_pod c
rig_ctl_start
url="http://$RIG_VIP/"
# Known clients .101-.106, new clients .111-.122 (on the client's eth0).
known=(101 102 103 104 105 106)
fresh=(111 112 113 114 115 116 117 118 119 120 121 122)
for h in "${known[@]}" "${fresh[@]}"; do
    ip -n "$(rig_ns cl)" addr add "$(rig_ip "$h")/24" dev eth0
done
rig_require "expose with ClientIP affinity, pod a only" \
    rig_ctl expose mynginx --port=80 --target-port=80 --cluster-ip="$RIG_VIP" \
    --endpoints="$(rig_pod_ip a)" --session-affinity=ClientIP
served_by() { # served_by HOST: the pod that answered a request from client HOST
    rig_curl --interface "$(rig_ip "$1")" "$url?from=$1" 2>/dev/null | rig_page_pod
}
first_contact() {
    local h got
    for h in "${known[@]}"; do
        got=$(served_by "$h")
        [ "$got" = a ] || { echo "client .$h served by '$got'"; return 1; }
    done
}
rig_require "each known client is served by pod a" first_contact
rig_require "a second pod changes the ring" \
    rig_ctl set endpoints mynginx "$(rig_pod_ip a),$(rig_pod_ip c)"
# New clients: some land on c once the change is live (bounded wait).
ring_live() {
    local h deadline=$((SECONDS + RIG_CONVERGE_TIMEOUT))
    while [ $SECONDS -lt $deadline ]; do
        for h in "${fresh[@]}"; do
            [ "$(served_by "$h")" = c ] && return 0
        done
        sleep 0.2
    done
    echo "no new client reached pod c"
    return 1
}
rig_check "new clients follow the new ring (some reach pod c)" ring_live
# new_flows per worker before and after the affinity round.
flows_per_worker() { rig_stats '.workers[] | .events.flow_new // 0' | tr '\n' ' '; }
before=($(flows_per_worker))
sticky() {
    local h i got bad=0
    for h in "${known[@]}"; do
        for ((i = 0; i < 10; i++)); do
            got=$(served_by "$h")
            if [ "$got" != a ]; then
                echo "client .$h request $i served by '$got'"
                bad=$((bad + 1))
            fi
        done
    done
    [ "$bad" -eq 0 ]
}
rig_check "60 new connections of the known clients all go to pod a" sticky
after=($(flows_per_worker))
both_opened() {
    echo "new flows per worker: before ${before[*]}, after ${after[*]}"
    [ "${#after[@]}" -eq 2 ] && [ $((after[0] - before[0])) -gt 0 ] &&
        [ $((after[1] - before[1])) -gt 0 ]
}
rig_check "both workers opened some of those connections" both_opened
rig_check "gateway still running" rig_gateway_alive
rig_finish
