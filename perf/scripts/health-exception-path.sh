#!/usr/bin/env bash
# Health checks through the exception path (issue 14 §3), the daemon as on
# the appliance: 10,000 backends (100 Services x 100) probed at a 1 s interval
# by svcgw's control thread. The probes are kernel sockets in the gateway's
# namespace: they leave through the port's TAP and svcgw's port, and their
# answers are punted back to the kernel by the worker.
#
#   gateway ns: svcgw, net_af_packet on veth-gw, kernel_interface TAP, its
#               control thread and its one worker (idle: adaptive) on CPU 1
#   pod ns a:   the next hop; 10.200.0.0/18 is local there (an AnyIP route),
#               so its nginx answers every backend address
#
# Per round (REPS rounds in one rig):
#   - a 10 s window: probes made per second, the control thread's CPU (the
#     prober, the TAP I/O and the publish), the worker's CPU (the probes'
#     frames), exception-path frames per second and punt drops;
#   - 50 backends killed, one every 100 ms (a REJECT with tcp-reset in the
#     pod, so their probes are refused), the time from each kill to the
#     BackendDown event (the republish without the backend follows in the
#     same control-loop pass), then the backends restored.
# Then the worker's Mpps (svcgw-pktgen ring link, CPU 0) alone, and beside
# the daemon probing.
#
#   perf/scripts/health-exception-path.sh BUILD [REPS]   (root; bounded)
# Prints markdown rows (perf/RESULTS.md form).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build=$(cd "${1:?usage: health-exception-path.sh BUILD [REPS]}" && pwd)
reps=${2:-3}
[[ $reps =~ ^[1-9]$ ]] || { echo "health-exception-path: REPS is 1..9" >&2; exit 2; }

# SERVICES=10 for a quick look at a tenth of the scale.
services=${SERVICES:-100} per_service=100
deaths=$((services / 2 < 50 ? services / 2 : 50))
interval_ms=1000 timeout_ms=500 rise=2 fall=3
window_s=10
backend_net=10.200.0.0/18  # 16k addresses: local in pod a
pktgen_args=(--flows 100000 --clients 4096 --backends 64 --duration 1)

# Worker Mpps alone, before anything else runs.
alone=$("$here/pktgen-runs.sh" "$build" "$reps" "worker alone (CPU 0)" -- "${pktgen_args[@]}" |
    grep '^|' || true)

export RIG_FAMILY=sghe SVCGW_BIN="$build/app/svcgw" SVCGWCTL_BIN="$build/tools/svcgwctl"
export SVCGW_IDLE=adaptive SVCGW_GATEWAY=svcgw
# shellcheck source=tests/integration/lib.sh
source "$root/tests/integration/lib.sh"
RIG_NAME=health-bench
RIG_DPDK_LCORES="0@1,1@0"  # the control thread (the prober) on CPU 1, the worker on CPU 0
rig_init 90 fullnat
rig_exception_path svcgw-k90
rig_add_pod a
RIG_PORT_GATEWAY=$(rig_pod_ip a)  # every backend is behind pod a
rig_in pa ip route add local "$backend_net" dev lo
sed -i 's/worker_connections 256/worker_connections 4096/' "$(rig_pod_dir a)/nginx.conf"
kill "$(cat "$(rig_pod_dir a)/nginx.pid")"
sleep 0.5
rig_pod_nginx_start a || rig_die "nginx in pod a did not restart"
rig_ctl_start

# backend K (0..9999) -> address
backend_ip() { echo "10.200.$(($1 / 200)).$(($1 % 200 + 10))"; }
"$RIG_PYTHON" - "$services" "$per_service" "$interval_ms" "$timeout_ms" "$rise" "$fall" \
    >"$RIG_TMP/services.yaml" <<'EOF'
