#!/usr/bin/env bash
# The exception path (issue 12 §1): a TAP in the gateway's namespace carries
# the port's address, MAC and the cluster DNS address; what svcgw does not
# answer itself for those addresses reaches the kernel, policed.
#  1. the TAP has the port's address/prefix, the DNS /32 and the port's MAC;
#  2. curl from the client reaches an HTTP listener of the gateway's kernel
#     on the port address; ping of the port address is answered; the
#     gateway's kernel pings the client (its ARP and echo replies come back);
#  3. `ip neigh` on the TAP learned the client; the gateway's kernel opens
#     a TCP connection to a pod through the TAP (as a health probe does),
#     and fullnat's SNAT ports keep clear of the kernel's ephemeral ports;
#  4. DNS over TCP to the cluster DNS address is answered (kernel socket);
#  5. a SYN flood (hping3, bounded in count and time) at the port address:
#     the VIP keeps answering, a long-lived session on tcp/179 (BGP's port,
#     control class) keeps working, what passed the policer is within its
#     rate and the rest is counted as punt_policed;
#  6. the TAP's own counters are exported (/v1/stats, /metrics);
#  7. the driver (ports[].kernel_driver) is logged with its reason, and
#     virtio_user without /dev/vhost-net is refused by --check and at start.
# Usage: test_hostpath.sh [DRIVER]: without one, kernel_driver is auto (the
# plain TAP where /dev/vhost-net is absent, as here and in CI); tap_pmd runs
# all of the above over the ethdev driver (DPDK's net_tap), the code
# virtio_user shares.
set -uo pipefail
source "$(dirname "$0")/lib.sh"

driver=${1:-}
RIG_NAME=hostpath${driver:+-$driver}
rig_daemon_only "tests the daemon's exception path"

tap=svcgw-k53
punt_pps=500        # the flood's class (other): 500 frames/s reach the kernel
punt_burst=64
flood_count=${HOSTPATH_FLOOD_COUNT:-40000}
flood_timeout=30    # s: -i u100 is at most 10k pps, 40k take >= 4 s
curls=20
vip=$RIG_VIP

rig_init 53 fullnat
gw=$(rig_ns gw)
gw_ip=$(rig_gw_ip)
client_ip=$(rig_client_ip)
rig_exception_path "$tap" "$driver"
RIG_CONFIG_EXTRA=("punt: {rate_pps: $punt_pps, control_rate_pps: 2000, burst: $punt_burst}")
rig_add_pod a
rig_apply "mynginx $vip 80 80 TCP $(rig_pod_ip a)"
rig_require "the service answers" rig_wait_pod "http://$vip/" a

# 1. The TAP.
port_mac=$(sed -n 's/.*port ext0: ethdev [0-9]*, mac \([0-9a-f:]*\),.*/\1/p' "$RIG_GW_LOG" | head -n 1)
tap_ok() {
    local shown
    shown=$(ip -n "$gw" addr show dev "$tap") || return 1
    grep -q "inet $gw_ip/24 " <<<"$shown" || { echo "no $gw_ip/24: $shown"; return 1; }
    grep -q "inet $RIG_DNS_IP/32 " <<<"$shown" || { echo "no $RIG_DNS_IP/32: $shown"; return 1; }
    grep -q "link/ether $port_mac " <<<"$shown" || { echo "not the port's MAC $port_mac: $shown"; return 1; }
    grep -q "state UP\|,UP" <<<"$shown" || { echo "down: $shown"; return 1; }
}
rig_require "the TAP $tap carries $gw_ip/24, $RIG_DNS_IP/32 and the port's MAC" tap_ok

# 2. The kernel's listeners, reached only through the punt path.
rig_bg ip netns exec "$gw" "$RIG_PYTHON" "$RIG_DIR/host_server.py" "$gw_ip" 8080
rig_bg ip netns exec "$gw" "$RIG_PYTHON" "$RIG_DIR/host_server.py" "$gw_ip" 179
host_curl() {
    local body
    body=$(rig_curl "http://$gw_ip:$1/") || return 1
    grep -q "pod: gateway-kernel" <<<"$body" || { echo "unexpected page: $body"; return 1; }
}
listening() { [ "$(ip netns exec "$gw" ss -ltnH "src $gw_ip" | wc -l)" -ge 2 ]; }
wait_for() {
    local i
    for i in $(seq 50); do "$@" && return 0; sleep 0.1; done
    return 1
}
rig_require "the kernel listeners are up" wait_for listening
rig_check "curl http://$gw_ip:8080/ reaches the gateway's kernel listener" host_curl 8080
rig_check "ping the port address" rig_client ping -c 3 -i 0.2 -W 2 "$gw_ip"
rig_check "the gateway's kernel pings the client through the TAP" \
    ip netns exec "$gw" ping -c 3 -i 0.2 -W 2 "$client_ip"

