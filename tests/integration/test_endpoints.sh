#!/usr/bin/env bash
# Endpoint verbs on a Service whose targetPort is a *name* (issue 10 §1).
#
# The Service (port 8080, targetPort "web") and its EndpointSlice (port
# "http" = 80 on pods a and b) are applied as Kubernetes manifests. A
# keep-alive HTTP/1.1 connection is opened to the VIP; then the *other* pod
# is taken out, first with `svcgwctl endpoints drain`, then with
# `svcgwctl set endpoints IP:PORT` naming the kept pod only. After each:
#  - the keep-alive connection keeps working (one socket, no reconnect);
#  - new connections all succeed, on the kept pod (the drained one gets none);
#  - `get endpoints` still shows the kept pod with its port.
# Each time the other pod is brought back (`set endpoints` with both, and
# `endpoints add IP:PORT`) and new connections reach it again. A new endpoint
# without a port is refused with a hint, and changes nothing.
# Before the fix, the drain dropped every endpoint's named port and every
# new connection failed (no_endpoint).
set -uo pipefail
source "$(dirname "$0")/lib.sh"

RIG_NAME=endpoints
rig_daemon_only "the changes go through the daemon's API"

net=51
vip=$RIG_VIP
svc_port=8080
url="http://$vip:$svc_port/"
new_conns=20 # per check: new connections, one after the other

rig_init "$net" fullnat
rig_add_pod a
rig_add_pod b
rig_ctl_start

manifest=$RIG_TMP/web.yaml
cat >"$manifest" <<EOF
apiVersion: v1
kind: List
items:
- apiVersion: v1
  kind: Service
  metadata: {name: web, namespace: default}
  spec:
    type: ClusterIP
    clusterIP: $vip
    ports: [{name: http, port: $svc_port, targetPort: web, protocol: TCP}]
- apiVersion: discovery.k8s.io/v1
  kind: EndpointSlice
  metadata: {name: web-7x2k9, namespace: default, labels: {kubernetes.io/service-name: web}}
  addressType: IPv4
  ports: [{name: http, port: 80, protocol: TCP}]
  endpoints:
  - addresses: [$(rig_pod_ip a)]
    conditions: {ready: true}
  - addresses: [$(rig_pod_ip b)]
    conditions: {ready: true}
EOF
rig_require "apply the named-port Service and its slice" rig_ctl apply -f "$manifest"
rig_require "curl $url answers" rig_curl -o /dev/null "$url"

# ---- one keep-alive connection, on whichever pod Maglev picks ----
ka_out=$RIG_TMP/keepalive.out
ka_stop=$RIG_TMP/keepalive.stop
rig_bg rig_client "$RIG_PYTHON" "$RIG_DIR/keepalive_client.py" "$vip" "$svc_port" "$ka_stop" \
    0.2 200 >"$ka_out" 2>&1
ka_pid=${RIG_BG_PIDS[-1]}
for ((i = 0; i < 50; i++)); do
    [ -s "$ka_out" ] && break
    sleep 0.1
done
kept=$(awk 'NR == 1 {sub("mynginx-", "", $4); print $4}' "$ka_out")
case $kept in
    a) other=b ;;
    b) other=a ;;
    *) rig_die "the keep-alive connection did not start: $(cat "$ka_out")" ;;
esac
rig_log "keep-alive connection on pod $kept; taking pod $other out"

# ka_alive: the connection made requests since the last call, all answered.
ka_seen=0
ka_alive() {
    local lines
    sleep 1
    lines=$(wc -l <"$ka_out")
    if grep -q BROKEN "$ka_out" || ! kill -0 "$ka_pid" 2>/dev/null; then
        tail -n 3 "$ka_out"
        return 1
    fi
    [ "$lines" -gt "$ka_seen" ] || {
        echo "no request since the last check ($lines lines)"
        return 1
    }
    ka_seen=$lines
}

# new_conns_on POD...: every one of $new_conns new connections succeeds,
# each served by one of the given pods.
new_conns_on() {
    local i pod ok=0
    for ((i = 0; i < new_conns; i++)); do
        pod=$(rig_curl "$url" | rig_page_pod) || true
        if [[ " $* " == *" $pod "* ]]; then
            ok=$((ok + 1))
        else
            echo "connection $i: served by '${pod:-nothing}', expected one of: $*"
        fi
    done
    [ "$ok" -eq "$new_conns" ]
}

# reaches POD: some new connection lands on POD (bounded).
reaches() {
    local i
    for ((i = 0; i < 60; i++)); do
        [ "$(rig_curl "$url" | rig_page_pod)" = "$1" ] && return 0
    done
    echo "60 new connections, none on pod $1"
    return 1
}

endpoints_show() {
    local out
    out=$(rig_ctl get endpoints web)
    echo "$out"
    grep -q "$1" <<<"$out"
}

rig_check "the keep-alive connection works before any change" ka_alive

# ---- 1. drain the other pod ----
rig_check "svcgwctl endpoints drain web $(rig_pod_ip "$other")" \
    rig_ctl endpoints drain web "$(rig_pod_ip "$other")"
rig_check "after the drain: the keep-alive connection to $kept still works" ka_alive
rig_check "after the drain: $new_conns new connections succeed, all on $kept" new_conns_on "$kept"
rig_check "after the drain: get endpoints shows $(rig_pod_ip "$kept"):80" \
    endpoints_show "$(rig_pod_ip "$kept"):80"

# ---- back: set endpoints with both, IP:PORT ----
both="$(rig_pod_ip a):80,$(rig_pod_ip b):80"
rig_check "svcgwctl set endpoints web $both" rig_ctl set endpoints web "$both"
rig_check "both pods back: a new connection reaches $other" reaches "$other"
rig_check "the keep-alive connection still works" ka_alive

# ---- 2. the other pod out through set endpoints IP:PORT ----
rig_check "svcgwctl set endpoints web $(rig_pod_ip "$kept"):80" \
    rig_ctl set endpoints web "$(rig_pod_ip "$kept"):80"
rig_check "after set endpoints: the keep-alive connection to $kept still works" ka_alive
rig_check "after set endpoints: $new_conns new connections succeed, all on $kept" \
    new_conns_on "$kept"

# ---- a new endpoint needs its port; add IP:PORT brings it back ----
refused() {
    local out version_before version_after
    version_before=$(rig_stats '.config_version')
    if out=$(rig_ctl endpoints add web "$(rig_pod_ip "$other")" 2>&1); then
        echo "accepted: $out"
        return 1
    fi
    version_after=$(rig_stats '.config_version')
    echo "$out"
    grep -q "give its ports" <<<"$out" && [ "$version_before" = "$version_after" ]
}
rig_check "svcgwctl endpoints add web IP (no port, named targetPort) is refused, changes nothing" \
    refused
rig_check "svcgwctl endpoints add web $(rig_pod_ip "$other"):80" \
    rig_ctl endpoints add web "$(rig_pod_ip "$other"):80"
rig_check "after add: a new connection reaches $other" reaches "$other"
rig_check "after add: $new_conns new connections succeed" new_conns_on a b
rig_check "the keep-alive connection still works at the end" ka_alive

touch "$ka_stop"
for ((i = 0; i < 50; i++)); do
    kill -0 "$ka_pid" 2>/dev/null || break
    sleep 0.1
done
rig_check "the keep-alive client ends OK on its first connection" \
    grep -q '^OK .* requests on one connection' "$ka_out"

rig_finish
