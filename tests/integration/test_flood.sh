#!/usr/bin/env bash
# Floods and capacity (issue 7 §3), bounded in count and time, traffic only
# inside this test's namespaces:
#  1. a spoofed-source SYN flood (hping3 --rand-source, fixed count and rate) at the
#     VIP with conntrack.max_flows small: the flood fills the table (peak
#     >= 90% of its capacity) and never overfills it (sampled from
#     /v1/stats during the flood), the flows it could not keep are
#     accounted for (evictions + flow-table-full drops >= 90% of the SYNs
#     sent beyond the capacity), a keep-alive connection opened before the
#     flood survives it, >= 99% of 100 curls made during the flood succeed;
#  2. the same with a spoofed-source UDP flood against a UDP service
#     (dpvs#446): the table fills and stays bounded, the flood is accounted
#     for, the UDP service and the keep-alive connection keep working.
set -uo pipefail
source "$(dirname "$0")/lib.sh"

RIG_NAME=flood
rig_daemon_only "reads the daemon's counters"

max_flows=4096
syn_count=${FLOOD_SYN_COUNT:-200000}
udp_count=${FLOOD_UDP_COUNT:-100000}
flood_timeout=60 # s: -i u100 is at most 10k pps; 200k take >= 20 s
curls=100
filled_pct=90    # the flood must fill the table at least this far
accounted_pct=90 # share of the excess SYNs/datagrams the counters must show
vip=$RIG_VIP
udp_vip=10.96.0.21
udp_port=5353

rig_init 41 fullnat
RIG_CONFIG_EXTRA=("conntrack: {max_flows: $max_flows, tcp_transitory_timeout_s: 30}")
rig_add_pod a
rig_add_pod b
rig_pod_udp_echo a "$udp_port"
rig_pod_udp_echo b "$udp_port"
rig_apply "mynginx $vip 80 80 TCP $(rig_pod_ip a),$(rig_pod_ip b)" \
    "myecho $udp_vip $udp_port $udp_port UDP $(rig_pod_ip a),$(rig_pod_ip b)"
rig_require "curl http://$vip/ answers before the flood" rig_curl -o /dev/null "http://$vip/"
rig_require "the API answers /v1/stats" test -n "$(rig_flows_capacity)"
capacity=$(rig_flows_capacity)
rig_check "flow capacity $capacity <= max_flows $max_flows" test "$capacity" -le "$max_flows"

# The connection that must survive: one GET every 0.5 s on one socket.
rig_ka_start "$vip" 80 0.5 200
rig_require "the keep-alive connection is established" rig_ka_wait 1

# Samples flows_active every 0.3 s into FILE until STOP_FILE exists; only
# numbers are kept (a failed read prints "" or "null").
sampler() {
    local file=$1 stop_file=$2 v
    while [ ! -e "$stop_file" ]; do
        v=$(rig_flows_active)
        [[ "$v" =~ ^[0-9]+$ ]] && echo "$v" >>"$file"
        sleep 0.3
    done
}

# flood NAME HPING_ARGS...: runs hping3 from the client namespace in the
# background (bounded by count and by timeout), with the sampler.
flood() {
    local name=$1
    shift
    rm -f "$RIG_TMP/$name.sampler.stop"
    : >"$RIG_TMP/$name.samples"
    rig_bg sampler "$RIG_TMP/$name.samples" "$RIG_TMP/$name.sampler.stop"
    sampler_pid=${RIG_BG_PIDS[-1]}
    rig_bg timeout -k 5 "$flood_timeout" ip netns exec "$(rig_ns cl)" hping3 -q "$@" \
        >"$RIG_TMP/$name.hping" 2>&1
    flood_pid=${RIG_BG_PIDS[-1]}
}
flood_end() {
    local name=$1
    wait "$flood_pid"
    touch "$RIG_TMP/$name.sampler.stop"
    wait "$sampler_pid"
    rig_log "$name: $(tail -n 3 "$RIG_TMP/$name.hping" | tr '\n' ' ')"
}
# The largest sample.
peak() { sort -n "$1" | tail -n 1; }
# Packets hping3 sent (its closing statistics; "" if it never finished).
sent_by() { sed -n 's/^\([0-9][0-9]*\) packets transmitted.*/\1/p' "$RIG_TMP/$1.hping" | tail -n 1; }
# filled NAME PEAK: the flood filled the table to >= filled_pct% of capacity.
filled() {
    echo "peak ${2:-none} of capacity $capacity (want >= $filled_pct%)"
    [ -n "$2" ] && [ $(($2 * 100)) -ge $((capacity * filled_pct)) ]
}
# accounted SENT EVICTED FULL: what the table could not keep shows in the
# counters (each spoofed source opens a flow; past the capacity, every new
# one evicts an unassured entry or is dropped as flow_table_full).
accounted() {
    local sent=$1 evicted=$2 full=$3 excess
    excess=$((sent - capacity))
    echo "sent $sent, capacity $capacity: evictions $evicted + flow_table_full $full vs excess $excess (want >= $accounted_pct%)"
    [ "$sent" -gt "$capacity" ] && [ $(((evicted + full) * 100)) -ge $((excess * accounted_pct)) ]
}
# check_accounted NAME WHAT: after flood NAME, hping3 reported what it sent
# and the counters account for it (since evictions_before / full_before);
# leaves the counters in evictions / full.
check_accounted() {
    local sent
    evictions=$(rig_stats '[.workers[].flow_evictions] | add')
    full=$(rig_drop flow_table_full)
    sent=$(sent_by "$1")
    rig_log "$2 counters: sent ${sent:-?}, evictions $evictions_before -> $evictions, flow_table_full $full_before -> $full"
    rig_require "hping3 finished the $2 and reported what it sent (${sent:-nothing})" test -n "$sent"
    rig_check "the counters account for the $2" \
        accounted "$sent" $((evictions - evictions_before)) $((full - full_before))
}

