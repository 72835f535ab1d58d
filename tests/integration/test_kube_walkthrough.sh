#!/usr/bin/env bash
# The seed's walkthrough driven only by kubectl (issue 11 §4): svcgw follows
# the test Kubernetes API (tests/k8s, etcd + apiserver.py, in the gateway's
# namespace) with `kubernetes: {cluster_ips: true}`. Before the first list
# DNS answers SERVFAIL; then apply a Service and its EndpointSlice, curl the
# ClusterIP, dig the name; replace the pod by editing the slice; scale to
# two with a keep-alive connection that never breaks; delete.
set -uo pipefail
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/kube_rig.sh"

rig_daemon_only "the daemon follows the cluster (the kernel gateway has no feed)"
command -v dig >/dev/null || { echo "test_kube_walkthrough: missing dig (bind9-dnsutils)"; exit 1; }
RIG_NAME=kube-walkthrough
rig_init 18 fullnat
vip=$RIG_VIP
url="http://$vip/"
dns=$RIG_DNS_IP
name=mynginx.default.svc.cluster.local

kube_rig_up
q() { rig_client dig @"$dns" +time=1 +tries=1 +norec "$@" 2>&1; }
status_of() { sed -n 's/.*status: \([A-Z]*\),.*/\1/p' <<<"$1" | head -n 1; }

# The API is down when svcgw starts: the feed backs off and retries, and
# DNS stays SERVFAIL (never NXDOMAIN) until the first complete list.
kube_stop_pid "$KUBE_APISERVER_PID"
kube_rig_feed "cluster_ips: true"
rig_ctl_start  # writes the config and starts svcgw
out=$(q "$name" A)
rig_check "before the first list: dig $name answers SERVFAIL ($(status_of "$out"))" \
    test "$(status_of "$out")" = SERVFAIL
kube_start_apiserver || rig_die "the test API did not restart"
rig_require "the feed lists the cluster once the API is back" kube_rig_synced
out=$(q "$name" A)
rig_check "after the first list: dig $name is NXDOMAIN, not SERVFAIL ($(status_of "$out"))" \
    test "$(status_of "$out")" = NXDOMAIN

# (1) expose: one pod behind the ClusterIP, by kubectl alone.
rig_add_pod a
rig_check "kubectl apply the Service" kube_rig_apply_service
rig_check "kubectl apply its EndpointSlice (pod a)" kube_rig_apply_slice a
rig_require "step 1: curl $url is answered by pod a" rig_wait_pod "$url" a
out=$(q "$name" A)
rig_check "step 1: dig $name answers $vip" grep -Eq "^$name\.[[:space:]]+[0-9]+[[:space:]]+IN[[:space:]]+A[[:space:]]+$vip" <<<"$out"
get_svc=$(rig_ctl get service mynginx -o json)
rig_check "svcgwctl shows origin kubernetes" grep -q '"origin": *"kubernetes"' <<<"$get_svc"
# The cluster owns it: svcgw's API refuses to change it (409, naming the owner).
out=$(rig_ctl delete service mynginx 2>&1)
rig_check "svcgwctl delete is refused, naming the owner: $out" \
    grep -q '^Error from server (Conflict): .*owned by origin kubernetes' <<<"$out"
out=$(rig_ctl endpoints remove mynginx "$(rig_pod_ip a)" 2>&1)
rig_check "svcgwctl endpoints remove is refused: $out" \
    grep -q '^Error from server (Conflict): .*owned by origin kubernetes' <<<"$out"
rig_check "both changed nothing: svcgw still has pod a" \
    grep -Eq "^mynginx +$(rig_pod_ip a):80 " <<<"$(rig_ctl get endpoints mynginx)"
rig_check "both changed nothing: $url is answered by pod a" rig_wait_pod "$url" a

# (2) replace the pod: edit the slice.
rig_del_pod a
rig_add_pod b
rig_check "kubectl apply the slice with pod b" kube_rig_apply_slice b
rig_require "step 2: after replacing the pod, $url is answered by pod b" rig_wait_pod "$url" b

# A keep-alive connection to pod b, opened before scale-out, must survive it.
rig_ka_start "$vip" 80 1 120
rig_require "keep-alive connection through $vip is up" rig_ka_wait 2

# (3) scale to two.
rig_add_pod c
rig_check "kubectl apply the slice with pods b and c" kube_rig_apply_slice b c
rig_require "step 3: the new pod c starts answering $url" rig_wait_pod "$url" c
rig_spread "$url" 30 1 b c
slice_events=$(rig_stats '.kubernetes.kinds.EndpointSlice.events')
rig_check "GET /v1/stats counts the slice events (${slice_events:-none} >= 2)" test "${slice_events:-0}" -ge 2
rig_check "GET /v1/stats: synced, no rejected service" \
    test "$(rig_stats '.kubernetes.synced'),$(rig_stats '.kubernetes.rejected')" = "true,0"
metrics=$(ip netns exec "$(rig_ns gw)" curl -s --max-time 3 http://127.0.0.1:9100/metrics)
lag_count=$(awk '/^svcgw_kubernetes_event_lag_seconds_count/ { print $2 }' <<<"$metrics")
rig_check "GET /metrics: the event -> data plane lag histogram has samples (${lag_count:-none})" \
    test "${lag_count:-0}" -ge 3
rig_log "feed lag p50/p99: $(rig_stats '.kubernetes.lag_p50_us') / $(rig_stats '.kubernetes.lag_p99_us') us"
rig_check "keep-alive requests continued during scale-out" rig_ka_more 2

# (4) scale in: pod c leaves the slice; the keep-alive connection to b stays.
rig_check "kubectl apply the slice with pod b only" kube_rig_apply_slice b
rig_check "step 4: after scale-in, $url is answered by pod b" rig_wait_pod "$url" b
rig_ka_stop
ka_rc=$?
rig_check "the keep-alive client never broke ($(rig_ka_lines) requests): $(tail -n 1 "$RIG_KA_OUT")" \
    test "$ka_rc" -eq 0
rig_check "svcgw's view converged to kubectl's (endpoints of mynginx = pod b)" \
    grep -Eq "^mynginx +$(rig_pod_ip b):80 " <<<"$(rig_ctl get endpoints mynginx)"

# (5) delete: the VIP refuses at once and the name goes.
rig_check "kubectl delete service mynginx" kube_kubectl delete service mynginx
gone() {
    local i
    for ((i = 0; i < 50; i++)); do
        rig_ctl get service mynginx >/dev/null 2>&1 || return 0
        sleep 0.1
    done
    echo "svcgwctl still lists mynginx"
    return 1
}
rig_check "step 5: svcgw dropped the service" gone
rig_check "step 5: $url fails fast" rig_expect_fast_failure "$url"
out=$(q "$name" A)
rig_check "step 5: dig $name is NXDOMAIN ($(status_of "$out"))" test "$(status_of "$out")" = NXDOMAIN

rig_finish
