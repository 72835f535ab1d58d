#!/usr/bin/env bash
# Path MTU through the gateway (issue 7 §2, the real-client test): the pod's
# link is lowered to MTU 1280 (its veth and the bridge side) while the
# client and the gateway stay at 1500. The client fetches a 1 MiB file
# through the VIP with curl: it must complete, byte for byte. This needs
# either the gateway to translate the pod's ICMP "fragmentation needed"
# (sent to the SNAT address / the client) or MSS clamping to hold.
# On failure, a capture in the pod and client namespaces is printed.
set -uo pipefail
source "$(dirname "$0")/lib.sh"

RIG_NAME=mtu
mode=${1:-fullnat}
small_mtu=1280
size=$((1024 * 1024))

rig_init 44 "$mode"
rig_add_pod a
pod_ns=$(rig_ns pa)
head -c "$size" /dev/urandom >"$(rig_pod_dir a)/www/big.bin"
want=$(sha256sum <"$(rig_pod_dir a)/www/big.bin" | cut -d' ' -f1)
ip -n "$pod_ns" link set eth0 mtu "$small_mtu"
ip -n "$(rig_ns br)" link set p-a mtu "$small_mtu"
rig_apply "mynginx $RIG_VIP 80 80 TCP $(rig_pod_ip a)"
rig_require "curl http://$RIG_VIP/ answers" rig_wait_pod "http://$RIG_VIP/" a

capture=""
if command -v tcpdump >/dev/null; then
    capture="$RIG_TMP/pod.pcap"
    rig_bg ip netns exec "$pod_ns" timeout 40 tcpdump -i eth0 -n -s 128 -w "$capture" \
        'icmp or (tcp[tcpflags] & (tcp-syn|tcp-rst) != 0)' 2>/dev/null
    sleep 0.5
fi
fetch() {
    local got
    got=$(rig_client curl -sS --max-time 20 "http://$RIG_VIP/big.bin" | sha256sum | cut -d' ' -f1)
    echo "sha256 $got (want $want)"
    [ "$got" = "$want" ]
}
rig_check "a 1 MiB file through the VIP with the pod at MTU $small_mtu arrives intact" fetch
sleep 0.5
if [ -n "$capture" ] && [ "$RIG_FAIL" -ne 0 ]; then
    rig_log "pod-side capture (SYN/RST/ICMP):"
    tcpdump -n -r "$capture" 2>/dev/null | head -n 20 >&2
    rig_log "gateway counters: $(rig_stats '.workers[0].drops' | tr -d '\n ')"
fi
rig_finish
