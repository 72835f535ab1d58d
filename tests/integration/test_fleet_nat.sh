#!/usr/bin/env bash
# Fleet, nat mode (issue 13 §2): two svcgw instances on one segment with the
# same services share no flow state, yet a connection survives on the
# instance it did not start on.
#
#   client ──(VIP via .2, later via .1)──┐
#                                        ├─ bridge ── instance A (10.99.N.2, this test's)
#   pods a, b ──(every route via .1)─────┘        └── instance B (10.99.N.1, the rig's)
#
# The client's route stands for the router's ECMP choice and its switch for
# the withdrawal (BGP needs the exception path: tests/integration/fleet/
# later). The pods route their replies through B, which never sees the
# clients' packets while A is up: B translates every reply from its service
# table (table/reply_index.hpp).
#
# Asserts:
#  - new connections through A succeed with every reply translated by B
#    without a flow (reply_stateless), B opening no flow;
#  - a second service on the same pods' port makes the reply ambiguous: B
#    drops it (reply_ambiguous) and the request fails; removing it heals;
#  - a keep-alive connection survives A's SIGKILL once the client routes via
#    B: B picks it up mid-stream on the same pod (same Maglev table), on the
#    same TCP connection;
#  - new connections through B succeed after A is gone.
set -uo pipefail
source "$(dirname "$0")/lib.sh"

RIG_NAME=fleet_nat
rig_daemon_only "two svcgw instances share a VIP"

net=54
vip=$RIG_VIP
vip_dup=10.96.0.21
requests=20

rig_init "$net" nat
rig_add_pod a
rig_add_pod b

# ---- instance A: the rig's config with its own address, EAL prefix, API ----
a_ip=$(rig_ip 2)
a_prefix="${RIG_ID}a"
a_sock=$RIG_TMP/api-a.sock
a_config=$RIG_TMP/svcgw-a.yaml
a_log=$RIG_TMP/gateway-a.log
a_pid=""
fleet_cleanup() {
    local rc=$?
    [ -n "$a_pid" ] && kill -KILL "$a_pid" 2>/dev/null
    rig_delete_dpdk_files "$a_prefix"
    (exit "$rc")
    rig_cleanup
}
trap fleet_cleanup EXIT

rig_new_ns ga
rig_link ga veth-gw p-ga
ip -n "$(rig_ns ga)" link set veth-gw arp off
# The pods (a /32 address in nat mode) reach A on the link, as they reach
# B: A forwards to them and resolves them by ARP.
for pod in a b; do
    ip -n "$(rig_ns "p$pod")" route add "$a_ip" dev eth0 scope link
done

# a_sync: instance A gets the rig's current config (the same services).
a_sync() {
    sed -e "s|file_prefix: $RIG_ID\$|file_prefix: $a_prefix|" \
        -e "s|address: $(rig_gw_ip)/24|address: $a_ip/24|" \
        -e "s|unix:$RIG_TMP/api.sock|unix:$a_sock|" "$RIG_CONFIG" >"$a_config.tmp"
    mv "$a_config.tmp" "$a_config"
}
# on_a CMD...: a rig function (rig_stats, rig_event, rig_svcgw_reload, ...)
# against instance A (bash scoping: the callee sees these locals).
on_a() {
    local RIG_GW_PID=$a_pid RIG_GW_LOG=$a_log RIG_API_LISTEN="unix:$a_sock"
    "$@"
}
# apply SERVICE...: both instances get the same services.
apply() {
    rig_apply "$@"
    a_sync
    if [ -n "$a_pid" ]; then
        on_a rig_svcgw_reload
    fi
}
a_start() {
    ip netns exec "$(rig_ns ga)" "$RIG_SVCGW_BIN" -c "$a_config" >"$a_log" 2>&1 &
    a_pid=$!
    local i
    for ((i = 0; i < RIG_READY_TIMEOUT * 5; i++)); do
        kill -0 "$a_pid" 2>/dev/null || break
        rig_client bash -c "echo ready > /dev/udp/$a_ip/9" 2>/dev/null || true
        if rig_client ip neigh show "$a_ip" | grep -q lladdr && [ -n "$(on_a rig_config_version)" ]; then
            rig_log "instance A ready (pid $a_pid)"
            return 0
        fi
        sleep 0.2
    done
    tail -n 30 "$a_log"
    return 1
}

