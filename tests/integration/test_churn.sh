#!/usr/bin/env bash
# Endpoint churn under load (issue 7): "0 live-flow resets to surviving
# backends across 1000 endpoint changes under load".
#
# Pods a and b live throughout; pods c and d are churned through the API
# (add / drain / remove, one HTTP request on the API per change, as a
# controller makes them; test_endpoints.sh covers the svcgwctl verbs).
# While the changes run:
#  - 8 keep-alive HTTP/1.1 connections opened before the churn (at least 3
#    on each of a and b) issue requests in a loop on their own sockets
#    (churn_client.py live): every failure is recorded by kind (reset,
#    close, timeout, bad status, answer from another pod);
#  - new connections are opened one at a time (churn_client.py sample).
# Asserted: every change succeeded and the service's config version moved
# by exactly the number of changes, and the final endpoints are what the
# changes say; no live connection failed or moved, each made requests
# before, during and after the churn, and both a and b held some; the new
# connections were served by a, b and the churned pods, and a failed one is
# excused only when its SYN went to a churned endpoint (seen in a capture of
# the gateway's link, matched by sequence number) whose removal overlapped
# its life (a connection on a removed endpoint is cleared by design); the
# excused failures of each churned endpoint are bounded by the largest ring
# share it can hold.
# Nothing is timed: every wait is bounded in count and time.
# Usage: test_churn.sh [fullnat|nat]   (CHURN_CHANGES overrides 1000)
set -uo pipefail
source "$(dirname "$0")/lib.sh"

mode=${1:-fullnat}
case $mode in
    fullnat) net=47 ;;
    nat) net=48 ;;
    *) echo "usage: $0 fullnat|nat" >&2; exit 2 ;;
esac
RIG_NAME="churn-$mode"
rig_daemon_only "the changes go through the daemon's API"

changes=${CHURN_CHANGES:-1000}
live_conns=8
live_per_pod=3         # at least this many on each surviving pod
min_live_requests=20   # per connection and phase: the clients really ran
sample_max=400         # new connections during the churn (bounded)
sample_interval=0.05
min_samples=20
removal_slack=0.1      # s: a removal published just before a SYN may still meet it
# The largest share of the ring one churned endpoint holds: a and b are
# always ready, so it holds at most 1/3 (Maglev: within a slot of equal).
max_share_pct=34
# A bound on CI time, not a speed target (1000 changes took 110 s under ASan
# at load 14 on 2 cores); past it the churn stops early and the test fails.
churn_limit_s=300
vip=$RIG_VIP
url="http://$vip/"

rig_init "$net" "$mode"
for p in a b c d; do
    rig_add_pod "$p"
done
rig_ctl_start
rig_require "expose mynginx at $vip with pods a and b" \
    rig_ctl expose mynginx --port=80 --target-port=80 --cluster-ip="$vip" \
    --endpoints="$(rig_pod_ip a),$(rig_pod_ip b)"
rig_require "curl $url answers" rig_curl -o /dev/null "$url"

dir=$RIG_TMP/churn
mkdir -p "$dir"
chmod 755 "$dir"

# ---- live connections, opened before the churn ----
rig_bg rig_client "$RIG_PYTHON" "$RIG_DIR/churn_client.py" live "$vip" 80 "$dir" \
    "$live_conns" "$live_per_pod" a,b >"$dir/live.out" 2>&1
live_pid=${RIG_BG_PIDS[-1]}
for ((i = 0; i < 300; i++)); do
    grep -q '^ready' "$dir/live.out" && break
    kill -0 "$live_pid" 2>/dev/null || break
    sleep 0.1
