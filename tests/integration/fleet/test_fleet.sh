#!/usr/bin/env bash
# The fleet rig (issue 13 §3): three gateways announce a VIP by BGP to a
# router that spreads the clients over them by ECMP, and BFD withdraws a
# lost one.
#
#   cl1 (10.99.61.1) ─┐                      ┌─ g1: svcgw .1 + BIRD (TAP svcgw-k)
#                     ├─ rt: FRR (zebra,   ──┼─ g2: svcgw .2 + BIRD
#   cl2 (10.99.62.1) ─┘  bgpd, bfdd) .254    ├─ g3: svcgw .3 + BIRD
#                                            └─ pods a, b, c (nginx) .11-.13
#                        one segment: 10.99.60.0/24 (bridge)
#
# Each gateway: svcgw (one worker, idle: adaptive, nat mode) over a DPDK
# af_packet port, its exception path's TAP carrying the port address, and
# BIRD in the gateway's kernel peering with the router over that TAP (BGP
# and BFD 300 ms x 3, graceful restart); svcgw decides what BIRD announces
# (route health injection, README "Running a fleet"). The router: FRR's
# bgpd with maximum-paths and bfdd, fib_multipath_hash_policy=1.
#
# nat mode: the clients' addresses reach the pods, so the pods' replies
# must cross a gateway. They route through g1 (the return gateway): g1
# translates the replies of g2's and g3's flows from its reply index
# (table/reply_index.hpp). Losing g1 itself would need the pods' return
# address to move (a VRRP address, say), which this rig does not have: the
# loss tests take g3 (SIGKILL) and g2 (SIGSTOP).
#
# Asserts:
#  1. spread: BGP up, the router's FIB holds the VIP over 3 next hops; 600
#     new connections from both clients spread over the gateways within
#     ±15% of the mean (flow_new), all answered; a change of endpoints
#     applied to all three: equal tables digests within 1 s;
#  2. loss: while 60 keep-alive connections (cl1) and a new-connection load
#     (cl2) run, g3 is SIGKILLed: its next hop leaves the router's FIB
#     within 1 s (BFD), no connection on g1/g2 breaks, >= 99% of g3's
#     connections survive (moved to g1/g2, picked up mid-stream), every new
#     connection started after the withdrawal succeeds; g2 SIGSTOPped (a
#     hang): withdrawn within 1.5 s, back after SIGCONT;
#  3. drain and restart: with 30 keep-alive connections and 10 new
#     connections/s running, each gateway in turn is drained (its route
#     leaves the router), restarted (back drained, same tables digest as
#     g1; g1 itself is only drained), undrained (back in the FIB): no
#     keep-alive connection breaks, every new connection is answered;
#  4. BIRD restart on g2 (`birdc graceful restart`, `bird -R`) under the same
#     load: the router's FIB keeps g2 throughout, nothing fails.
#  5. fullnat with owner redirect (the same rig, the gateways restarted in
#     fullnat with fleet.members): the owner-ring digests are equal with 3
#     members live; 60 keep-alive connections and a new-connection load,
#     SIGKILL g3: 0 broken on g1/g2 (hash-threshold ECMP moves some of
#     theirs, and the owner rule sends those frames back to their owner),
#     g3's own connections reported (their SNAT state died with it), g3
#     dead on both survivors' member sets, every new connection after the
#     withdrawal answered; the redirected share is reported.
# Every wait is bounded; everything runs inside the rig's namespaces.
#
# FLEET_TIMELINE=DIR (unset in the suite; perf/scripts/fleet-timeline.sh):
# the two SIGKILL losses (2: nat, 5: fullnat) keep their raw events in DIR,
# copied after each loss's checks, so no wait or check moves: PHASE-new.raw
# (fleet_client.py new's lines), PHASE-keepalive.raw (its keepalive trace:
# every request's start/end ns, each connection's end or break ns),
# PHASE-events.raw (the kill's ns, the withdrawal's ms, the connections on
# g3 and on g1/g2) and, on exit, fib-vias.raw (every FIB event of the VIP
# with its next hops, UTC: withdrawals and re-announces).
set -uo pipefail
source "$(dirname "$0")/../lib.sh"

RIG_NAME=fleet
rig_daemon_only "a fleet of svcgw daemons announcing by BGP"
RIG_TOOLS+=(bird birdc vtysh chrt /usr/lib/frr/zebra /usr/lib/frr/bgpd /usr/lib/frr/bfdd)
FLEET_DIR=$(cd "$(dirname "$0")" && pwd)
FLEET_TIMELINE=${FLEET_TIMELINE:-}

vip=$RIG_VIP
gateways=(1 2 3)
router_last=254
spread_count=600          # issue 13 §3
spread_tolerance_pct=15   # ± of the mean
digest_within_ms=1000
ka_count=60
ka_interval=0.5           # s between requests on one connection
ka_timeout=10             # s: a request unanswered this long breaks it (TCP retransmits
                          # across the withdrawal take ~1-3 s)
new_rate=20               # new connections per second during the kill
new_count=200             # 10 s of them
new_timeout=5
drain_ka_count=30         # during drain/restart
drain_new_rate=10         # new connections per second during drain/restart
kill_withdraw_ms=1000     # BFD 300 ms x 3 = 900 ms, plus the router's FIB update
stop_withdraw_ms=1500
bgp_up_timeout=40         # s: BIRD retries its connection every 2 s (below)
# FRR and BIRD run SCHED_FIFO: a router's and a gateway's control plane
# have CPU of their own; on this shared 2-core box at load 20, a starved
# bfdd noticed a loss 3.7 s late. They sleep between packets; svcgw does
# not get it (its workers poll).
control_rt_prio=10

RIG_MODE=nat
RIG_NET=60
router_ip=$(rig_ip $router_last)
declare -A svcgw_pid=() bird_pid=()
KA_PID="" # keepalive_start
NEW_PID="" # new_start
APPLY_HUP_NS=0 # when apply() signalled the gateways
APPLY_DONE_NS=0 # when all had published

