#!/usr/bin/env bash
# The Kubernetes Service walkthrough through the gateway (DESIGN §3, §5):
# expose one pod at a fixed ClusterIP, replace the pod, scale to two, keep a
# connection alive across scale-out and scale-in, delete the service.
# On svcgw every change goes through svcgwctl (the live API), as the seed's
# kubectl session does; the kernel reference gateway has no API, so there
# the same steps rewrite its rules (rig_apply).
# Usage: test_walkthrough.sh fullnat|nat
set -uo pipefail
source "$(dirname "$0")/lib.sh"

mode=${1:-fullnat}
case $mode in
    fullnat) net=11 ;;
    nat) net=12 ;;
    *) echo "usage: $0 fullnat|nat" >&2; exit 2 ;;
esac
RIG_NAME="walkthrough-$mode"
rig_init "$net" "$mode"
vip=$RIG_VIP
url="http://$vip/"

# The source address pods must see: the client's in nat, the gateway's
# SNAT address (its port address) in fullnat.
if [ "$mode" = nat ]; then
    want_src=$(rig_client_ip)
else
    want_src=$(rig_gw_ip)
fi
sources_are() {
    local pod=$1 bad
    bad=$(awk -v want="$want_src" '$1 != want { print $1 }' "$(rig_pod_log "$pod")" | sort -u)
    [ -s "$(rig_pod_log "$pod")" ] || { echo "no requests logged by pod $pod"; return 1; }
    [ -z "$bad" ] || { echo "pod $pod saw sources: $bad (want $want_src)"; return 1; }
}

# Service changes: svcgwctl on svcgw, rule rewrites on the kernel gateway.
api=false
[ "$RIG_GATEWAY" = svcgw ] && api=true
ctl_says() { # WANT ARGS...: svcgwctl succeeds and prints exactly WANT
    local want=$1 out
    shift
    out=$(rig_ctl "$@" 2>&1) || { echo "svcgwctl $*: failed: $out"; return 1; }
    [ "$out" = "$want" ] || { echo "svcgwctl $*: printed '$out', want '$want'"; return 1; }
}
set_endpoints() { # IP[,IP...]
    if $api; then
        rig_check "svcgwctl set endpoints mynginx $1" \
            ctl_says "service/mynginx endpoints updated" set endpoints mynginx "$1"
    else
        rig_apply "mynginx $vip 80 80 TCP $1"
    fi
}
if $api; then
    rig_ctl_start
fi

# (1) expose: one pod behind the ClusterIP.
rig_add_pod a
if $api; then
    rig_require "svcgwctl expose mynginx --port=80 --target-port=80 prints 'service/mynginx exposed'" \
        ctl_says "service/mynginx exposed" expose mynginx --port=80 --target-port=80 \
        --cluster-ip="$vip" --endpoints="$(rig_pod_ip a)"
    get_svc=$(rig_ctl get service)
    rig_log "svcgwctl get service:"$'\n'"$get_svc"
    rig_check "svcgwctl get service lists mynginx as kubectl does" \
        grep -Eq "^mynginx +ClusterIP +$vip +<none> +80/TCP +[0-9]+s$" <<<"$get_svc"
    rig_check "svcgwctl get service has kubectl's header" \
        grep -Eq "^NAME +TYPE +CLUSTER-IP +EXTERNAL-IP +PORT\(S\) +AGE$" <<<"$get_svc"
    rig_check "svcgwctl get endpoints mynginx shows pod a" \
        grep -Eq "^mynginx +$(rig_pod_ip a):80 +[0-9]+s$" <<<"$(rig_ctl get endpoints mynginx)"
    out=$(rig_ctl expose mynginx --port=80 2>&1)
    rc=$?
    rig_check "exposing it again fails as kubectl does (rc $rc: $out)" \
        test "$rc" -ne 0 -a "$out" = 'Error from server (AlreadyExists): services "mynginx" already exists'
else
    rig_apply "mynginx $vip 80 80 TCP $(rig_pod_ip a)"
fi
rig_require "step 1: curl $url is answered by pod a" rig_wait_pod "$url" a
rig_check "step 1: pod a sees source $want_src ($mode)" sources_are a

# (2) replace the pod: new pod, new IP, same ClusterIP.
rig_del_pod a
rig_add_pod b
set_endpoints "$(rig_pod_ip b)"
rig_require "step 2: after replacing the pod, $url is answered by pod b ($(rig_pod_ip b))" \
    rig_wait_pod "$url" b
rig_check "step 2: pod b sees source $want_src" sources_are b

# (4, first half) a long-lived keep-alive connection, opened before scale-out.
rig_ka_start "$vip" 80 1 120
rig_require "step 4: keep-alive connection through $vip is up" rig_ka_wait 2

# (3) scale to two pods: new connections spread over both.
rig_add_pod c
if $api; then
    rig_check "svcgwctl endpoints add mynginx $(rig_pod_ip c)" \
        ctl_says "service/mynginx endpoint added" endpoints add mynginx "$(rig_pod_ip c)"
