#!/usr/bin/env bash
# Health checks (issue 14 §2): svcgw probes its backends and stops sending
# new flows to a dead one within interval x fall + 1 s, on every worker.
#
# Three nginx pods behind one Service (two workers):
#  1. tcp check, fail_open. Keep-alive connections to each pod and a stream
#     of new connections; nginx stops in pod c: every new connection that
#     starts interval x fall + 1 s after the stop is served by a or b, on
#     both workers; the keep-alive connections to a and b see no error.
#     nginx starts again in c: c gets new connections after `rise` probes.
#     The down and up events are logged, and describe/metrics show them.
#  2. pod c answers /healthz with 500: an http check takes it out, a tcp
#     check on the same port keeps it.
#  3. every pod stopped: fail_open still forwards (the client is refused by
#     the pods, counted as all_down_forwarded), reject answers RST at once
#     (counted as the all_down drop, nothing reaches the pods).
#  4. a drop rule in pod b's namespace blackholes its probes: they time out
#     as configured and b goes down, while a and c keep being probed on
#     time.
#
# Probe path: probes are kernel sockets in the gateway's namespace, which
# reach the pods through the exception path (the port's TAP): out of svcgw's
# port, their answers punted back to the kernel, as on the appliance.
# Every wait is bounded; nothing is timed beyond the issue's own bounds.
set -uo pipefail
source "$(dirname "$0")/lib.sh"

RIG_NAME=health
rig_daemon_only "the probes are svcgw's own"
# Two workers: the ring change must reach every worker (see test_workers.sh).
RIG_DPDK_LCORES=${SVCGW_WORKER_LCORES:-0@0,1@1,2@1}

interval_ms=500
timeout_ms=300
rise=2
fall=2
# The issue's bound for taking a dead backend out: interval x fall + 1 s.
deadline_ms=$((interval_ms * fall + 1000))
rise_ms=$((interval_ms * rise + 1000))
vip=$RIG_VIP
url="http://$vip/"

rig_init 49 fullnat
rig_exception_path svcgw-k49  # the path the probes take
for p in a b c; do
    rig_add_pod "$p"
done

# ---- helpers ----