# 3. The kernel learned its neighbour from the ARP svcgw copied to it.
neigh_ok() { ip -n "$gw" neigh show dev "$tap" | grep -q "^$client_ip lladdr "; }
rig_check "ip neigh on $tap learned the client" neigh_ok
kernel_to_pod() {
    local body
    body=$(ip netns exec "$gw" curl -s --max-time 5 "http://$(rig_pod_ip a)/") || return 1
    grep -q "pod: mynginx-a" <<<"$body" || { echo "unexpected page: $body"; return 1; }
}
rig_check "the gateway's kernel reaches pod a over TCP through the TAP" kernel_to_pod
read -r eph_lo eph_hi < <(ip netns exec "$gw" cat /proc/sys/net/ipv4/ip_local_port_range)
rig_check "start-up log: SNAT ports 1024-$((eph_lo - 1)), beside the kernel's $eph_lo-$eph_hi" \
    grep -q "snat: ports 1024-$((eph_lo - 1)) on the port address" "$RIG_GW_LOG"
for i in 1 2 3 4 5; do rig_curl "http://$vip/" >/dev/null; done
snat_ports_clear() {
    local ports bad
    ports=$(rig_api "/v1/flows?limit=1000" | sed '$d' | jq -r '.flows[].snat // empty' | sed 's/.*://')
    [ -n "$ports" ] || { echo "no fullnat flow listed"; return 1; }
    bad=$(awk -v lo="$eph_lo" -v hi="$eph_hi" '$1 >= lo && $1 <= hi' <<<"$ports")
    [ -z "$bad" ] || { echo "SNAT ports in the kernel's range: $bad"; return 1; }
}
# The listing is the workers' census, refreshed every pass: wait for it.
rig_check "fullnat flows' SNAT ports are outside the kernel's ephemeral range" \
    wait_for snat_ports_clear

# 4. DNS over TCP: punted to the kernel socket on dns.cluster_ip:53.
dns_tcp_ok() {
    local answer
    answer=$(rig_client dig +tcp +time=3 +tries=2 +short mynginx.default.svc.cluster.local) || return 1
    [ "$answer" = "$vip" ] || { echo "dig +tcp answered '$answer'"; return 1; }
}
rig_check "DNS over TCP to $RIG_DNS_IP is answered" dns_tcp_ok

# 5. The flood. The session that must survive: one request every 0.2 s on
# one connection to tcp/179 (control class, its own token bucket).
stop="$RIG_TMP/keepalive.stop"
ka_out="$RIG_TMP/keepalive.out"
rig_bg rig_client "$RIG_PYTHON" "$RIG_DIR/keepalive_client.py" "$gw_ip" 179 "$stop" 0.2 120 \
    >"$ka_out" 2>&1
ka_pid=${RIG_BG_PIDS[-1]}
rig_require "the long-lived session on tcp/179 is established" wait_for grep -q '^3 ' "$ka_out"

policed_before=$(rig_drop punt_policed)
punted_before=$(rig_event punt_other)
start=$SECONDS
rig_bg timeout -k 5 "$flood_timeout" ip netns exec "$(rig_ns cl)" hping3 -q -S -p 9999 -i u100 \
    -c "$flood_count" "$gw_ip" >"$RIG_TMP/flood.hping" 2>&1
flood_pid=${RIG_BG_PIDS[-1]}
ok=0
for i in $(seq "$curls"); do
    rig_curl -o /dev/null "http://$vip/" && ok=$((ok + 1))
    sleep 0.1
done
wait "$flood_pid"
elapsed=$((SECONDS - start + 1))
sent=$(sed -n 's/^\([0-9]*\) packets transmitted.*/\1/p' "$RIG_TMP/flood.hping")
sent=${sent:-0}
sleep 0.5 # the last frames reach the counters
policed=$(($(rig_drop punt_policed) - policed_before))
punted=$(($(rig_event punt_other) - punted_before))
rig_log "flood: $sent SYNs in <= ${elapsed}s, $punted punted, $policed policed, $ok/$curls curls"
rig_check "the VIP answered every curl during the flood ($ok/$curls)" test "$ok" -eq "$curls"
rig_check "the flood was sent ($sent SYNs >= half of $flood_count)" \
    test "$sent" -ge $((flood_count / 2))
