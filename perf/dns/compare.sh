#!/usr/bin/env bash
# Side-by-side DNS load test (run by hand, never from the test suites):
# serves the same N-service cluster zone with knotd and with svcgw (its
# worker answers in place), one after the other on the same veth pair into a
# server namespace, and loads each with dnsperf (closed loop) from a client
# namespace, and optionally kxdpgun (open loop over AF_XDP, -x QPS[,QPS...]:
# an offered-rate sweep, each rate -r times). Prints one line per run and,
# at the end, the side-by-side table (median [min..max] over the -r runs);
# -o FILE also writes the sweep as data ("server offered sent/s replies/s",
# one line per run) for perf/scripts/plots.sh. Everything it makes
# (namespaces, veths, files) carries a per-run tag and is removed on exit.
#
# knotd is set up as its documentation's performance notes say: one UDP
# worker (udp-workers), pinned to the server CPU, socket buffers raised
# (net.core.[rw]mem_{default,max}, set in the server namespace only, where
# the kernel allows it), and the server's receive processing on the server
# CPU (RPS on the veth, as a NIC queue's interrupt is pinned).
#
# Usage: perf/dns/compare.sh [-n SERVICES] [-l SECONDS] [-c CLIENTS]
#                            [-x KXDPGUN_QPS[,QPS...]] [-r REPS] [-o DATA]
#                            [-d] [-b BUILD_DIR] [knot|svcgw|both]
#        (default: both; -d skips the closed-loop dnsperf runs)
# Needs root (ip netns), knotd (knot), dnsperf, kdig/kxdpgun (knot-dnsutils).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
services=10000
duration=10
clients=4
xdp_rates=""
reps=1
data=""
dnsperf_runs=1
build="$root/build"
while getopts "n:l:c:x:r:o:db:h" opt; do
    case $opt in
        n) services=$OPTARG ;;
        l) duration=$OPTARG ;;
        c) clients=$OPTARG ;;
        x) xdp_rates=${OPTARG//,/ } ;;
        r) reps=$OPTARG ;;
        o) data=$OPTARG ;;
        d) dnsperf_runs=0 ;;
        b) build=$OPTARG ;;
        *) sed -n '2,22p' "$0"; exit 2 ;;
    esac
done
for rate in $xdp_rates; do
    [[ $rate =~ ^[1-9][0-9]*$ ]] || { echo "compare: -x takes rates in qps, not '$rate'" >&2; exit 2; }
done
[[ $reps =~ ^[1-9][0-9]?$ ]] || { echo "compare: -r takes 1..99, not '$reps'" >&2; exit 2; }
[[ $duration =~ ^[1-9][0-9]?$ ]] || { echo "compare: -l takes 1..99 seconds, not '$duration'" >&2; exit 2; }
shift $((OPTIND - 1))
which=${1:-both}

# The server's CPU and the load generator's CPU: one core each (answers/s per
# core is the number we compare).
server_cpu=1
client_cpu=0
dns_ip=10.96.0.10            # the cluster DNS address (gen_services.py)
tag="dc$$"                   # short: interface names are limited to 15 chars
srv_ns="$tag-srv"
cli_ns="$tag-cli"
srv_if="$tag-s"
cli_if="$tag-c"
net=10.201.$(($$ % 250)).    # the veth /24, unique enough per run
# knotd's socket buffers (its docs: raise them for high query rates); the
# default 208 KiB holds ~270 queued queries, a few ms of a 100k qps burst.
# 4 MiB: a namespace may not go above the host's own maximum (4 MiB here).
sock_buf=$((4 * 1024 * 1024))
work=$(mktemp -d "/tmp/$tag.XXXXXX")
server_pid=""

cleanup() {
    if [ -n "$server_pid" ]; then
        kill "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
    fi
    ip netns del "$cli_ns" 2>/dev/null || true
    ip netns del "$srv_ns" 2>/dev/null || true
    rm -rf "$work" "/var/run/dpdk/$tag"  # the EAL runtime dir of our file prefix
}
trap cleanup EXIT INT TERM

log() { echo "compare: $*" >&2; }