gw_ns() { rig_ns "g$1"; }
gw_dir() { echo "$RIG_TMP/g$1"; }
gw_ip() { rig_ip "$1"; }
gw_prefix() { echo "${RIG_ID}g$1"; }
client_ip() { echo "10.99.6$1.1"; } # client 1: 10.99.61.1, client 2: 10.99.62.1
# on_gw K CMD...: a lib.sh function (rig_stats, rig_reload, ...) against gateway K.
on_gw() {
    local k=$1
    shift
    local RIG_GW_PID=${svcgw_pid[$k]:-} RIG_GW_LOG RIG_API_LISTEN
    RIG_GW_LOG="$(gw_dir "$k")/svcgw.log"
    RIG_API_LISTEN="unix:$(gw_dir "$k")/api.sock"
    "$@"
}

fleet_cleanup() {
    local rc=$? k
    [ -n "$FLEET_TIMELINE" ] && [ -f "$(fib_log)" ] && fib_events_vias >"$FLEET_TIMELINE/fib-vias.raw"
    for k in "${gateways[@]}"; do
        [ -n "${svcgw_pid[$k]:-}" ] && kill -CONT "${svcgw_pid[$k]}" 2>/dev/null
        [ -n "${svcgw_pid[$k]:-}" ] && kill -KILL "${svcgw_pid[$k]}" 2>/dev/null
        [ -n "$RIG_TMP" ] && rig_delete_dpdk_files "$(gw_prefix "$k")"
    done
    if [ "$rc" -ne 0 ] && [ -n "$RIG_TMP" ]; then
        for k in "${gateways[@]}"; do
            echo "----- g$k: svcgw and BIRD logs (last 15 lines) -----"
            tail -n 15 "$(gw_dir "$k")/svcgw.log" "$(gw_dir "$k")/bird.log" 2>/dev/null
        done
        echo "----- router: bgpd and bfdd logs (last 15 lines) -----"
        tail -n 15 "$RIG_TMP/frr/bgpd.log" "$RIG_TMP/frr/bfdd.log" 2>/dev/null
        echo "----- router: FIB changes (last 30 lines) -----"
        tail -n 30 "$RIG_TMP/frr/fib-events.log" 2>/dev/null
    fi
    (exit "$rc")
    rig_cleanup # namespaces (and every process in them), background pids, RIG_TMP
}

# ---------------------------------------------------------------- topology

fleet_topology() {
    local k c rt
    rig_new_ns br
    ip -n "$(rig_ns br)" link add br0 type bridge || rig_die "bridge"
    ip -n "$(rig_ns br)" link set br0 up

    rig_new_ns rt
    rt=$(rig_ns rt)
    rig_link rt eth0 p-rt
    ip -n "$rt" addr add "$router_ip/24" dev eth0
    # L4 hash: one client's connections spread over the gateways.
    rig_sysctl "$rt" net.ipv4.ip_forward=1 net.ipv4.fib_multipath_hash_policy=1
    for c in 1 2; do
        rig_new_ns "c$c"
        ip -n "$rt" link add "cl$c" type veth peer name eth0 netns "$(rig_ns "c$c")" || rig_die "veth cl$c"
        rig_no_offload "$rt" "cl$c"
        rig_no_offload "$(rig_ns "c$c")" eth0
        ip -n "$rt" addr add "10.99.6$c.254/24" dev "cl$c"
        ip -n "$rt" link set "cl$c" up
        ip -n "$(rig_ns "c$c")" addr add "$(client_ip "$c")/24" dev eth0
        ip -n "$(rig_ns "c$c")" link set eth0 up
        ip -n "$(rig_ns "c$c")" route add default via "10.99.6$c.254"
    done

    for k in "${gateways[@]}"; do
        rig_new_ns "g$k"
        rig_link "g$k" veth-gw "p-g$k"
        ip -n "$(gw_ns "$k")" link set veth-gw arp off
        # The port's address is on the TAP: the namespace's own stack must
        # not answer af_packet's copies of the port's frames (test_hostpath).
        ip netns exec "$(gw_ns "$k")" iptables -t raw -A PREROUTING -i veth-gw -j DROP ||
            rig_die "iptables raw drop in g$k"
        mkdir -p "$(gw_dir "$k")"
    done
}

# Pods (lib.sh, nat mode): a /32 address, every route via .1 (g1, the
# return gateway); g2 and g3 reach them on the link.
fleet_pods() {
    local p k
    for p in a b c; do
        rig_add_pod "$p"
        for k in 2 3; do
            ip -n "$(rig_ns "p$p")" route add "$(gw_ip "$k")" dev eth0 scope link
        done
    done
}

# ---------------------------------------------------------------- router (FRR)

