#!/usr/bin/env bash
# The control surface (issue 7 §5):
#  - no packet arriving on a data port reaches the API or the metrics
#    listener: from the client namespace, TCP to the gateway's port address
#    and to the VIP on the API/metrics ports gets no HTTP answer;
#  - the API unix socket is mode 0600;
#  - a tcp: API listen without a token is refused at start-up, and with a
#    token, a request without it is refused (401/403);
#  - request limits hold: an oversized body gets 413 and changes nothing.
set -uo pipefail
source "$(dirname "$0")/lib.sh"

RIG_NAME=surface
rig_daemon_only "the daemon's own API"
metrics_port=9100
api_port=9101

rig_init 43 fullnat
rig_add_pod a
rig_apply "mynginx $RIG_VIP 80 80 TCP $(rig_pod_ip a)"
rig_require "curl http://$RIG_VIP/ answers" rig_wait_pod "http://$RIG_VIP/" a
api_healthy() { rig_api /healthz | tail -n 1 | grep -q 'HTTP 200'; }
rig_require "the API answers on its unix socket" api_healthy

# ---- data ports never reach the control plane ----
no_http() {
    local host=$1 port=$2 code
    code=$(rig_client curl -s --max-time 2 -o /dev/null -w '%{http_code}' "http://$host:$port/metrics" 2>/dev/null)
    echo "curl http://$host:$port/metrics -> HTTP status '${code}'"
    [ "$code" = 000 ] # no HTTP response at all (refused, reset or timed out)
}
for host in "$(rig_gw_ip)" "$RIG_VIP" "$RIG_DNS_IP"; do
    for port in "$metrics_port" "$api_port" 80 8080; do
        [ "$host" = "$RIG_VIP" ] && [ "$port" = 80 ] && continue # the service itself
        rig_check "no HTTP answer from $host:$port on the data port" no_http "$host" "$port"
    done
done
# The metrics listener does work inside the gateway namespace (so the check
# above is not vacuous).
rig_check "metrics answer on 127.0.0.1:$metrics_port inside the gateway namespace" \
    bash -c "ip netns exec '$(rig_ns gw)' curl -sS --max-time 3 http://127.0.0.1:$metrics_port/metrics | grep -q '^svcgw_'"

# ---- unix socket mode ----
mode=$(stat -c %a "$RIG_TMP/api.sock")
rig_check "the API unix socket is mode 0600 (is $mode)" test "$mode" = 600

# ---- request limits ----
before=$(rig_api /v1/services | sed '$d')
big="$RIG_TMP/big.yaml"
head -c $((17 * 1024 * 1024)) /dev/zero | tr '\0' 'a' >"$big"
code=$(curl -sS --max-time 20 --unix-socket "$RIG_TMP/api.sock" -o /dev/null -w '%{http_code}' \
    -X POST -H 'Content-Type: application/yaml' --data-binary "@$big" http://svcgw/v1/apply 2>/dev/null)
rig_check "a 17 MiB body (limit 16 MiB) gets 413 (got $code)" test "$code" = 413
after=$(rig_api /v1/services | sed '$d')
rig_check "the oversized request changed nothing" test "$before" = "$after"
rig_check "the API still answers after the oversized request" api_healthy

# ---- tcp API ----
# Without a token: the config is invalid, so --check says why (exit 1,
# FILE:line:col: api.token_file: ...) and the daemon would not start.
RIG_API_LISTEN="tcp:127.0.0.1:$api_port"
cfg="$RIG_TMP/tcp-notoken.yaml"
rig_write_config "$cfg"
no_token_refused() {
    "$RIG_SVCGW_BIN" -c "$cfg" --check >"$RIG_TMP/notoken.out" 2>&1
    local rc=$?
    echo "exit status $rc: $(cat "$RIG_TMP/notoken.out")"
    [ "$rc" -eq 1 ] &&
        grep -Eq "^$cfg:[0-9]+:[0-9]+: api.token_file: api.listen on TCP requires api.token_file" "$RIG_TMP/notoken.out"
}
rig_check "--check refuses a tcp API listen without a token (exit 1, FILE:line:col: api.token_file)" no_token_refused
# With a token: restart the gateway on tcp and try without / with it.
token="$RIG_TMP/token"
echo "s3cret-$$" >"$token"
chmod 600 "$token"
rig_gateway_stop
RIG_API_TOKEN_FILE=$token
rig_apply "mynginx $RIG_VIP 80 80 TCP $(rig_pod_ip a)"
tcp_code() {
    ip netns exec "$(rig_ns gw)" curl -sS --max-time 3 -o /dev/null -w '%{http_code}' "$@" \
        "http://127.0.0.1:$api_port/v1/services" 2>/dev/null
}
for ((i = 0; i < 30; i++)); do
    [ "$(tcp_code -H "Authorization: Bearer $(cat "$token")")" = 200 ] && break
    sleep 0.2
done
rig_check "tcp API with the token answers 200" test "$(tcp_code -H "Authorization: Bearer $(cat "$token")")" = 200
c=$(tcp_code)
rig_check "tcp API without a token refuses ($c)" test "$c" = 401 -o "$c" = 403
c=$(tcp_code -H "Authorization: Bearer wrong")
rig_check "tcp API with a wrong token refuses ($c)" test "$c" = 401 -o "$c" = 403
rig_check "tcp API is not reachable from the data port" no_http "$(rig_gw_ip)" "$api_port"
rig_finish
