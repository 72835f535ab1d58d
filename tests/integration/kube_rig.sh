# Shared by the feed's integration tests (test_kube_*.sh), sourced after
# lib.sh: the test Kubernetes API (tests/k8s: etcd + apiserver.py) in the
# gateway's namespace, svcgw following it with the svcgw RBAC role, and the
# waits these tests share.
#   kube_rig_up                       # after rig_init: API up, torn down before the rig
#   kube_rig_feed "cluster_ips: true" # RIG_CONFIG_EXTRA's kubernetes: section (+ keys)
#   rig_ctl_start; kube_rig_synced    # svcgw started; its first complete list done
#   kube_rig_apply FILE               # kubectl apply as the admin
#   kube_rig_apply_service; kube_rig_apply_slice POD...  # the walkthrough's mynginx
source "$RIG_DIR/../k8s/kube.sh"

# The API goes first (its processes live in the gateway's namespace); the
# test's status passes through to rig_cleanup, which exits with it.
kube_rig_exit() {
    local rc=$?
    kube_down
    (exit "$rc")
    rig_cleanup
}

kube_rig_up() {
    trap kube_rig_exit EXIT
    KUBE_SERVICE_CIDR=$RIG_SERVICE_CIDR
    kube_up "$(rig_ns gw)" || rig_die "the test API did not start"
    KUBE_RIG_MANIFESTS=$KUBE_DIR/manifests
    mkdir -p "$KUBE_RIG_MANIFESTS"
}

# kube_rig_feed [KEYS]: the feed's config (the svcgw kubeconfig, a 5 ms
# batch window) plus KEYS ("cluster_ips: true").
kube_rig_feed() {
    RIG_CONFIG_EXTRA=("kubernetes: {enabled: true, kubeconfig: \"$KUBE_SVCGW_KUBECONFIG\", batch_window_ms: 5${1:+, $1}}")
}

# kube_rig_synced: the gateway log (of this run of svcgw) says the first
# complete list was published.
kube_rig_synced() {
    local i
    for ((i = 0; i < RIG_CONVERGE_TIMEOUT * 10; i++)); do
        grep -q "kubernetes: Synced" "$RIG_GW_LOG" && return 0
        sleep 0.1
    done
    echo "no 'Synced' in the gateway log"
    return 1
}

# kube_rig_apply FILE: kubectl apply, quiet unless it fails.
kube_rig_apply() {
    local out
    out=$(kube_kubectl apply -f "$1" 2>&1) || {
        echo "kubectl apply -f $1: $out"
        return 1
    }
}

# kube_rig_slice SERVICE SLICE PORT POD...: an EndpointSlice of SERVICE
# with the rig's pods, ready.
kube_rig_slice() {
    local service=$1 slice=$2 port=$3 pod
    shift 3
    echo "apiVersion: discovery.k8s.io/v1"
    echo "kind: EndpointSlice"
    echo "metadata: {name: $slice, namespace: default, labels: {kubernetes.io/service-name: $service}}"
    echo "addressType: IPv4"
    echo "ports: [{name: http, port: $port, protocol: TCP}]"
    echo "endpoints:"
    for pod in "$@"; do
        echo "- {addresses: [\"$(rig_pod_ip "$pod")\"], conditions: {ready: true}}"
    done
}

# The walkthrough's Service: mynginx in default at the rig's ClusterIP
# ($RIG_VIP), port 80 -> 80, applied from $KUBE_RIG_MANIFESTS/service.yaml.
kube_rig_apply_service() {
    cat >"$KUBE_RIG_MANIFESTS/service.yaml" <<EOF
apiVersion: v1
kind: Service
metadata: {name: mynginx, namespace: default}
spec:
  clusterIP: $RIG_VIP
  selector: {app: mynginx}
  ports: [{name: http, port: 80, targetPort: 80, protocol: TCP}]
EOF
    kube_rig_apply "$KUBE_RIG_MANIFESTS/service.yaml"
}

# kube_rig_apply_slice POD...: mynginx's slice (mynginx-abc) with these pods,
# applied from $KUBE_RIG_MANIFESTS/slice.yaml.
kube_rig_apply_slice() {
    kube_rig_slice mynginx mynginx-abc 80 "$@" >"$KUBE_RIG_MANIFESTS/slice.yaml"
    kube_rig_apply "$KUBE_RIG_MANIFESTS/slice.yaml"
}

# kube_rig_wait WHAT CMD...: polls CMD (bounded) until it succeeds.
kube_rig_wait() {
    local what=$1 i
    shift
    for ((i = 0; i < RIG_CONVERGE_TIMEOUT * 5; i++)); do
        "$@" >/dev/null 2>&1 && return 0
        sleep 0.2
    done
    echo "after ${RIG_CONVERGE_TIMEOUT}s: $what"
    return 1
}