# health_reply POD STATUS: the pod's nginx answers /healthz with STATUS
# (restarted with the new config).
health_reply() {
    local id=$1 status=$2 conf
    conf="$(rig_pod_dir "$id")/nginx.conf"
    sed -i '/location = \/healthz/d' "$conf"
    sed -i "s|        location / {|        location = /healthz { return $status; }\n        location / {|" "$conf"
    nginx_stop "$id"
    nginx_start "$id"
}
nginx_stop() {
    local pidfile pid i
    pidfile="$(rig_pod_dir "$1")/nginx.pid"
    pid=$(cat "$pidfile" 2>/dev/null) || return 0
    kill -TERM "$pid" 2>/dev/null || true
    for ((i = 0; i < 50; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    rm -f "$pidfile"
}
nginx_start() {
    rig_pod_nginx_start "$1" || rig_die "nginx did not start again in pod $1"
}

# apply_service CHECK [ALL_DOWN]: the Service over a, b, c with a health check.
apply_service() {
    local check=$1 all_down=${2:-fail_open}
    cat >"$RIG_TMP/web.yaml" <<EOF
services:
  - name: mynginx
    cluster_ip: $vip
    ports:
      - port: 80
        target_port: 80
        health_check: {$check, interval_ms: $interval_ms, timeout_ms: $timeout_ms, rise: $rise, fall: $fall}
        all_down: $all_down
    endpoints: [{ip: $(rig_pod_ip a)}, {ip: $(rig_pod_ip b)}, {ip: $(rig_pod_ip c)}]
EOF
    rig_ctl apply -f "$RIG_TMP/web.yaml"
}

# The service's probe entries as "ip up last" lines (from GET service).
probes() {
    rig_api /v1/namespaces/default/services/mynginx 2>/dev/null | sed '$d' |
        jq -r '.status.health[]? | "\(.ip) \(.up) \(.last // "-") \(.probes) \(.latency_us // 0)"'
}
# Wall clock in milliseconds, and as "seconds.millis" (the samples' time base).
now_ms() {
    local t=${EPOCHREALTIME/./}
    echo $((t / 1000))
}
ms_as_s() { printf '%d.%03d' $(($1 / 1000)) $(($1 % 1000)); }
# wait_health IP up|down [LIMIT_MS]: until the probes say so (bounded).
wait_health() {
    local ip=$1 want=$2 limit=${3:-10000} deadline want_up=true
    deadline=$(($(now_ms) + limit))
    [ "$want" = down ] && want_up=false
    while [ "$(now_ms)" -lt "$deadline" ]; do
        if grep -q "^$ip $want_up " <<<"$(probes)"; then
            return 0
        fi
        sleep 0.05
    done
    echo "after ${limit} ms: $(probes | tr '\n' ';')"
    return 1
}
metric() {
    rig_in gw curl -s --max-time 3 http://127.0.0.1:9100/metrics 2>/dev/null | grep -F "$1" | awk '{ s += $NF } END { printf "%d\n", s }'
}

# served_after DIR SINCE PODS MIN: every sample that started after SINCE
# (epoch seconds) was served by one of PODS, and there are at least MIN.
served_after() {
    local dir=$1 since=$2 pods=$3 min=$4 n bad
    n=$(jq --argjson t "$since" '[.[] | select(.start > $t)] | length' "$dir/sample.json")
    bad=$(jq -c --argjson t "$since" --arg pods "$pods" \
        '[.[] | select(.start > $t) | select(.error != null or (.pod as $p | ($pods | split(",") | index($p)) == null))]' \
        "$dir/sample.json")
    echo "$n samples after $since, not served by $pods: $bad"
    # A bad one's source port used before (a finished flow's 5-tuple)?
    jq -c --argjson bad "$bad" '[.[] | select(.port as $p | $bad | map(.port) | index($p))]' \
        "$dir/sample.json"
    echo "flow_reuse_rebalanced: $(rig_event flow_reuse_rebalanced)"
    [ "$n" -ge "$min" ] && [ "$bad" = "[]" ]
}

rig_ctl_start
for p in a b c; do
    health_reply "$p" 200
done

# ---------------------------------------------------------------- 1. tcp, fail_open
rig_require "expose mynginx with a tcp health check" apply_service "protocol: tcp"
rig_require "curl $url answers" rig_curl -o /dev/null "$url"
for p in a b c; do
    rig_require "pod $p is probed and up" wait_health "$(rig_pod_ip "$p")" up 5000
done

dir=$RIG_TMP/stop
mkdir -p "$dir" && chmod 755 "$dir"
rig_bg rig_client "$RIG_PYTHON" "$RIG_DIR/churn_client.py" live "$vip" 80 "$dir" 6 2 a,b,c \
    >"$dir/live.out" 2>&1
live_pid=${RIG_BG_PIDS[-1]}
rig_wait_line "$dir/live.out" '^ready' "$live_pid"
rig_require "2 keep-alive connections on each of a, b, c" \
    test "$(grep '^ready' "$dir/live.out" | wc -w)" -eq 7
flows_before=$(rig_stats '[.workers[] | .events.flow_new] | @csv')
rig_bg rig_client "$RIG_PYTHON" "$RIG_DIR/churn_client.py" sample "$vip" 80 "$dir" 400 0.02 \
    >"$dir/sample.out" 2>&1
sample_pid=${RIG_BG_PIDS[-1]}
sleep 0.5
touch "$dir/churn.start"
t_stop=$(now_ms)
nginx_stop c
rig_check "pod c goes down within interval x fall + 1 s ($deadline_ms ms)" \
    wait_health "$(rig_pod_ip c)" down "$deadline_ms"
sleep "$(ms_as_s "$deadline_ms")" # new connections after the bound
workers_mid=$(rig_stats '[.workers[] | .events.flow_new] | @csv')
sleep 1
touch "$dir/churn.end"
rig_wait_exit "$sample_pid" 100
rig_check "every new connection from interval x fall + 1 s after the stop is served by a or b" \
    served_after "$dir" "$(ms_as_s $((t_stop + deadline_ms)))" a,b 20
workers_after=$(rig_stats '[.workers[] | .events.flow_new] | @csv')
both_workers() {
    echo "flow_new per worker: $flows_before -> $workers_mid -> $workers_after"
    awk -F, -v a="$workers_mid" -v b="$workers_after" 'BEGIN {
        n = split(a, x, ","); split(b, y, ","); if (n < 2) exit 1
        for (i = 1; i <= n; i++) if (y[i] - x[i] <= 0) exit 1 }'
}
rig_check "both workers opened flows after the bound (all to a or b)" both_workers
rig_check "the gateway logged pod c going down" \
    grep -q "health: $(rig_pod_ip c):80 (tcp) down after $fall failed probes (last: refused)" "$RIG_GW_LOG"
describe_down() {
    local out
    out=$(rig_ctl describe service mynginx)
    echo "$out"
    grep -qE "^ +$(rig_pod_ip c) .* down \(refused" <<<"$out" &&
        grep -q "BackendDown .*$(rig_pod_ip c):80 (tcp) down" <<<"$out"
}
rig_check "describe shows HEALTH down and the event" describe_down
endpoints_without_c() {
    local out
    out=$(rig_ctl get endpoints mynginx)
    echo "$out"
    grep -q "$(rig_pod_ip a):80" <<<"$out" && ! grep -q "$(rig_pod_ip c):" <<<"$out"
}
rig_check "get endpoints leaves c out" endpoints_without_c
rig_check "svcgw_backend_healthy is 0 for c" \
    test "$(metric "svcgw_backend_healthy{namespace=\"default\",service=\"mynginx\",port=\"80\",backend=\"$(rig_pod_ip c)\"}")" = 0

# Back: c gets new connections after `rise` good probes.
nginx_start c
rig_check "pod c comes back up after $rise good probes" \
    wait_health "$(rig_pod_ip c)" up "$rise_ms"
rig_check "c gets new connections again" rig_wait_pod "$url" c
rig_check "the gateway logged pod c coming back" \
    grep -q "health: $(rig_pod_ip c):80 (tcp) up after $rise good probes" "$RIG_GW_LOG"
touch "$dir/stop"
rig_wait_exit "$live_pid" 100
live_ok() {
    jq -c '[.conns[] | select(.pod == "a" or .pod == "b") | {pod, requests, errors}]' "$dir/live.json"
    [ "$(jq '[.conns[] | select(.pod == "a" or .pod == "b")] | length' "$dir/live.json")" -eq 4 ] &&
        [ "$(jq '[.conns[] | select(.pod == "a" or .pod == "b") | .errors[]] | length' "$dir/live.json")" -eq 0 ] &&
        [ "$(jq '[.conns[] | select(.pod == "a" or .pod == "b") | select(.requests.during < 10)] | length' "$dir/live.json")" -eq 0 ]
}
rig_check "0 resets or errors on the keep-alive connections to a and b" live_ok

# ---------------------------------------------------------------- 2. http 500
health_reply c 500
rig_require "switch to an http check of /healthz" \
    apply_service "protocol: http, path: /healthz, expect: 200-399"
rig_check "the http check takes c (500) out" wait_health "$(rig_pod_ip c)" down "$deadline_ms"
bad_status() {
    grep "^$(rig_pod_ip c) false bad_status 500 " <<<"$(probes)"
}
rig_check "... as bad_status 500" bad_status
rig_require "back to a tcp check on the same port" apply_service "protocol: tcp"
keeps_c() {
    # A changed check starts fresh (up); c must stay up through fall probes.
    sleep "$(ms_as_s "$deadline_ms")"
    grep "^$(rig_pod_ip c) true ok " <<<"$(probes)"
}
rig_check "the tcp check keeps c" keeps_c
rig_check "c serves new connections" rig_wait_pod "$url" c
health_reply c 200

# ---------------------------------------------------------------- 3. all down
for p in a b c; do
    nginx_stop "$p"
done
for p in a b c; do
    rig_check "pod $p goes down" wait_health "$(rig_pod_ip "$p")" down "$deadline_ms"
done
fwd_before=$(rig_event all_down_forwarded)
rig_check "fail_open: every backend down, the service still forwards (refused by the pods)" \
    rig_expect_fast_failure "$url"
rig_check "fail_open: counted as all_down_forwarded" \
    test "$(rig_event all_down_forwarded)" -gt "$fwd_before"
rig_check "fail_open: the svcgw_service_all_down gauge is 1" \
    test "$(metric 'svcgw_service_all_down{namespace="default",service="mynginx"')" = 1
rig_check "the all-down episode is logged" grep -q "every backend failed its health check; all_down: fail_open" "$RIG_GW_LOG"
rig_require "switch all_down to reject" apply_service "protocol: tcp" reject
rejected_before=$(rig_drop all_down)
fwd_before=$(rig_event all_down_forwarded)
pkts_before=$(metric 'svcgw_backend_packets_total{namespace="default",service="mynginx"')
rig_check "reject: the gateway answers RST at once" rig_expect_fast_failure "$url"
rig_check "reject: counted as the all_down drop" test "$(rig_drop all_down)" -gt "$rejected_before"
rig_check "reject: nothing was forwarded to the pods" \
    test "$(rig_event all_down_forwarded)" = "$fwd_before" -a \
    "$(metric 'svcgw_backend_packets_total{namespace="default",service="mynginx"')" = "$pkts_before"
for p in a b c; do
    nginx_start "$p"
done
for p in a b c; do
    rig_check "pod $p comes back" wait_health "$(rig_pod_ip "$p")" up "$rise_ms"
done
rig_check "the service answers again" rig_curl -o /dev/null "$url"

# ---------------------------------------------------------------- 4. blackhole
count_of() { probes | awk -v ip="$1" '$1 == ip { print $4 }'; }
a_before=$(count_of "$(rig_pod_ip a)")
c_before=$(count_of "$(rig_pod_ip c)")
rig_in pb iptables -A INPUT -p tcp --dport 80 -j DROP
t_hole=$(now_ms)
rig_check "pod b's probes time out and it goes down" wait_health "$(rig_pod_ip b)" down "$deadline_ms"
timed_out() {
    local line
    line=$(grep "^$(rig_pod_ip b) " <<<"$(probes)")
    echo "$line"
    # last verdict: timeout, after timeout_ms (plus under a few timer grains)
    echo "$line" | awk -v t=$timeout_ms '$3 == "timeout" && $5 >= t * 1000 && $5 < t * 1000 + 100000 { ok = 1 } END { exit !ok }'
}
rig_check "the probe timed out after timeout_ms ($timeout_ms ms)" timed_out
sleep 2
elapsed=$(($(now_ms) - t_hole))
on_time() {
    local a c want
    a=$(($(count_of "$(rig_pod_ip a)") - a_before))
    c=$(($(count_of "$(rig_pod_ip c)") - c_before))
    # one probe per interval (5% jitter): allow one late or missed
    want=$((elapsed / interval_ms - 1))
    echo "in $elapsed ms: a $a probes, c $c probes, want >= $want"
    local now
    now=$(probes)
    [ "$a" -ge "$want" ] && [ "$c" -ge "$want" ] && grep -q "^$(rig_pod_ip a) true ok" <<<"$now" &&
        grep -q "^$(rig_pod_ip c) true ok" <<<"$now"
}
rig_check "a and c were probed on time meanwhile, and stay up" on_time
rig_in pb iptables -D INPUT -p tcp --dport 80 -j DROP

rig_finish
