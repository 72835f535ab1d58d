#!/usr/bin/env bash
# NodePort backends (issue 11 §3), by kubectl alone against the test API:
# svcgw with `kubernetes: {backends: nodeport}` in nat mode sends a
# LoadBalancer Service's traffic to the cluster's ready Nodes on its
# nodePort, as an external L4 balancer in front of an overlay cluster does.
# The "nodes" are namespaces on the segment that DNAT their nodePort to the
# pods they hold (kube-proxy's job) and are the pods' next hop; the
# Service has externalTrafficPolicy: Local, so:
#   - only the nodes holding ready endpoints are backends, and the pods see
#     the client's own address (nat keeps it, the node does not masquerade);
#   - a node that turns NotReady stops getting new connections;
#   - a node whose pods leave the slice is no backend any more.
set -uo pipefail
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/kube_rig.sh"

rig_daemon_only "follows the test Kubernetes API"
RIG_NAME=kube-nodeport
rig_init 67 nat
kube_rig_up
m=$KUBE_RIG_MANIFESTS
k() { kube_kubectl "$@"; }
node_port=30080

RIG_NETWORK_EXTRA="lb_pools: [192.0.2.0/28]"
kube_rig_feed "backends: nodeport"
rig_ctl_start
rig_require "the feed lists the cluster" kube_rig_synced

# rig_node NAME INDEX POD: a "node" namespace at .INDEX that DNATs
# $node_port to POD:80 and routes for it. As the rig's nat-mode pods it has
# a /32 and every route via the gateway, so replies to the client (on the
# same segment) go back through svcgw; the pod's next hop becomes the node.
rig_node() {
    local name=$1 index=$2 pod=$3 ns pod_ns ip pod_ip
    ip=$(rig_ip "$index")
    pod_ip=$(rig_pod_ip "$pod")
    rig_new_ns "$name"
    rig_link "$name" eth0 "p-$name"
    ns=$(rig_ns "$name")
    ip -n "$ns" addr add "$ip/32" dev eth0
    ip -n "$ns" route add "$(rig_gw_ip)" dev eth0 scope link
    ip -n "$ns" route add default via "$(rig_gw_ip)" dev eth0
    ip -n "$ns" route add "$pod_ip" dev eth0 scope link
    rig_sysctl "$ns" net.ipv4.ip_forward=1 net.ipv4.conf.all.rp_filter=0 \
        net.ipv4.conf.eth0.rp_filter=0 net.ipv4.conf.all.send_redirects=0 \
        net.ipv4.conf.eth0.send_redirects=0
    ip netns exec "$ns" iptables -t nat -A PREROUTING -p tcp --dport "$node_port" \
        -j DNAT --to-destination "$pod_ip:80" || rig_die "iptables DNAT in $name"
    pod_ns=$(rig_ns "p$pod")
    ip -n "$pod_ns" route add "$ip" dev eth0 scope link
    ip -n "$pod_ns" route replace default via "$ip" dev eth0
    cat >"$m/$name.yaml" <<EOF
apiVersion: v1
kind: Node
metadata: {name: $name}
status:
  addresses: [{type: InternalIP, address: "$ip"}]
  conditions: [{type: Ready, status: "True"}]
EOF
}
rig_add_pod a
rig_add_pod b
rig_node node1 31 a
rig_node node2 32 b
rig_check "kubectl apply Node node1 (Ready, InternalIP $(rig_ip 31))" kube_rig_apply "$m/node1.yaml"
rig_check "kubectl apply Node node2 (Ready, InternalIP $(rig_ip 32))" kube_rig_apply "$m/node2.yaml"

cat >"$m/web.yaml" <<EOF
apiVersion: v1
kind: Service
metadata: {name: web, namespace: default}
spec:
  type: LoadBalancer
  loadBalancerClass: svcgw.io/lb
  externalTrafficPolicy: Local
  selector: {app: web}
  ports: [{name: http, port: 80, targetPort: 80, nodePort: $node_port, protocol: TCP}]
