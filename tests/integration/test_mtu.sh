#!/usr/bin/env bash
# Path MTU discovery through the gateway (issue 7 §2, the real-client test).
#
#   pods a, b ───┐                                        narrow link
#   client ──────┼─ br0 ── rt eth0 10.99.N.254 ── rt eth1 ═1280═ r2 eth0 ── r2 eth1 ── fc eth0
#   gateway ─────┘       (the port's `gateway:`)   172.31.N.1      172.31.N.2  172.30.N.1  172.30.N.100
#
# The far client `fc` sits two routers away; the link between the routers
# has MTU 1280 on both ends while every endpoint (pods, far client,
# gateway) stays at 1500, so both TCP ends announce MSS 1460 and MSS cannot
# save a transfer. The pod's full-size segments to the far client are
# dropped by `rt`, which sends ICMP "fragmentation needed" (3/4, mtu 1280)
# to their source: the VIP. The gateway must translate it for the pod
# (fullnat: outer and quoted headers rewritten to pod <-> SNAT address;
# nat: pod <-> client) so that the pod's kernel finds its socket and lowers
# the path MTU. Twice, each with a pod and VIP of its own:
#  1. pod a: the errors of rt's kernel (576 bytes, TCP checksum quoted);
#  2. pod b: errors quoting only 8 bytes of TCP (katran#159), sent by
#     icmp_short_quote.py in rt while iptables drops the kernel's long ones.
# Checked each time: a 1 MiB file fetched through the VIP arrives intact,
# the pod received the errors and cached mtu 1280 for the reply
# destination (it had none before), svcgw counted the translations; and
# that rt did send frag-needed (else MSS would have sufficed and the test
# proved nothing).
#
# Usage: test_mtu.sh [fullnat|nat]; without a mode, both run in turn.
# Runs against the kernel reference gateway too (SVCGW_GATEWAY=kernel).
set -uo pipefail