# curls N: N new connections to the VIP; prints how many got a page.
curls() {
    local i ok=0
    for ((i = 0; i < $1; i++)); do
        rig_curl "http://$vip/" 2>/dev/null | grep -q "pod: mynginx-" && ok=$((ok + 1))
    done
    echo "$ok"
}

service="mynginx $vip 80 80 TCP $(rig_pod_ip a),$(rig_pod_ip b)"
apply "$service"
# Not under rig_require: its subshell would lose a_pid.
a_start || rig_die "instance A does not start"
rig_ok "instance A starts"
ip -n "$(rig_ns cl)" route replace default via "$a_ip"

# ---- replies through the instance without the flows ----
ok=$(curls "$requests")
rig_check "$requests new connections through A, replies through B: $ok answered" test "$ok" -eq "$requests"
stateless=$(rig_event reply_stateless)
rig_check "B translated the replies without a flow (reply_stateless=$stateless)" \
    test "${stateless:-0}" -ge "$requests"
b_new=$(rig_event flow_new)
rig_check "B opened no flow (flow_new=$b_new)" test "${b_new:-1}" -eq 0
a_new=$(on_a rig_event flow_new)
a_replies=$(on_a rig_event flow_reply)
rig_check "A opened the flows and saw no reply (flow_new=$a_new flow_reply=$a_replies)" \
    test "${a_new:-0}" -ge "$requests" -a "${a_replies:-1}" -eq 0

# ---- an ambiguous backend:port ----
apply "$service" "dup $vip_dup 80 80 TCP $(rig_pod_ip a),$(rig_pod_ip b)"
ok=$(curls 2)
ambiguous=$(rig_drop reply_ambiguous)
rig_check "pods' port 80 behind two VIPs: B drops the flowless replies ($ok answered, reply_ambiguous=$ambiguous)" \
    test "$ok" -eq 0 -a "${ambiguous:-0}" -ge 2
reply_keys=$(rig_stats '.reply_index.keys')
rig_check "B's reply index holds the two pods' port 80 (keys=$reply_keys)" test "$reply_keys" = 2
apply "$service"
ok=$(curls 2)
rig_check "the second service removed: replies translated again ($ok of 2)" test "$ok" -eq 2

# ---- A is lost mid-connection ----
rig_ka_start "$vip" 80 0.2 60
rig_ka_wait 5 >/dev/null
before=$(rig_ka_lines)
rig_require "the keep-alive connection runs through A ($before requests)" test "$before" -ge 5
b_new_before=$(rig_event flow_new)
kill -KILL "$a_pid"
wait "$a_pid" 2>/dev/null
a_pid=""
rig_delete_dpdk_files "$a_prefix"
ip -n "$(rig_ns cl)" route replace default via "$(rig_gw_ip)"
# B carries the connection on: 5 more answers (bounded), then it stops.
rig_ka_more 5 >/dev/null
rig_ka_stop
ka_rc=$?
after=$(rig_ka_lines)
rig_check "the keep-alive connection survived A's SIGKILL ($before -> $after requests, exit $ka_rc)" \
    bash -c "[ $ka_rc -eq 0 ] && [ $after -ge $((before + 5)) ] && grep -q '^OK ' '$RIG_KA_OUT'"
pods=$(awk '$3 == 200 {print $4}' "$RIG_KA_OUT" | sort -u | tr '\n' ' ')
rig_check "every request of it was served by one pod ($pods)" test "$(wc -w <<<"$pods")" -eq 1
b_new=$(rig_event flow_new)
rig_check "B picked the connection up mid-stream (flow_new $b_new_before -> $b_new)" \
    test "$b_new" -gt "$b_new_before"

ok=$(curls 10)
rig_check "new connections through B after A is gone: $ok of 10" test "$ok" -eq 10

rig_finish