EOF
# web_slice POD:NODE...: the slice, each pod on its node.
web_slice() {
    local entry
    echo "apiVersion: discovery.k8s.io/v1"
    echo "kind: EndpointSlice"
    echo "metadata: {name: web-abc, namespace: default, labels: {kubernetes.io/service-name: web}}"
    echo "addressType: IPv4"
    echo "ports: [{name: http, port: 80, protocol: TCP}]"
    echo "endpoints:"
    for entry in "$@"; do
        echo "- {addresses: [\"$(rig_pod_ip "${entry%%:*}")\"], nodeName: ${entry#*:}, conditions: {ready: true}}"
    done
}
web_slice a:node1 b:node2 >"$m/web-slice.yaml"
rig_check "kubectl apply a LoadBalancer Service (externalTrafficPolicy: Local, nodePort $node_port)" \
    kube_rig_apply "$m/web.yaml"
rig_check "kubectl apply its EndpointSlice (pod a on node1, pod b on node2)" kube_rig_apply "$m/web-slice.yaml"
ingress() { [ -n "$(k get service web -o 'jsonpath={.status.loadBalancer.ingress[0].ip}')" ]; }
rig_require "web gets an address" kube_rig_wait "web's status has no ingress" ingress
lb=$(k get service web -o 'jsonpath={.status.loadBalancer.ingress[0].ip}')
url="http://$lb/"

endpoints() { rig_ctl get endpoints web | awk 'NR > 1 { print $2 }'; }
both="$(rig_ip 31):$node_port,$(rig_ip 32):$node_port"
rig_check "svcgw's backends are the nodes on the nodePort ($(endpoints))" test "$(endpoints)" = "$both"
rig_require "curl $url is answered (through a node)" rig_wait_pod "$url" a
spread() { # TAG: 30 new connections; sets n_a, n_b
    local i
    for ((i = 1; i <= 30; i++)); do
        rig_curl -o /dev/null "$url?$1=$i" || true
    done
    n_a=$(rig_count_requests a "$1=")
    n_b=$(rig_count_requests b "$1=")
}
spread both
rig_check "30 requests reach both nodes' pods (a=$n_a b=$n_b)" \
    test $((n_a + n_b)) -eq 30 -a "$n_a" -gt 0 -a "$n_b" -gt 0
client=$(rig_client_ip)
seen() { awk '/both=/ { print $1 }' "$(rig_pod_log "$1")" | sort -u; }
rig_check "the pods see the client's own address $client ($(seen a | tr '\n' ' '))" \
    test "$(seen a)" = "$client" -a "$(seen b)" = "$client"

# node2 turns NotReady (its status, as the kubelet would write it).
kube_curl /api/v1/nodes/node2/status -X PATCH -H 'Content-Type: application/merge-patch+json' \
    -d '{"status":{"conditions":[{"type":"Ready","status":"False"}]}}' -o /dev/null
only1="$(rig_ip 31):$node_port"
rig_check "node2 NotReady: the only backend is node1" kube_rig_wait "endpoints are $(endpoints)" \
    test "$(endpoints)" = "$only1"
spread notready
rig_check "new connections all go to node1's pod (a=$n_a b=$n_b)" test "$n_a" -eq 30 -a "$n_b" -eq 0

# node2 Ready again, then pod b leaves the slice: under Local, node2
# holds no endpoint of web and is no backend.
kube_curl /api/v1/nodes/node2/status -X PATCH -H 'Content-Type: application/merge-patch+json' \
    -d '{"status":{"conditions":[{"type":"Ready","status":"True"}]}}' -o /dev/null
rig_check "node2 Ready again: both nodes are backends" kube_rig_wait "endpoints are $(endpoints)" \
    test "$(endpoints)" = "$both"
web_slice a:node1 >"$m/web-slice.yaml"
rig_check "kubectl apply the slice with pod a only" kube_rig_apply "$m/web-slice.yaml"
rig_check "Local: node2 holds no endpoint and is no backend" kube_rig_wait "endpoints are $(endpoints)" \
    test "$(endpoints)" = "$only1"

rig_finish
