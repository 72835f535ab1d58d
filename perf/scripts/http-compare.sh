#!/usr/bin/env bash
# HTTP through the gateway, side by side in one run (issue 16 §5): wrk
# keep-alive requests/s and new connections/s (every request on a fresh
# connection, "Connection: close") from the rig's client namespace to a
# ClusterIP of two nginx pods, through
#   kernel     the rig's reference gateway: iptables DNAT + MASQUERADE
#   af_packet  svcgw, net_af_packet on the gateway veth
#   af_xdp     svcgw, net_af_xdp on the same veth (copy mode)
# Same topology, pods and client (tests/integration/lib.sh builds a fresh one
# per run); the gateways alternate run by run so a load change on the shared
# machine hits all of them alike.
#
# CPUs: the gateway gets CPU 1 (svcgw: its one worker, `idle: adaptive`; the
# kernel: RPS steers the gateway veth's receive processing to CPU 1; the
# same steering is set for svcgw, whose af_packet socket is fed by that
# processing). Client, pods and svcgw's control thread share CPU 0. So
# either side can be the bound: the per-CPU busy share over each run is
# printed with it.
#
#   perf/scripts/http-compare.sh BUILD [REPS] [SECONDS] [GATEWAYS]
#   e.g. perf/scripts/http-compare.sh build 3 5 "kernel af_packet af_xdp"
#
# Prints one line per run and a table (median [min..max] over REPS). Every
# run is bounded (wrk -d SECONDS, timeout); the rig removes its namespaces,
# processes and files on any exit. Needs root, wrk, nginx (install-deps.sh).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build=${1:?usage: http-compare.sh BUILD [REPS] [SECONDS] [GATEWAYS]}
reps=${2:-3}
seconds=${3:-5}
gateways=${4:-kernel af_packet af_xdp}
build=$(cd "$build" && pwd)
[[ $reps =~ ^[1-9]$ ]] || { echo "http-compare: REPS is 1..9" >&2; exit 2; }
[[ $seconds =~ ^[1-9][0-9]?$ ]] || { echo "http-compare: SECONDS is 1..99" >&2; exit 2; }
command -v wrk >/dev/null || { echo "http-compare: wrk missing (tools/install-deps.sh)" >&2; exit 1; }
wrk_connections=16  # enough to keep one gateway core busy; nginx allows 256
run_max_s=$((4 * seconds + 90))
out=$(mktemp -d /tmp/svcgw-http.XXXXXX)
trap 'rm -rf "$out"' EXIT