done
rig_log "live connections: $(grep '^ready' "$dir/live.out")"
placed() {
    local n
    n=$(grep '^ready' "$dir/live.out" | wc -w)
    cat "$dir/live.out"
    [ "$n" -eq $((live_conns + 1)) ]
}
rig_require "$live_conns keep-alive connections placed (>= $live_per_pod on each of a, b)" placed
# live_requests PHASE: polls (bounded) until every live connection made
# min_live_requests requests in PHASE (churn_client.py writes its progress).
live_requests() {
    local i ph n
    for ((i = 0; i < 300; i++)); do
        read -r ph n <"$dir/progress" 2>/dev/null
        [ "${ph:-}" = "$1" ] && [ "${n:-0}" -ge "$min_live_requests" ] && return 0
        kill -0 "$live_pid" 2>/dev/null || break
        sleep 0.1
    done
    echo "live connections' progress: $(cat "$dir/progress" 2>/dev/null)"
    return 1
}
rig_require "the live connections run before the churn" live_requests before

# ---- the churn ----
# Every SYN (no ACK) crossing the gateway's link, both ways, with absolute
# sequence numbers: a client's SYN and the one the gateway forwards to a pod
# carry the same sequence number (neither mode rewrites it).
syn_log=$dir/syns.txt
rig_bg ip netns exec "$(rig_ns br)" timeout $((churn_limit_s + 120)) tcpdump -i p-gw -l -nn -tt -S \
    'tcp[tcpflags] & (tcp-syn|tcp-ack) == tcp-syn' >"$syn_log" 2>"$dir/tcpdump.err"
tcpdump_pid=${RIG_BG_PIDS[-1]}
capturing() {
    local i
    for ((i = 0; i < 100; i++)); do
        grep -q 'listening on' "$dir/tcpdump.err" && return 0
        sleep 0.1
    done
    cat "$dir/tcpdump.err"
    return 1
}
rig_require "the SYN capture on the gateway's link runs" capturing
version_before=$(rig_stats '.config_version')
ip_c=$(rig_pod_ip c)
ip_d=$(rig_pod_ip d)
# One cycle: both churned pods join, drain (terminating: no new flows, old
# ones kept), then leave. Each step is a real change (the version moves).
ops=("add $ip_c" "add $ip_d" "drain $ip_c" "drain $ip_d" "remove $ip_c" "remove $ip_d")
declare -A state=([$ip_c]=absent [$ip_d]=absent)
touch "$dir/churn.start"
rig_bg rig_client "$RIG_PYTHON" "$RIG_DIR/churn_client.py" sample "$vip" 80 "$dir" \
    "$sample_max" "$sample_interval" >"$dir/sample.out" 2>&1
sample_pid=${RIG_BG_PIDS[-1]}
# churn_change OP IP: the request svcgwctl endpoints OP sends; fails unless 2xx.
churn_change() {
    local path=/v1/namespaces/default/services/mynginx/endpoints/$2 answer
    case $1 in
        add) answer=$(rig_api "$path" -X PATCH -H 'Content-Type: application/json' \
            -d '{"ready":true,"serving":true,"terminating":false}') ;;
        drain) answer=$(rig_api "$path/drain" -X POST -d '') ;;
        remove) answer=$(rig_api "$path" -X DELETE) ;;
    esac
    [[ "$(tail -n1 <<<"$answer")" == "HTTP 2"* ]] || { echo "$answer"; return 1; }
}
done_changes=0
failed_changes=0
churn_start=$SECONDS
: >"$dir/removals"
for ((k = 0; k < changes; k++)); do
    if [ $((SECONDS - churn_start)) -ge "$churn_limit_s" ]; then
        rig_log "churn stopped after ${churn_limit_s}s at $k changes"
        break
    fi
    read -r op ip <<<"${ops[k % ${#ops[@]}]}"
    t0=$EPOCHREALTIME
    if out=$(churn_change "$op" "$ip" 2>&1); then
        done_changes=$((done_changes + 1))
    else
        failed_changes=$((failed_changes + 1))
        rig_log "change $k ($op $ip) failed: $out"
    fi
    t1=$EPOCHREALTIME
    case $op in
        add) state[$ip]=ready ;;
        drain) state[$ip]=terminating ;;
        remove)
            state[$ip]=absent
            echo "$t0 $t1 $ip" >>"$dir/removals"
            ;;
    esac
done
touch "$dir/churn.end"
churn_s=$((SECONDS - churn_start))
for ((i = 0; i < 200; i++)); do
    kill -0 "$sample_pid" 2>/dev/null || break
    sleep 0.1
