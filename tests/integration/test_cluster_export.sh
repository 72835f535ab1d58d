#!/usr/bin/env bash
# A whole-cluster export imported as a new user would (issue 10 §4):
# cluster-export.yaml has the shape of `kubectl get svc,endpointslices -A
# -o yaml` (kubernetes, kube-dns, a StatefulSet's headless Service, a
# selector-less Service with a hand-written slice, a named targetPort, an
# ExternalName, fields svcgw does not honour, and objects it cannot take).
# (1) `svcgw --check` on a file holding it exits 1 and names each object
# left out; (2) the daemon starts on that file, logs the same and serves the
# rest: curl and dig against each Service; (3) `svcgwctl apply -f` of the
# same export prints each object taken, a warning per unhonoured field and
# an error per object left out, exits 1 and changes nothing.
set -uo pipefail
source "$(dirname "$0")/lib.sh"

rig_daemon_only "the daemon's loader, DNS and API (the kernel gateway has none of them)"
RIG_NAME=cluster-export
# The fixture's pod addresses are this network's (10.99.65.11-13).
rig_init 65 fullnat
export_file="$RIG_DIR/cluster-export.yaml"
dns=$RIG_DNS_IP

# Two tries of 2 s, as a resolver retries (the machine may be loaded).
q() { rig_client dig @"$dns" +time=2 +tries=2 +norec "$@" 2>&1; }
# The answer-section data of a +short dig (one per line, sorted).
short() { q +short "$@" | sort; }
expect_short() { # WANT NAME TYPE: dig +short must print exactly WANT (sorted, space separated)
    local want=$1 got
    got=$(short "$2" "$3" | tr '\n' ' ' | sed 's/ $//')
    [ "$got" = "$want" ] || { echo "dig $2 $3: '$got', want '$want'"; return 1; }
}
status_of() { sed -n 's/.*status: \([A-Z]*\),.*/\1/p' | head -n 1; }
expect_nxdomain() { # NAME
    local got
    got=$(q "$1" A | status_of)
    [ "$got" = NXDOMAIN ] || { echo "dig $1: status '$got', want NXDOMAIN"; return 1; }
}
# grep_in FILE ERE: FILE has a line matching ERE (else FILE is shown).
grep_in() {
    grep -Eq -- "$2" "$1" || { echo "no line matching '$2' in $1:"; cat "$1"; return 1; }
}

rig_add_pod a  # 10.99.65.11: the API server's stand-in, web, cart
rig_add_pod b  # .12: web-0, web, dual
rig_add_pod c  # .13: web-1, db
a=$(rig_pod_ip a)
b=$(rig_pod_ip b)
c=$(rig_pod_ip c)
[ "$a $b $c" = "10.99.65.11 10.99.65.12 10.99.65.13" ] ||
    rig_die "the fixture's pod addresses are 10.99.65.11-13, the rig's are $a $b $c"

# The objects left out and the error each must name (as kubectl prints them).
left_out=(
    "Service/default/elsewhere.spec.clusterIP: .*outside service_cidr"
    "Service/default/signalling.spec.ports\[0\].protocol: .*SCTP"
    "Service/default/v6only.spec.clusterIP: .*IPv6 single-stack"
    "Service/default/sticky.spec.sessionAffinityConfig: must not be set when sessionAffinity is None"
    "EndpointSlice/default/web-metadata.endpoints\[0\].addresses\[0\]: .*link-local"
)

# (1) --check on the rig's file with the export appended.
RIG_CONFIG_EXTRA=("---" "$(cat "$export_file")")
rig_write_config "$RIG_CONFIG"
"$RIG_SVCGW_BIN" -c "$RIG_CONFIG" --check >"$RIG_TMP/check.out" 2>&1
rc=$?
rig_check "--check exits 1: objects would be left out (exit $rc)" test "$rc" -eq 1
rig_check "--check: 5 Kubernetes objects would be left out, the rest loads" \
    grep_in "$RIG_TMP/check.out" ": 5 Kubernetes objects would be left out, the rest loads"
for line in "${left_out[@]}"; do
    rig_check "--check names ${line%%[.:]*}" grep_in "$RIG_TMP/check.out" "left out: .*$line"
done

# (2) the daemon starts on the same file: the rest is served.
rig_ctl_start
for line in "${left_out[@]}"; do
    rig_check "start-up log: left out ${line%%[.:]*}" grep_in "$RIG_GW_LOG" "left out: .*$line"
done
rig_check "kubernetes:443 (numeric targetPort 6443) goes to its slice's port 80 on pod a" \
    rig_wait_pod "http://10.96.0.1:443/" a
rig_check "db:5432 (selector-less, hand-written slice) goes to port 80 on pod c" \
    rig_wait_pod "http://10.96.0.30:5432/" c