# ---- 1. SYN flood -------------------------------------------------------
evictions_before=$(rig_stats '[.workers[].flow_evictions] | add')
full_before=$(rig_drop flow_table_full)
flood syn -S -p 80 -i u100 --rand-source -c "$syn_count" "$vip"
sleep 1 # the flood is under way
# Up to $curls curls, counted only while the flood runs.
ok=0
tried=0
for ((i = 1; i <= curls; i++)); do
    kill -0 "$flood_pid" 2>/dev/null || break
    tried=$((tried + 1))
    if rig_curl -o /dev/null "http://$vip/?during-syn-flood=$i" 2>/dev/null; then
        ok=$((ok + 1))
    fi
done
flood_end syn
rig_log "SYN flood: $ok/$tried curls ok while the flood ran"
rig_check "at least half of the $curls curls ran during the SYN flood ($tried)" test "$tried" -ge $((curls / 2))
rig_check "curl succeeds >= 99% during the SYN flood ($ok/$tried)" test $((ok * 100)) -ge $((tried * 99))
samples=$(wc -l <"$RIG_TMP/syn.samples")
p=$(peak "$RIG_TMP/syn.samples")
rig_check "flows sampled during the SYN flood ($samples numeric samples, peak ${p:-none})" test "$samples" -ge 5 -a -n "$p"
rig_check "the SYN flood filled the flow table" filled syn "$p"
rig_check "flow table peak ${p:-?} <= capacity $capacity" test "${p:-999999999}" -le "$capacity"
check_accounted syn "SYN flood"
rig_check "the keep-alive connection survived the SYN flood" rig_ka_alive

# ---- 2. spoofed UDP flood -----------------------------------------------
udp_probe() {
    rig_client "$RIG_PYTHON" "$RIG_DIR/udp_client.py" "$udp_vip" "$udp_port" 20 >"$RIG_TMP/udp.out" 2>&1
    local n
    n=$(grep -c ' mynginx-' "$RIG_TMP/udp.out" || true)
    echo "$n/20 UDP requests answered"
    [ "$n" -ge 19 ]
}
rig_require "the UDP service answers before the UDP flood" udp_probe
evictions_before=$evictions
full_before=$full
flood udp --udp -p "$udp_port" -i u100 --rand-source -d 32 -c "$udp_count" "$udp_vip"
sleep 1
rig_check "the UDP service answers during the UDP flood" udp_probe
ok=0
for ((i = 1; i <= 20; i++)); do
    rig_curl -o /dev/null "http://$vip/?during-udp-flood=$i" 2>/dev/null && ok=$((ok + 1))
done
rig_check "TCP curls succeed during the UDP flood ($ok/20)" test "$ok" -ge 20
flood_end udp
p=$(peak "$RIG_TMP/udp.samples")
rig_check "the UDP flood filled the flow table" filled udp "$p"
rig_check "flow table peak ${p:-?} <= capacity $capacity during the UDP flood" \
    test -n "$p" -a "${p:-999999999}" -le "$capacity"
check_accounted udp "UDP flood"
rig_check "the keep-alive connection survived both floods" rig_ka_alive
rig_ka_stop
rig_check "the keep-alive client ends with OK" grep -q '^OK' "$RIG_KA_OUT"
rig_log "keep-alive: $(tail -n 1 "$RIG_KA_OUT")"
rig_check "svcgw is still running" rig_gateway_alive
rig_finish
