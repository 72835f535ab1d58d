#!/usr/bin/env bash
# Faults (issue 7 §4), each bounded in time:
#  1. a backend that vanishes mid-stream (its link cut, then its namespace
#     deleted: no kernel is left to reset anything) and whose endpoint is
#     then deleted: the gateway clears its flows and re-balances the next
#     segment to a survivor, whose kernel resets it, so the keep-alive
#     client sees a reset within seconds (a gateway that kept the flow on
#     the dead backend leaves it to time out); every new connection goes
#     to the surviving pods;
#  2. a reload that fails validation (valid YAML, a duplicate ClusterIP)
#     is rejected with its reason logged after the SIGHUP, and changes
#     nothing: same services over the API, an established connection
#     survives it (test_check.sh covers syntax errors);
#  3. an API client that disconnects mid-request (half the headers, half
#     a body, nothing at all) harms nothing: the API still answers and the
#     services are unchanged;
#  4. the gateway restarted with the same config maps new flows to the same
#     backends (deterministic Maglev): 30 fixed client source ports, the
#     pod that answers each, before and after the restart, identical.
set -uo pipefail
source "$(dirname "$0")/lib.sh"

RIG_NAME=faults
rig_daemon_only "restarts and the API are the daemon's"
vip=$RIG_VIP
url="http://$vip/"

rig_init 42 fullnat
rig_add_pod a
rig_add_pod b
rig_add_pod c
svc() { echo "mynginx $vip 80 80 TCP $1"; }
rig_apply "$(svc "$(rig_pod_ip a),$(rig_pod_ip b),$(rig_pod_ip c)")"
rig_require "curl $url answers" rig_curl -o /dev/null "$url"

# ---- 1. backend vanished mid-stream ----
# wait_first_answer OUT: the keep-alive client writing OUT got its first answer.
wait_first_answer() {
    local j
    for ((j = 0; j < 50; j++)); do
        grep -q '^1 ' "$1" 2>/dev/null && return 0
        grep -q '^BROKEN' "$1" 2>/dev/null && break
        sleep 0.1
    done
    echo "no first answer: $(tail -n 1 "$1")"
    return 1
}
# Keep-alive clients until one lands on pod a (at most 12 tries).
victim_out=""
for ((i = 0; i < 12; i++)); do
    out="$RIG_TMP/ka$i.out"
    rig_bg rig_client "$RIG_PYTHON" "$RIG_DIR/keepalive_client.py" "$vip" 80 "$RIG_TMP/ka.stop" 0.3 60 >"$out" 2>&1
    pid=${RIG_BG_PIDS[-1]}
    wait_first_answer "$out" >/dev/null
    if grep -q '^1 .* mynginx-a' "$out"; then
        victim_out=$out
        victim_pid=$pid
        break
    fi
done
rig_require "a keep-alive connection is served by pod a" test -n "$victim_out"
flows_cleared_before=$(rig_event flow_rebalanced)
# The pod vanishes as a dead node does: its link first, so that nothing it
# sends on the way out (nginx's FIN or RST) reaches the client.
ip -n "$(rig_ns br)" link del "p-a"
rig_del_pod a
# Its requests now go nowhere: the client hangs (until its 5 s timeout)
# unless the gateway acts on the endpoint's removal.
rig_check "the client of the vanished backend is not reset before its endpoint goes" \
    bash -c "kill -0 $victim_pid 2>/dev/null && ! grep -q '^BROKEN' '$victim_out'"
start=$SECONDS
rig_apply "$(svc "$(rig_pod_ip b),$(rig_pod_ip c)")"
for ((i = 0; i < 150; i++)); do
    kill -0 "$victim_pid" 2>/dev/null || break
    sleep 0.1
done
took=$((SECONDS - start))
rig_check "the client of the vanished backend fails within 15 s of the endpoint's removal (took ${took}s)" \
    bash -c "! kill -0 $victim_pid 2>/dev/null"
rig_check "it fails with a reset from a survivor, not a timeout ($(tail -n 1 "$victim_out"))" \
    grep -Eq '^BROKEN .*(ConnectionResetError|Connection reset)' "$victim_out"
flows_cleared=$(rig_event flow_rebalanced)
rig_check "the gateway cleared the vanished backend's flow (flow_rebalanced $flows_cleared_before -> $flows_cleared)" \
    test "${flows_cleared:-0}" -gt "${flows_cleared_before:-0}"
only_survivors() {
    local k pod bad=0
    for ((k = 1; k <= 20; k++)); do
        pod=$(rig_curl "$url?after-delete=$k" 2>/dev/null | rig_page_pod)
        case $pod in b | c) ;; *) bad=$((bad + 1)) ;; esac
    done
    echo "$bad of 20 new connections not served by b or c"
    [ "$bad" -eq 0 ]
}
rig_check "after deleting pod a's endpoint, new connections go to b or c" only_survivors

