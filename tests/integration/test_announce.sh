#!/usr/bin/env bash
# Route health injection (issue 13 §1): svcgw decides which VIP /32 routes
# the gateway's BIRD announces, writes them into the file BIRD includes and
# reloads BIRD through its control socket. BIRD (Debian's bird2) runs in the
# gateway's namespace; what it would export is read from its own table
# (`birdc show route protocol svcgw`).
#
# Not tested here: the BGP session itself, over the kernel exception path
# (the port's TAP, issue 12 §1) to a router: the fleet rig
# (tests/integration/fleet/, issue 13 §3) is where the router lives.
#
# Asserts:
#  - BIRD absent: svcgw runs, `svcgwctl fleet` says BIRD is not in sync and
#    exits 1; BIRD started later gets the routes within 2 s;
#  - a VIP with a ready backend is announced, a VIP without one is not
#    (reason shown); giving it an endpoint announces it within 1 s;
#  - `svcgwctl drain` returns with every VIP route gone from BIRD, while a
#    keep-alive connection and new connections are still served; `drain
#    --wait` returns once the flows are gone;
#  - a restarted drained instance comes back drained (drain file), with the
#    tables digest `svcgw --check` gives for its file; `undrain` announces
#    again;
#  - `fleet expect N` withdraws while fleet.generation differs, and a reload
#    to generation N announces again;
#  - SIGTERM withdraws every route before the daemon exits.
set -uo pipefail
source "$(dirname "$0")/lib.sh"

RIG_NAME=announce
rig_daemon_only "svcgw's route announcer drives BIRD"
RIG_TOOLS+=(bird birdc)

net=52
vip=$RIG_VIP
vip2=10.96.0.21
RIG_ANNOUNCE_TIMEOUT=5 # s, bound of every wait for BIRD's table

rig_init "$net" fullnat
rig_add_pod a

bird_sock=$RIG_TMP/bird.ctl
routes_file=$RIG_TMP/bird-routes.conf
drain_file=$RIG_TMP/drained
generation=1
fleet_yaml() {
    echo "fleet: {announce: true, bird_socket: \"$bird_sock\", routes_file: \"$routes_file\", drain_file: \"$drain_file\", drain_deadline_s: 60, generation: $generation}"
    # Closed connections leave the flow table in 2 s, so `drain --wait` is quick.
    echo "conntrack: {tcp_transitory_timeout_s: 2}"
}
mapfile -t RIG_CONFIG_EXTRA < <(fleet_yaml)

# The operator's BIRD config (README "Running a fleet"), minus the BGP peer.
cat >"$RIG_TMP/bird.conf" <<CONF
router id 10.99.$net.1;
log "$RIG_TMP/bird.log" all;
protocol device {}
protocol static svcgw {
    ipv4;
    include "$routes_file";
}
CONF

bird_start() {
    rig_bg rig_in gw bird -f -c "$RIG_TMP/bird.conf" -s "$bird_sock" -P "$RIG_TMP/bird.pid"
}
# bird_routes: the /32s BIRD holds from svcgw, one per line, sorted.
bird_routes() {
    birdc -s "$bird_sock" show route protocol svcgw 2>/dev/null |
        grep -oE '^[ ]*[0-9.]+/32' | tr -d ' ' | sort
}
# bird_wait WANT...: BIRD's svcgw routes become exactly WANT (bounded).
bird_wait() {
    local want got deadline=$((SECONDS + RIG_ANNOUNCE_TIMEOUT))
    want=$(printf '%s\n' "$@" | sed '/^$/d' | sort)
    while [ $SECONDS -lt $deadline ]; do
        got=$(bird_routes)
        [ "$got" = "$want" ] && return 0
        sleep 0.05
    done
    echo "BIRD has [$(echo "$got" | tr '\n' ' ')], expected [$(echo "$want" | tr '\n' ' ')]"
    return 1
}
# bird_none: BIRD holds no route from svcgw now (no waiting).
bird_none() {
    local got
    got=$(bird_routes)
    echo "BIRD has [$(echo "$got" | tr '\n' ' ')]"
    [ -z "$got" ]
}
# fleet_shows REGEX: `svcgwctl fleet` prints a line matching REGEX.
fleet_shows() {
    local out
    out=$(rig_ctl fleet 2>&1)
    echo "$out"
    grep -qE "$1" <<<"$out"
}

wait_api() {
    local i
    for ((i = 0; i < 50; i++)); do
        rig_ctl get services >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    return 1
}

# ---- BIRD not running yet ----
rig_apply "mynginx $vip 80 80 TCP $(rig_pod_ip a)" "other $vip2 80 80 TCP -"
out=$(rig_ctl fleet 2>&1)
rc=$?
rig_check "without BIRD: svcgwctl fleet exits 1, BIRD not in sync (connect)" \
    bash -c "[ $rc -eq 1 ] && grep -q 'NOT in sync: .*connect' <<<'$out'"
