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
m=$KUBE_RIG_MANIFESTS
k() { kube_kubectl "$@"; }
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

# manifests: the Service (fixed ClusterIP) and its slice, as kubectl applies them.
service_yaml() {
    cat <<EOF
apiVersion: v1
kind: Service
metadata: {name: mynginx, namespace: default}
spec:
  clusterIP: $vip
  selector: {app: mynginx}
  ports: [{name: http, port: 80, targetPort: 80, protocol: TCP}]
EOF
}
apply_slice() { # POD...
    kube_rig_slice mynginx mynginx-abc 80 "$@" >"$m/slice.yaml"
    k apply -f "$m/slice.yaml" >/dev/null
}

# (1) expose: one pod behind the ClusterIP, by kubectl alone.
rig_add_pod a
service_yaml >"$m/service.yaml"
rig_check "kubectl apply the Service" k apply -f "$m/service.yaml"
rig_check "kubectl apply its EndpointSlice (pod a)" apply_slice a
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
rig_check "kubectl apply the slice with pod b" apply_slice b
rig_require "step 2: after replacing the pod, $url is answered by pod b" rig_wait_pod "$url" b

# A keep-alive connection to pod b, opened before scale-out, must survive it.
ka_out="$RIG_TMP/keepalive.out"
ka_stop="$RIG_TMP/keepalive.stop"
rig_client "$RIG_PYTHON" "$RIG_DIR/keepalive_client.py" "$vip" 80 "$ka_stop" 1 120 >"$ka_out" 2>&1 &
ka_pid=$!
RIG_BG_PIDS+=("$ka_pid")
ka_lines() { grep -c '^[0-9]' "$ka_out" || true; }
wait_ka_lines() {
    local want=$1 i
    for ((i = 0; i < 100; i++)); do
        [ "$(ka_lines)" -ge "$want" ] && return 0
        grep -q BROKEN "$ka_out" && break
        sleep 0.1
    done
    echo "keep-alive client: $(tail -n 2 "$ka_out" | tr '\n' ' ')"
    return 1
}
rig_require "keep-alive connection through $vip is up" wait_ka_lines 2

# (3) scale to two.
rig_add_pod c
rig_check "kubectl apply the slice with pods b and c" apply_slice b c
rig_require "step 3: the new pod c starts answering $url" rig_wait_pod "$url" c
spread=30
for ((i = 1; i <= spread; i++)); do
    rig_curl -o /dev/null "$url?spread=$i" || true
done
n_b=$(rig_count_requests b 'spread=')
n_c=$(rig_count_requests c 'spread=')
rig_check "step 3: all $spread requests answered, both pods used (b=$n_b c=$n_c)" \
    test $((n_b + n_c)) -eq "$spread" -a "$n_b" -gt 0 -a "$n_c" -gt 0
slice_events=$(rig_stats '.kubernetes.kinds.EndpointSlice.events')
rig_check "GET /v1/stats counts the slice events (${slice_events:-none} >= 2)" test "${slice_events:-0}" -ge 2
rig_check "GET /v1/stats: synced, no rejected service" \
    test "$(rig_stats '.kubernetes.synced'),$(rig_stats '.kubernetes.rejected')" = "true,0"
metrics=$(ip netns exec "$(rig_ns gw)" curl -s --max-time 3 http://127.0.0.1:9100/metrics)
lag_count=$(awk '/^svcgw_kubernetes_event_lag_seconds_count/ { print $2 }' <<<"$metrics")
rig_check "GET /metrics: the event -> data plane lag histogram has samples (${lag_count:-none})" \
    test "${lag_count:-0}" -ge 3
rig_log "feed lag p50/p99: $(rig_stats '.kubernetes.lag_p50_us') / $(rig_stats '.kubernetes.lag_p99_us') us"
ka_mid=$(ka_lines)
rig_check "keep-alive requests continued during scale-out" wait_ka_lines $((ka_mid + 2))

# (4) scale in: pod c leaves the slice; the keep-alive connection to b stays.
rig_check "kubectl apply the slice with pod b only" apply_slice b
rig_check "step 4: after scale-in, $url is answered by pod b" rig_wait_pod "$url" b
touch "$ka_stop"
ka_rc=1
for ((i = 0; i < 50; i++)); do
    if ! kill -0 "$ka_pid" 2>/dev/null; then
        wait "$ka_pid"
        ka_rc=$?
        break
    fi
    sleep 0.1
done
rig_check "the keep-alive client never broke ($(ka_lines) requests): $(tail -n 1 "$ka_out")" \
    test "$ka_rc" -eq 0
rig_check "svcgw's view converged to kubectl's (endpoints of mynginx = pod b)" \
    grep -Eq "^mynginx +$(rig_pod_ip b):80 " <<<"$(rig_ctl get endpoints mynginx)"

# (5) delete: the VIP refuses at once and the name goes.
rig_check "kubectl delete service mynginx" k delete service mynginx
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