setup_topology() {
    ip netns add "$srv_ns"
    ip netns add "$cli_ns"
    ip link add "$srv_if" type veth peer name "$cli_if"
    ip link set "$srv_if" netns "$srv_ns"
    ip link set "$cli_if" netns "$cli_ns"
    ip -n "$cli_ns" addr add "${net}2/24" dev "$cli_if"
    ip -n "$cli_ns" link set lo up
    ip -n "$cli_ns" link set "$cli_if" up
    ip -n "$srv_ns" link set lo up
    ip -n "$srv_ns" link set "$srv_if" up
    # Offloads off on both ends, for both servers: a veth otherwise hands
    # partial checksums to a userspace reader (svcgw's af_packet port), and
    # the path must be the same for knotd.
    ip netns exec "$cli_ns" ethtool -K "$cli_if" tx off tso off gso off gro off >/dev/null
    ip netns exec "$srv_ns" ethtool -K "$srv_if" tx off tso off gso off gro off >/dev/null
    # The server's receive processing on the server CPU (RPS), as a NIC
    # queue's interrupt would be pinned: a veth otherwise runs it on the
    # sender's CPU, so the client's generator and the server's kernel
    # receive path (IP, UDP, the socket queue; svcgw's af_packet ring)
    # shared one core and queries were lost before any server saw them.
    ip netns exec "$srv_ns" sh -c \
        "printf %x $((1 << server_cpu)) > /sys/class/net/$srv_if/queues/rx-0/rps_cpus"
    # The client reaches the cluster DNS address through the server side,
    # as a pod reaches the gateway's VIP.
    ip -n "$cli_ns" route add "$dns_ip/32" via "${net}1"
}

# Kernel-stack server (knotd): the veth carries its address, the DNS address
# sits on its loopback.
setup_kernel_server_addresses() {
    ip -n "$srv_ns" addr add "${net}1/24" dev "$srv_if"
    ip -n "$srv_ns" addr add "$dns_ip/32" dev lo
}

wait_for_answers() {  # $1 = seconds
    local deadline=$((SECONDS + $1))
    while [ $SECONDS -lt $deadline ]; do
        if ip netns exec "$cli_ns" kdig +short +timeout=1 +retry=0 @"$dns_ip" \
            "cluster.local" SOA 2>/dev/null | grep -q hostmaster; then
            return 0
        fi
        sleep 0.5
    done
    return 1
}

stop_server() {
    if [ -n "$server_pid" ]; then
        kill "$server_pid" 2>/dev/null || true
        wait "$server_pid" 2>/dev/null || true
        server_pid=""
    fi
}

# One closed-loop dnsperf run; prints "label qps avg_latency_ms lost/sent".
measure_dnsperf() {  # $1 = label
    [ "$dnsperf_runs" -eq 1 ] || return 0
    local out="$work/dnsperf-$1.txt"
    ip netns exec "$cli_ns" taskset -c "$client_cpu" dnsperf -s "$dns_ip" \
        -d "$work/zone/queries.txt" -l "$duration" -c "$clients" -T 1 -q 500 -t 2 >"$out" 2>&1 || true
    local sent lost qps lat lat_min lat_max sd
    sent=$(awk '/Queries sent:/ {print $3}' "$out")
    lost=$(awk '/Queries lost:/ {print $3}' "$out")
    qps=$(awk '/Queries per second:/ {printf "%.0f", $4}' "$out")
    lat=$(awk '/Average Latency \(s\):/ {printf "%.3f", $4 * 1000}' "$out")
    # "Average Latency (s):  0.000377 (min 0.000020, max 0.004011)"
    lat_min=$(awk '/Average Latency \(s\):/ {gsub(/,/, "", $6); printf "%.3f", $6 * 1000}' "$out")
    lat_max=$(awk '/Average Latency \(s\):/ {gsub(/\)/, "", $8); printf "%.3f", $8 * 1000}' "$out")
    sd=$(awk '/Latency StdDev \(s\):/ {printf "%.3f", $4 * 1000}' "$out")
    local codes
    codes=$(grep -A3 'Response codes:' "$out" | head -1 | sed 's/.*Response codes: *//')
    printf '%-6s dnsperf  %10s qps  avg %s ms  lost %s/%s  (%s)\n' "$1" "${qps:-?}" \
        "${lat:-?}" "${lost:-?}" "${sent:-?}" "${codes:-no answers}"
    printf '| %s | dnsperf -c %s (closed loop) | %s | %s | %s | %s | %s | %s/%s | %s |\n' \
        "$1" "$clients" "${qps:-?}" "${lat:-?}" "${sd:-?}" "${lat_min:-?}" "${lat_max:-?}" \
        "${lost:-?}" "${sent:-?}" "${codes:-no answers}" >>"$work/table.md"
}

# CPU seconds (user, system) the server has used so far, all threads.
server_cpu_times() {
    awk '{printf "%.2f %.2f", $14 / 100, $15 / 100}' "/proc/$server_pid/stat" 2>/dev/null || echo "0 0"
}

