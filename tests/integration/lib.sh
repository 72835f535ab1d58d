# shellcheck shell=bash
# Integration rig (DESIGN §5), sourced by tests/integration/test_*.sh and
# tools/demo.sh. It builds one isolated topology per run:
#
#   client ns (eth0 .100) ─┐
#   pod ns k (eth0 .1x)   ─┼─ bridge ns (br0) ─── gateway ns (veth-gw)
#                          ┘                       svcgw over a DPDK vdev, or
#                                                  the kernel (SVCGW_GATEWAY=kernel)
#
# Every name starts with "${RIG_FAMILY}<pid>" so parallel runs never collide and
# leftovers of crashed runs (their pid is gone) are recognised and removed.
# Interfaces are created directly inside their namespaces, so their short
# fixed names (eth0, veth-gw, p-*) never touch the root namespace. All traffic
# stays inside these namespaces. Every wait is bounded in count and time.
#
# Usage in a test:
#   source "$(dirname "$0")/lib.sh"
#   rig_init NET_INDEX MODE            # MODE: fullnat | nat
#   rig_add_pod a                      # pod "mynginx-a" at 10.99.N.11
#   rig_apply "mynginx 10.96.0.20 80 80 TCP $(rig_pod_ip a)"
#   rig_check "desc" command args...
#   rig_finish                         # stops the gateway, prints, exits

RIG_FAMILY=${RIG_FAMILY:-sgit}
RIG_ID="${RIG_FAMILY}$$"
RIG_GATEWAY=${SVCGW_GATEWAY:-svcgw}            # svcgw | kernel
RIG_SVCGW_BIN=${SVCGW_BIN:-}                   # set by run.sh / demo.sh
RIG_SVCGWCTL_BIN=${SVCGWCTL_BIN:-}             # set by run.sh / demo.sh
RIG_PYTHON=/usr/bin/python3                    # not a pyenv shim: runs under ip netns exec
RIG_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

# DESIGN §3 defaults the rig relies on.
RIG_SERVICE_CIDR=10.96.0.0/16
RIG_DNS_IP=10.96.0.10
RIG_VIP=10.96.0.20

# Bounds for every wait (seconds).
RIG_READY_TIMEOUT=${RIG_READY_TIMEOUT:-40}     # EAL init with hugepages takes a few s
RIG_CONVERGE_TIMEOUT=${RIG_CONVERGE_TIMEOUT:-10}
RIG_STOP_TIMEOUT=5                             # the contract: SIGTERM stops cleanly
RIG_CURL_TIMEOUT=3

RIG_PASS=0
RIG_FAIL=0
RIG_NAME=$(basename "$0" .sh)
RIG_TMP=""
RIG_NET=""
RIG_MODE=""
RIG_GW_PID=""
RIG_GW_LOG=""
RIG_CONFIG=""
RIG_DPDK_DEVICE=""
RIG_DPDK_LCORES=${SVCGW_LCORES:-0-1}
RIG_DPDK_EXTRA=()
RIG_PORT_GATEWAY=""  # the port's `gateway:` (next hop off the subnet), if any
RIG_PORT_KERNEL=""   # the port's `kernel_interface:` (the exception path's TAP), if any
RIG_PORT_KERNEL_DRIVER=""  # its `kernel_driver:` (auto when empty)
# The API's `listen:` (default: unix:$RIG_TMP/api.sock) and `token_file:`.
# rig_api follows them; rig_ctl (svcgwctl) needs the unix socket.
RIG_API_LISTEN=""
RIG_API_TOKEN_FILE=""
# Top-level YAML lines appended to every config the rig writes, e.g.
# RIG_CONFIG_EXTRA=("conntrack: {max_flows: 4096}").
RIG_CONFIG_EXTRA=()
# Keys appended to the `network:` section, e.g. "lb_pools: [192.0.2.0/28]".
RIG_NETWORK_EXTRA=""
RIG_HUGEPAGES=${SVCGW_HUGEPAGES:-auto}
RIG_MEMORY_MB=${SVCGW_MEMORY_MB:-256}
# Workers sleep when idle: the rig shares 2 cores between several daemons,
# pods and clients (SVCGW_IDLE=poll measures the busy-polling default).
RIG_IDLE=${SVCGW_IDLE:-adaptive}
RIG_SERVICES=()
RIG_PODS=()
RIG_BG_PIDS=()
declare -A RIG_POD_INDEX=()

if [ -t 1 ]; then
    RIG_C_OK=$'\e[32m' RIG_C_BAD=$'\e[31m' RIG_C_DIM=$'\e[2m' RIG_C_OFF=$'\e[0m'
else
    RIG_C_OK="" RIG_C_BAD="" RIG_C_DIM="" RIG_C_OFF=""
fi

# Every program the rig and the tests run (run.sh checks them before the
# first test, rig_init again): a fresh box must fail here, with the list,
# not halfway through a test. tools/install-deps.sh installs them.
# (Debian's kubectl, which tests/k8s may find outside PATH, is kube.sh's to find.)
RIG_TOOLS=(ip ethtool sysctl ss ping nginx curl dig iptables iptables-restore jq hping3
    tcpdump timeout sha256sum etcd openssl "$RIG_PYTHON")
# rig_missing_tools: prints the missing ones and fails, if any.
rig_missing_tools() {
    local tool missing=()
    for tool in "${RIG_TOOLS[@]}"; do
        command -v "$tool" >/dev/null || missing+=("$tool")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    echo "${missing[*]}"
    return 1
}