done
kill "$tcpdump_pid" 2>/dev/null
wait "$tcpdump_pid" 2>/dev/null
version_after=$(rig_stats '.config_version')
rig_log "$done_changes changes in ${churn_s}s ($failed_changes failed); config_version $version_before -> $version_after"

rig_check "the live connections run after the churn" live_requests after
touch "$dir/stop"
for ((i = 0; i < 200; i++)); do
    kill -0 "$live_pid" 2>/dev/null || break
    sleep 0.1
done

# ---- the changes happened ----
rig_check "all $changes endpoint changes were made and accepted ($done_changes ok, $failed_changes failed)" \
    test "$done_changes" -eq "$changes" -a "$failed_changes" -eq 0
rig_check "config_version moved by exactly $changes ($version_before -> $version_after)" \
    test -n "$version_before" -a -n "$version_after" -a \
    "$((${version_after:-0} - ${version_before:-0}))" -eq "$changes"
final_endpoints_match() {
    local want got ip
    want=$(
        echo "$(rig_pod_ip a) true false"
        echo "$(rig_pod_ip b) true false"
        for ip in "$ip_c" "$ip_d"; do
            case ${state[$ip]} in
                ready) echo "$ip true false" ;;
                terminating) echo "$ip false true" ;;
            esac
        done
    )
    got=$(rig_api /v1/namespaces/default/services/mynginx/endpoints | sed '$d' |
        jq -r '.endpoints[] | "\(.ip) \(.ready) \(.terminating // false)"')
    echo "want: $(sort <<<"$want" | tr '\n' ';') got: $(sort <<<"$got" | tr '\n' ';')"
    [ "$(sort <<<"$want")" = "$(sort <<<"$got")" ]
}
rig_check "the endpoints read back are what the $changes changes leave" final_endpoints_match
rig_check "svcgw survived the churn" rig_gateway_alive

# ---- live connections: none failed, none moved, all ran ----
rig_require "the live client wrote its record" test -s "$dir/live.json"
live=$dir/live.json
rig_log "live requests per connection (port pod before during after): $(jq -r \
    '.conns[] | "\(.port) \(.pod) \(.requests.before) \(.requests.during) \(.requests.after)"' \
    "$live" | tr '\n' ';')"
errors=$(jq -r '[.conns[].errors[]] | length' "$live")
rig_check "0 resets or errors on the $live_conns live connections across $changes changes ($errors)" \
    bash -c "[ '$errors' = 0 ] || { jq -c '.conns[] | select(.errors != []) | {port, pod, errors}' '$live'; false; }"
moved=$(jq -r '[.conns[].errors[] | select(.kind == "moved")] | length' "$live")
rig_check "every live connection stayed on its first pod ($moved moved)" test "$moved" = 0
rig_check "the live connections began on the surviving pods a and b only" \
    test "$(jq -r '[.conns[].pod | select(. != "a" and . != "b")] | length' "$live")" = 0