else
    rig_apply "mynginx $vip 80 80 TCP $(rig_pod_ip b),$(rig_pod_ip c)"
fi
ka_at_scale_out=$(rig_ka_lines)
rig_require "step 3: the new pod c starts answering $url" rig_wait_pod "$url" c
spread_requests=40
rig_spread "$url" "$spread_requests" $((spread_requests / 5)) b c  # each pod >= 20%
rig_check "step 3: pod c sees source $want_src" sources_are c
if $api; then
    describe=$(rig_ctl describe service mynginx)
    rig_log "svcgwctl describe service mynginx:"$'\n'"$describe"
    rig_check "describe: both backends hold a ring share and got new flows" \
        test "$(grep -Ec "^ +($(rig_pod_ip b)|$(rig_pod_ip c)) +100 +ready +[0-9.]+% +[1-9][0-9]* " <<<"$describe")" -eq 2
    metrics=$(ip netns exec "$(rig_ns gw)" curl -s --max-time 3 http://127.0.0.1:9100/metrics)
    new_flows=$(awk '/^svcgw_service_new_flows_total\{namespace="default",service="mynginx",port="80",protocol="TCP"\}/ { print $2 }' <<<"$metrics")
    rig_check "GET /metrics counts the service's new flows (got '${new_flows}')" \
        test "${new_flows:-0}" -ge "$spread_requests"
    rig_check "svcgwctl stats lists mynginx 80/TCP" \
        grep -Eq "^default +mynginx +80/TCP +[1-9]" <<<"$(rig_ctl stats)"
    # The workers' flow census (about once a second) lists the keep-alive
    # connection: client -> VIP -> pod b.
    flow_listed() {
        local i
        for ((i = 0; i < 30; i++)); do
            # Not a pipe into grep -q: under pipefail, grep quitting at the first
            # match makes a still-writing svcgwctl fail (EPIPE) and the check with it.
            grep -Eq "TCP +$(rig_client_ip):[0-9]+ +$vip:80 +$(rig_pod_ip b):80 +ESTABLISHED" <<<"$(rig_ctl flows)" && return 0
            sleep 0.2
        done
        rig_ctl flows
        return 1
    }
    rig_check "svcgwctl flows lists the keep-alive connection to pod b" flow_listed
fi

# (4, second half) remove the other pod; the old connection must not notice.
rig_require "step 4: keep-alive requests continued during scale-out" \
    rig_ka_wait $((ka_at_scale_out + 2))
rig_del_pod c
if $api; then
    rig_check "svcgwctl endpoints remove mynginx $(rig_pod_ip c)" \
        ctl_says "service/mynginx endpoint removed" endpoints remove mynginx "$(rig_pod_ip c)"
else
    rig_apply "mynginx $vip 80 80 TCP $(rig_pod_ip b)"
fi
ka_at_scale_in=$(rig_ka_lines)
rig_check "step 4: after removing pod c, $url is answered by pod b" rig_wait_pod "$url" b
rig_check "step 4: keep-alive requests continued after scale-in" rig_ka_wait $((ka_at_scale_in + 3))
rig_ka_stop
ka_rc=$?
ka_total=$(rig_ka_lines)
rig_check "step 4: the keep-alive client never broke or reconnected ($ka_total requests): $(tail -n 1 "$RIG_KA_OUT")" \
    test "$ka_rc" -eq 0
rig_check "step 4: every keep-alive request was served by pod b" \
    test "$(awk '/^[0-9]/ { print $4 }' "$RIG_KA_OUT" | sort -u)" = "mynginx-b"
# Server side: one connection = one remote port and one nginx connection id.
# Log format (lib.sh): remote_addr remote_port "request" status connection
# connection_requests; the quoted request has spaces, so count from the end.
ka_server_conns=$(grep 'keepalive=' "$(rig_pod_log b)" | awk '{ print $1, $2, $(NF - 1) }' | sort -u | wc -l)
ka_server_reqs=$(grep -c 'keepalive=' "$(rig_pod_log b)" || true)
rig_check "step 4: pod b logged $ka_total keep-alive requests on one connection (got $ka_server_reqs on $ka_server_conns)" \
    test "$ka_server_conns" -eq 1 -a "$ka_server_reqs" -eq "$ka_total"

# (5) delete the service: connections fail fast instead of hanging.
if $api; then
    rig_check "svcgwctl delete service mynginx" \
        ctl_says 'service "mynginx" deleted' delete service mynginx
    out=$(rig_ctl delete service mynginx 2>&1)
    rc=$?
    rig_check "deleting it again fails as kubectl does (rc $rc: $out)" \
        test "$rc" -ne 0 -a "$out" = 'Error from server (NotFound): services "mynginx" not found'
else
    rig_apply
fi
rig_check "step 5: after deleting the service, curl $url fails fast" rig_expect_fast_failure "$url"
rig_check "gateway still running after the walkthrough" rig_gateway_alive

rig_finish