if [ $# -eq 0 ]; then
    rc=0
    for m in fullnat nat; do
        bash "$0" "$m" || rc=1
    done
    exit "$rc"
fi

source "$(dirname "$0")/lib.sh"

RIG_NAME=mtu
mode=$1
narrow_mtu=1280
size=$((1024 * 1024))
# Generous on a loaded box: the file takes well under a second when PMTUD
# works; when it does not, the transfer stalls for good (no MTU probing).
fetch_timeout=40

rig_init 44 "$mode"

# ---- addresses of the routed part (all inside this rig's namespaces) ----
rt_ip=$(rig_ip 254)
narrow_rt_ip="172.31.${RIG_NET}.1"
narrow_r2_ip="172.31.${RIG_NET}.2"
far_gw_ip="172.30.${RIG_NET}.1"
far_ip="172.30.${RIG_NET}.100"

# The gateway reaches off-subnet destinations (the far client) through its
# port's `gateway:` (config/svcgw.yaml): the router.
RIG_PORT_GATEWAY=$rt_ip

# mtu_veth NS_A DEV_A NS_B DEV_B MTU: a point-to-point veth, both ends at MTU.
mtu_veth() {
    local a b
    a=$(rig_ns "$1")
    b=$(rig_ns "$3")
    ip -n "$a" link add "$2" type veth peer name "$4" netns "$b" || rig_die "veth $2/$4"
    ip -n "$a" link set "$2" mtu "$5" up
    ip -n "$b" link set "$4" mtu "$5" up
    rig_no_offload "$a" "$2"
    rig_no_offload "$b" "$4"
}

rig_new_ns rt
rig_link rt eth0 p-rt
rig_new_ns r2
rig_new_ns fc
mtu_veth rt eth1 r2 eth0 "$narrow_mtu"
mtu_veth r2 eth1 fc eth0 1500
rt_ns=$(rig_ns rt)
r2_ns=$(rig_ns r2)
fc_ns=$(rig_ns fc)
ip -n "$rt_ns" addr add "$rt_ip/24" dev eth0
ip -n "$rt_ns" addr add "$narrow_rt_ip/24" dev eth1
ip -n "$rt_ns" route add "172.30.${RIG_NET}.0/24" via "$narrow_r2_ip"
ip -n "$rt_ns" route add "$RIG_SERVICE_CIDR" via "$(rig_gw_ip)"
ip -n "$r2_ns" addr add "$narrow_r2_ip/24" dev eth0
ip -n "$r2_ns" addr add "$far_gw_ip/24" dev eth1
ip -n "$r2_ns" route add default via "$narrow_rt_ip"
ip -n "$fc_ns" addr add "$far_ip/24" dev eth0
ip -n "$fc_ns" route add default via "$far_gw_ip"
for ns in "$rt_ns" "$r2_ns"; do
    # Routers that send ICMP errors (PMTU ones are never rate limited) and
    # no redirects.
    rig_sysctl "$ns" net.ipv4.ip_forward=1 net.ipv4.conf.all.send_redirects=0 \
        net.ipv4.conf.default.send_redirects=0 net.ipv4.conf.all.rp_filter=0
done

# mtu_pod ID: a pod at MTU 1500 that sets DF and relies on ICMP alone (no
# blackhole detection that could finish a transfer without the gateway's
# translation), serving a 1 MiB file.
mtu_pod() {
    local id=$1
    rig_add_pod "$id"
    rig_sysctl "$(rig_ns "p$id")" net.ipv4.ip_no_pmtu_disc=0 net.ipv4.tcp_mtu_probing=0
    head -c "$size" /dev/urandom >"$(rig_pod_dir "$id")/www/big.bin"
}
mtu_pod a # long quotes: the router's kernel
mtu_pod b # short quotes: 8 bytes of TCP (katran#159)
short_vip=10.96.0.21

rig_apply "mynginx $RIG_VIP 80 80 TCP $(rig_pod_ip a)" "short $short_vip 80 80 TCP $(rig_pod_ip b)"
if [ "$RIG_GATEWAY" = kernel ]; then
    # The reference gateway's equivalent of the port's `gateway:`.
    ip -n "$(rig_ns gw)" route add default via "$rt_ip" || rig_die "default route in the gateway"
fi
rig_require "curl http://$RIG_VIP/ from the on-link client answers" rig_wait_pod "http://$RIG_VIP/" a
rig_require "curl http://$short_vip/ from the on-link client answers" rig_wait_pod "http://$short_vip/" b

# The reply destination as a pod sees it: the SNAT address (fullnat, the
# port's own address) or the client itself (nat).
if [ "$mode" = fullnat ]; then
    reply_dst=$(rig_gw_ip)
else
    reply_dst=$far_ip
fi

far_curl() {
    ip netns exec "$fc_ns" curl -sS "$@"
}
# far_wait_page VIP POD: small packets only, so no PMTUD: the routed path.
far_wait_page() {
    local got="" i
    for ((i = 0; i < 20; i++)); do
        got=$(far_curl --max-time "$RIG_CURL_TIMEOUT" "http://$1/" 2>/dev/null | rig_page_pod)
        [ "$got" = "$2" ] && return 0
        sleep 0.5
    done
    echo "http://$1/ from the far client is served by '$got', expected '$2'"
    return 1
}
rig_require "the far client reaches $RIG_VIP through two routers" far_wait_page "$RIG_VIP" a
rig_require "the far client reaches $short_vip through two routers" far_wait_page "$short_vip" b

# mtu_snmp NS FIELD: one Icmp counter of a namespace (/proc/net/snmp).
mtu_snmp() {
    # shellcheck disable=SC2016 # awk's own variables
    ip netns exec "$1" awk -v f="$2" '
        $1 == "Icmp:" && !names { for (i = 2; i <= NF; i++) col[$i] = i; names = 1; next }
        $1 == "Icmp:" && names { print $col[f]; exit }' /proc/net/snmp
}
# mtu_cached_mtu POD: the path MTU the pod's kernel holds for the reply
# destination ("" = none: the interface's 1500 applies).
mtu_cached_mtu() {
    ip -n "$(rig_ns "p$1")" route get "$reply_dst" | sed -n 's/.* mtu \([0-9]*\).*/\1/p' | head -n 1
}
no_cached_mtu() {
    local got
    got=$(mtu_cached_mtu "$1")
    echo "cached mtu toward $reply_dst: '${got}'"
    [ -z "$got" ]
}
# Only a translated error whose quote names the pod's own socket (ports
# and sequence space) makes the kernel lower the route's MTU.
cached_narrow_mtu() {
    local got
    got=$(mtu_cached_mtu "$1")
    echo "cached mtu toward $reply_dst: '${got}'"
    [ "$got" = "$narrow_mtu" ]
}
fetch() {
    local vip=$1 id=$2 want got out="$RIG_TMP/got-$2.bin" start=$SECONDS
    want=$(sha256sum <"$(rig_pod_dir "$id")/www/big.bin" | cut -d' ' -f1)
    if ! far_curl --max-time "$fetch_timeout" -o "$out" "http://$vip/big.bin"; then
        echo "curl failed after ~$((SECONDS - start)) s"
        return 1
    fi
    got=$(sha256sum <"$out" | cut -d' ' -f1)
    echo "$(stat -c %s "$out") bytes in ~$((SECONDS - start)) s, sha256 $got (want $want)"
    [ "$got" = "$want" ]
}

# mtu_transfer VIP POD LABEL: the 1 MiB fetch and what must have happened
# on the way (the router's errors reached the pod, translated).
mtu_transfer() {
    local vip=$1 id=$2 label=$3 pod_ns pod_got_before pod_got translated_before translated
    pod_ns=$(rig_ns "p$id")
    rig_check "$label: before the transfer pod $id holds no path MTU toward $reply_dst" \
        no_cached_mtu "$id"
    pod_got_before=$(mtu_snmp "$pod_ns" InDestUnreachs)
    translated_before=$(rig_event icmp_error_translated)
    if command -v tcpdump >/dev/null; then
        rig_bg ip netns exec "$pod_ns" timeout $((fetch_timeout + 20)) tcpdump -i eth0 -n -s 200 \
            -w "$RIG_TMP/pod-$id.pcap" 'icmp or (tcp[tcpflags] & (tcp-syn|tcp-rst) != 0)' 2>/dev/null
        sleep 0.5
    fi
    rig_check "$label: a 1 MiB file through $vip across the ${narrow_mtu}-byte link arrives intact" \
        fetch "$vip" "$id"
    pod_got=$(($(mtu_snmp "$pod_ns" InDestUnreachs) - pod_got_before))
    rig_check "$label: pod $id received ICMP destination unreachable ($pod_got)" test "$pod_got" -gt 0
    rig_check "$label: pod $id's kernel cached mtu $narrow_mtu toward $reply_dst" \
        cached_narrow_mtu "$id"
    if [ "$RIG_GATEWAY" = svcgw ]; then
        translated=$(rig_event icmp_error_translated)
        translated=$((${translated:-0} - ${translated_before:-0}))
        rig_check "$label: the gateway counted translated ICMP errors ($translated)" \
            test "$translated" -gt 0
    fi
}

# ---- 1: the router's kernel (long quotes, the TCP checksum quoted) ----
rt_sent_before=$(mtu_snmp "$rt_ns" OutDestUnreachs)
mtu_transfer "$RIG_VIP" a "long quote"
rt_sent=$(($(mtu_snmp "$rt_ns" OutDestUnreachs) - rt_sent_before))
# Without this the test would prove nothing: MSS must not have sufficed.
rig_check "long quote: the router sent 'fragmentation needed' for pod a's full-size segments ($rt_sent)" \
    test "$rt_sent" -gt 0

# ---- 2: 8-byte quotes (katran#159) ----
# The router's kernel errors toward the second VIP are dropped (576 bytes
# long); the helper's (56 bytes: IP header + 8 bytes of TCP) pass.
rig_in rt iptables -A OUTPUT -p icmp --icmp-type fragmentation-needed -d "$short_vip" \
    -m length --length 100:65535 -j DROP || rig_die "iptables in the router"
short_log="$RIG_TMP/short-quote.out"
rig_bg ip netns exec "$rt_ns" "$RIG_PYTHON" "$RIG_DIR/icmp_short_quote.py" eth0 "$narrow_mtu" "$short_vip" \
    $((fetch_timeout + 20)) >"$short_log" 2>&1
for ((i = 0; i < 300; i++)); do # python starts slowly on a loaded box
    grep -q '^ready' "$short_log" && break
    sleep 0.1
done
grep -q '^ready' "$short_log" || rig_die "icmp_short_quote.py did not start: $(cat "$short_log")"
mtu_transfer "$short_vip" b "8-byte quote"
short_sent=$(grep -c '^frag-needed' "$short_log")
long_dropped=$(rig_in rt iptables -nvxL OUTPUT | awk '$3 == "DROP" { print $1; exit }')
rig_log "8-byte quote: helper sent $short_sent, the router's own long errors dropped: $long_dropped"
rig_check "8-byte quote: only short errors left the router (sent $short_sent, long dropped ${long_dropped:-?})" \
    test "$short_sent" -gt 0 -a "${long_dropped:-0}" -gt 0

if [ "$RIG_FAIL" -ne 0 ]; then
    sleep 0.5
    for id in a b; do
        if [ -s "$RIG_TMP/pod-$id.pcap" ]; then
            rig_log "pod $id capture (SYN/RST/ICMP):"
            tcpdump -n -v -r "$RIG_TMP/pod-$id.pcap" 2>/dev/null | head -n 24 >&2
        fi
    done
    if [ "$RIG_GATEWAY" = svcgw ]; then
        rig_log "gateway drops: $(rig_stats '.workers[0].drops' | tr -d '\n ')"
        rig_log "gateway events: $(rig_stats '.workers[0].events' | tr -d '\n ')"
    fi
fi
rig_finish