# ---- 2. a reload that fails validation changes nothing ----
rm -f "$RIG_TMP/ka.stop"
rig_ka_start "$vip" 80 0.3 60
rig_require "a keep-alive connection is up before the failed reload" rig_ka_wait 1
services_before=$(rig_api /v1/services | sed '$d')
good_config=$(cat "$RIG_CONFIG")
# Valid YAML, invalid config: a second service on the same ClusterIP:port.
RIG_SERVICES=("$(svc "$(rig_pod_ip b)")" "other $vip 80 80 TCP $(rig_pod_ip c)")
rig_write_config "$RIG_CONFIG"
rig_reload
rig_check "the daemon handles the invalid reload and rejects it ($RIG_RELOAD_OUTCOME)" \
    test "$RIG_RELOAD_OUTCOME" = rejected
rig_check "the daemon survives a reload that fails validation" rig_gateway_alive
services_after=$(rig_api /v1/services | sed '$d')
rig_check "the failed reload changed no service" test "$services_before" = "$services_after"
# Only what the daemon logged after this SIGHUP counts: the earlier
# successful reloads logged "reload:" lines too.
rejection_logged() {
    local after
    after=$(rig_log_since "$RIG_RELOAD_LOG_FROM")
    echo "logged after the SIGHUP: $(tr '\n' ' ' <<<"$after")"
    grep -q 'reload: rejected, configuration unchanged' <<<"$after" &&
        grep -q "$vip:80/TCP is already used by service" <<<"$after"
}
rig_check "the failed reload is logged with its reason (the duplicate $vip) after the SIGHUP" rejection_logged
rig_check "an established connection survives the failed reload" rig_ka_alive
touch "$RIG_KA_STOP"
echo "$good_config" >"$RIG_CONFIG"
RIG_SERVICES=("$(svc "$(rig_pod_ip b),$(rig_pod_ip c)")")

# ---- 3. API clients that disconnect mid-request ----
half_requests() {
    "$RIG_PYTHON" - "$RIG_TMP/api.sock" <<'PY'
import socket, sys, time
path = sys.argv[1]
parts = [
    b"",                                                   # connect, close
    b"GET /v1/serv",                                       # half a request line
    b"POST /v1/apply HTTP/1.1\r\nHost: x\r\nContent-Le",   # half the headers
    b"POST /v1/apply HTTP/1.1\r\nHost: x\r\nContent-Type: application/yaml\r\n"
    b"Content-Length: 4000\r\n\r\nservices:\n- name: half\n",  # half a body
    b"PUT /v1/namespaces/default/services/mynginx HTTP/1.1\r\nHost: x\r\n"
    b"Content-Length: 100000\r\n\r\n{\"ports\": [",
]
for p in parts * 4:
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(path)
    if p:
        s.sendall(p)
    time.sleep(0.05)
    s.close()
print("sent", len(parts) * 4, "truncated requests")
PY
}
services_before=$(rig_api /v1/services | sed '$d')
rig_check "truncated API requests can be sent" half_requests
api_ok() { rig_api /healthz | tail -n 1 | grep -q 'HTTP 200'; }
rig_check "the API still answers after 20 truncated requests" api_ok
services_after=$(rig_api /v1/services | sed '$d')
rig_check "truncated requests changed no service" test "$services_before" = "$services_after"
rig_check "the service still answers" rig_curl -o /dev/null "$url"

# ---- 4. restart with the same config: the same backends ----
ports=()
# Above the ephemeral range (32768-60999): an earlier curl's port, still in
# TIME_WAIT, cannot be one of them (connect() hands out consecutive ports
# from a per-boot hashed offset, so a collision hit several at once).
for ((p = 61000; p < 61030; p++)); do ports+=("$p"); done
# Which pod answers each fixed source port ("port:pod" per line).
mapping() {
    local p pod
    for p in "${ports[@]}"; do
        pod=$(rig_curl --local-port "$p" -H 'Connection: close' "$url?port=$p" 2>/dev/null | rig_page_pod)
        echo "$p:${pod:-none}"
    done
}
# The same source ports are bound again after the restart: curl may close
# first and leave them in TIME_WAIT (bind: EADDRINUSE), so the client
# namespace keeps no TIME_WAIT sockets.
rig_client sysctl -qw net.ipv4.tcp_max_tw_buckets=0
rig_client sysctl -qw net.ipv4.ip_local_reserved_ports="${ports[0]}-${ports[-1]}"
before=$(mapping)
rig_log "before restart: $(echo "$before" | cut -d: -f2 | sort | uniq -c | tr '\n' ' ')"
rig_check "every fixed source port got an answer before the restart" \
    bash -c "! grep -q ':none' <<<'$before'"
rig_gateway_stop
rig_apply "${RIG_SERVICES[@]}"
rig_require "curl $url answers after the restart" rig_curl -o /dev/null "$url"
after=$(mapping)
diffs=$(diff <(echo "$before") <(echo "$after") | grep -c '^>' || true)
same_mapping() {
    [ "$before" = "$after" ] && return 0
    echo "before/after: $(paste -d' ' <(echo "$before") <(echo "$after") | awk '$1 != $2' | head -n 8 | tr '\n' ' ')"
    return 1
}
rig_check "the same 30 source ports map to the same pods after the restart ($diffs differ)" same_mapping
rig_check "both pods are in the mapping (not a one-pod vacuous pass)" \
    bash -c "grep -q ':b' <<<'$before' && grep -q ':c' <<<'$before'"
rig_finish
