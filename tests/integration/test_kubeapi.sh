#!/usr/bin/env bash
# The test Kubernetes API (tests/k8s: etcd + apiserver.py) against independent
# clients: Debian's kubectl 1.20 applies, gets, watches, replaces and deletes
# Services and EndpointSlices through it; tests/k8s/check_api.py checks the
# semantics svcgw relies on (resourceVersions, 409, status subresource,
# bookmarks, selectors, RBAC, 410 after compaction -> relist -> watch).
# Needs no gateway: it runs the same under SVCGW_GATEWAY=svcgw and kernel.
set -uo pipefail
source "$(dirname "$0")/lib.sh"
source "$RIG_DIR/../k8s/kube.sh"

RIG_NAME=kubeapi
kube_exit() {
    local rc=$?
    kube_down
    exit "$rc"
}
trap kube_exit EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
kube_up || rig_die "the test API did not start"
m=$KUBE_DIR/manifests
mkdir -p "$m"

k() { kube_kubectl "$@"; }
# expect_out DESC PATTERN CMD...: CMD succeeds and its output matches PATTERN.
expect_out() {
    local desc=$1 pattern=$2 out
    shift 2
    if out=$("$@" 2>&1) && grep -Eq -- "$pattern" <<<"$out"; then
        rig_ok "$desc"
    else
        rig_not_ok "$desc" "$(tr '\n' ' ' <<<"$out" | cut -c1-300)"
    fi
}
# expect_fail DESC PATTERN CMD...: CMD fails with an error matching PATTERN.
expect_fail() {
    local desc=$1 pattern=$2 out
    shift 2
    if ! out=$("$@" 2>&1) && grep -Eq -- "$pattern" <<<"$out"; then
        rig_ok "$desc"
    else
        rig_not_ok "$desc" "$(tr '\n' ' ' <<<"$out" | cut -c1-300)"
    fi
}

# slice NAME ADDRESS...: the manifest of an EndpointSlice of Service mynginx.
slice() {
    local name=$1 a
    shift
    printf 'apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata:\n  name: %s\n' "$name"
    printf '  labels:\n    kubernetes.io/service-name: mynginx\naddressType: IPv4\n'
    printf 'ports:\n- name: http\n  port: 80\n  protocol: TCP\nendpoints:\n'
    for a in "$@"; do
        printf -- '- addresses: ["%s"]\n  conditions: {ready: true}\n' "$a"
    done
}
# service NAME PORT [TYPE]
service() {
    printf 'apiVersion: v1\nkind: Service\nmetadata:\n  name: %s\nspec:\n  type: %s\n' "$1" "${3:-ClusterIP}"
    printf '  selector: {app: %s}\n  ports:\n  - name: http\n    port: %s\n    targetPort: 80\n' "$1" "$2"
}

expect_out "kubectl discovers the served kinds" \
    'endpointslices.*discovery.k8s.io.*EndpointSlice' k api-resources
expect_out "... Services, Leases, Nodes, Namespaces" \
    'leases.*coordination.k8s.io' k api-resources --api-group=coordination.k8s.io

# Watches run for the whole test, so their output holds every event.
k get endpointslices --watch --output-watch-events >"$KUBE_DIR/watch-slices.out" 2>&1 &
watch_slices=$!
k get services --watch >"$KUBE_DIR/watch-services.out" 2>&1 &
watch_services=$!
sleep 1

service mynginx 80 >"$m/svc.yaml"
slice mynginx-a 10.99.0.11 >"$m/slice.yaml"
expect_out "apply creates a Service" 'service/mynginx created' k apply -f "$m/svc.yaml"
expect_out "... with a ClusterIP from the dynamic band (the lowest free)" '^10\.96\.1\.0$' \
    k get svc mynginx -o 'jsonpath={.spec.clusterIP}'
expect_out "apply creates an EndpointSlice" 'endpointslice.discovery.k8s.io/mynginx-a created' k apply -f "$m/slice.yaml"
expect_out "apply of the same manifest: unchanged" 'unchanged' k apply -f "$m/slice.yaml"

slice mynginx-a 10.99.0.12 >"$m/slice.yaml"
expect_out "apply replaces the pod (merge patch)" 'configured' k apply -f "$m/slice.yaml"
slice mynginx-a 10.99.0.12 10.99.0.13 >"$m/slice.yaml"
expect_out "apply scales to 2" 'configured' k apply -f "$m/slice.yaml"
expect_out "get shows both endpoints" '^10\.99\.0\.12 10\.99\.0\.13$' \
    k get endpointslice mynginx-a -o 'jsonpath={.endpoints[*].addresses[0]}'
expect_out "get's table shows them" 'mynginx-a +IPv4 +80 +10\.99\.0\.12,10\.99\.0\.13' k get endpointslices

service mynginx 8080 >"$m/svc.yaml"
expect_out "apply changes the Service's port (strategic merge patch)" 'service/mynginx configured' k apply -f "$m/svc.yaml"
expect_out "... the port changed, the ClusterIP did not" '^8080 10\.96\.1\.0$' \
    k get svc mynginx -o 'jsonpath={.spec.ports[0].port} {.spec.clusterIP}'

