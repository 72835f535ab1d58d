#!/usr/bin/env bash
# LoadBalancer Services from the cluster (issue 11 §2), driven by kubectl
# alone against the test API (tests/k8s). svcgw follows it in its default
# mode (LoadBalancer Services of class svcgw.io/lb; the ClusterIPs stay the
# cluster's) with network.lb_pools: [192.0.2.0/28]:
#   - a Service of svcgw's class gets a pool address, written back to its
#     status: `kubectl get svc` shows it under EXTERNAL-IP, curl reaches the
#     pod through it; its ClusterIP is not svcgw's to answer;
#   - a Service of another class is left alone (<pending>, not served);
#   - spec.loadBalancerIP and spec.externalIPs are served as asked;
#   - externalTrafficPolicy: Local under fullnat is refused with the reason
#     and stays <pending>;
#   - loadBalancerSourceRanges: one client namespace admitted, another's
#     new flows dropped (and counted), then the other way round;
#   - a restart of svcgw serves the same address without writing status;
#   - delete: the address is no longer answered.
set -uo pipefail
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/kube_rig.sh"

rig_daemon_only "follows the test Kubernetes API"
RIG_NAME=kube-lb
rig_init 66 fullnat
kube_rig_up
m=$KUBE_RIG_MANIFESTS
k() { kube_kubectl "$@"; }
pool=192.0.2.0/28
requested=198.51.100.10 # spec.loadBalancerIP (outside the pool: an address asked for)
external=198.51.100.20  # spec.externalIPs

RIG_NETWORK_EXTRA="lb_pools: [$pool]"
kube_rig_feed
rig_ctl_start
rig_require "the feed lists the cluster" kube_rig_synced

# lb_service NAME CLASS [SPEC-LINE...]: a LoadBalancer Service on port 80.
lb_service() {
    local name=$1 class=$2 line
    shift 2
    cat <<EOF
apiVersion: v1
kind: Service
metadata: {name: $name, namespace: default}
spec:
  type: LoadBalancer
  loadBalancerClass: $class
  selector: {app: $name}
  ports: [{name: http, port: 80, targetPort: 80, protocol: TCP}]
EOF
    for line in "$@"; do
        echo "  $line"
    done
}
ingress_of() { k get service "$1" -o 'jsonpath={.status.loadBalancer.ingress[*].ip}' 2>/dev/null; }
has_ingress() { [ -n "$(ingress_of "$1")" ]; }
external_column() { k get service "$1" --no-headers 2>/dev/null | awk '{ print $4 }'; }

# (1) a Service of svcgw's class: a pool address, in its status.
rig_add_pod a
lb_service web svcgw.io/lb >"$m/web.yaml"
kube_rig_slice web web-abc 80 a >"$m/web-slice.yaml"
rig_check "kubectl apply a LoadBalancer Service of class svcgw.io/lb" kube_rig_apply "$m/web.yaml"
rig_check "kubectl apply its EndpointSlice (pod a)" kube_rig_apply "$m/web-slice.yaml"
rig_require "svcgw writes an address into status.loadBalancer.ingress" \
    kube_rig_wait "web's status has no ingress" has_ingress web
lb=$(ingress_of web)
in_pool() { [[ "$1" =~ ^192\.0\.2\.([0-9]+)$ ]] && [ "${BASH_REMATCH[1]}" -ge 1 ] && [ "${BASH_REMATCH[1]}" -le 14 ]; }
rig_check "the address $lb is a host address of $pool" in_pool "$lb"
column=$(external_column web)
rig_check "kubectl get svc web shows EXTERNAL-IP $lb ($column)" test "$column" = "$lb"
rig_require "curl http://$lb/ is answered by pod a" rig_wait_pod "http://$lb/" a
cluster_ip=$(k get service web -o 'jsonpath={.spec.clusterIP}')
rig_check "the ClusterIP $cluster_ip stays the cluster's: svcgw refuses it" \
    rig_expect_fast_failure "http://$cluster_ip/"
get_svc=$(rig_ctl get service web -o json)
rig_check "svcgwctl shows load_balancer_ips [$lb], origin kubernetes" \
    test "$(jq -c '[.load_balancer_ips, .origin]' <<<"$get_svc")" = "[[\"$lb\"],\"kubernetes\"]"

# (2) another implementation's class: not ours to serve or to write.
lb_service other example.com/lb >"$m/other.yaml"
rig_check "kubectl apply a LoadBalancer Service of another class" kube_rig_apply "$m/other.yaml"
# Order: web2 below is published after `other` was seen (one feed, in order).
rig_add_pod b
lb_service web2 svcgw.io/lb "loadBalancerIP: $requested" "externalIPs: [$external]" >"$m/web2.yaml"
kube_rig_slice web2 web2-abc 80 b >"$m/web2-slice.yaml"
rig_check "kubectl apply a Service asking for loadBalancerIP $requested, externalIPs [$external]" \
    kube_rig_apply "$m/web2.yaml"
rig_check "kubectl apply its EndpointSlice (pod b)" kube_rig_apply "$m/web2-slice.yaml"
rig_require "curl http://$requested/ (spec.loadBalancerIP) is answered by pod b" \
    rig_wait_pod "http://$requested/" b
rig_check "curl http://$external/ (spec.externalIPs) is answered by pod b" \
    rig_wait_pod "http://$external/" b
rig_check "web2's status shows the address it asked for" \
    kube_rig_wait "web2's ingress is '$(ingress_of web2)'" test "$(ingress_of web2)" = "$requested"