frr_start() {
    local dir=$RIG_TMP/frr d extra
    mkdir -p "$dir"
    # Millisecond log stamps: the withdrawal's steps (BFD down, BGP down) show.
    printf 'hostname %s-rt\nlog timestamp precision 3\n' "$RIG_ID" >"$dir/zebra.conf"
    cat >"$dir/bgpd.conf" <<CONF
log timestamp precision 3
router bgp 65000
 bgp router-id $router_ip
 bgp log-neighbor-changes
 no bgp ebgp-requires-policy
 neighbor GW peer-group
 neighbor GW remote-as 65001
 neighbor GW bfd profile svcgw
 bgp listen range $(rig_ip 0)/24 peer-group GW
 address-family ipv4 unicast
  maximum-paths 8
 exit-address-family
CONF
    cat >"$dir/bfdd.conf" <<CONF
log timestamp precision 3
bfd
 profile svcgw
  detect-multiplier 3
  receive-interval 300
  transmit-interval 300
CONF
    # FRR drops to its own user (frr, in group frrvty): it reads and writes here.
    chown -R frr:frr "$dir"
    for d in zebra bfdd bgpd; do
        extra=()
        [ $d = bfdd ] && extra=(--bfdctl "$dir/bfdd.sock")
        rig_bg rig_in rt chrt -f "$control_rt_prio" "/usr/lib/frr/$d" -f "$dir/$d.conf" -i "$dir/$d.pid" -z "$dir/zserv.api" \
            --vty_socket "$dir" -P 0 --log "file:$dir/$d.log" "${extra[@]}"
        # bgpd and bfdd connect to zebra's socket
        [ $d = zebra ] && wait_for 50 test -S "$dir/zserv.api"
    done
}
vtysh_rt() { vtysh --vty_socket "$RIG_TMP/frr" "$@"; }
# The router's FIB changes with their times (shown when the test fails).
fib_monitor_start() {
    # UTC stamps (withdraw_ms compares them with date -u); real-time like
    # the daemons, so a stamp is taken when the change happens.
    TZ=UTC rig_bg rig_in rt chrt -f "$control_rt_prio" ip -ts monitor route >"$(fib_log)" 2>&1
}