rig_check "web:80 (targetPort http) is served" rig_wait_pod "http://10.96.0.21/" a
# 20 requests to web: each answered, by one of the two pods of its good
# slice (an endpoint of the left-out slice would fail some of them).
for ((i = 0; i < 20; i++)); do
    rig_curl "http://10.96.0.21/" | rig_page_pod
done >"$RIG_TMP/web.pods"
web_answers=$(grep -c . "$RIG_TMP/web.pods")
web_pods=$(grep . "$RIG_TMP/web.pods" | sort -u | tr '\n' ' ')
rig_check "web: 20 of 20 requests answered ($web_answers), by both pods of its slice ($web_pods)" \
    test "$web_answers" -eq 20 -a "$web_pods" = "a b "
rig_check "cart (LoadBalancer, internalTrafficPolicy Local): its ClusterIP is served" \
    rig_wait_pod "http://10.96.0.40/" a
rig_check "dual (IPv6-primary dual stack): served on its IPv4 ClusterIP 10.96.0.41" \
    rig_wait_pod "http://10.96.0.41/" b
rig_check "dig kubernetes.default.svc.cluster.local -> 10.96.0.1" \
    expect_short 10.96.0.1 kubernetes.default.svc.cluster.local A
rig_check "dig kube-dns.kube-system.svc.cluster.local -> 10.96.0.10 (svcgw's own responder)" \
    expect_short 10.96.0.10 kube-dns.kube-system.svc.cluster.local A
rig_check "dig web.default.svc.cluster.local -> 10.96.0.21" \
    expect_short 10.96.0.21 web.default.svc.cluster.local A
rig_check "dig SRV _http._tcp.web.default.svc.cluster.local -> port 80 on web" \
    expect_short "10 100 80 web.default.svc.cluster.local." _http._tcp.web.default.svc.cluster.local SRV
rig_check "dig web-0.nginx.default.svc.cluster.local (slice hostname) -> pod b" \
    expect_short "$b" web-0.nginx.default.svc.cluster.local A
rig_check "dig nginx.default.svc.cluster.local (headless) -> both pods" \
    expect_short "$b $c" nginx.default.svc.cluster.local A
web1=$(short web-1.nginx.default.svc.cluster.local A)
rig_check "curl web-1.nginx's address (dig) reaches pod c" \
    rig_wait_pod "http://${web1:-none}/" c
rig_check "dig search.default.svc.cluster.local (ExternalName) -> CNAME www.example.com." \
    expect_short www.example.com. search.default.svc.cluster.local CNAME
rig_check "dig dual.shop.svc.cluster.local -> its IPv4 ClusterIP" \
    expect_short 10.96.0.41 dual.shop.svc.cluster.local A
for name in elsewhere sticky signalling v6only; do
    rig_check "dig $name.default.svc.cluster.local: NXDOMAIN (left out)" \
        expect_nxdomain "$name.default.svc.cluster.local"
done
rig_ctl describe service cart -n shop >"$RIG_TMP/cart.txt" 2>&1
for field in internalTrafficPolicy trafficDistribution allocateLoadBalancerNodePorts hints; do
    rig_check "describe service cart: a warning for $field" \
        grep_in "$RIG_TMP/cart.txt" "^  (Service|EndpointSlice)/shop/cart.*$field"
done
rig_check "get service cart: a LoadBalancer on its status address (EXTERNAL-IP 192.0.2.40)" \
    grep -Eq '^cart +LoadBalancer +10\.96\.0\.40 +192\.0\.2\.40 ' <<<"$(rig_ctl get service cart -n shop)"
rig_ctl describe service dual -n shop >"$RIG_TMP/dual.txt" 2>&1
rig_check "describe service dual: a warning for its IPv6 family" \
    grep_in "$RIG_TMP/dual.txt" "^  Service/shop/dual.spec.clusterIP: the IPv6 family"

# (3) the same export through the API: taken objects unchanged, the same
# objects left out, exit 1 (as kubectl apply with failed objects), nothing changed.
version=$(rig_config_version)
rig_ctl apply -f "$export_file" >"$RIG_TMP/apply.out" 2>"$RIG_TMP/apply.err"
rc=$?
rig_check "svcgwctl apply -f of the export exits 1 (objects left out; exit $rc)" test "$rc" -eq 1
for line in "${left_out[@]}"; do
    rig_check "apply: an error for ${line%%[.:]*}" grep_in "$RIG_TMP/apply.err" \
        "^Error from server \(Invalid\): $line"
done
rig_check "apply: service/web unchanged" grep_in "$RIG_TMP/apply.out" "^service/web unchanged"
rig_check "apply: a warning for cart's internalTrafficPolicy" \
    grep_in "$RIG_TMP/apply.err" "^Warning: Service/shop/cart.spec.internalTrafficPolicy"
rig_check "apply of the same export changes nothing (config_version $version)" \
    test "$(rig_config_version)" = "$version"
rig_check "web still answers after the apply" rig_wait_pod "http://10.96.0.21/" a

rig_finish
