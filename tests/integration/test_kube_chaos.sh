#!/usr/bin/env bash
# The feed under faults (issue 11 §4 chaos): svcgw follows the test API
# (`cluster_ips: true`) while a keep-alive connection runs through the VIP;
#   1. the API server is restarted (its watches cut mid-stream): the feed
#      resumes and a later change (scale out) is served;
#   2. the watch connection cut silently (every packet of the API port
#      dropped: a partition, no FIN or RST): the feed's TCP keep-alive fails
#      the watch within 25 s, and once the path heals it resumes and a later
#      change (scale in) is served;
#   3. etcd is compacted while the API is away: the resumed watch gets 410
#      Gone, the feed re-lists, and a later change (scale out) is served;
#   4. 1000 EndpointSlice updates in a burst from 8 connections (a pod's
#      readiness flapping): batched into fewer publishes, and the end state
#      is kubectl's.
# After each: svcgw's endpoints equal what kubectl shows; at the end the
# keep-alive connection has never broken (0 resets on a surviving pod).
#   5. svcgw restarted, authenticating by client certificate this time: it
#      lists again and rebuilds the same VIPs and Maglev rings (equal
#      tables_digest), so new packets of old flows hash to the same backends.
set -uo pipefail
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/kube_rig.sh"

rig_daemon_only "follows the test Kubernetes API"
RIG_NAME=kube-chaos
rig_init 68 fullnat
kube_rig_up
vip=$RIG_VIP
url="http://$vip/"
burst=1000

kube_rig_feed "cluster_ips: true"
rig_ctl_start
rig_require "the feed lists the cluster" kube_rig_synced

rig_add_pod a
rig_add_pod b
rig_add_pod c
rig_check "kubectl apply the Service" kube_rig_apply_service
rig_check "kubectl apply its slice (pods a b c)" kube_rig_apply_slice a b c
rig_require "curl $url is answered" rig_wait_pod "$url" a

# svcgw's ready endpoints vs the slice's ready addresses as kubectl shows
# them. (Not `get endpoints`: like kubectl's, it lists three and "+ N more".)
ours() { rig_ctl get service mynginx -o json | jq -r '.endpoints[] | select(.ready) | .ip' | sort; }
theirs() {
    kube_kubectl get endpointslice mynginx-abc -o json |
        jq -r '.endpoints[] | select(.conditions.ready != false) | .addresses[0]' | sort
}
converged() { [ "$(ours)" = "$(theirs)" ] && [ -n "$(ours)" ]; }
wait_converged() { kube_rig_wait "svcgw: $(ours | tr '\n' ' ') kubectl: $(theirs | tr '\n' ' ')" converged; }

rig_ka_start "$vip" 80 0.2 240
rig_require "a keep-alive connection through $vip is up" rig_ka_more 2
stat() { rig_stats ".kubernetes.kinds.EndpointSlice.$1"; }

# (1) the API server restarted: the watches are cut and resumed.
restarts=$(stat restarts)
# (not under rig_check: its subshell would keep the new server's pid)
kube_restart_apiserver || rig_die "the test API did not restart"
rig_add_pod d
rig_check "kubectl apply the slice with pods a b c d" kube_rig_apply_slice a b c d
rig_check "after the API restart svcgw serves kubectl's endpoints" wait_converged
resumed() { [ "$(stat restarts)" -gt "$restarts" ]; }
rig_check "the slice watch was restarted ($restarts -> $(stat restarts))" resumed
rig_check "the keep-alive connection went on" rig_ka_more 2

# (2) the watch connection cut silently. The API's own bookmarks (1 s) stop
# arriving; the feed's keep-alive probes (after 10 s idle, 3 x 5 s) go
# unanswered and the watch fails: well before its read timeout (the server
# timeout + 30 s = 330 s), which alone would leave the feed stale for minutes.
restarts=$(stat restarts)
errors=$(stat errors)
port=$KUBE_APISERVER_PORT
cut() { # -A | -D: add or remove the partition
    kube_in iptables "$1" INPUT -i lo -p tcp --dport "$port" -j DROP &&
        kube_in iptables "$1" INPUT -i lo -p tcp --sport "$port" -j DROP
}
watch_failed() { [ "$(stat restarts)" -gt "$restarts" ] && [ "$(stat errors)" -gt "$errors" ]; }
cut_bound_s=40 # keep-alive's 25 s, plus the last bookmark's age and load
rig_require "the path to the API is cut (iptables DROP of port $port)" cut -A
cut_at=$SECONDS
for ((i = 0; i < cut_bound_s * 5; i++)); do
    watch_failed && break
    sleep 0.2
