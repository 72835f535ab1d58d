#!/usr/bin/env bash
# Health checks through the exception path (issue 14 §3), the daemon as on
# the appliance: 10,000 backends (100 Services x 100) probed at a 1 s interval
# by svcgw's control thread. The probes are kernel sockets in the gateway's
# namespace: they leave through the port's TAP and svcgw's port, and their
# answers are punted back to the kernel by the worker.
#
#   gateway ns: svcgw, net_af_packet on veth-gw, kernel_interface TAP, its
#               control thread and its one worker (idle: adaptive), both on
#               CPU 1, so that CPU 0 is left to svcgw-pktgen's worker
#   pod ns a:   the next hop; 10.200.0.0/18 is local there (an AnyIP route),
#               so its nginx (also on CPU 1) answers every backend address
#
# Per round (REPS rounds in one rig):
#   - a 10 s window: probes made per second, the control thread's CPU (the
#     prober, the TAP I/O and the publish), the worker's CPU (the probes'
#     frames), exception-path frames per second and punt drops;
#   - 50 backends killed, one every 100 ms (a REJECT with tcp-reset in the
#     pod, so their probes are refused), the time from each kill to its
#     "down" line in the gateway log, then the backends restored.
# Then a worker's Mpps (svcgw-pktgen ring link, CPU 0), interleaved: the
# daemon stopped, and the daemon probing on CPU 1 (what probing costs a
# worker core).
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

export RIG_FAMILY=sghe SVCGW_BIN="$build/app/svcgw" SVCGWCTL_BIN="$build/tools/svcgwctl"
export SVCGW_IDLE=adaptive SVCGW_GATEWAY=svcgw
# shellcheck source=tests/integration/lib.sh
source "$root/tests/integration/lib.sh"
RIG_NAME=health-bench
RIG_DPDK_LCORES="0@1,1@1"  # the control thread (the prober) and the worker on CPU 1
rig_init 90 fullnat
rig_exception_path svcgw-k90
rig_add_pod a
RIG_PORT_GATEWAY=$(rig_pod_ip a)  # every backend is behind pod a
rig_in pa ip route add local "$backend_net" dev lo
sed -i 's/worker_connections 256/worker_connections 4096/' "$(rig_pod_dir a)/nginx.conf"
kill "$(cat "$(rig_pod_dir a)/nginx.pid")"
sleep 0.5
rig_pod_nginx_start a || rig_die "nginx in pod a did not restart"
# The backends' side of 11k connections a second (nginx, and the softirq
# work its wake-ups follow) on the daemon's CPU too: on a real network it
# is on other hosts, and here it would otherwise land on the CPU the
# worker's figure below is measured on.
master=$(cat "$(rig_pod_dir a)/nginx.pid")
for pid in "$master" $(pgrep -P "$master"); do taskset -a -cp 1 "$pid" >/dev/null; done
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

    # ---- deaths: backends j*2*per + round (50 Services, one each). The
    # gateway log's new "down after" lines are stamped as they appear
    # (polled every 20 ms): the republish without the backend follows in the
    # same control-loop pass.
    stamped="$RIG_TMP/stamped.$round"
    "$RIG_PYTHON" - "$RIG_GW_LOG" "$(stat -c %s "$RIG_GW_LOG")" >"$stamped" <<'EOF' &
import sys, time
log = open(sys.argv[1])
log.seek(int(sys.argv[2]))
while True:
    line = log.readline()
    if not line:
        time.sleep(0.02)
    elif " down after " in line:
        print(int(time.time() * 1000), line.strip(), flush=True)
EOF
    stamper=$!
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
    # Every killed backend down (a count of all the down ones would also
    # count false downs), bounded: fall x interval after the last kill, plus
    # the interval's jitter and a margin.
    removals="$RIG_TMP/removals.$round"
    timed_down() {
        local ip at
        : >"$removals"
        for ip in "${killed[@]}"; do
            at=$(grep -F -m1 "health: $ip:80 (tcp) down after" "$stamped" | cut -d' ' -f1)
            [ -z "$at" ] || echo $((at - kill_ms[$ip])) >>"$removals"
        done
        wc -l <"$removals"
    }
    deadline=$((SECONDS + fall * interval_ms / 1000 + 8))
    while [ "$(timed_down)" -lt "$deaths" ] && [ $SECONDS -lt $deadline ]; do
        sleep 0.2
    done
    kill "$stamper"
    wait "$stamper" 2>/dev/null || true
    removed=$(timed_down)
    rig_log "round $round: $removed of $deaths removals timed, down now $(metrics | metric 'svcgw_health_targets_down ')"
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

# A worker's Mpps on CPU 0, interleaved: with the daemon stopped (SIGSTOP:
# no probing) and beside it probing on CPU 1, so the other load of the box
# falls on both alike.
for side in alone beside; do : >"$RIG_TMP/pair.$side"; done
for i in $(seq "$reps"); do
    kill -STOP "$RIG_GW_PID"
    PERF_RAW="$RIG_TMP/pair.alone" "$here/pktgen-runs.sh" "$build" 1 alone -- \
        "${pktgen_args[@]}" >/dev/null || true
    kill -CONT "$RIG_GW_PID"
    sleep 3  # the probes overdue after the stop go out first
    PERF_RAW="$RIG_TMP/pair.beside" "$here/pktgen-runs.sh" "$build" 1 beside -- \
        "${pktgen_args[@]}" >/dev/null || true
done
for side in alone beside; do
    sed -i "s/^$side //" "$RIG_TMP/pair.$side"
done
python3 "$here/summarize.py" "worker on CPU 0, daemon stopped" "${pktgen_args[*]}" "$RIG_TMP/pair.alone"
python3 "$here/summarize.py" "worker on CPU 0, daemon probing 10k on CPU 1" "${pktgen_args[*]}" \
    "$RIG_TMP/pair.beside"
python3 "$here/summarize.py" --ratio "worker Mpps, probing / stopped (paired runs)" \
    "${pktgen_args[*]}" "$RIG_TMP/pair.beside" "$RIG_TMP/pair.alone"
rig_finish >/dev/null