# One rig, one gateway, both wrk loads; "RESULT gateway load req/s cpu0% cpu1%".
one_run() {
    local gw=$1 net=$2
    # The rig's names carry this family and the subshell's pid.
    RIG_FAMILY=sgph
    SVCGW_BIN="$build/app/svcgw"
    # adaptive, not poll: on this shared box a polling worker left the
    # kernel's half of the af_xdp copy-mode socket no time on its CPU (no
    # answer at all in 2 of 2 tries); under load it polls all the same.
    SVCGW_IDLE=adaptive
    case $gw in
        kernel) SVCGW_GATEWAY=kernel ;;
        *) SVCGW_GATEWAY=svcgw ;;
    esac
    export RIG_FAMILY SVCGW_BIN SVCGW_IDLE SVCGW_GATEWAY
    # shellcheck source=tests/integration/lib.sh
    source "$root/tests/integration/lib.sh"
    RIG_NAME=http-$gw
    rig_init "$net" fullnat
    if [ "$gw" = af_xdp ]; then
        RIG_DPDK_DEVICE="net_af_xdp0,iface=veth-gw,start_queue=0,queue_count=1"
    fi
    # The gateway's receive processing on CPU 1 (mask 2).
    rig_in gw sh -c 'echo 2 > /sys/class/net/veth-gw/queues/rx-0/rps_cpus'
    rig_add_pod a
    rig_add_pod b
    rig_sysctl "$(rig_ns cl)" net.ipv4.ip_local_port_range="10000 65000" net.ipv4.tcp_tw_reuse=1
    rig_apply "web $RIG_VIP 80 80 TCP $(rig_pod_ip a),$(rig_pod_ip b)"
    local pid
    for pid in $(ip netns pids "$(rig_ns pa)") $(ip netns pids "$(rig_ns pb)"); do
        taskset -a -p 1 "$pid" >/dev/null
    done
    local i
    for ((i = 0; i < 50; i++)); do
        rig_client curl -s --max-time 1 -o /dev/null "http://$RIG_VIP/" && break
        sleep 0.2
    done
    [ "$i" -lt 50 ] || rig_die "no answer through the $gw gateway"
    local load hdr busy
    for load in keepalive newconn; do
        hdr=()
        [ "$load" = newconn ] && hdr=(-H "Connection: close")
        local before after
        before=$(grep -E '^cpu[01] ' /proc/stat)
        rig_client taskset -c 0 wrk -t1 -c"$wrk_connections" -d"${seconds}s" "${hdr[@]}" \
            "http://$RIG_VIP/" >"$RIG_TMP/wrk.$load" 2>&1 || true
        after=$(grep -E '^cpu[01] ' /proc/stat)
        # Busy share per CPU over the run: 1 - (idle + iowait) / total.
        busy=$(printf '%s\n%s\n' "$before" "$after" | awk '
            { t = 0; for (k = 2; k <= 11; k++) t += $k; idle = $5 + $6
              if ($1 in tot) { printf "%.0f ", 100 * (1 - (idle - id[$1]) / (t - tot[$1])) }
              else { tot[$1] = t; id[$1] = idle } }')
        local rps errors
        rps=$(awk '/^Requests\/sec:/ {print $2}' "$RIG_TMP/wrk.$load")
        errors=$(awk '/Socket errors|Non-2xx/ {printf "%s; ", $0}' "$RIG_TMP/wrk.$load")
        echo "RESULT $gw $load ${rps:-0} $busy"
        [ -z "$errors" ] || echo "# $gw $load: $errors"
    done
    rig_gateway_stop >/dev/null
    if [ "$gw" != kernel ]; then
        # The worker's counters, printed on stop: drops say what it refused.
        grep -E 'worker 0:' "$RIG_GW_LOG" | grep -oE '(^| )(rx|tx)=[0-9]+|flow_new=[0-9]+|drop[.a-z_]*=[0-9]+' |
            tr '\n' ' ' | sed "s/^/# $gw worker 0: /" || true
        echo
    fi
    rig_finish >/dev/null
}

echo "# http-compare $(date -u '+%F %H:%M') UTC, load average $(cut -d' ' -f1-3 /proc/loadavg)," \
    "$(nproc) cores, wrk -t1 -c$wrk_connections -d${seconds}s, commit $(git -C "$root" rev-parse --short HEAD)"
export root build seconds wrk_connections
net=60
for rep in $(seq "$reps"); do
    for gw in $gateways; do
        case $gw in kernel | af_packet | af_xdp) ;; *) echo "unknown gateway $gw" >&2; exit 2 ;; esac
        net=$((net + 1))
        if ! timeout -k 10 "$run_max_s" bash -c "$(declare -f one_run); one_run $gw $net" \
            >"$out/run.$rep.$gw" 2>"$out/err.$rep.$gw"; then
            echo "# $gw run $rep failed:" && tail -5 "$out/err.$rep.$gw"
        fi
        grep -E '^(RESULT|#)' "$out/run.$rep.$gw" || true
    done
done
cat "$out"/run.* | grep '^RESULT' | python3 -c '
import statistics, sys
rows = {}
for line in sys.stdin:
    _, gw, load, rps, *busy = line.split()
    rows.setdefault((load, gw), []).append((float(rps), [int(b) for b in busy]))
def cell(v):
    return f"{statistics.median(v):,.0f} [{min(v):,.0f}..{max(v):,.0f}]"
print()
print("| load | gateway | req/s | ratio to kernel (medians) | CPU 0 / CPU 1 busy % (median) | n |")
print("|---|---|---|---|---|---|")
for load in ("keepalive", "newconn"):
    base = rows.get((load, "kernel"))
    for gw in ("kernel", "af_packet", "af_xdp"):
        runs = rows.get((load, gw))
        if not runs:
            continue
        rps = [r for r, _ in runs]
        ratio = f"{statistics.median(rps) / statistics.median([r for r, _ in base]):.2f}" if base else "-"
        cpu = " / ".join(f"{statistics.median([b[k] for _, b in runs if len(b) > k]):.0f}" for k in (0, 1))
        print(f"| {load} | {gw} | {cell(rps)} | {ratio} | {cpu} | {len(runs)} |")
'
