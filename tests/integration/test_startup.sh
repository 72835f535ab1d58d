#!/usr/bin/env bash
# Fail clean, tell the cause (issue 12 §4): every start-up failure exits 1
# within 5 s with one `svcgw: FILE: ...` line naming the cause, never
# "Success", never a hang: a missing interface, a device EAL cannot probe
# (after the API is already serving: its threads must be stopped), an EAL
# failure (another daemon holds the file prefix), an API socket that
# cannot be created. A good start afterwards still works, and tells a
# service manager (sd_notify, as systemd's Type=notify unit expects) when it
# is ready, reloading and stopping; the failed starts never said ready.
set -uo pipefail
source "$(dirname "$0")/lib.sh"

RIG_NAME=startup
rig_daemon_only "tests the daemon's start-up"
rig_init 45 fullnat
vip=$RIG_VIP
# The contract of the issue; a hang is cut at twice that.
limit_s=5

# start_fails NAME CONFIG PATTERN: the daemon started on CONFIG exits 1
# within limit_s, and its last `svcgw:` line matches PATTERN (ERE).
start_fails() {
    local name=$1 config=$2 pattern=$3 out="$RIG_TMP/$1.out" start rc elapsed_ms line
    start=$(date +%s%N)
    timeout -k 1 $((2 * limit_s)) ip netns exec "$(rig_ns gw)" "$RIG_SVCGW_BIN" -c "$config" \
        >"$out" 2>&1
    rc=$?
    elapsed_ms=$((($(date +%s%N) - start) / 1000000))
    line=$(grep '^svcgw: ' "$out" | grep -v '^svcgw: stopped$' | tail -n 1)
    if [ "$rc" -eq 124 ] || [ "$rc" -eq 137 ]; then
        echo "still running after $((2 * limit_s)) s (killed); last line: $line"
        return 1
    fi
    if [ "$rc" -ne 1 ]; then
        echo "exit status $rc, want 1; last line: $line"
        return 1
    fi
    if [ "$elapsed_ms" -gt $((limit_s * 1000)) ]; then
        echo "exited after ${elapsed_ms} ms, want <= ${limit_s} s"
        return 1
    fi
    if ! grep -Eq -- "$pattern" <<<"$line"; then
        echo "last line does not say /$pattern/: $line"
        return 1
    fi
    if grep -q 'Success' <<<"$line"; then
        echo "the cause reads 'Success': $line"
        return 1
    fi
    rig_log "$name: exit 1 after ${elapsed_ms} ms: $line"
}

# fails_edited NAME SED-EXPR WHAT PATTERN: the rig's config with one edit
# (SED-EXPR, written to NAME.yaml) fails to start as start_fails wants;
# WHAT says which failure it is.
fails_edited() {
    sed "$2" "$RIG_CONFIG" >"$RIG_TMP/$1.yaml"
    rig_check "$3: exit 1 in <= ${limit_s}s, naming the cause" \
        start_fails "$1" "$RIG_TMP/$1.yaml" "$4"
}

RIG_SERVICES=("mynginx $vip 80 80 TCP $(rig_ip 11)")
rig_write_config "$RIG_CONFIG"

# The manager's socket, inherited by every daemon this test starts.
notify_log="$RIG_TMP/notify.log"
export NOTIFY_SOCKET="$RIG_TMP/notify.sock"
rig_bg "$RIG_PYTHON" "$RIG_DIR/notify_listener.py" "$NOTIFY_SOCKET" "$notify_log" 240
for _ in $(seq 50); do [ -S "$NOTIFY_SOCKET" ] && break; sleep 0.1; done
touch "$notify_log"

fails_edited missing 's/iface=veth-gw/iface=nosuch0/' "a missing interface" \
    'ports\[0\]\.device: interface "nosuch0" does not exist'