# Exit status of a test that does not apply: automake's skip code, which
# run.sh accepts only from a daemon-only test under the kernel gateway.
RIG_SKIP=77
# rig_daemon_only WHY: the test exercises the daemon itself (its API,
# lcores, devices, restarts) and cannot run against the kernel gateway.
rig_daemon_only() {
    if [ "$RIG_GATEWAY" != svcgw ]; then
        echo "$RIG_NAME: skipped under SVCGW_GATEWAY=$RIG_GATEWAY: $*"
        exit "$RIG_SKIP"
    fi
}

rig_log() { echo "${RIG_C_DIM}[$RIG_NAME] $*${RIG_C_OFF}" >&2; }
rig_die() {
    echo "${RIG_C_BAD}[$RIG_NAME] FATAL: $*${RIG_C_OFF}" >&2
    RIG_FAIL=$((RIG_FAIL + 1))
    exit 1
}

# ---------------------------------------------------------------- checks

rig_ok() {
    RIG_PASS=$((RIG_PASS + 1))
    echo "${RIG_C_OK}PASS${RIG_C_OFF} $RIG_NAME: $1"
}
rig_not_ok() {
    RIG_FAIL=$((RIG_FAIL + 1))
    echo "${RIG_C_BAD}FAIL${RIG_C_OFF} $RIG_NAME: $1${2:+ -- $2}"
}
# rig_check DESC CMD...: passes when CMD exits 0.
rig_check() {
    local _rig_desc=$1 _rig_out
    shift
    # Names are prefixed: the command may read the caller's variables.
    if _rig_out=$("$@" 2>&1); then
        rig_ok "$_rig_desc"
    else
        rig_not_ok "$_rig_desc" "$(echo "$_rig_out" | tail -n 5 | tr '\n' ' ')"
    fi
}
# rig_require DESC CMD...: like rig_check, but the test cannot go on without it.
rig_require() {
    local before=$RIG_FAIL
    rig_check "$@"
    if [ "$RIG_FAIL" -ne "$before" ]; then
        rig_die "cannot continue after: $1"
    fi
}

# ---------------------------------------------------------------- names

rig_ns() { echo "${RIG_ID}-$1"; }
rig_ip() { echo "10.99.${RIG_NET}.$1"; }
rig_gw_ip() { rig_ip 1; }
rig_client_ip() { rig_ip 100; }
rig_pod_ip() { rig_ip $((10 + RIG_POD_INDEX[$1])); }
rig_pod_name() { echo "mynginx-$1"; }
rig_pod_dir() { echo "$RIG_TMP/pod-$1"; }
rig_pod_log() { echo "$RIG_TMP/pod-$1/access.log"; }
rig_in() {
    local ns
    ns=$(rig_ns "$1")
    shift
    ip netns exec "$ns" "$@"
}
rig_client() { rig_in cl "$@"; }

# ---------------------------------------------------------------- cleanup

# Kills what runs in a namespace (our own processes, by pid) and deletes it.
rig_delete_ns() {
    local ns=$1 pids i
    pids=$(ip netns pids "$ns" 2>/dev/null || true)
    if [ -n "$pids" ]; then
        # shellcheck disable=SC2086
        kill -TERM $pids 2>/dev/null || true
        for ((i = 0; i < 30; i++)); do
            pids=$(ip netns pids "$ns" 2>/dev/null || true)
            [ -z "$pids" ] && break
            sleep 0.1
        done
        # shellcheck disable=SC2086
        [ -n "$pids" ] && kill -KILL $pids 2>/dev/null || true
    fi
    ip netns del "$ns" 2>/dev/null || true
    rm -rf "/etc/netns/$ns"
}

# Removes DPDK runtime files of one file prefix (ours only).
rig_delete_dpdk_files() {
    local prefix=$1
    rm -rf "/var/run/dpdk/$prefix" "/run/dpdk/$prefix"
    rm -f /dev/hugepages/"${prefix}"map_* 2>/dev/null || true
}