rig_check "the routes file is written anyway, with the announced VIP" grep -q "route $vip/32 blackhole;" "$routes_file"

bird_start
rig_require "BIRD started later gets the routes: $vip only" bird_wait "$vip/32"
rig_check "svcgwctl fleet: BIRD in sync, $vip2 withdrawn for want of a backend" \
    fleet_shows "$vip2/32 +vip +withdrawn \(no eligible backend\)"

# ---- a backend appears ----
start=$(date +%s%N)
rig_ctl set endpoints other "$(rig_pod_ip a)" >/dev/null
rig_check "an endpoint for $vip2: BIRD announces it" bird_wait "$vip/32" "$vip2/32"
ms=$((($(date +%s%N) - start) / 1000000))
rig_check "... within 1 s of the API call (${ms} ms)" test "$ms" -lt 1000
rig_ctl endpoints remove other "$(rig_pod_ip a)" >/dev/null
rig_check "the endpoint removed: $vip2 withdrawn again" bird_wait "$vip/32"

# ---- drain ----
ka_out=$RIG_TMP/keepalive.out
ka_stop=$RIG_TMP/keepalive.stop
rig_bg rig_client "$RIG_PYTHON" "$RIG_DIR/keepalive_client.py" "$vip" 80 "$ka_stop" 0.2 120 >"$ka_out" 2>&1
ka_pid=${RIG_BG_PIDS[-1]}
ka_lines() { grep -c '^[0-9]' "$ka_out" || true; }
ka_alive() { # requests keep being answered on the one connection
    local before
    before=$(ka_lines)
    sleep 0.6
    [ "$(ka_lines)" -gt "$before" ] && ! grep -q BROKEN "$ka_out" && kill -0 "$ka_pid" 2>/dev/null
}
ka_started() { # the client's first answer (python starts slowly on a busy box)
    local i
    for ((i = 0; i < 100; i++)); do
        [ "$(ka_lines)" -gt 0 ] && return 0
        sleep 0.1
    done
    cat "$ka_out"
    return 1
}
rig_require "the keep-alive connection starts" ka_started
rig_require "the keep-alive connection runs" ka_alive
rig_check "svcgwctl drain exits 0" rig_ctl drain --deadline=30
rig_check "when drain returns, BIRD has withdrawn every VIP" bird_none
rig_check "draining: the keep-alive connection is still served" ka_alive
rig_check "draining: a new connection is still served" rig_wait_pod "http://$vip/" a
rig_check "svcgwctl fleet shows draining with flows left" fleet_shows "draining, since .* [1-9][0-9]* flows left"
touch "$ka_stop"
rig_check "drain --wait returns once the flows are gone" timeout 20 "$RIG_SVCGWCTL_BIN" \
    --server "unix:$RIG_TMP/api.sock" drain --deadline=30 --wait
rig_check "the keep-alive client saw no error" bash -c "wait $ka_pid 2>/dev/null; grep -q '^OK' '$ka_out'"

# ---- restart while drained ----
rig_gateway_stop
rig_check "the drain file is kept across the restart" test -f "$drain_file"
rig_svcgw_start
rig_require "the API answers after the restart" wait_api
rig_check "restarted drained: svcgwctl fleet says so" fleet_shows "drained, since"
rig_check "restarted drained: BIRD announces nothing" bird_none
# The upgrade procedure's check: the restarted gateway serves the tables the
# file describes (svcgw --check prints the digest a gateway serving it exports).
digest_matches() {
    local want got
    want=$("$RIG_SVCGW_BIN" -c "$RIG_CONFIG" --check | sed -n 's/.*tables digest \([0-9a-f]*\).*/\1/p')
    got=$(rig_stats '.tables_digest')
    echo "--check: $want, running: $got"
    [ -n "$want" ] && [ "$want" = "$got" ]
}
rig_check "restarted drained: its tables digest is the config's (svcgw --check)" digest_matches
rig_check "svcgwctl undrain exits 0" rig_ctl undrain
rig_check "undrained: BIRD announces $vip again" bird_wait "$vip/32"
rig_check "undrain removed the drain file" test ! -e "$drain_file"

# ---- expected generation ----
rig_check "svcgwctl fleet expect 2 (running generation 1)" rig_ctl fleet expect 2
rig_check "generation mismatch: BIRD withdraws $vip" bird_wait
rig_check "svcgwctl fleet shows why" fleet_shows "$vip/32 +vip +withdrawn \(generation mismatch\)"
generation=2
mapfile -t RIG_CONFIG_EXTRA < <(fleet_yaml)
rig_apply "mynginx $vip 80 80 TCP $(rig_pod_ip a)" "other $vip2 80 80 TCP -"
rig_check "reload to generation 2: BIRD announces $vip again" bird_wait "$vip/32"

# ---- SIGTERM ----
rig_gateway_stop
rig_check "after SIGTERM: BIRD announces nothing" bird_none
rig_finish