# blocksz is not a power of two: the interface exists, the PMD refuses it.
# The API and metrics servers are up by then (they start before the port).
fails_edited unprobed 's/iface=veth-gw/iface=veth-gw,blocksz=3000/' \
    "a device EAL cannot probe (the PMD's reason)" 'net_af_packet0 could not be probed: .*veth-gw'
rig_check "the failed start removed its API socket" test ! -e "$RIG_TMP/api.sock"

fails_edited no_api "s|unix:$RIG_TMP/api.sock|unix:/proc/svcgw-nowhere/api.sock|" \
    "an API socket that cannot be created" \
    'api\.listen: cannot listen on unix:/proc/svcgw-nowhere/api.sock'

fails_edited bad_eal 's/extra_args: \[\]/extra_args: ["--no-such-eal-option"]/' \
    "an EAL argument error (EAL's reason)" 'EAL initialisation failed: .*(arguments|option)'

# The exception path's TAP cannot be created: the name is taken by a
# device that is not a TAP (the veth itself).
fails_edited tap_taken 's|address: \([0-9./]*\)}|address: \1, kernel_interface: veth-gw}|' \
    "a kernel_interface that cannot be created" 'ports\[0\]\.kernel_interface: TAP veth-gw: create: '

version_ok() {
    local out want
    want=$(sed -n "s/^  version : '\(.*\)',$/\1/p" "$RIG_DIR/../../meson.build")
    out=$("$RIG_SVCGW_BIN" --version) || return 1
    grep -q "^svcgw $want (" <<<"$out" || { echo "'$out' is not svcgw $want (...)"; return 1; }
}
rig_check "svcgw --version names the release of meson.build" version_ok

# A good start, then a second daemon on the same file prefix: EAL refuses
# it (the real cause, not rte_errno's "Success").
rig_add_pod a
rig_apply "mynginx $vip 80 80 TCP $(rig_pod_ip a)"
rig_require "the good config starts and serves" rig_wait_pod "http://$vip/" a
rig_check "a second daemon on the same dpdk.file_prefix: exit 1 in <= ${limit_s}s, EAL's reason" \
    start_fails same_prefix "$RIG_CONFIG" 'EAL initialisation failed: .*Is another primary process running'
rig_check "the first daemon still serves" rig_wait_pod "http://$vip/" a

# sd_notify: exactly one READY=1 so far (the good start; none of the six
# failed ones), with what it serves; a reload is RELOADING=1 then READY=1;
# SIGTERM says STOPPING=1.
# notified_after N PATTERN: a message after the log's first N lines matches.
notified_after() {
    local i
    for i in $(seq 30); do
        tail -n +$(($1 + 1)) "$notify_log" | grep -Eq -- "$2" && return 0
        sleep 0.1
    done
    echo "no /$2/ after line $1: $(tr '\n' ' ' <"$notify_log")"
    return 1
}
ready_once() {
    [ "$(grep -c '^READY=1|STATUS=serving 1 services, tables digest [0-9a-f]\{16\}$' "$notify_log")" -eq 1 ] &&
        [ "$(grep -c 'READY=1' "$notify_log")" -eq 1 ] ||
        { echo "want one READY=1 with its STATUS: $(tr '\n' ' ' <"$notify_log")"; return 1; }
}
rig_check "sd_notify: READY=1 once, after the good start, with STATUS" ready_once
before=$(wc -l <"$notify_log")
rig_svcgw_reload
rig_check "sd_notify: a reload is RELOADING=1 (with MONOTONIC_USEC), then READY=1" \
    notified_after "$before" '^RELOADING=1\|MONOTONIC_USEC=[0-9]+$'
rig_check "sd_notify: READY=1 again after the reload" \
    bash -c "[ \$(tail -n +$((before + 1)) '$notify_log' | grep -c '^READY=1|') -eq 1 ]"
before=$(wc -l <"$notify_log")
rig_gateway_stop
rig_check "sd_notify: SIGTERM says STOPPING=1" notified_after "$before" '^STOPPING=1$'

rig_finish