for p in a b; do
    rig_check "pod $p holds >= $live_per_pod live connections" \
        test "$(jq -r "[.conns[] | select(.pod == \"$p\")] | length" "$live")" -ge "$live_per_pod"
done
for ph in before during after; do
    least=$(jq -r "[.conns[].requests.$ph] | min" "$live")
    total=$(jq -r "[.conns[].requests.$ph] | add" "$live")
    rig_check "every live connection made >= $min_live_requests requests $ph the churn (least $least, total $total)" \
        test "${least:-0}" -ge "$min_live_requests"
done

# ---- new connections during the churn ----
rig_require "the sampling client wrote its record" test -s "$dir/sample.json"
sample=$dir/sample.json
n_sample=$(jq length "$sample")
rig_log "new connections: $n_sample, by pod: $(jq -r '[.[] | .pod // "failed"] | group_by(.) | map("\(.[0])=\(length)") | join(" ")' "$sample")"
rig_check "at least $min_samples new connections were made during the churn ($n_sample)" \
    test "$n_sample" -ge "$min_samples"
for p in a b; do
    rig_check "new connections reached surviving pod $p" \
        test "$(jq -r "[.[] | select(.pod == \"$p\")] | length" "$sample")" -ge 1
done
rig_check "new connections reached the churned pods (the adds took effect)" \
    test "$(jq -r '[.[] | select(.pod == "c" or .pod == "d")] | length' "$sample")" -ge 1
syns_seen() {
    local port missing=0 seen
    seen=$(sed -n "s/^[0-9.]* IP $(rig_client_ip)\.\([0-9]*\) > $vip\.80: Flags \[S\].*/\1/p" "$syn_log" | sort -u)
    for port in $(jq -r '.[].port' "$sample"); do
        grep -qx "$port" <<<"$seen" || missing=$((missing + 1))
    done
    echo "$missing of $n_sample new connections have no SYN in the capture"
    [ "$missing" -eq 0 ]
}
rig_check "the capture saw the SYN of every new connection" syns_seen
# A failed new connection is excused only when its SYN went to a churned
# endpoint that was removed during its life; per endpoint, the excused
# failures stay within its largest ring share of the new connections.
classify_failures() {
    "$RIG_PYTHON" - "$sample" "$dir/removals" "$removal_slack" "$syn_log" "$(rig_client_ip)" \
        "$vip" "$max_share_pct" <<'PY'
import collections, json, math, re, sys
records = json.load(open(sys.argv[1]))
removals = [line.split() for line in open(sys.argv[2]) if line.strip()]
slack, client, vip, max_share = float(sys.argv[3]), sys.argv[5], sys.argv[6], int(sys.argv[7])
syn = re.compile(r"^(\S+) IP (\d+\.\d+\.\d+\.\d+)\.(\d+) > (\d+\.\d+\.\d+\.\d+)\.(\d+): Flags \[S\], seq (\d+)")
client_syns = collections.defaultdict(list)  # client port -> [(time, sequence number)]
forwarded = collections.defaultdict(set)     # sequence number -> pods the SYN went to
for line in open(sys.argv[4]):
    m = syn.match(line)
    if not m:
        continue
    ts, src, sport, dst, _, seq = m.groups()
    if src == client and dst == vip:
        client_syns[int(sport)].append((float(ts), seq))
    elif dst != vip:
        forwarded[seq].add(dst)
# A connection's own SYNs: its port, within its life (a port is reused by
# later connections; the capture and the client share the clock).
window = 0.5
excused = collections.Counter()
unexplained = 0
for r in records:
    if r["error"] is None:
        continue
    pods = set()
    for ts, seq in client_syns.get(r["port"], ()):
        if r["start"] - window <= ts <= r["end"] + window:
            pods |= forwarded.get(seq, set())
    hit = [ip for t0, t1, ip in removals if ip in pods and float(t0) < r["end"] and float(t1) + slack > r["start"]]
    if hit:
        excused[hit[0]] += 1
    else:
        unexplained += 1
        print("unexplained:", json.dumps(r), "SYN forwarded to:", sorted(pods) or "nowhere")
bound = math.ceil(len(records) * max_share / 100)
over = {ip: n for ip, n in excused.items() if n > bound}
for ip, n in over.items():
    print(f"too many: {n} failures excused on {ip}, more than its ring share allows ({bound})")
print(f"excused {sum(excused.values())} unexplained {unexplained} over_share {len(over)}")
PY
}
verdict=$(classify_failures)
rig_log "failed new connections: $(tail -n 1 <<<"$verdict")"
read -r _ excused _ unexplained _ over_share <<<"$(tail -n 1 <<<"$verdict")"
rig_check "every failed new connection had its SYN on an endpoint removed during its life ($(tr '\n' ' ' <<<"$verdict"))" \
    test "${unexplained:-x}" = 0
rig_check "failures excused per removed endpoint stay within its ring share ($excused of $n_sample in all, at most $max_share_pct% each)" \
    test "${over_share:-x}" = 0

rig_check "the service still answers after the churn" rig_curl -o /dev/null "$url"
rig_log "churn: $done_changes changes in ${churn_s}s"
rig_finish