# Leftovers of earlier runs of the same family whose process is gone.
rig_cleanup_stale() {
    local ns pid dir
    for ns in $(ip netns list 2>/dev/null | awk '{print $1}' | grep -E "^${RIG_FAMILY}[0-9]+-" || true); do
        pid=${ns#"$RIG_FAMILY"}
        pid=${pid%%-*}
        if ! kill -0 "$pid" 2>/dev/null; then
            rig_log "removing leftover namespace $ns"
            rig_delete_ns "$ns"
            rig_delete_dpdk_files "${RIG_FAMILY}${pid}"
        fi
    done
    for dir in /tmp/"${RIG_FAMILY}"[0-9]*.*; do
        [ -d "$dir" ] || continue
        pid=${dir#/tmp/"$RIG_FAMILY"}
        pid=${pid%%.*}
        if ! kill -0 "$pid" 2>/dev/null; then
            rm -rf "$dir"
        fi
    done
}

rig_cleanup() {
    local rc=$? ns pid
    trap - EXIT INT TERM
    for pid in "${RIG_BG_PIDS[@]}" $RIG_GW_PID; do
        kill -TERM "$pid" 2>/dev/null || true
    done
    if [ "$rc" -ne 0 ] && [ -n "$RIG_GW_LOG" ] && [ -s "$RIG_GW_LOG" ] && [ -z "${RIG_LOG_SHOWN:-}" ]; then
        rig_show_gateway_log
    fi
    for ns in $(ip netns list 2>/dev/null | awk '{print $1}' | grep -E "^${RIG_ID}-" || true); do
        rig_delete_ns "$ns"
    done
    rig_delete_dpdk_files "$RIG_ID"
    if [ -n "$RIG_TMP" ] && [ -z "${RIG_KEEP_TMP:-}" ]; then
        rm -rf "$RIG_TMP"
    fi
    exit "$rc"
}

rig_show_gateway_log() {
    RIG_LOG_SHOWN=1
    if [ -n "$RIG_GW_LOG" ] && [ -f "$RIG_GW_LOG" ]; then
        echo "----- $RIG_GATEWAY log (last 60 lines of $RIG_GW_LOG) -----"
        tail -n 60 "$RIG_GW_LOG"
        echo "----- end of log -----"
    fi
}

# ---------------------------------------------------------------- topology

# Offloads off on every veth end: a veth otherwise hands partial checksums
# (and TSO super-frames) to whoever reads it in userspace.
rig_no_offload() {
    local ns=$1 dev=$2
    ip netns exec "$ns" ethtool -K "$dev" tx off tso off gso off gro off >/dev/null 2>&1 ||
        rig_die "ethtool -K $dev failed in $ns"
}

rig_sysctl() {
    local ns=$1
    shift
    ip netns exec "$ns" sysctl -qw "$@" >/dev/null || rig_die "sysctl $* in $ns"
}

rig_new_ns() {
    local ns
    ns=$(rig_ns "$1")
    ip netns add "$ns" || rig_die "ip netns add $ns"
    ip -n "$ns" link set lo up
    # No IPv6 chatter (RS, MLD, DAD) on the segment: the rig is IPv4.
    rig_sysctl "$ns" net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
}

# rig_link NS IFNAME BRIDGE_PORT: a veth from the bridge into NS.
rig_link() {
    local ns br port=$3
    ns=$(rig_ns "$1")
    br=$(rig_ns br)
    ip -n "$br" link add "$port" type veth peer name "$2" netns "$ns" || rig_die "veth $port/$2"
    ip -n "$br" link set "$port" master br0 up
    rig_no_offload "$br" "$port"
    rig_no_offload "$ns" "$2"
    ip -n "$ns" link set "$2" up
}

# rig_init NET_INDEX MODE: the bridge, the gateway's port and the client.
rig_init() {
    RIG_NET=$1
    RIG_MODE=${2:-fullnat}
    case $RIG_MODE in fullnat | nat) ;; *) rig_die "mode must be fullnat or nat, not $RIG_MODE" ;; esac
    case $RIG_GATEWAY in svcgw | kernel) ;; *) rig_die "SVCGW_GATEWAY must be svcgw or kernel" ;; esac
    [ "$(id -u)" -eq 0 ] || rig_die "the rig needs root (network namespaces)"
    if [ "$RIG_GATEWAY" = svcgw ]; then
        [ -n "$RIG_SVCGW_BIN" ] && [ -x "$RIG_SVCGW_BIN" ] ||
            rig_die "svcgw binary not found: '${RIG_SVCGW_BIN}' (set SVCGW_BIN or pass BUILD_DIR)"
    fi
    local missing
    missing=$(rig_missing_tools) || rig_die "missing $missing (run tools/install-deps.sh)"

    trap rig_cleanup EXIT
    trap 'exit 130' INT
    trap 'exit 143' TERM
    rig_cleanup_stale
    RIG_TMP=$(mktemp -d "/tmp/${RIG_ID}.XXXX")
    chmod 755 "$RIG_TMP"
    RIG_GW_LOG="$RIG_TMP/gateway.log"
    RIG_CONFIG="$RIG_TMP/svcgw.yaml"
    RIG_DPDK_DEVICE="net_af_packet0,iface=veth-gw"

    rig_new_ns br
    ip -n "$(rig_ns br)" link add br0 type bridge || rig_die "bridge"
    ip -n "$(rig_ns br)" link set br0 up

    rig_new_ns gw
    rig_link gw veth-gw p-gw
    local gw
    gw=$(rig_ns gw)
    # svcgw owns the port's address: the kernel must neither answer ARP for
    # it nor send anything on the port.
    ip -n "$gw" link set veth-gw arp off

    rig_new_ns cl
    rig_link cl eth0 p-cl
    ip -n "$(rig_ns cl)" addr add "$(rig_client_ip)/24" dev eth0
    ip -n "$(rig_ns cl)" route add default via "$(rig_gw_ip)"
    mkdir -p "/etc/netns/$(rig_ns cl)"
    cat >"/etc/netns/$(rig_ns cl)/resolv.conf" <<EOF
nameserver $RIG_DNS_IP
search default.svc.cluster.local svc.cluster.local cluster.local
options ndots:5
EOF
    rig_log "topology ${RIG_ID} net 10.99.${RIG_NET}.0/24 mode $RIG_MODE gateway $RIG_GATEWAY (tmp $RIG_TMP)"
}

# rig_exception_path TAP [DRIVER]: the port gets the exception path's TAP
# (after rig_init, before the daemon starts), with `kernel_driver: DRIVER`
# when given. af_packet copies the veth's frames;
# the gateway namespace's own stack also takes them and, with the port
# address now local (on the TAP), would answer them itself (RSTs to the
# pods' replies). A NIC bound to vfio-pci has no such second path.
rig_exception_path() {
    RIG_PORT_KERNEL=$1
    RIG_PORT_KERNEL_DRIVER=${2:-}
    ip netns exec "$(rig_ns gw)" iptables -t raw -A PREROUTING -i veth-gw -j DROP ||
        rig_die "iptables raw drop on veth-gw"
}

# ---------------------------------------------------------------- pods