# The router's FIB, as `ip -ts monitor route` in its namespace logged each
# change (the monitor starts before the first route, so its log is the whole
# history; the last VIP event is the current state). Reading a file costs no
# `ip -n` (a mount namespace and sysfs per call), which took seconds on this
# box while a killed gateway's namespace was being torn down.
fib_log() { echo "$RIG_TMP/frr/fib-events.log"; }
# fib_events_vias: one line per VIP event, "TIME VIA VIA..." (no VIA: deleted).
fib_events_vias() {
    awk -v vip="$vip" '
        function flush() { if (inblk) print cur vias; inblk = 0 }
        /^\[/ {
            flush()
            if ($2 == vip || ($2 == "Deleted" && $3 == vip)) {
                inblk = 1
                cur = substr($1, 2, length($1) - 2)
                vias = ""
                gone = $2 == "Deleted"
            }
            if (!inblk || gone) next
        }
        inblk && !gone { for (i = 1; i < NF; i++) if ($i == "via") vias = vias " " $(i + 1) }
        END { flush() }' "$(fib_log)"
}
# router_paths: the VIP's next hops in the router's FIB now, sorted.
router_paths() {
    fib_events_vias | tail -n 1 | cut -s -d' ' -f2- | tr ' ' '\n' | sed '/^$/d' | sort
}
# wait_paths MAX_S K...: until the router's FIB holds exactly gateways K... for the VIP.
wait_paths() {
    local max=$1 want got k deadline
    shift
    deadline=$((SECONDS + max))
    want=$(for k in "$@"; do gw_ip "$k"; done | sort)
    while [ $SECONDS -lt "$deadline" ]; do
        got=$(router_paths)
        [ "$got" = "$want" ] && return 0
        sleep 0.1
    done
    echo "the router's FIB has [$(echo "$got" | tr '\n' ' ')], expected [$(echo "$want" | tr '\n' ' ')]"
    vtysh_rt -c "show bgp summary" -c "show bfd peers brief" 2>&1 | tail -n 12
    return 1
}
# withdraw_ms K START_NS: ms from START_NS (date +%s%N) until the first FIB
# event after it without K's next hop, by the monitor's stamp; waits at most
# 10 s, prints "never" then.
withdraw_ms() {
    local via i since ts
    via=$(gw_ip "$1")
    since=$(date -u -d "@$(($2 / 1000000000))" +%Y-%m-%dT%H:%M:%S).$(printf %06d $(($2 / 1000 % 1000000)))
    for ((i = 0; i < 200; i++)); do
        ts=$(fib_events_vias | awk -v since="$since" -v via="$via" '
            $1 > since { for (i = 2; i <= NF; i++) if ($i == via) next; print $1; exit }')
        if [ -n "$ts" ]; then
            echo $((($(date -u -d "${ts/T/ }" +%s%N) - $2) / 1000000))
            return 0
        fi
        sleep 0.05
    done
    echo "never"
    return 1
}

# ---------------------------------------------------------------- gateways

# The gateways' config: lib.sh's (nat, one worker, idle adaptive, the
# exception path's TAP), one copy per gateway with its address, EAL prefix,
# API socket and BIRD files. Same services everywhere.
fleet_config_extra() {
    RIG_PORT_GATEWAY=$router_ip
    RIG_PORT_KERNEL=svcgw-k
    RIG_DPDK_DEVICE="net_af_packet0,iface=veth-gw"
    RIG_CONFIG_EXTRA=(
        "fleet: {announce: true, bird_socket: \"@DIR@/bird.ctl\", routes_file: \"@DIR@/bird-routes.conf\", drain_file: \"@DIR@/drained\", drain_deadline_s: 30, generation: 1}"
        # 64k flows: a census pass (the announcer's data-plane liveness, 1024
        # entries per housekeeping step) stays short on a loaded box, where
        # an idle worker's sleeps stretch; 1M entries took > 3 s here.
        "conntrack: {tcp_transitory_timeout_s: 2, max_flows: 65536}"
    )
}
# FLEET_FULLNAT=1 (phase 5): fullnat with owner redirect over the three,
# the peers probing each other's metrics listener on their port address.
FLEET_FULLNAT=0
gw_write_config() {
    local k=$1 dir members="" j
    dir=$(gw_dir "$k")
    local mode=() 
    if [ "$FLEET_FULLNAT" = 1 ]; then
        for j in "${gateways[@]}"; do members+="${members:+, }{name: g$j, address: $(gw_ip "$j")}"; done
        mode=(-e "s|^forwarding: .*|forwarding: {mode: fullnat}|"
              -e "s|tcp:127.0.0.1:9100|tcp:0.0.0.0:9100|"
              -e "s|^fleet: {announce: true, |fleet: {self: g$k, members: [$members], announce: true, |")
    fi
    # Workers on alternate cores (g1, g3: 1; g2: 0), the main lcore free to
    # float: three workers pinned to one core stall together.
    sed -e "s|file_prefix: $RIG_ID\$|file_prefix: $(gw_prefix "$k")|" \
        -e "s|lcores: .*|lcores: \"0@(0-1),1@$((k % 2))\"|" \
        -e "s|address: $(rig_gw_ip)/24|address: $(gw_ip "$k")/24|" \
        -e "s|unix:$RIG_TMP/api.sock|unix:$dir/api.sock|" \
        -e "s|@DIR@|$dir|g" "${mode[@]}" "$RIG_CONFIG" >"$dir/svcgw.yaml.tmp"
    mv "$dir/svcgw.yaml.tmp" "$dir/svcgw.yaml"
}
# apply SERVICE...: every gateway gets the same services: the files first,
# then one SIGHUP to each running gateway at once (a fleet-wide rollout),
# then waits (bounded) until each has published it (config_version moved).
apply() {
    local k deadline=$((SECONDS + RIG_CONVERGE_TIMEOUT)) pending
    local -A version=()
    RIG_SERVICES=("$@")
    rig_write_config "$RIG_CONFIG"
    for k in "${gateways[@]}"; do
        gw_write_config "$k"
        [ -n "${svcgw_pid[$k]:-}" ] && version[$k]=$(gw_stat "$k" .config_version)
    done
    APPLY_HUP_NS=$(date +%s%N)
    for k in "${!version[@]}"; do kill -HUP "${svcgw_pid[$k]}"; done
    while :; do
        pending=""
        for k in "${!version[@]}"; do
            [ "$(gw_stat "$k" .config_version)" -gt "${version[$k]}" ] 2>/dev/null || pending+=" g$k"
        done
        if [ -z "$pending" ]; then
            APPLY_DONE_NS=$(date +%s%N)
            return 0
        fi
        [ $SECONDS -lt "$deadline" ] || rig_die "not published within ${RIG_CONVERGE_TIMEOUT}s by$pending"
        sleep 0.05
    done
}
gw_ready() { # the router resolved the port address (svcgw answers ARP) and the API answers
    rig_in rt bash -c "echo ready > /dev/udp/$(gw_ip "$1")/9" 2>/dev/null
    rig_in rt ip neigh show "$(gw_ip "$1")" | grep -q lladdr &&
        [ -n "$(on_gw "$1" rig_config_version)" ]
}
svcgw_start() {
    local k=$1 dir
    dir=$(gw_dir "$k")
    ip netns exec "$(gw_ns "$k")" "$RIG_SVCGW_BIN" -c "$dir/svcgw.yaml" >>"$dir/svcgw.log" 2>&1 &
    svcgw_pid[$k]=$!
    wait_for $((RIG_READY_TIMEOUT * 10)) gw_ready "$k" || rig_die "g$k: svcgw not ready"
}
# svcgw_stop K: SIGTERM; svcgw must exit 0 within 5 s (checked).
svcgw_stop() {
    local k=$1 pid=${svcgw_pid[$1]} rc
    svcgw_pid[$k]=""
    kill -TERM "$pid"
    rig_wait_exit "$pid" 50 || kill -KILL "$pid"
    wait "$pid"
    rc=$?
    rig_check "g$k: svcgw exits 0 on SIGTERM" test "$rc" -eq 0
}
# bird_start K [-R]: BIRD in gateway K (-R: recovering from a graceful restart).
bird_start() {
    local k=$1 dir
    dir=$(gw_dir "$k")
    cat >"$dir/bird.conf" <<CONF
router id $(gw_ip "$k");
log "$dir/bird.log" all;
protocol device {}
protocol bfd {
    debug { states };
    interface "*" { min rx interval 300 ms; min tx interval 300 ms; multiplier 3; };
}
protocol static svcgw {
    ipv4;
    include "$dir/bird-routes.conf";
}
protocol bgp uplink {
    local $(gw_ip "$k") as 65001;
    neighbor $router_ip as 65000;
    bfd on;
    graceful restart on;
    connect retry time 2;
    error wait time 1, 4;
    ipv4 { import none; export where proto = "svcgw"; };
}
CONF
    rig_in "g$k" chrt -f "$control_rt_prio" bird ${2:+"$2"} -f -c "$dir/bird.conf" -s "$dir/bird.ctl" -P "$dir/bird.pid" &
    bird_pid[$k]=$!
    RIG_BG_PIDS+=("${bird_pid[$k]}")
}

# gw_stat K JQ / gw_event K NAME: /v1/stats of gateway K.
gw_stat() { on_gw "$1" rig_stats "$2"; }
gw_event() { on_gw "$1" rig_event "$2"; }

# wait_for TENTHS CMD...: until CMD succeeds, polled every 0.1 s (bounded).
wait_for() {
    local n=$1 i
    shift
    for ((i = 0; i < n; i++)); do
        "$@" >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    "$@"
}

# ---------------------------------------------------------------- bring-up

trap fleet_cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
[ "$(id -u)" -eq 0 ] || rig_die "the rig needs root (network namespaces)"
[ -x "$RIG_SVCGW_BIN" ] || rig_die "svcgw binary not found: '$RIG_SVCGW_BIN'"
missing=$(rig_missing_tools) || rig_die "missing $missing (run tools/install-deps.sh)"
rig_cleanup_stale
RIG_TMP=$(mktemp -d "/tmp/${RIG_ID}.XXXX")
chmod 755 "$RIG_TMP"
[ -z "$FLEET_TIMELINE" ] || mkdir -p "$FLEET_TIMELINE" || rig_die "FLEET_TIMELINE: cannot create $FLEET_TIMELINE"
RIG_CONFIG=$RIG_TMP/base.yaml
rig_log "fleet rig ${RIG_ID}: 3 gateways, router, 2 clients, 3 pods (tmp $RIG_TMP)"

fleet_topology
fleet_pods
fleet_config_extra
pods_all="$(rig_pod_ip a),$(rig_pod_ip b),$(rig_pod_ip c)"
apply "mynginx $vip 80 80 TCP $pods_all"
frr_start
fib_monitor_start
for k in "${gateways[@]}"; do
    svcgw_start "$k"
    bird_start "$k"
done
rig_require "BGP up: the router's FIB holds $vip via the 3 gateways" wait_paths "$bgp_up_timeout" 1 2 3
bfd_up() { [ "$(vtysh_rt -c "show bfd peers brief" | grep -c ' up ')" -eq 3 ]; }
rig_check "BFD: 3 sessions up on the router" wait_for 100 bfd_up

# ---------------------------------------------------------------- 1. spread

flow_new() { gw_event "$1" flow_new; }
declare -A new_before=()
for k in "${gateways[@]}"; do new_before[$k]=$(flow_new "$k"); done
spread_out=$RIG_TMP/spread
rig_in c1 "$RIG_PYTHON" "$FLEET_DIR/fleet_client.py" new "$vip" 80 $((spread_count / 2)) 100 3 >"$spread_out.1" &
p1=$!
rig_in c2 "$RIG_PYTHON" "$FLEET_DIR/fleet_client.py" new "$vip" 80 $((spread_count / 2)) 100 3 >"$spread_out.2"
wait "$p1"
answered=$(cat "$spread_out".* | grep -c ' ok ')
rig_check "spread: $spread_count new connections from 2 clients, $answered answered" \
    test "$answered" -eq "$spread_count"
mean=$((spread_count / ${#gateways[@]}))
lo=$((mean * (100 - spread_tolerance_pct) / 100))
hi=$((mean * (100 + spread_tolerance_pct) / 100))
shares=""
spread_ok=1
for k in "${gateways[@]}"; do
    n=$(($(flow_new "$k") - new_before[$k]))
    shares+="g$k=$n "
    [ "$n" -ge "$lo" ] && [ "$n" -le "$hi" ] || spread_ok=0
done
rig_log "spread: $shares(mean $mean, bounds $lo..$hi)"
rig_check "spread: each gateway's new flows within ±${spread_tolerance_pct}% of $mean ($shares)" test $spread_ok -eq 1

digests() { local k; for k in "${gateways[@]}"; do gw_stat "$k" .tables_digest; done; }
old_digest=$(gw_stat 1 .tables_digest)
rig_check "tables digests equal on the 3 gateways" test "$(digests | sort -u | wc -l)" -eq 1
apply "mynginx $vip 80 80 TCP $(rig_pod_ip a),$(rig_pod_ip b)"
# The change is the SIGHUPs; it is done when the last gateway published
# (its config_version moved, polled every 50 ms): its digest is that
# version's, so reading the digests afterwards costs the fleet nothing.
ms=$(((APPLY_DONE_NS - APPLY_HUP_NS) / 1000000))
new_digests=$(digests | sort -u)
rig_check "an endpoint removed on all 3: published within ${digest_within_ms} ms (${ms} ms), one new digest ($(echo $new_digests))" \
    bash -c "[ $ms -le $digest_within_ms ] && [ $(grep -c . <<<"$new_digests") -eq 1 ] && [ '$new_digests' != '$old_digest' ]"
apply "mynginx $vip 80 80 TCP $pods_all"

# ---------------------------------------------------------------- 2. loss

# keepalive_start COUNT STOP_FILE OUT MAX_S [TRACE]: COUNT keep-alive
# connections from c1, all open when it returns (bounded); KA_PID is the
# client's. TRACE: its per-request trace file (FLEET_TIMELINE).
keepalive_start() {
    rig_bg rig_in c1 "$RIG_PYTHON" "$FLEET_DIR/fleet_client.py" keepalive "$vip" 80 \
        "$1" "$ka_interval" "$ka_timeout" "$2" "$4" ${5:+"$5"} >"$3"
    KA_PID=${RIG_BG_PIDS[-1]}
    rig_require "$1 keep-alive connections open" wait_for 200 lines_are "$3" '^up ' "$1"
}
lines_are() { [ "$(grep -c -- "$2" "$1")" -eq "$3" ]; } # FILE PATTERN N
# new_start COUNT RATE OUT [STOP_FILE]: new connections from c2; NEW_PID.
new_start() {
    rig_bg rig_in c2 "$RIG_PYTHON" "$FLEET_DIR/fleet_client.py" new "$vip" 80 \
        "$1" "$2" "$new_timeout" "${4:-}" >"$3"
    NEW_PID=${RIG_BG_PIDS[-1]}
}

# timeline_trace PHASE: the keep-alive trace file of a loss (FLEET_TIMELINE).
timeline_trace() { [ -n "$FLEET_TIMELINE" ] && echo "$RIG_TMP/$1-keepalive.trace"; }
# timeline_save PHASE NEW_OUT: the loss's raw events into FLEET_TIMELINE,
# after its checks (nothing here runs while the loss is measured).
timeline_save() {
    local dir=$FLEET_TIMELINE
    [ -n "$dir" ] || return 0
    cp "$2" "$dir/$1-new.raw"
    cp "$(timeline_trace "$1")" "$dir/$1-keepalive.raw" 2>/dev/null
    {
        echo "kill $T_KILL"
        echo "withdraw_ms $ms_kill"
        # shellcheck disable=SC2086 # one port per word, on one line
        echo "g3_ports" $lost_ports
        # shellcheck disable=SC2086
        echo "g12_ports" $surv_ports
    } >"$dir/$1-events.raw"
}
stop_file=$RIG_TMP/keepalive.stop
ka_out=$RIG_TMP/keepalive.out
keepalive_start "$ka_count" "$stop_file" "$ka_out" 90 "$(timeline_trace nat)"
ka_pid=$KA_PID
# Which gateway carries which: their flow census (a pass a second).
# Only the keep-alive client's ports (its "up PORT" lines in $ka_out): the
# closed connections of earlier load from c1 may still be in a table.
ports_on() {
    on_gw "$1" rig_api "/v1/flows?limit=10000" 2>/dev/null | sed '$d' |
        jq -r ".flows[] | select(.client | startswith(\"$(client_ip 1):\")) | .client" |
        sed 's/.*://' | sort -u | grep -Fx -f <(sed -n 's/^up //p' "$ka_out")
}
# split_connections LABEL: lost_ports/lost_n (on g3), surv_ports/surv_n
# (on g1, g2), after a census pass (one a second); each on one gateway.
split_connections() {
    sleep 2.5
    lost_ports=$(ports_on 3)
    surv_ports=$( (ports_on 1; ports_on 2) | sort -u)
    lost_n=$(grep -c . <<<"$lost_ports")
    surv_n=$(grep -c . <<<"$surv_ports")
    rig_require "$1each connection on one gateway: g3 $lost_n, g1+g2 $surv_n of $ka_count" \
        test "$lost_n" -gt 0 -a $((lost_n + surv_n)) -eq "$ka_count" -a \
        -z "$(comm -12 <(echo "$lost_ports") <(echo "$surv_ports"))"
}
split_connections ""

new_out=$RIG_TMP/new.out
new_start "$new_count" "$new_rate" "$new_out"
new_pid=$NEW_PID
sleep 2
# kill_g3 LABEL: SIGKILL g3; ms = until its next hop left the router's FIB
# (checked within kill_withdraw_ms), t_gone = that moment (date +%s%N).
kill_g3() {
    local t_kill
    t_kill=$(date +%s%N)
    kill -KILL "${svcgw_pid[3]}"
    ms=$(withdraw_ms 3 "$t_kill")
    T_KILL=$t_kill ms_kill=$ms # timeline_save
    rig_log "SIGKILL g3 at $(date -d @$((t_kill / 1000000000)) +%T).$(printf %03d $((t_kill / 1000000 % 1000))), withdrawn after $ms ms"
    # The withdrawal's moment is the FIB change, not when the rig saw it.
    if [ "$ms" = never ]; then t_gone=$(date +%s%N); else t_gone=$((t_kill + ms * 1000000)); fi
    wait "${svcgw_pid[3]}" 2>/dev/null
    svcgw_pid[3]=""
    rig_check "$1SIGKILL g3: its next hop leaves the router's FIB within ${kill_withdraw_ms} ms (${ms} ms)" \
        test "${ms/never/99999}" -le "$kill_withdraw_ms"
}
kill_g3 ""
rig_check "... and the router keeps g1 and g2" wait_paths 2 1 2
rig_wait_exit "$new_pid" $((new_count / new_rate * 10 + 100))
sleep 3 # the moved connections' next requests
touch "$stop_file"
rig_wait_exit "$ka_pid" $((ka_timeout * 10 + 50))

broken_on() { # broken_on PORTS: the broken connections among PORTS
    local port rest
    while read -r port rest; do
        [[ "$rest" == *BROKEN* ]] && grep -qx "$port" <<<"$1" && echo "$port $rest"
    done < <(grep -E '^[0-9]+ [0-9]+ ' "$ka_out")
}
ka_done=$(grep -cE '^[0-9]+ [0-9]+ (ok|BROKEN)' "$ka_out")
rig_check "the keep-alive client reported all $ka_count connections ($ka_done)" test "$ka_done" -eq "$ka_count"
surv_broken=$(broken_on "$surv_ports")
rig_check "0 broken connections on g1/g2 ($(grep -c . <<<"$surv_broken") of $surv_n broken)" test -z "$surv_broken"
lost_broken=$(broken_on "$lost_ports" | grep -c .)
survived=$((lost_n - lost_broken))
rig_check "nat: >= 99% of g3's connections survive ($survived of $lost_n)" \
    test $((survived * 100)) -ge $((lost_n * 99))
after=$(awk -v t="$t_gone" '$1 >= t' "$new_out")
after_n=$(grep -c . <<<"$after")
after_ok=$(grep -c ' ok ' <<<"$after")
before_fail=$(awk -v t="$t_gone" '$1 < t && $3 == "FAIL"' "$new_out" | grep -c .)
rig_log "new connections: $(grep -c ' ok ' "$new_out") of $(grep -c . "$new_out") answered; $before_fail failed of those started before the withdrawal"
rig_check "every new connection after the withdrawal succeeds ($after_ok of $after_n)" \
    test "$after_n" -gt 0 -a "$after_ok" -eq "$after_n"
timeline_save nat "$new_out"

# A hang: the process stops, the TAP stays, BFD goes silent.
t_stop=$(date +%s%N)
kill -STOP "${svcgw_pid[2]}"
ms=$(withdraw_ms 2 "$t_stop")
rig_check "SIGSTOP g2: withdrawn within ${stop_withdraw_ms} ms (${ms} ms)" \
    test "${ms/never/99999}" -le "$stop_withdraw_ms"
kill -CONT "${svcgw_pid[2]}"
rig_check "SIGCONT g2: announced again" wait_paths 20 1 2

# ---------------------------------------------------------------- samples (perf)

# FLEET_WITHDRAW_SAMPLES=N (perf/RESULTS.md, issue 13 §4; 0 in the suite):
# N more SIGKILLs of g3, each after it is back (BGP and BFD up, then a
# random 1-2 s so the kill falls anywhere in BFD's 300 ms cycle); prints
# every withdrawal time, the median and the max. No check: a measurement.
samples=${FLEET_WITHDRAW_SAMPLES:-0}
if [ "$samples" -gt 0 ]; then
    times=()
    for ((i = 0; i < samples; i++)); do
        svcgw_start 3
        wait_paths 30 1 2 3 >/dev/null && wait_for 100 bfd_up || rig_die "g3 did not come back"
        sleep "$((RANDOM % 1000 + 1000))e-3"
        t_kill=$(date +%s%N)
        kill -KILL "${svcgw_pid[3]}"
        times+=("$(withdraw_ms 3 "$t_kill")")
        wait "${svcgw_pid[3]}" 2>/dev/null
        svcgw_pid[3]=""
        rig_delete_dpdk_files "$(gw_prefix 3)"
    done
    sorted=$(printf '%s\n' "${times[@]}" | sort -n)
    echo "withdrawal after SIGKILL, $samples samples (ms): ${times[*]}; median $(sed -n "$(((samples + 1) / 2))p" <<<"$sorted"), max $(tail -n 1 <<<"$sorted"); load $(cut -d' ' -f1-3 /proc/loadavg)"
fi

# ---------------------------------------------------------------- 3. drain, restart

# g3 comes back (its BIRD kept running and re-peers), then each gateway in
# turn, under keep-alive and new connections, none of which may fail:
# `svcgwctl drain` (its route leaves the router, whose rehash moves its
# connections and some of the others', picked up mid-stream), SIGTERM,
# start (back drained: fleet.drain_file), its tables digest equals g1's
# (README's upgrade, step 3), `svcgwctl undrain`. g1 is drained but not
# restarted: it is the pods' return gateway (see the top).
gwctl() {
    local k=$1
    shift
    "$RIG_SVCGWCTL_BIN" --server "unix:$(gw_dir "$k")/api.sock" "$@"
}
others() {
    local j
    for j in "${gateways[@]}"; do [ "$j" = "$1" ] || echo "$j"; done
}
drained() { [ "$(on_gw "$1" rig_api /v1/fleet | sed '$d' | jq -r .draining)" = true ]; }
svcgw_start 3
rig_check "g3 started again: announced again" wait_paths 20 1 2 3
stop2=$RIG_TMP/drain.stop
ka2_out=$RIG_TMP/keepalive2.out
new2_out=$RIG_TMP/new2.out
keepalive_start "$drain_ka_count" "$stop2" "$ka2_out" 150
ka2_pid=$KA_PID
new_start $((drain_new_rate * 150)) "$drain_new_rate" "$new2_out" "$stop2"
new2_pid=$NEW_PID
for k in "${gateways[@]}"; do
    rig_check "g$k: svcgwctl drain" gwctl "$k" drain
    # shellcheck disable=SC2046 # one gateway number per word
    rig_check "g$k drained: the router keeps only the others" wait_paths 10 $(others "$k")
    sleep 1 # the moved connections' next requests, on the others
    if [ "$k" != 1 ]; then
        svcgw_stop "$k"
        svcgw_start "$k"
        rig_check "g$k restarted: back drained" drained "$k"
        rig_check "g$k restarted: its tables digest equals g1's" \
            test "$(gw_stat "$k" .tables_digest)" = "$(gw_stat 1 .tables_digest)"
    fi
    rig_check "g$k: svcgwctl undrain" gwctl "$k" undrain
    rig_check "g$k undrained: the router has all 3 again" wait_paths 20 1 2 3
done
touch "$stop2"
rig_wait_exit "$new2_pid" $((new_timeout * 10 + 50))
rig_wait_exit "$ka2_pid" $((ka_timeout * 10 + 50))
ka2_ok=$(grep -cE '^[0-9]+ [0-9]+ ok' "$ka2_out")
rig_check "drain/restart: all $drain_ka_count keep-alive connections unbroken ($ka2_ok; $(grep -m1 BROKEN "$ka2_out"))" \
    test "$ka2_ok" -eq "$drain_ka_count"
new2_n=$(grep -c . "$new2_out")
new2_ok=$(grep -c ' ok ' "$new2_out")
rig_check "drain/restart: every new connection answered ($new2_ok of $new2_n)" \
    test "$new2_n" -gt 0 -a "$new2_ok" -eq "$new2_n"

# ---------------------------------------------------------------- 4. BIRD restart

# `birdc graceful restart`, then `bird -R`, on g2 under keep-alive and new
# connections: BIRD sends BFD AdminDown (not a failure) and closes BGP with
# graceful restart, so the router (FRR, helper by default) keeps g2's routes
# as stale until the new session's End-of-RIB: its FIB never drops g2 and
# nothing fails. (A BIRD that dies instead takes BFD down and is withdrawn.)
gr_stop=$RIG_TMP/gr.stop
keepalive_start "$drain_ka_count" "$gr_stop" "$RIG_TMP/gr-keepalive.out" 120
gr_ka_pid=$KA_PID
new_start $((drain_new_rate * 120)) "$drain_new_rate" "$RIG_TMP/gr-new.out" "$gr_stop"
gr_new_pid=$NEW_PID
sleep 1
t_gr=$(date +%s%N)
since=$(date -u -d "@$((t_gr / 1000000000))" +%Y-%m-%dT%H:%M:%S).$(printf %06d $((t_gr / 1000 % 1000000)))
rig_check "g2: birdc graceful restart" birdc -s "$(gw_dir 2)/bird.ctl" graceful restart
gone() { ! kill -0 "$1" 2>/dev/null; }
wait_for 50 gone "${bird_pid[2]}"
bird_start 2 -R
rig_check "g2: BIRD back, its graceful restart done" \
    wait_for 300 grep -q "Graceful restart done" "$(gw_dir 2)/bird.log"
sleep 2 # traffic after the recovery too
touch "$gr_stop"
rig_wait_exit "$gr_new_pid" $((new_timeout * 10 + 50))
rig_wait_exit "$gr_ka_pid" $((ka_timeout * 10 + 50))
lost_g2=$(fib_events_vias | awk -v since="$since" -v via="$(gw_ip 2)" '
    $1 > since { for (i = 2; i <= NF; i++) if ($i == via) next; print }')
rig_check "BIRD restart: the router's FIB kept g2 throughout (${lost_g2:-no event without it})" test -z "$lost_g2"
gr_ok=$(grep -cE '^[0-9]+ [0-9]+ ok' "$RIG_TMP/gr-keepalive.out")
rig_check "BIRD restart: all $drain_ka_count keep-alive connections unbroken ($gr_ok)" test "$gr_ok" -eq "$drain_ka_count"
gr_n=$(grep -c . "$RIG_TMP/gr-new.out")
gr_new_ok=$(grep -c ' ok ' "$RIG_TMP/gr-new.out")
rig_check "BIRD restart: every new connection answered ($gr_new_ok of $gr_n)" \
    test "$gr_n" -gt 0 -a "$gr_new_ok" -eq "$gr_n"

# ---------------------------------------------------------------- 5. fullnat, owner redirect

# The same rig in fullnat: each gateway restarted with fleet.members (BIRD
# keeps running and re-announces what the new svcgw writes).
rig_log "fullnat with owner redirect"
FLEET_FULLNAT=1
# A planned restart closes BIRD's session first (a Cease NOTIFICATION: the
# router drops the peer and its routes) and opens it again after: left to
# the TAP's disappearance, the router kept the session as a graceful
# restart's, and on this box the new connection then sat in OpenSent while
# the stale route stayed, so g3's later loss changed nothing in the FIB.
for k in "${gateways[@]}"; do
    gw_write_config "$k"
    birdc -s "$(gw_dir "$k")/bird.ctl" disable uplink >/dev/null
    svcgw_stop "$k"
    svcgw_start "$k"
    birdc -s "$(gw_dir "$k")/bird.ctl" enable uplink >/dev/null
done
rig_require "fullnat: the router's FIB holds $vip via the 3 again" wait_paths 30 1 2 3
owner_rings() { local k; for k in "${gateways[@]}"; do gw_stat "$k" '"\(.fleet_members.owner_ring.digest) \(.fleet_members.live)"'; done; }
rings_agree() { [ "$(owner_rings | sort -u)" = "$(gw_stat 1 '"\(.fleet_members.owner_ring.digest) 3"')" ]; }
rig_check "fullnat: the 3 owner rings agree, 3 members live ($(owner_rings | sort -u | tr '\n' ' '))" wait_for 50 rings_agree
fn_stop=$RIG_TMP/fullnat.stop
fn_ka_out=$RIG_TMP/fullnat-keepalive.out
# Client frames that reached g1 or g2 from the router: redirected to their
# owner, or handled here (a new flow or a known one's) but for those a peer
# redirected here (counted at that peer).
client_frames() { echo $(($(gw_event "$1" redirected) + $(gw_event "$1" flow_new) + $(gw_event "$1" flow_hit) - $(gw_event "$1" redirect_in))); }
declare -A redirected_before=() frames_before=()
for k in 1 2; do
    redirected_before[$k]=$(gw_event "$k" redirected)
    frames_before[$k]=$(client_frames "$k")
done
keepalive_start "$ka_count" "$fn_stop" "$fn_ka_out" 60 "$(timeline_trace fullnat)"
fn_ka_pid=$KA_PID
ka_out=$fn_ka_out # broken_on reads it
split_connections "fullnat (its owner's): "
fn_new_out=$RIG_TMP/fullnat-new.out
new_start "$new_count" "$new_rate" "$fn_new_out"
fn_new_pid=$NEW_PID
sleep 2
kill_g3 "fullnat: "
g3_dead() { [ "$(gw_stat 1 .fleet_members.live)$(gw_stat 2 .fleet_members.live)" = 22 ]; }
rig_check "fullnat: g1 and g2 count g3 dead (2 members live)" wait_for 30 g3_dead
rig_wait_exit "$fn_new_pid" $((new_count / new_rate * 10 + 100))
sleep 3 # the moved connections' next requests
touch "$fn_stop"
rig_wait_exit "$fn_ka_pid" $((ka_timeout * 10 + 50))
ka_done=$(grep -cE '^[0-9]+ [0-9]+ (ok|BROKEN)' "$fn_ka_out")
rig_check "fullnat: the keep-alive client reported all $ka_count connections ($ka_done)" test "$ka_done" -eq "$ka_count"
surv_broken=$(broken_on "$surv_ports")
rig_check "fullnat: 0 broken connections on g1/g2 ($(grep -c . <<<"$surv_broken") of $surv_n broken)" test -z "$surv_broken"
lost_broken=$(broken_on "$lost_ports" | grep -c .)
redirected=0
frames=0
for k in 1 2; do
    redirected=$((redirected + $(gw_event "$k" redirected) - redirected_before[$k]))
    frames=$((frames + $(client_frames "$k") - frames_before[$k]))
done
rig_log "fullnat: g3's connections: $((lost_n - lost_broken)) of $lost_n survive (its SNAT state is lost with it); g1+g2 redirected $redirected of the $frames client frames the router sent them ($((redirected * 100 / (frames > 0 ? frames : 1)))%)"
after=$(awk -v t="$t_gone" '$1 >= t' "$fn_new_out")
after_n=$(grep -c . <<<"$after")
after_ok=$(grep -c ' ok ' <<<"$after")
rig_check "fullnat: every new connection after the withdrawal succeeds ($after_ok of $after_n)" \
    test "$after_n" -gt 0 -a "$after_ok" -eq "$after_n"
timeline_save fullnat "$fn_new_out"

rig_log "stopping"
for k in 1 2; do
    svcgw_stop "$k"
done
echo "$RIG_NAME: $RIG_PASS checks passed, $RIG_FAIL failed"
[ "$RIG_FAIL" -eq 0 ]
