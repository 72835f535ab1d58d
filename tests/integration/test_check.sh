#!/usr/bin/env bash
# Config validation: `svcgw -c FILE --check` reports FILE:line:col errors
# and exits 1, exits 0 for a good file; a SIGHUP with a broken file changes
# nothing (the old services keep serving, the daemon keeps running).
set -uo pipefail
source "$(dirname "$0")/lib.sh"

RIG_NAME=check
rig_daemon_only "tests the daemon's validation"
rig_init 16 fullnat
vip=$RIG_VIP

good="$RIG_TMP/good.yaml"
RIG_SERVICES=("mynginx $vip 80 80 TCP $(rig_ip 11)")
rig_write_config "$good"

check_rc() { # FILE -> exit status of --check; output in $RIG_TMP/check.out
    "$RIG_SVCGW_BIN" -c "$1" --check >"$RIG_TMP/check.out" 2>&1
}
check_good() {
    check_rc "$good" || { echo "exit status $?: $(cat "$RIG_TMP/check.out")"; return 1; }
}
rig_check "--check accepts a good file (exit 0)" check_good

# bad_case NAME LINE < yaml: --check must exit 1 and print an error located
# at FILE:LINE:COL (LINE counts from 1 at the first line of the document; it
# is a regular expression).
bad_case() {
    local name=$1 line=$2 file="$RIG_TMP/bad-$1.yaml" rc
    cat >"$file"
    check_rc "$file"
    rc=$?
    if [ "$rc" -ne 1 ]; then
        echo "exit status $rc, want 1: $(cat "$RIG_TMP/check.out")"
        return 1
    fi
    if ! grep -Eq "^$file:$line:[0-9]+: " "$RIG_TMP/check.out"; then
        echo "no '$file:$line:COL: ' line in: $(cat "$RIG_TMP/check.out")"
        return 1
    fi
}
port_line='  - {name: ext0, device: "net_af_packet0,iface=veth-gw", address: 10.99.16.1/24}'

rig_check "--check: ClusterIP outside service_cidr -> exit 1 with file:line:col" bad_case cidr 5 <<YAML
ports:
$port_line
services:
  - name: web
    cluster_ip: 192.168.1.1
    ports: [{port: 80, target_port: 80}]
YAML
rig_check "--check: port out of range -> exit 1 with file:line:col" bad_case port 5 <<YAML
ports:
$port_line
services:
  - name: web
    ports: [{port: 70000, target_port: 80}]
YAML
rig_check "--check: unknown forwarding mode -> exit 1 with file:line:col" bad_case mode 3 <<YAML
ports:
$port_line
forwarding: {mode: teleport}
YAML
rig_check "--check: YAML syntax error -> exit 1 with file:line:col" bad_case syntax 4 <<YAML
ports:
$port_line
services:
  - name: web: extra
YAML
# An unclosed bracket is only detectable at the end of the stream, so any
# line is accepted there.
rig_check "--check: unclosed flow sequence -> exit 1 with file:line:col" bad_case unclosed '[0-9]+' <<YAML
ports:
$port_line
services:
  - name: [unclosed
YAML
missing_file() {
    "$RIG_SVCGW_BIN" -c "$RIG_TMP/missing.yaml" --check >"$RIG_TMP/check.out" 2>&1
    local rc=$?
    [ "$rc" -eq 1 ] || { echo "exit status $rc: $(cat "$RIG_TMP/check.out")"; return 1; }
}
rig_check "--check: missing file -> exit 1" missing_file

# Flow tables that do not fit memory_mb: refused by --check and at start,
# naming the size that fits; that size then passes --check.
memory_refused() {
    local file="$RIG_TMP/small-memory.yaml" rc needed
    printf 'dpdk: {lcores: "0-1", memory_mb: 64, hugepages: false}\nports:\n%s\nconntrack: {max_flows: 2097152}\n' \
        "$port_line" >"$file"
    check_rc "$file"
    rc=$?
    [ "$rc" -eq 1 ] || { echo "--check exit status $rc, want 1: $(cat "$RIG_TMP/check.out")"; return 1; }
    needed=$(sed -n 's/^dpdk.memory_mb: .*set memory_mb to at least \([0-9]*\) .*/\1/p' "$RIG_TMP/check.out")
    [ -n "$needed" ] || { echo "no 'dpdk.memory_mb: ... at least N' in: $(cat "$RIG_TMP/check.out")"; return 1; }
    "$RIG_SVCGW_BIN" -c "$file" >"$RIG_TMP/start.out" 2>&1
    rc=$?
    [ "$rc" -eq 1 ] && grep -q "dpdk.memory_mb: .*at least $needed " "$RIG_TMP/start.out" ||
        { echo "start: exit status $rc, want 1 with the same size: $(cat "$RIG_TMP/start.out")"; return 1; }
    sed -i "s/memory_mb: 64/memory_mb: $needed/" "$file"
    check_rc "$file" || { echo "memory_mb $needed refused: $(cat "$RIG_TMP/check.out")"; return 1; }
}
rig_check "--check and start refuse flow tables larger than memory_mb and name the size that fits" memory_refused

# A running daemon keeps its state when a reload is broken.
rig_add_pod a
rig_apply "mynginx $vip 80 80 TCP $(rig_pod_ip a)"
rig_require "the service answers before the broken reload" rig_wait_pod "http://$vip/" a
cp "$RIG_CONFIG" "$RIG_TMP/last-good.yaml"
# Break the live file: the same service at a ClusterIP outside the CIDR.
sed -i "s/cluster_ip: $vip/cluster_ip: 192.168.7.7/" "$RIG_CONFIG"
# Everything below probes after the daemon has handled the SIGHUP.
rig_reload
rig_require "the daemon handles the SIGHUP with a broken file and rejects it ($RIG_RELOAD_OUTCOME)" \
    test "$RIG_RELOAD_OUTCOME" = rejected
rig_check "daemon still running after a SIGHUP with a broken file" rig_gateway_alive
rig_check "the old service still answers after the broken reload" rig_wait_pod "http://$vip/" a
reload_error() {
    rig_log_since "$RIG_RELOAD_LOG_FROM" | grep -E "$RIG_CONFIG:[0-9]+:[0-9]+: " >/dev/null ||
        { echo "no '$RIG_CONFIG:line:col: ' error in the log after the reload"; return 1; }
}
rig_check "the rejected reload is logged as FILE:line:col" reload_error
# A good reload afterwards still works (the daemon did not wedge).
rig_add_pod b
rig_apply "mynginx $vip 80 80 TCP $(rig_pod_ip b)"
rig_check "a good reload after the broken one takes effect" rig_wait_pod "http://$vip/" b

rig_finish