done
cut_took=$((SECONDS - cut_at))
cut -D
rig_check "the cut watch failed by keep-alive in ${cut_took} s (bound ${cut_bound_s} s; restarts $restarts -> $(stat restarts), errors $errors -> $(stat errors))" watch_failed
rig_check "kubectl apply the slice with pods a b c" kube_rig_apply_slice a b c
rig_check "after the cut svcgw serves kubectl's endpoints" wait_converged
rig_check "the keep-alive connection went on" rig_ka_more 2

# (3) etcd compacted past the feed's resourceVersion while the API was away:
# the resumed watch is told 410 Expired and the feed lists again. The watch
# from version V reads from V+1, and etcd keeps the compaction revision
# itself, so two writes straight into etcd (revisions V+1, V+2) and a
# compaction at V+2 leave V+1 gone.
expired=$(stat expired)
relists=$(stat relists)
kube_stop_pid "$KUBE_APISERVER_PID"
for bump in 1 2; do
    kube_in curl -sf --max-time 5 -X POST "$KUBE_ETCD/v3/kv/put" \
        -d "{\"key\":\"$(printf /chaos/bump | base64)\",\"value\":\"$(printf $bump | base64)\"}" >/dev/null
done
rig_check "etcd compacted at its current revision" kube_compact
kube_start_apiserver || rig_die "the test API did not restart"
relisted() { [ "$(stat expired)" -gt "$expired" ] && [ "$(stat relists)" -gt "$relists" ]; }
rig_check "the feed got 410 Expired and listed again" kube_rig_wait \
    "expired $expired -> $(stat expired), relists $relists -> $(stat relists)" relisted
rig_check "kubectl apply the slice with pods a b c d" kube_rig_apply_slice a b c d
rig_check "after the relist svcgw serves kubectl's endpoints" wait_converged
rig_check "the keep-alive connection went on" rig_ka_more 2

# (4) a burst of slice updates: pod c's readiness flaps $burst times.
publishes=$(rig_stats '.kubernetes.publishes')
out=$(kube_in "$KUBE_PYTHON" "$RIG_DIR/kube_burst.py" "$KUBE_SERVER" "$KUBE_CA" "$KUBE_ADMIN_TOKEN" \
    default mynginx-abc "$burst" 2>&1)
rig_check "$burst slice updates through the API ($out)" grep -q "^$burst updates" <<<"$out"
rig_check "after the burst svcgw serves kubectl's endpoints" wait_converged
done_publishes=$(($(rig_stats '.kubernetes.publishes') - publishes))
rig_log "burst: $done_publishes publishes for $burst updates; lag p50/p99 $(rig_stats '.kubernetes.lag_p50_us') / $(rig_stats '.kubernetes.lag_p99_us') us"
rig_check "the burst was batched ($done_publishes publishes for $burst updates)" \
    test "$done_publishes" -lt "$burst"
rig_check "no feed service rejected, none invalid" \
    test "$(rig_stats '.kubernetes.rejected'),$(rig_stats '.kubernetes.invalid')" = "0,0"

rig_ka_stop
ka_rc=$?
rig_check "the keep-alive connection never broke ($(rig_ka_lines) requests): $(tail -n 1 "$RIG_KA_OUT")" \
    test "$ka_rc" -eq 0

# (5) svcgw restarted: tables_digest covers every VIP, port and ring slot.
# It comes back with the same user's client certificate instead of its
# token (the kubeconfig's other credential).
digest=$(rig_stats '.tables_digest')
rig_gateway_stop
KUBE_SVCGW_KUBECONFIG=$KUBE_SVCGW_CERT_KUBECONFIG kube_rig_feed "cluster_ips: true"
rig_apply
rig_require "after a restart the feed lists the cluster" kube_rig_synced
rig_check "after a restart svcgw serves kubectl's endpoints" wait_converged
same_tables() { [ -n "$digest" ] && [ "$digest" != 0 ] && [ "$(rig_stats '.tables_digest')" = "$digest" ]; }
rig_check "after a restart the same VIPs and Maglev rings (tables_digest $digest -> $(rig_stats '.tables_digest'))" \
    same_tables

rig_finish