import sys
services, per, interval, timeout, rise, fall = map(int, sys.argv[1:])
print("services:")
for s in range(services):
    print(f"  - name: hc{s}")
    print(f"    cluster_ip: 10.96.{1 + s // 250}.{s % 250 + 1}")
    print("    ports:")
    print("      - port: 80")
    print("        target_port: 80")
    print(f"        health_check: {{protocol: tcp, interval_ms: {interval}, timeout_ms: {timeout},"
          f" rise: {rise}, fall: {fall}}}")
    print("    endpoints:")
    for e in range(per):
        k = s * per + e
        print(f"      - {{ip: 10.200.{k // 200}.{k % 200 + 10}}}")
EOF
rig_ctl apply -f "$RIG_TMP/services.yaml" >/dev/null || rig_die "apply of the 10k backends"

metrics() { rig_in gw curl -s --max-time 5 http://127.0.0.1:9100/metrics; }
# metric NAME[{LABELS}] from a metrics dump on stdin: the sum of its samples.
metric() { awk -v m="$1" 'index($0, m) == 1 { s += $NF } END { printf "%d\n", s }'; }
targets=$((services * per_service))
deadline=$((SECONDS + 60))
while :; do
    m=$(metrics)
    probed=$(metric 'svcgw_health_probes_total{' <<<"$m")
    seen=$(metric 'svcgw_health_targets ' <<<"$m")
    down=$(metric 'svcgw_health_targets_down ' <<<"$m")
    [ "$seen" -eq "$targets" ] && [ "$probed" -ge $((3 * targets)) ] && break
    [ $SECONDS -lt $deadline ] || rig_die "warm-up: $seen targets, $probed verdicts after 60 s"
    sleep 1
done
rig_log "warm-up done: $seen targets, $probed verdicts, $down down"

# Thread CPU ticks (utime + stime) of the control thread (the daemon's main
# thread) and the worker (the EAL lcore thread).
worker_tid=$(grep -l 'worker' /proc/"$RIG_GW_PID"/task/*/comm | head -1 | cut -d/ -f5 || true)
[ -n "$worker_tid" ] || rig_die "no worker thread in svcgw: $(cat /proc/"$RIG_GW_PID"/task/*/comm | tr '\n' ' ')"
ticks() { awk '{ print $14 + $15 }' "/proc/$RIG_GW_PID/task/$1/stat"; }
hz=$(getconf CLK_TCK)
now_ms() { local t=${EPOCHREALTIME/./}; echo $((t / 1000)); }

results="$RIG_TMP/results"
tap_metric='svcgw_exception_path_frames_total{interface="svcgw-k90"'
: >"$results"
for round in $(seq "$reps"); do
    # ---- the steady window
    m0=$(metrics)
    # Backends down with nothing killed: probes the path lost (it should be 0).
    down_before=$(metric 'svcgw_health_targets_down ' <<<"$m0")
    c0=$(ticks "$RIG_GW_PID") w0=$(ticks "$worker_tid") t0=$(now_ms)
    sleep "$window_s"
    c1=$(ticks "$RIG_GW_PID") w1=$(ticks "$worker_tid") t1=$(now_ms)
    m1=$(metrics)
    ms=$((t1 - t0))
    rate() { echo $((($(metric "$1" <<<"$m1") - $(metric "$1" <<<"$m0")) * 1000 / ms)); }
    probes=$(rate 'svcgw_health_probes_total{')
    deferred=$(rate 'svcgw_health_probes_deferred_total ')
    to_kernel=$(rate "$tap_metric,direction=\"to_kernel\",result=\"written\"")
    from_kernel=$(rate "$tap_metric,direction=\"from_kernel\",result=\"sent\"")
    policed=$(rate 'svcgw_worker_drops_total{worker="0",reason="punt_policed"')
    control_pct=$(awk -v d=$((c1 - c0)) -v hz="$hz" -v ms="$ms" 'BEGIN { printf "%.1f", 100 * d / hz / (ms / 1000) }')
    worker_pct=$(awk -v d=$((w1 - w0)) -v hz="$hz" -v ms="$ms" 'BEGIN { printf "%.1f", 100 * d / hz / (ms / 1000) }')
    us_per_probe=$(awk -v p="$control_pct" -v n="$probes" 'BEGIN { printf "%.1f", n ? p * 1e4 / n : 0 }')

    # ---- deaths: backends j*2*per + round (50 Services, one each)
    killed=()
    declare -A kill_ms=()
    for ((j = 0; j < deaths; j++)); do
        k=$((j * 2 * per_service + round))
        ip=$(backend_ip "$k")
        rig_in pa iptables -I INPUT -d "$ip" -p tcp --dport 80 -j REJECT --reject-with tcp-reset
        kill_ms[$ip]=$(now_ms)
        killed+=("$ip")
        sleep 0.1
    done
    # Every killed backend down, bounded: fall x interval after the last kill,
    # plus the interval's jitter and a margin.
    deadline=$((SECONDS + fall * interval_ms / 1000 + 8))
    while :; do
        down=$(metrics | metric 'svcgw_health_targets_down ')
        [ "$down" -ge $((down_before + deaths)) ] || [ $SECONDS -ge $deadline ] || { sleep 0.2; continue; }
        break
    done
    # The BackendDown events of the killed backends: event time = now - age.
    removals="$RIG_TMP/removals.$round"
    : >"$removals"
    for ((j = 0; j < deaths; j++)); do
        ip=${killed[$j]}
        q=$(now_ms)
        rig_api "/v1/namespaces/default/services/hc$((j * 2))" 2>/dev/null | sed '$d' |
            jq -r --arg ip "$ip:80 " '.status.events[]? | select(.up == false) |
                select(.message | startswith($ip)) | .age_ms' | tail -1 |
            while read -r age; do echo $((q - age - kill_ms[$ip])); done >>"$removals"
    done
    removed=$(wc -l <"$removals")
    logged=0
    for ip in "${killed[@]}"; do
        grep -qF "health: $ip:80 (tcp) down after" "$RIG_GW_LOG" && logged=$((logged + 1))
    done
    rig_log "round $round: $removed removals timed, $logged logged down, down now $(metrics | metric 'svcgw_health_targets_down ')"
    read -r median max < <(sort -n "$removals" | awk '{ v[NR] = $1 } END {
        if (NR == 0) { print "0 0"; exit }
        print (NR % 2 ? v[(NR + 1) / 2] : int((v[NR / 2] + v[NR / 2 + 1]) / 2)), v[NR] }')
    echo "RESULT probes_per_s=$probes control_cpu_pct=$control_pct cpu_us_per_probe=$us_per_probe" \
        "worker_cpu_pct=$worker_pct to_kernel_fps=$to_kernel from_kernel_fps=$from_kernel" \
        "punt_policed_per_s=$policed deferred_per_s=$deferred down_before=$down_before removed=$removed" \
        "removal_median_ms=$median removal_max_ms=$max" | tee -a "$results"

    # ---- restore, and wait until every backend is up again
    rig_in pa iptables -F INPUT
    deadline=$((SECONDS + rise * interval_ms / 1000 + 8))
    while [ "$(metrics | metric 'svcgw_health_targets_down ')" -gt 0 ] && [ $SECONDS -lt $deadline ]; do
        sleep 0.5
    done
done

keys=probes_per_s,control_cpu_pct,cpu_us_per_probe,worker_cpu_pct,to_kernel_fps,from_kernel_fps
keys+=,punt_policed_per_s,deferred_per_s,down_before,removed,removal_median_ms,removal_max_ms
echo "# health-exception-path $(date -u '+%F %H:%M') UTC, load average $(cut -d' ' -f1-3 /proc/loadavg)," \
    "commit $(git -C "$root" rev-parse --short HEAD)"
python3 "$here/summarize.py" --keys "$keys" \
    "$targets backends, ${interval_ms} ms, fall $fall, through the TAP" \
    "health-exception-path.sh, $reps rounds" "$results"

# Worker Mpps beside the daemon still probing on CPU 1.
echo "$alone"
"$here/pktgen-runs.sh" "$build" "$reps" "worker beside the daemon probing 10k (CPU 1)" -- \
    "${pktgen_args[@]}" | grep '^|' || true
rig_finish >/dev/null
