#!/usr/bin/env bash
# Replays the Kubernetes Service walkthrough through svcgw, for a person:
# expose a pod at a ClusterIP, curl it, resolve its name, replace the pod,
# scale to two, delete the service. Builds the integration rig's topology
# (tests/integration/lib.sh) and removes it on exit or Ctrl-C.
# Usage: tools/demo.sh BUILD_DIR   (SVCGW_GATEWAY=kernel: the iptables reference)
#        SVCGW_MODE=nat            keep client addresses (default fullnat)
set -uo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
build=${1:?usage: $0 BUILD_DIR}
export SVCGW_BIN=${SVCGW_BIN:-$(realpath -m "$build")/app/svcgw}
export SVCGWCTL_BIN=${SVCGWCTL_BIN:-$(realpath -m "$build")/tools/svcgwctl}
mode=${SVCGW_MODE:-fullnat}

"$root/tools/hugepages.sh"

source "$root/tests/integration/lib.sh"
RIG_NAME=demo

if [ -t 1 ]; then
    c_cmd=$'\e[1;36m' c_step=$'\e[1;33m' c_note=$'\e[2m' c_off=$'\e[0m'
else
    c_cmd="" c_step="" c_note="" c_off=""
fi
step_no=0
step() {
    step_no=$((step_no + 1))
    printf '\n%s%d. %s%s\n' "$c_step" "$step_no" "$1" "$c_off"
}
note() { printf '%s# %s%s\n' "$c_note" "$*" "$c_off"; }
# show CMD...: prints the command as typed in the client pod, then runs it there.
show() {
    printf '%sclient$ %s%s\n' "$c_cmd" "$*" "$c_off"
    rig_client bash -c "$*" 2>&1
}
# ctl ARGS...: prints the svcgwctl command as an operator types it, then
# runs it against the gateway's API socket.
ctl() {
    printf '%s$ svcgwctl %s%s\n' "$c_cmd" "$*" "$c_off"
    rig_ctl "$@" 2>&1 | sed 's/^/  /'
}
# change KERNEL_SERVICES CTL_ARGS...: on svcgw the change goes through
# svcgwctl (the live API); the kernel reference gateway has no API, so its
# rules are rewritten instead.
change() {
    local services=$1
    shift
    if [ "$RIG_GATEWAY" = kernel ]; then
        if [ -n "$services" ]; then rig_apply "$services"; else rig_apply; fi
        note "kernel gateway: iptables-restore in the gateway namespace"
    else
        ctl "$@"
    fi
}
who() { rig_curl "http://$RIG_VIP/" 2>/dev/null | rig_page_pod; }

rig_init 20 "$mode"
vip=$RIG_VIP
printf '%ssvcgw walkthrough%s: gateway %s, %s, client %s, pods on 10.99.%s.0/24\n' \
    "$c_step" "$c_off" "$RIG_GATEWAY" "$mode" "$(rig_client_ip)" "$RIG_NET"

step "kubectl create deployment mynginx --image=nginx"
rig_add_pod a
note "pod $(rig_pod_name a) running nginx at $(rig_pod_ip a)"

if [ "$RIG_GATEWAY" != kernel ]; then
    rig_ctl_start
    note "svcgw started in the gateway namespace (pid $RIG_GW_PID), API on unix:$RIG_TMP/api.sock"
fi

step "kubectl expose deployment mynginx --port=80 --target-port=80 (ClusterIP $vip)"
change "mynginx $vip 80 80 TCP $(rig_pod_ip a)" \
    expose mynginx --port=80 --target-port=80 --cluster-ip="$vip" --endpoints="$(rig_pod_ip a)"
[ "$RIG_GATEWAY" = kernel ] || ctl get service
rig_wait_pod "http://$vip/" a >/dev/null || note "the ClusterIP does not answer yet"
show "curl -sS --max-time 3 http://$vip/ | head -n 4"
note "answered by pod $(rig_pod_name "$(who)")"

step "dig mynginx.default.svc.cluster.local (cluster DNS on $RIG_DNS_IP)"
if [ "$RIG_GATEWAY" = kernel ]; then
    note "skipped: the kernel reference gateway serves no DNS"
else
    note "the client's /etc/resolv.conf, as a pod's:"
    sed 's/^/  /' "/etc/netns/$(rig_ns cl)/resolv.conf"
    show "dig +short mynginx.default.svc.cluster.local"
    show "dig +noall +answer mynginx.default.svc.cluster.local"
    note "answered by the gateway's worker, in place: the ClusterIP with TTL 30"
    show "dig +short -x $vip"
    show "curl -sS --max-time 3 http://mynginx/ | grep pod:"
    note "the short name goes through the search path (ndots:5) to the same VIP"
fi

step "kubectl delete pod $(rig_pod_name a)  (the deployment starts a new pod)"
rig_del_pod a
rig_add_pod b
note "new pod $(rig_pod_name b) at $(rig_pod_ip b); endpoints updated"
change "mynginx $vip 80 80 TCP $(rig_pod_ip b)" set endpoints mynginx "$(rig_pod_ip b)"
[ "$RIG_GATEWAY" = kernel ] || ctl get endpoints
rig_wait_pod "http://$vip/" b >/dev/null || note "the new pod does not answer yet"
show "curl -sS --max-time 3 http://$vip/ | grep pod:"
note "same ClusterIP, new pod"

step "kubectl scale deployment mynginx --replicas=2"
rig_add_pod c
change "mynginx $vip 80 80 TCP $(rig_pod_ip b),$(rig_pod_ip c)" \
    endpoints add mynginx "$(rig_pod_ip c)"
[ "$RIG_GATEWAY" = kernel ] || ctl get endpoints
rig_wait_pod "http://$vip/" c >/dev/null || note "the second pod does not answer yet"
show "for i in \$(seq 20); do curl -s --max-time 3 http://$vip/ | grep -o 'pod: [^ ]*'; done | sort | uniq -c"
if [ "$RIG_GATEWAY" = kernel ]; then
    note "each new connection goes to a random pod (iptables statistic)"
else
    note "each new connection is hashed (Maglev) to one of the two pods"
    ctl describe service mynginx
fi

step "kubectl delete service mynginx"
change "" delete service mynginx
[ "$RIG_GATEWAY" = kernel ] || ctl get service
sleep 0.5
show "time curl -sS --max-time 8 http://$vip/"
note "refused at once, not a timeout"
if [ "$RIG_GATEWAY" != kernel ]; then
    show "dig mynginx.default.svc.cluster.local | grep -E 'status|SOA'"
    note "the name went with the VIP: NXDOMAIN, with the zone's SOA for negative caching"
    ctl stats
fi

printf '\n%ssummary%s\n' "$c_step" "$c_off"
note "one ClusterIP ($vip) followed the pod through a replacement and a scale-out;"
note "new connections were spread over the pods; its name resolved through the cluster DNS;"
note "deleting the service refused traffic and removed the name."
rig_gateway_stop
note "gateway log: $RIG_GW_LOG (removed on exit; RIG_KEEP_TMP=1 keeps it)"
[ "$RIG_FAIL" -eq 0 ]