service lb 80 LoadBalancer >"$m/lb.yaml"
expect_out "apply creates a LoadBalancer Service" 'service/lb created' k apply -f "$m/lb.yaml"
expect_out "... with a nodePort, the EXTERNAL-IP pending" 'lb +LoadBalancer +10\.96\.1\.1 +<pending> +80:30000/TCP' k get svc lb
# As svcgw will: its own token, a merge patch of /status.
status_patch() {
    KUBE_TOKEN=$KUBE_SVCGW_TOKEN kube_curl /api/v1/namespaces/default/services/lb/status -f -o /dev/null \
        -X PATCH -H 'Content-Type: application/merge-patch+json' \
        -d '{"status":{"loadBalancer":{"ingress":[{"ip":"192.0.2.10"}]}}}'
}
rig_check "svcgw's token patches the Service's status" status_patch
expect_out "kubectl get svc shows the written-back EXTERNAL-IP" 'lb +LoadBalancer +10\.96\.1\.1 +192\.0\.2\.10 ' k get svc lb

k get svc mynginx -o yaml >"$m/stale.yaml"
k annotate svc mynginx touched=yes >/dev/null
expect_fail "kubectl replace with a stale resourceVersion: conflict" 'the object has been modified' \
    k replace -f "$m/stale.yaml"
expect_fail "svcgw's kubeconfig may not delete a Service" 'Forbidden|forbidden' \
    kube_in "$KUBECTL" --kubeconfig "$KUBE_SVCGW_KUBECONFIG" --cache-dir "$KUBE_DIR/kube-cache-svcgw" delete svc lb
expect_out "... but may list them" 'mynginx' \
    kube_in "$KUBECTL" --kubeconfig "$KUBE_SVCGW_KUBECONFIG" --cache-dir "$KUBE_DIR/kube-cache-svcgw" get svc
as_svcgw_cert() { kube_in "$KUBECTL" --kubeconfig "$KUBE_SVCGW_CERT_KUBECONFIG" --cache-dir "$KUBE_DIR/kube-cache-cert" "$@"; }
expect_out "svcgw by client certificate may list Services" 'mynginx' as_svcgw_cert get svc
expect_fail "... and is still user svcgw: may not delete one" 'Forbidden|forbidden' as_svcgw_cert delete svc lb
expect_fail "a client certificate from an untrusted CA is refused" 'certificate|Unauthorized|tls|TLS' \
    kube_in "$KUBECTL" --kubeconfig "$KUBE_ROGUE_CERT_KUBECONFIG" --cache-dir "$KUBE_DIR/kube-cache-rogue" get svc

expect_out "delete the EndpointSlice" 'deleted' k delete -f "$m/slice.yaml"
expect_out "delete the Services" 'service "lb" deleted' k delete -f "$m/svc.yaml" -f "$m/lb.yaml"
expect_fail "get after delete: NotFound" 'NotFound|not found' k get svc mynginx

# The last events reach the watches: the slice's deletion, the LB's address.
rig_wait_line "$KUBE_DIR/watch-slices.out" '^DELETED  *mynginx-a' "$watch_slices"
rig_wait_line "$KUBE_DIR/watch-services.out" '^lb .*192\.0\.2\.10' "$watch_services"
kill "$watch_slices" "$watch_services" 2>/dev/null
wait "$watch_slices" "$watch_services" 2>/dev/null
in_order() { # FILE PATTERN...: the patterns match lines of FILE in this order
    local file=$1 line=0 n
    shift
    for p in "$@"; do
        n=$(tail -n "+$((line + 1))" "$file" | grep -nE -m1 -- "$p" | cut -d: -f1)
        [ -n "$n" ] || { echo "no '$p' after line $line of: $(cat "$file")"; return 1; }
        line=$((line + n))
    done
}
rig_check "get --watch saw the slice added, its pod replaced, scaled, deleted" in_order "$KUBE_DIR/watch-slices.out" \
    '^ADDED +mynginx-a .*10\.99\.0\.11' '^MODIFIED +mynginx-a .*10\.99\.0\.12 ' \
    '^MODIFIED +mynginx-a .*10\.99\.0\.12,10\.99\.0\.13' '^DELETED +mynginx-a'
rig_check "get --watch saw the Service's port change and the LoadBalancer IP" in_order "$KUBE_DIR/watch-services.out" \
    '^mynginx +ClusterIP +10\.96\.1\.0 .* 80/TCP' '^mynginx +ClusterIP +10\.96\.1\.0 .* 8080/TCP' \
    '^lb .*<pending>' '^lb .*192\.0\.2\.10'

check_api() {
    "$KUBE_PYTHON" "$RIG_DIR/../k8s/check_api.py" "$KUBE_SERVER" "$KUBE_CA" "$KUBE_ADMIN_TOKEN" \
        "$KUBE_SVCGW_TOKEN" "$KUBE_ETCD" >"$KUBE_DIR/check_api.out" 2>&1
}
rig_check "the API semantics svcgw relies on (tests/k8s/check_api.py)" check_api
if [ "$RIG_FAIL" -ne 0 ]; then
    grep -v '^PASS' "$KUBE_DIR/check_api.out"
    echo "----- apiserver log (last 30 lines) -----"
    tail -n 30 "$KUBE_DIR/apiserver.log"
fi
echo "$RIG_NAME: $RIG_PASS checks passed, $RIG_FAIL failed"
[ "$RIG_FAIL" -eq 0 ]