rig_check "the other class's Service stays <pending> ($(external_column other))" \
    test "$(external_column other)" = "<pending>"
rig_check "svcgw does not serve the other class's Service" \
    bash -c "! '$RIG_SVCGWCTL_BIN' --server 'unix:$RIG_TMP/api.sock' get service other"

# (3) externalTrafficPolicy: Local keeps the client's address, which
# fullnat replaces: refused with the reason, nothing half-served.
lb_service local svcgw.io/lb "externalTrafficPolicy: Local" >"$m/local.yaml"
rig_check "kubectl apply a Service with externalTrafficPolicy: Local" kube_rig_apply "$m/local.yaml"
local_refused() { grep -q "kubernetes: Rejected Service/default/local: .*forwarding.mode nat" "$RIG_GW_LOG"; }
rig_check "svcgw refuses it and says why (the gateway log)" kube_rig_wait "no Rejected event" local_refused
rig_check "it stays <pending> ($(external_column local))" test "$(external_column local)" = "<pending>"
events=$(rig_ctl events -n default)
rig_check "svcgwctl events -n default: the Rejected warning for Service/default/local" \
    grep -Eq "^[0-9a-z]+ +Warning +Rejected +Service/default/local +.*forwarding.mode nat" <<<"$events"
rig_check "svcgwctl events -n default: the status written for web (LoadBalancerStatus)" \
    grep -Eq "^[0-9a-z]+ +Normal +LoadBalancerStatus +Service/default/web " <<<"$events"
described=$(rig_ctl describe svc local 2>&1)
rig_check "svcgwctl describe svc local: not running, and the Rejected event says why" \
    grep -Eq "Warning +Rejected +Service/default/local +.*forwarding.mode nat" <<<"$described"
described=$(rig_ctl describe svc web)
rig_check "svcgwctl describe svc web: the feed's LoadBalancerStatus event" \
    grep -Eq "^  Normal +LoadBalancerStatus +[0-9a-z.]+ +svcgw-kubernetes " <<<"$described"
rig_check "web is still served" rig_wait_pod "http://$lb/" a
rig_check "GET /v1/stats counts the status writes ($(rig_stats '.kubernetes.status_updates') >= 2)" \
    test "$(rig_stats '.kubernetes.status_updates')" -ge 2

# (4) loadBalancerSourceRanges: a second client namespace on the segment;
# the ranges admit one client, new flows of the other are dropped (counted).
rig_new_ns cl2
rig_link cl2 eth0 p-cl2
ip -n "$(rig_ns cl2)" addr add "$(rig_ip 101)/24" dev eth0
ip -n "$(rig_ns cl2)" route add default via "$(rig_gw_ip)"
near=$(rig_client_ip)
far=$(rig_ip 101)
ranged=198.51.100.30
rig_add_pod c
ranged_yaml() { lb_service ranged svcgw.io/lb "loadBalancerIP: $ranged" "loadBalancerSourceRanges: [$1/32]"; }
ranged_yaml "$near" >"$m/ranged.yaml"
kube_rig_slice ranged ranged-abc 80 c >"$m/ranged-slice.yaml"
rig_check "kubectl apply a Service with loadBalancerSourceRanges [$near/32]" \
    kube_rig_apply "$m/ranged.yaml"
rig_check "kubectl apply its EndpointSlice (pod c)" kube_rig_apply "$m/ranged-slice.yaml"
rig_require "client $near (inside the ranges) reaches http://$ranged/" rig_wait_pod "http://$ranged/" c
reaches() { rig_in "$1" curl -sS --max-time 2 -o /dev/null "http://$ranged/"; }
refused() { ! reaches "$1"; }
drops=$(rig_drop source_range)
rig_check "client $far (outside the ranges) gets no answer" refused cl2
counted() { [ "$(rig_drop source_range)" -gt "$drops" ] || { echo "source_range drops still $drops"; return 1; }; }
rig_check "the refused SYNs are counted as drop reason source_range" counted
ranged_yaml "$far" >"$m/ranged.yaml"
rig_check "kubectl apply the ranges [$far/32] instead" kube_rig_apply "$m/ranged.yaml"
rig_check "now client $far reaches http://$ranged/" kube_rig_wait "client $far still refused" reaches cl2
rig_check "and client $near gets no answer" refused cl

# (5) restart: the same addresses from the status, nothing written.
rig_gateway_stop
rig_svcgw_start
rig_require "after a restart the feed lists the cluster" kube_rig_synced
rig_check "after a restart curl http://$lb/ is answered by pod a" rig_wait_pod "http://$lb/" a
rig_check "after a restart web keeps $lb ($(ingress_of web))" test "$(ingress_of web)" = "$lb"
rig_check "after a restart no status was written ($(rig_stats '.kubernetes.status_updates'))" \
    test "$(rig_stats '.kubernetes.status_updates')" = 0

# (6) delete: the address is no longer answered.
rig_check "kubectl delete service web" k delete service web
gone() { ! rig_ctl get service web; }
rig_check "svcgw dropped web" kube_rig_wait "svcgwctl still lists web" gone
# Outside service_cidr a freed address is nobody's: dropped (not_for_us),
# not refused (README "Refuse, don't hang" covers the service CIDR).
lb_gone() { ! rig_client curl -sS --max-time 2 -o /dev/null "http://$lb/"; }
rig_check "http://$lb/ is no longer answered" lb_gone
rig_check "web2 is still served" rig_wait_pod "http://$requested/" b

rig_finish