# Within the rate: what passed is at most rate x time + the burst (+10% for
# the curls' and probes' frames sharing the class).
rig_check "the kernel got at most punt.rate_pps x ${elapsed}s + burst ($punted)" \
    test "$punted" -le $(((punt_pps * elapsed + punt_burst) * 11 / 10))
rig_check "the rest was counted: punted + policed ($((punted + policed))) >= 90% of $sent" \
    test $((10 * (punted + policed))) -ge $((9 * sent))
touch "$stop"
wait "$ka_pid"
ka_status=$?
rig_check "the tcp/179 session survived the flood (no reconnect, every reply 200)" \
    test "$ka_status" -eq 0 -a "$(grep -c ' 200 ' "$ka_out")" -ge 10
tail -n 1 "$ka_out" >&2
rig_check "the kernel listener still answers after the flood" host_curl 8080

# 6. The TAP side is exported: every frame the workers punted was written
# to the TAP (but the few a 1 ms drain tick may still hold), and the
# kernel's frames went out; /metrics says the same as /v1/stats.
tap_counted() {
    local row punted_all written failed sent metric
    row=$(rig_stats '[([.workers[].events | to_entries[]? | select(.key == "punt_control" or
        .key == "punt_other") | .value] | add // 0), .exception_path.to_kernel,
        .exception_path.to_kernel_failed, .exception_path.from_kernel] | @tsv')
    read -r punted_all written failed sent <<<"$row"
    [ -n "$sent" ] || { echo "no exception_path in /v1/stats: '$row'"; return 1; }
    echo "punted $punted_all, written $written, refused $failed, from the kernel $sent"
    [ $((written + failed)) -le "$punted_all" ] && [ $((written + failed + 16)) -ge "$punted_all" ] &&
        [ "$written" -gt 0 ] && [ "$sent" -gt 0 ] || return 1
    metric=$(rig_in gw curl -s --max-time 3 http://127.0.0.1:9100/metrics |
        sed -n "s/^svcgw_exception_path_frames_total{interface=\"$tap\",direction=\"from_kernel\",result=\"sent\"} //p")
    [ -n "$metric" ] && [ "$metric" -ge "$sent" ] || { echo "metrics: from_kernel sent '$metric'"; return 1; }
}
rig_check "the TAP's counters are in /v1/stats and /metrics" tap_counted

# 7. The driver and why, in the start-up log; virtio_user refused without
# vhost-net (before EAL: this rig's daemon, same file prefix, still runs).
case $driver in
    "") if [ -e /dev/vhost-net ]; then
            want="over virtio_user (auto: /dev/vhost-net opens)"
        else
            want="over tap (auto: /dev/vhost-net cannot be opened"
        fi ;;
    *) want="over $driver (ports\[0\].kernel_driver: $driver" ;;
esac
rig_check "the start-up log names the driver and why ('$want')" \
    grep -q "exception path: $tap $want" "$RIG_GW_LOG"
if [ -z "$driver" ] && [ ! -e /dev/vhost-net ]; then
    vu_config="$RIG_TMP/virtio_user.yaml"
    sed "s/kernel_interface: $tap}/kernel_interface: $tap, kernel_driver: virtio_user}/" \
        "$RIG_CONFIG" >"$vu_config"
    refused() { # --check | start
        local out="$RIG_TMP/vu-$1.out" rc
        if [ "$1" = check ]; then
            "$RIG_SVCGW_BIN" -c "$vu_config" --check >"$out" 2>&1
        else
            timeout 5 ip netns exec "$gw" "$RIG_SVCGW_BIN" -c "$vu_config" >"$out" 2>&1
        fi
        rc=$?
        [ "$rc" -eq 1 ] || { echo "exit status $rc: $(cat "$out")"; return 1; }
        tail -n 1 "$out" | grep -q "ports\[0\].kernel_driver: virtio_user needs /dev/vhost-net" ||
            { echo "last line: $(tail -n 1 "$out")"; return 1; }
    }
    rig_check "--check refuses kernel_driver: virtio_user without /dev/vhost-net" refused check
    rig_check "svcgw refuses to start with it (exit 1 within 5 s, the cause last)" refused start
fi

rig_finish
