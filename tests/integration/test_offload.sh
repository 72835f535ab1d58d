#!/usr/bin/env bash
# The veth checksum-offload trap (issue 12 §4): with tx checksum offload on
# along the path to the gateway's veth (the default for a new veth or
# bridge port), Linux hands af_packet TCP/UDP frames whose checksum field
# holds only the pseudo-header sum. svcgw completes them (counted as
# l4_checksum_completed) instead of forwarding a broken checksum (curl
# hung) or dropping the DNS query (bad_l4_checksum, dig timed out).
set -uo pipefail
source "$(dirname "$0")/lib.sh"

RIG_NAME=offload
rig_daemon_only "tests the daemon's af_packet input"
rig_init 46 fullnat
vip=$RIG_VIP
rig_add_pod a
rig_apply "mynginx $vip 80 80 TCP $(rig_pod_ip a)"
rig_require "the service answers with every offload off (the rig's default)" \
    rig_wait_pod "http://$vip/" a
completed_before=$(rig_event l4_checksum_completed)

# tx checksum offload on, as on a fresh veth: the client and the bridge
# port toward the gateway keep CHECKSUM_PARTIAL all the way to af_packet.
# Segmentation offloads stay off (README: frames beyond the MTU).
offload_on() {
    ip netns exec "$(rig_ns "$1")" ethtool -K "$2" tx on tso off gso off >/dev/null 2>&1 ||
        rig_die "ethtool -K $2 tx on in $1"
}
offload_on cl eth0
offload_on br p-gw
offload_on br p-a
offload_on pa eth0

curl_ok() {
    local body
    body=$(rig_client curl -sS --max-time "$RIG_CURL_TIMEOUT" "http://$vip/") || return 1
    grep -q "$(rig_pod_name a)" <<<"$body" || { echo "unexpected page: $body"; return 1; }
}
rig_check "curl through the VIP with tx checksum offload on (client and pod side)" curl_ok
dig_ok() {
    local answer
    answer=$(rig_client dig +time=2 +tries=1 +short mynginx.default.svc.cluster.local) || return 1
    [ "$answer" = "$vip" ] || { echo "dig answered '$answer'"; return 1; }
}
rig_check "dig at the cluster DNS with tx checksum offload on" dig_ok
bulk_ok() {
    head -c 300000 /dev/urandom >"$(rig_pod_dir a)/www/bulk.bin"
    local got
    got=$(rig_client curl -sS --max-time 10 -o /dev/null -w '%{size_download}' "http://$vip/bulk.bin") ||
        return 1
    [ "$got" -eq 300000 ] || { echo "downloaded $got bytes"; return 1; }
}
rig_check "a 300 kB download with tx checksum offload on" bulk_ok
completed_after=$(rig_event l4_checksum_completed)
rig_check "the partial checksums were counted as completed ($completed_before -> $completed_after)" \
    test "$completed_after" -gt "$completed_before"
rig_check "no DNS query dropped for its checksum" test "$(rig_drop bad_l4_checksum)" -eq 0

rig_finish