# Where queries were lost, so far: UDP receive-buffer drops in the server
# namespace (a kernel-stack server's socket queue overflowed) and backlog
# drops on every CPU (/proc/net/softnet_stat, column 2, hex; the
# per-CPU queue ahead of the IP layer overflowed).
loss_counters() {
    local rcvbuf backlog=0 processed dropped rest
    rcvbuf=$(ip netns exec "$srv_ns" awk '/^Udp:/ && $2 ~ /^[0-9]/ {print $6}' /proc/net/snmp)
    while read -r processed dropped rest; do
        backlog=$((backlog + 16#$dropped))
    done </proc/net/softnet_stat
    echo "${rcvbuf:-0} ${backlog:-0}"
}

# Open loop over AF_XDP from the client namespace: every rate of -x, -r
# times each. One line per run to stdout, to the data file and to the
# per-rate table.
measure_kxdpgun() {  # $1 = label
    local rate rep out sent replies sent_rate reply_rate cpu0 cpu1 loss0 loss1
    for rate in $xdp_rates; do
        for rep in $(seq "$reps"); do
            out="$work/kxdpgun-$1-$rate-$rep.txt"
            read -r -a cpu0 <<<"$(server_cpu_times)"
            read -r -a loss0 <<<"$(loss_counters)"
            timeout -k 5 $((duration + 30)) ip netns exec "$cli_ns" kxdpgun -t "$duration" \
                -Q "$rate" -F "${client_cpu}s1" -I "$cli_if" -i "$work/zone/queries.txt" \
                "$dns_ip" >"$out" 2>&1 || true
            read -r -a cpu1 <<<"$(server_cpu_times)"
            read -r -a loss1 <<<"$(loss_counters)"
            # "total queries: N (R pps)", "total replies: N (R pps) (P%)"
            sent=$(awk '/total queries:/ {print $3}' "$out")
            replies=$(awk '/total replies:/ {print $3}' "$out")
            sent_rate=$(( ${sent:-0} / duration ))
            reply_rate=$(( ${replies:-0} / duration ))
            printf '%-6s kxdpgun  offered %7s qps: sent %7s/s answered %7s/s; server CPU user %s s, system %s s; dropped: UDP rcvbuf %s, backlog %s\n' \
                "$1" "$rate" "$sent_rate" "$reply_rate" \
                "$(awk -v a="${cpu0[0]}" -v b="${cpu1[0]}" 'BEGIN {printf "%.2f", b - a}')" \
                "$(awk -v a="${cpu0[1]}" -v b="${cpu1[1]}" 'BEGIN {printf "%.2f", b - a}')" \
                "$((loss1[0] - loss0[0]))" "$((loss1[1] - loss0[1]))"
            if [ -z "$sent" ]; then
                sed 's/^/    /' "$out" | tail -5
            fi
            echo "$1 $rate $sent_rate $reply_rate" >>"$work/sweep.dat"
        done
    done
}

# The sweep as a table: per server and offered rate, answered/s and sent/s
# as median [min..max] over the runs.
sweep_table() {
    python3 - "$work/sweep.dat" "$reps" <<'PY'
import statistics, sys
rows = {}
for line in open(sys.argv[1]):
    server, rate, sent, answered = line.split()
    rows.setdefault((server, int(rate)), []).append((int(sent), int(answered)))
def cell(v):
    return f"{statistics.median(v):,.0f} [{min(v):,.0f}..{max(v):,.0f}]"
print("| server | offered qps | sent/s | answered/s | answered share | n |")
print("|---|---|---|---|---|---|")
for (server, rate), runs in sorted(rows.items()):
    sent = [s for s, _ in runs]
    answered = [a for _, a in runs]
    share = [a / s if s else 0.0 for s, a in runs]
    print(f"| {server} | {rate:,} | {cell(sent)} | {cell(answered)} | "
          f"{statistics.median(share):.2f} [{min(share):.2f}..{max(share):.2f}] | {len(runs)} |")
PY
}

run_knot() {
    mkdir -p "$work/knot/run" "$work/knot/db"
    cat >"$work/knot/knot.conf" <<CONF
server:
    rundir: "$work/knot/run"
    listen: $dns_ip@53
    udp-workers: 1
    tcp-workers: 1
    background-workers: 1
    socket-affinity: on
log:
  - target: stderr
    any: warning
database:
    storage: "$work/knot/db"
template:
  - id: default
    storage: "$work/zone"
    zonefile-sync: -1
    journal-content: none
zone:
  - domain: cluster.local
    file: "$work/zone/cluster.local.zone"
  - domain: 96.10.in-addr.arpa
    file: "$work/zone/96.10.in-addr.arpa.zone"
CONF
    setup_kernel_server_addresses
    # Some kernels refuse these in a child namespace (EINVAL; 6.18 here), and
    # the host's own values are not this script's to change: then knotd
    # keeps the default, and the log line below says which it got.
    ip netns exec "$srv_ns" sysctl -qw net.core.rmem_max=$sock_buf net.core.rmem_default=$sock_buf \
        net.core.wmem_max=$sock_buf net.core.wmem_default=$sock_buf 2>/dev/null ||
        log "the kernel refuses net.core.[rw]mem_* in $srv_ns: knotd keeps the default socket buffers"
    ip netns exec "$srv_ns" taskset -c "$server_cpu" knotd -c "$work/knot/knot.conf" \
        >"$work/knot/knotd.log" 2>&1 &
    server_pid=$!
    if ! wait_for_answers 60; then
        log "knotd did not answer; its log:"
        cat "$work/knot/knotd.log" >&2
        stop_server
        return 1
    fi
    # The receive buffer knotd's UDP socket got (ss: skmem rb).
    log "knotd UDP socket: $(ip netns exec "$srv_ns" ss -uamn 'sport = :53' | grep -o 'rb[0-9]*' | head -1)"
    measure_dnsperf knot
    measure_kxdpgun knot
    stop_server
    ip -n "$srv_ns" addr flush dev "$srv_if"
    ip -n "$srv_ns" addr del "$dns_ip/32" dev lo
}

# svcgw on the server end of the veth through an af_packet vdev: it owns
# ${net}1 (ARP) and answers dns.cluster_ip:53 in its worker (one worker, on
# the server CPU; the main lcore is the idle control thread).
run_svcgw() {
    local daemon="$build/app/svcgw"
    if [ ! -x "$daemon" ]; then
        log "svcgw: $daemon not built (use -b BUILD_DIR); skipped"
        return 0
    fi
    {
        echo "dpdk: {lcores: \"$client_cpu,$server_cpu\", hugepages: false, memory_mb: 512, file_prefix: $tag}"
        echo "ports:"
        echo "  - {name: ext0, device: \"net_af_packet0,iface=$srv_if\", address: ${net}1/24}"
        echo "api: {listen: \"unix:$work/api.sock\"}"
        echo "metrics: {listen: \"tcp:127.0.0.1:9100\"}"  # inside its own netns
        cat "$work/zone/services.yaml"
    } >"$work/svcgw.yaml"
    ip netns exec "$srv_ns" "$daemon" -c "$work/svcgw.yaml" >"$work/svcgw.log" 2>&1 &
    server_pid=$!
    if ! wait_for_answers 60; then
        log "svcgw did not answer DNS within 60 s; its log:"
        tail -20 "$work/svcgw.log" >&2
        stop_server
        return 1
    fi
    grep -E "dns:|running" "$work/svcgw.log" | sed 's/^/    /' >&2
    measure_dnsperf svcgw
    measure_kxdpgun svcgw
    stop_server
    # The worker's own count of what it answered and dropped (printed on stop).
    grep -E "worker [0-9]+:" "$work/svcgw.log" | sed 's/^/    /' >&2
}

[ "$(id -u)" -eq 0 ] || { log "needs root (ip netns)"; exit 1; }
missing=()
for p in knot knot-dnsutils dnsperf; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    log "installing ${missing[*]}"
    apt-get install -y -q --no-install-recommends "${missing[@]}" >&2
fi
python3 "$here/gen_services.py" "$work/zone" --services "$services"
setup_topology
echo "# $(date -u +%F) $services services, ${duration}s per run, dnsperf -c $clients," \
    "server on CPU $server_cpu, client on CPU $client_cpu ($(nproc) cores)"
rc=0
case $which in
    knot) run_knot || rc=1 ;;
    svcgw) run_svcgw || rc=1 ;;
    both)
        run_knot || rc=1
        run_svcgw || rc=1
        ;;
    *) log "unknown target '$which' (knot|svcgw|both)"; exit 2 ;;
esac
if [ -s "$work/table.md" ]; then
    echo
    echo "| server | load | QPS | avg latency (ms) | stddev (ms) | min (ms) | max (ms) | lost/sent | response codes |"
    echo "|---|---|---|---|---|---|---|---|---|"
    cat "$work/table.md"
fi
if [ -s "$work/sweep.dat" ]; then
    echo
    sweep_table
    [ -z "$data" ] || cp "$work/sweep.dat" "$data"
fi
exit $rc