# rig_add_pod ID: a pod namespace running nginx (and nothing else yet).
# Pod IPs are .11, .12, ... by order of creation, never reused in a run, so a
# replaced pod gets a new address as in Kubernetes.
rig_add_pod() {
    local id=$1 ns dir ip
    RIG_POD_INDEX[$id]=$((${#RIG_POD_INDEX[@]} + 1))
    RIG_PODS+=("$id")
    rig_new_ns "p$id"
    ns=$(rig_ns "p$id")
    rig_link "p$id" eth0 "p-$id"
    ip=$(rig_pod_ip "$id")
    if [ "$RIG_MODE" = nat ]; then
        # The client's address is kept, so replies must go back through the
        # gateway even though the client shares the segment: every route
        # points at the gateway (a /32 pod address, as Calico does).
        ip -n "$ns" addr add "$ip/32" dev eth0
        ip -n "$ns" route add "$(rig_gw_ip)" dev eth0 scope link
        ip -n "$ns" route add default via "$(rig_gw_ip)" dev eth0
    else
        ip -n "$ns" addr add "$ip/24" dev eth0
    fi
    dir=$(rig_pod_dir "$id")
    mkdir -p "$dir/www" "$dir/tmp"
    cat >"$dir/www/index.html" <<EOF
<!DOCTYPE html>
<html><head><title>Welcome to nginx!</title></head>
<body><h1>Welcome to nginx!</h1>
<p>pod: $(rig_pod_name "$id") ip: $ip</p>
</body></html>
EOF
    cat >"$dir/nginx.conf" <<EOF
# One process, no daemon: the rig owns its pid. Debug-style but enough here.
daemon off;
master_process off;
worker_processes 1;
pid $dir/nginx.pid;
error_log $dir/error.log warn;
events { worker_connections 256; }
http {
    log_format rig '\$remote_addr \$remote_port "\$request" \$status \$connection \$connection_requests';
    access_log $dir/access.log rig;
    client_body_temp_path $dir/tmp/body;
    proxy_temp_path $dir/tmp/proxy;
    fastcgi_temp_path $dir/tmp/fastcgi;
    uwsgi_temp_path $dir/tmp/uwsgi;
    scgi_temp_path $dir/tmp/scgi;
    # Long keep-alive: the walkthrough keeps one connection across changes.
    keepalive_timeout 300s;
    keepalive_requests 100000;
    default_type text/html;
    server {
        listen 80;
        root $dir/www;
        location / { index index.html; }
    }
}
EOF
    : >"$dir/access.log"
    rig_pod_nginx_start "$id" || rig_die "nginx in pod $id did not start"
    : >"$dir/access.log"  # the readiness request is not traffic under test
}

# rig_pod_nginx_start ID: (re)starts the pod's nginx with its nginx.conf and
# waits until it answers locally (bounded); 1 if it does not.
rig_pod_nginx_start() {
    local id=$1 ns dir ip i
    ns=$(rig_ns "p$id")
    dir=$(rig_pod_dir "$id")
    ip=$(rig_pod_ip "$id")
    ip netns exec "$ns" nginx -p "$dir" -e "$dir/error.log" -c "$dir/nginx.conf" \
        >"$dir/nginx.out" 2>&1 &
    for ((i = 0; i < 50; i++)); do
        if ip netns exec "$ns" curl -s --max-time 1 -o /dev/null "http://$ip/"; then
            return 0
        fi
        sleep 0.1
    done
    cat "$dir/nginx.out" "$dir/error.log" >&2 2>/dev/null
    return 1
}

# rig_pod_udp_echo ID PORT: a UDP echo answering "<pod name> <client ip:port>".
rig_pod_udp_echo() {
    local id=$1 port=$2
    rig_in "p$id" "$RIG_PYTHON" "$RIG_DIR/udp_echo.py" "$(rig_pod_ip "$id")" "$port" \
        "$(rig_pod_name "$id")" >"$(rig_pod_dir "$id")/udp.out" 2>&1 &
    RIG_BG_PIDS+=($!)
    local i
    for ((i = 0; i < 50; i++)); do
        if rig_in "p$id" ss -Hlun "sport = :$port" | grep -q .; then
            return 0
        fi
        sleep 0.1
    done
    rig_die "udp echo in pod $id did not start"
}

# Deleting the namespace kills nginx and removes its veth (and bridge port).
rig_del_pod() {
    rig_delete_ns "$(rig_ns "p$1")"
}

# ---------------------------------------------------------------- services

# A service line: "NAME VIP PORT TARGET_PORT PROTO IP[,IP...]" (IP list may
# be "-" for no endpoints). rig_apply takes the full set: it starts the
# gateway the first time and reloads it afterwards.
rig_apply() {
    RIG_SERVICES=("$@")
    if [ "$RIG_GATEWAY" = kernel ]; then
        rig_kernel_apply
    else
        rig_write_config "$RIG_CONFIG"
        if [ -z "$RIG_GW_PID" ]; then
            rig_svcgw_start
        else
            rig_svcgw_reload
        fi
    fi
}

# The YAML services: section for RIG_SERVICES.
rig_services_yaml() {
    local line name vip port target proto ips ip
    if [ ${#RIG_SERVICES[@]} -eq 0 ]; then
        echo "services: []"
        return
    fi
    echo "services:"
    for line in "${RIG_SERVICES[@]}"; do
        read -r name vip port target proto ips <<<"$line"
        echo "  - name: $name"
        echo "    namespace: default"
        echo "    cluster_ip: $vip"
        echo "    ports: [{name: p$port, port: $port, target_port: $target, protocol: $proto}]"
        if [ "$ips" = "-" ]; then
            echo "    endpoints: []"
            continue
        fi
        echo "    endpoints:"
        for ip in ${ips//,/ }; do
            echo "      - {ip: $ip, ready: true}"
        done
    done
}

rig_write_config() {
    local file=$1 arg extra=""
    for arg in "${RIG_DPDK_EXTRA[@]}"; do
        extra+="${extra:+, }\"$arg\""
    done
    {
        echo "# generated by tests/integration/lib.sh for ${RIG_ID}"
        echo "dpdk:"
        echo "  lcores: \"$RIG_DPDK_LCORES\""
        echo "  memory_mb: $RIG_MEMORY_MB"
        echo "  hugepages: $RIG_HUGEPAGES"
        echo "  file_prefix: $RIG_ID"
        echo "  extra_args: [$extra]"
        echo "  idle: $RIG_IDLE"
        echo "ports:"
        echo "  - {name: ext0, device: \"$RIG_DPDK_DEVICE\", address: $(rig_gw_ip)/24${RIG_PORT_GATEWAY:+, gateway: $RIG_PORT_GATEWAY}${RIG_PORT_KERNEL:+, kernel_interface: $RIG_PORT_KERNEL}${RIG_PORT_KERNEL_DRIVER:+, kernel_driver: $RIG_PORT_KERNEL_DRIVER}}"
        echo "network: {service_cidr: $RIG_SERVICE_CIDR, snat_addresses: []${RIG_NETWORK_EXTRA:+, $RIG_NETWORK_EXTRA}}"
        echo "forwarding: {mode: $RIG_MODE}"
        echo "dns: {cluster_ip: $RIG_DNS_IP, domain: cluster.local}"
        echo "api: {listen: \"$(rig_api_listen)\"${RIG_API_TOKEN_FILE:+, token_file: \"$RIG_API_TOKEN_FILE\"}}"
        echo "metrics: {listen: \"tcp:127.0.0.1:9100\"}"
        rig_services_yaml
        if [ ${#RIG_CONFIG_EXTRA[@]} -gt 0 ]; then
            printf '%s\n' "${RIG_CONFIG_EXTRA[@]}"
        fi
    } >"$file.tmp"
    mv "$file.tmp" "$file"  # the daemon never reads a half-written file
}

# ---------------------------------------------------------------- svcgw

rig_svcgw_start() {
    rig_log "starting svcgw: $RIG_SVCGW_BIN -c $RIG_CONFIG"
    ip netns exec "$(rig_ns gw)" "$RIG_SVCGW_BIN" -c "$RIG_CONFIG" >"$RIG_GW_LOG" 2>&1 &
    RIG_GW_PID=$!  # ip netns exec execs the daemon: same pid
    rig_svcgw_wait_ready || rig_die "svcgw did not become ready within ${RIG_READY_TIMEOUT}s"
}

# Ready = the daemon runs and answers ARP for its port address (the client
# resolves the gateway's MAC).
rig_svcgw_wait_ready() {
    local deadline=$((SECONDS + RIG_READY_TIMEOUT))
    local gw
    gw=$(rig_gw_ip)
    while [ $SECONDS -lt $deadline ]; do
        if ! kill -0 "$RIG_GW_PID" 2>/dev/null; then
            wait "$RIG_GW_PID" 2>/dev/null
            rig_log "svcgw exited early with status $?"
            rig_show_gateway_log
            return 1
        fi
        # Any datagram to the port address makes the client resolve it (no
        # ping needed); port 9 is discard.
        rig_client bash -c "echo ready > /dev/udp/$gw/9" 2>/dev/null || true
        sleep 0.1
        if rig_client ip neigh show "$gw" | grep -q lladdr; then
            rig_log "svcgw ready (pid $RIG_GW_PID)"
            return 0
        fi
        sleep 0.2
    done
    rig_show_gateway_log
    return 1
}

# ---------------------------------------------------------------- svcgwctl

# rig_ctl ARGS...: svcgwctl against this rig's API socket (a file: reachable
# from the root namespace).
rig_ctl() {
    "$RIG_SVCGWCTL_BIN" --server "unix:$RIG_TMP/api.sock" "$@"
}

# rig_ctl_start: the gateway with no services, for tests that drive it
# through the API. Waits for the API socket to answer.
rig_ctl_start() {
    [ -x "$RIG_SVCGWCTL_BIN" ] || rig_die "svcgwctl not found (SVCGWCTL_BIN=$RIG_SVCGWCTL_BIN)"
    rig_apply
    local i
    for ((i = 0; i < 50; i++)); do
        rig_ctl get services -A >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    rig_die "the API on $RIG_TMP/api.sock did not answer"
}

# rig_reload: SIGHUP, then waits (bounded) until the daemon has handled it;
# RIG_RELOAD_OUTCOME says how: "accepted" or "rejected" (status 0), or why
# nothing happened (status 1). Runs in the caller's shell (not under
# rig_check, whose command runs in a subshell). Handled = the published
# config_version moved past its value before the signal (a change is live),
# or the log gained the reload's outcome line: a rejected reload, or one
# that changes nothing, publishes nothing and leaves the version alone
# (app/control_loop.cpp logs "reload: N services (A added, C changed, R removed, ...)"
# or "... configuration unchanged" once per SIGHUP). RIG_RELOAD_LOG_FROM is
# the log's line count before the signal (rig_log_since reads what follows).
RIG_RELOAD_LOG_FROM=0
RIG_RELOAD_OUTCOME=""
rig_reload() {
    RIG_RELOAD_OUTCOME="svcgw is not running (cannot reload)"
    kill -0 "$RIG_GW_PID" 2>/dev/null || return 1
    local version now outcome deadline=$((SECONDS + RIG_CONVERGE_TIMEOUT))
    version=$(rig_config_version)
    RIG_RELOAD_LOG_FROM=$(wc -l <"$RIG_GW_LOG")
    kill -HUP "$RIG_GW_PID"
    while [ $SECONDS -lt $deadline ]; do
        outcome=$(rig_log_since "$RIG_RELOAD_LOG_FROM" | sed -n -E \
            -e 's/^svcgw: reload: .*configuration unchanged.*/rejected/p' \
            -e 's/^svcgw: reload: [0-9]+ services \(0 added, 0 changed, 0 removed[,)].*/unchanged/p' \
            -e 's/^svcgw: reload: [0-9]+ services \(.*/changed/p' | head -n 1)
        case $outcome in
            rejected | unchanged)
                RIG_RELOAD_OUTCOME=${outcome/unchanged/accepted}
                return 0
                ;;
            changed)
                # The version is what says the change is live; without an
                # API to read it from, the log line has to do.
                if [ -z "$version" ]; then
                    RIG_RELOAD_OUTCOME=accepted
                    return 0
                fi
                ;;
        esac
        now=$(rig_config_version)
        if [ -n "$version" ] && [ -n "$now" ] && [ "$now" -gt "$version" ]; then
            RIG_RELOAD_OUTCOME=accepted
            return 0
        fi
        sleep 0.05
    done
    RIG_RELOAD_OUTCOME="svcgw did not handle the SIGHUP within ${RIG_CONVERGE_TIMEOUT}s (config_version ${version:-?} -> ${now:-?})"
    return 1
}
# rig_log_since LINES: the gateway log after its first LINES lines.
rig_log_since() { tail -n +"$(($1 + 1))" "$RIG_GW_LOG"; }
rig_config_version() { rig_stats '.config_version'; }

# A reload the rig itself asks for (rig_apply) must be accepted.
rig_svcgw_reload() {
    rig_reload || rig_die "$RIG_RELOAD_OUTCOME"
    [ "$RIG_RELOAD_OUTCOME" = accepted ] ||
        rig_die "the daemon rejected the rig's config: $(rig_log_since "$RIG_RELOAD_LOG_FROM" | tr '\n' ' ')"
}

# rig_gateway_alive: the daemon (or nothing, for the kernel) is still running.
rig_gateway_alive() {
    [ "$RIG_GATEWAY" = kernel ] || kill -0 "$RIG_GW_PID" 2>/dev/null
}

# SIGTERM must stop the daemon with status 0 within RIG_STOP_TIMEOUT.
rig_gateway_stop() {
    if [ "$RIG_GATEWAY" = kernel ] || [ -z "$RIG_GW_PID" ]; then
        return 0
    fi
    local pid=$RIG_GW_PID i rc
    RIG_GW_PID=""
    if ! kill -0 "$pid" 2>/dev/null; then
        wait "$pid"
        rig_not_ok "svcgw still running before SIGTERM" "it had exited with status $?"
        return
    fi
    kill -TERM "$pid"
    for ((i = 0; i < RIG_STOP_TIMEOUT * 10; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
        kill -KILL "$pid" 2>/dev/null
        wait "$pid" 2>/dev/null
        rig_not_ok "svcgw exits within ${RIG_STOP_TIMEOUT}s of SIGTERM" "killed with SIGKILL"
        return
    fi
    wait "$pid"
    rc=$?
    if [ "$rc" -eq 0 ]; then
        rig_ok "svcgw exits 0 on SIGTERM"
    else
        rig_not_ok "svcgw exits 0 on SIGTERM" "status $rc"
    fi
}

# ---------------------------------------------------------------- kernel gateway

# Reference gateway: the kernel with kube-proxy-style iptables rules in the
# gateway namespace (DNAT to a random endpoint, MASQUERADE in fullnat, REJECT
# for service addresses without a rule). Same topology, same tests.
rig_kernel_apply() {
    local gw
    gw=$(rig_ns gw)
    if [ -z "${RIG_KERNEL_UP:-}" ]; then
        ip -n "$gw" link set veth-gw arp on
        ip -n "$gw" addr add "$(rig_gw_ip)/24" dev veth-gw
        rig_sysctl "$gw" net.ipv4.ip_forward=1 net.ipv4.conf.all.send_redirects=0 \
            net.ipv4.conf.default.send_redirects=0 net.ipv4.conf.veth-gw.send_redirects=0
        RIG_KERNEL_UP=1
    fi
    local rules="$RIG_TMP/iptables.rules" line name vip port target proto ips n i p chain k=0
    {
        echo "*nat"
        echo ":PREROUTING ACCEPT [0:0]"
        echo ":INPUT ACCEPT [0:0]"
        echo ":OUTPUT ACCEPT [0:0]"
        echo ":POSTROUTING ACCEPT [0:0]"
        for line in "${RIG_SERVICES[@]}"; do
            read -r name vip port target proto ips <<<"$line"
            [ "$ips" = "-" ] && continue
            k=$((k + 1))
            chain="SVC-$k"
            proto=${proto,,}
            echo ":$chain - [0:0]"
            echo "-A PREROUTING -d $vip/32 -p $proto --dport $port -j $chain"
            local arr
            read -r -a arr <<<"${ips//,/ }"
            n=${#arr[@]}
            for ((i = 0; i < n; i++)); do
                if [ $((n - i)) -gt 1 ]; then
                    p=$(awk -v r=$((n - i)) 'BEGIN { printf "%.8f", 1 / r }')
                    echo "-A $chain -p $proto -m statistic --mode random --probability $p -j DNAT --to-destination ${arr[i]}:$target"
                else
                    echo "-A $chain -p $proto -j DNAT --to-destination ${arr[i]}:$target"
                fi
            done
        done
        if [ "$RIG_MODE" = fullnat ]; then
            echo "-A POSTROUTING -m conntrack --ctstate DNAT -j MASQUERADE"
        fi
        echo "COMMIT"
        echo "*filter"
        echo ":INPUT ACCEPT [0:0]"
        echo ":FORWARD ACCEPT [0:0]"
        echo ":OUTPUT ACCEPT [0:0]"
        # No service here any more: refuse at once rather than time out.
        echo "-A FORWARD -d $RIG_SERVICE_CIDR -p tcp -j REJECT --reject-with tcp-reset"
        echo "-A FORWARD -d $RIG_SERVICE_CIDR -j REJECT --reject-with icmp-port-unreachable"
        echo "COMMIT"
    } >"$rules"
    ip netns exec "$gw" iptables-restore <"$rules" || rig_die "iptables-restore failed: $(cat "$rules")"
    cp "$rules" "$RIG_GW_LOG.rules"
    echo "$(date +%T) applied ${#RIG_SERVICES[@]} service(s)" >>"$RIG_GW_LOG"
}

# ---------------------------------------------------------------- traffic helpers

# rig_curl URL: the body (exit status of curl).
rig_curl() {
    rig_client curl -sS --max-time "$RIG_CURL_TIMEOUT" "$@"
}

# The pod id that served a page body on stdin ("" if none).
rig_page_pod() {
    sed -n 's/.*pod: mynginx-\([^ ]*\) ip.*/\1/p' | head -n 1
}

# rig_wait_pod URL POD: polls until URL is served by POD (bounded).
rig_wait_pod() {
    local url=$1 want=$2 deadline=$((SECONDS + RIG_CONVERGE_TIMEOUT)) got=""
    while [ $SECONDS -lt $deadline ]; do
        got=$(rig_curl "$url" 2>/dev/null | rig_page_pod || true)
        if [ "$got" = "$want" ]; then
            return 0
        fi
        sleep 0.2
    done
    echo "after ${RIG_CONVERGE_TIMEOUT}s $url is served by '${got}', expected '$want'"
    return 1
}

# rig_count_requests POD PATTERN: access log lines of POD matching PATTERN.
rig_count_requests() {
    grep -c -- "$2" "$(rig_pod_log "$1")" || true
}

# rig_expect_fast_failure URL: curl must fail (refused/reset/unreachable)
# in less than 5 s, not time out.
rig_expect_fast_failure() {
    local start end rc out
    start=$(date +%s%N)
    out=$(rig_client curl -sS --max-time 8 -o /dev/null "$1" 2>&1)
    rc=$?
    end=$(date +%s%N)
    local ms=$(((end - start) / 1000000))
    if [ "$rc" -eq 0 ]; then
        echo "curl succeeded"
        return 1
    fi
    if [ "$rc" -eq 28 ] || [ "$ms" -ge 5000 ]; then
        echo "curl took ${ms} ms (status $rc: $out)"
        return 1
    fi
    echo "failed in ${ms} ms: $out"
    return 0
}

# rig_spread URL N MIN A B: step 3 of the walkthroughs: N new connections
# to URL (?spread=1..N) are all answered by pods A and B, each at least MIN.
rig_spread() {
    local url=$1 n=$2 min=$3 a=$4 b=$5 i n_a n_b
    for ((i = 1; i <= n; i++)); do
        rig_curl -o /dev/null "$url?spread=$i" || true
    done
    n_a=$(rig_count_requests "$a" 'spread=')
    n_b=$(rig_count_requests "$b" 'spread=')
    rig_log "spread of $n requests: $a=$n_a $b=$n_b"
    rig_check "step 3: all $n requests answered ($a=$n_a $b=$n_b)" test $((n_a + n_b)) -eq "$n"
    rig_check "step 3: both pods get >= $min of $n ($a=$n_a $b=$n_b)" \
        test "$n_a" -ge "$min" -a "$n_b" -ge "$min"
}

# rig_expose_and_scale [REPLACE]: walkthrough steps 1 (expose one pod),
# optionally 2 (replace it) and 3 (scale to two: 40 new connections, each pod
# >= 20%), shared by the device and worker variants.
rig_expose_and_scale() {
    local replace=${1:-} vip=$RIG_VIP url="http://$RIG_VIP/" first=a
    rig_add_pod a
    rig_apply "mynginx $vip 80 80 TCP $(rig_pod_ip a)"
    rig_require "step 1: curl $url is answered by pod a" rig_wait_pod "$url" a
    if [ -n "$replace" ]; then
        rig_del_pod a
        rig_add_pod b
        first=b
        rig_apply "mynginx $vip 80 80 TCP $(rig_pod_ip b)"
        rig_require "step 2: after replacing the pod, $url is answered by pod b" rig_wait_pod "$url" b
    fi
    rig_add_pod c
    rig_apply "mynginx $vip 80 80 TCP $(rig_pod_ip $first),$(rig_pod_ip c)"
    rig_require "step 3: the new pod c starts answering $url" rig_wait_pod "$url" c
    rig_spread "$url" 40 8 "$first" c  # each pod >= 20%
}

# ---------------------------------------------------------------- keep-alive client
# One long-lived HTTP/1.1 connection from the client namespace
# (keepalive_client.py): a line per answer ("N ... pod"), BROKEN if the
# connection broke or reconnected, a last line OK or why not.

# rig_ka_start HOST PORT INTERVAL_S DURATION_S: starts it in the background;
# RIG_KA_OUT is its output, RIG_KA_PID its pid.
rig_ka_start() {
    RIG_KA_OUT=$RIG_TMP/keepalive.out
    RIG_KA_STOP=$RIG_TMP/keepalive.stop
    rig_bg rig_client "$RIG_PYTHON" "$RIG_DIR/keepalive_client.py" "$1" "$2" "$RIG_KA_STOP" \
        "$3" "$4" >"$RIG_KA_OUT" 2>&1
    RIG_KA_PID=${RIG_BG_PIDS[-1]}
}
# rig_ka_lines: the answers so far.
rig_ka_lines() { grep -c '^[0-9]' "$RIG_KA_OUT" || true; }
# rig_ka_wait N: until N answers in all (at most 10 s; fails at once on BROKEN).
rig_ka_wait() {
    local i
    for ((i = 0; i < 100; i++)); do
        [ "$(rig_ka_lines)" -ge "$1" ] && return 0
        grep -q BROKEN "$RIG_KA_OUT" && break
        sleep 0.1
    done
    echo "keep-alive client: $(tail -n 2 "$RIG_KA_OUT" | tr '\n' ' ')"
    return 1
}
# rig_ka_more N: until N answers more than now.
rig_ka_more() { rig_ka_wait $(($(rig_ka_lines) + $1)); }
# rig_ka_alive: the client still runs and its connection never broke.
rig_ka_alive() {
    kill -0 "$RIG_KA_PID" 2>/dev/null && ! grep -q BROKEN "$RIG_KA_OUT" ||
        { echo "keep-alive client: $(tail -n 1 "$RIG_KA_OUT")"; return 1; }
}
# rig_ka_stop: asks the client to finish; its exit status (0: the connection
# never broke), 1 if it has not ended within 5 s. Not under rig_check: only
# this shell can wait for its child.
rig_ka_stop() {
    local i
    touch "$RIG_KA_STOP"
    for ((i = 0; i < 50; i++)); do
        if ! kill -0 "$RIG_KA_PID" 2>/dev/null; then
            wait "$RIG_KA_PID"
            return
        fi
        sleep 0.1
    done
    return 1
}

rig_finish() {
    rig_gateway_stop
    if [ "$RIG_FAIL" -ne 0 ]; then
        rig_show_gateway_log
    fi
    echo "$RIG_NAME ($RIG_GATEWAY${RIG_MODE:+, $RIG_MODE}): $RIG_PASS checks passed, $RIG_FAIL failed"
    [ "$RIG_FAIL" -eq 0 ]
    exit $?
}

# ---------------------------------------------------------------- hardening helpers
# (issue 7: test_flood, test_faults, test_surface, test_mtu)

rig_api_listen() { echo "${RIG_API_LISTEN:-unix:$RIG_TMP/api.sock}"; }

# rig_api PATH [CURL ARGS...]: one HTTP request to this rig's API (the unix
# socket, or a tcp: listen from inside the gateway namespace with the
# token); the body on stdout, the status in the last line ("HTTP <code>").
rig_api() {
    local path=$1 listen
    shift
    listen=$(rig_api_listen)
    if [[ "$listen" == tcp:* ]]; then
        local auth=()
        [ -n "$RIG_API_TOKEN_FILE" ] && auth=(-H "Authorization: Bearer $(cat "$RIG_API_TOKEN_FILE")")
        ip netns exec "$(rig_ns gw)" curl -sS --max-time 5 -w '\nHTTP %{http_code}\n' \
            "${auth[@]}" "$@" "http://${listen#tcp:}$path"
        return
    fi
    curl -sS --max-time 5 --unix-socket "${listen#unix:}" -w '\nHTTP %{http_code}\n' \
        "$@" "http://svcgw$path"
}

# rig_stats JQ: evaluates JQ over GET /v1/stats (prints "" on failure).
rig_stats() {
    rig_api /v1/stats 2>/dev/null | sed '$d' | jq -r "$1" 2>/dev/null
}

# rig_flows_active / rig_flows_capacity: summed over the workers.
rig_flows_active() { rig_stats '[.workers[].flows_active] | add'; }
rig_flows_capacity() { rig_stats '[.workers[].flows_capacity] | add'; }
# rig_drop REASON / rig_event NAME: summed over the workers (0 if absent).
# The per-worker lists are {name: count} objects or [name, count] pairs.
rig_drop() { rig_stats "[.workers[].drops | to_entries[]? | select(.key == \"$1\") | .value] | add // 0"; }
rig_event() { rig_stats "[.workers[].events | to_entries[]? | select(.key == \"$1\") | .value] | add // 0"; }

# rig_wait_exit PID [TENTHS]: until PID exits, at most TENTHS x 0.1 s (200).
rig_wait_exit() {
    local i
    for ((i = 0; i < ${2:-200}; i++)); do
        kill -0 "$1" 2>/dev/null || return 0
        sleep 0.1
    done
    return 1
}

# rig_wait_line FILE PATTERN PID: until FILE has a line matching PATTERN, or
# PID (the writer) exits; at most 30 s.
rig_wait_line() {
    local i
    for ((i = 0; i < 300; i++)); do
        grep -q -- "$2" "$1" && return 0
        kill -0 "$3" 2>/dev/null || return 1
        sleep 0.1
    done
    return 1
}

# rig_bg CMD...: a background process owned by the test (killed on exit).
rig_bg() {
    "$@" &
    RIG_BG_PIDS+=($!)
}
