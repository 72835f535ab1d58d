#!/usr/bin/env bash
# A UDP service through the gateway: every request is answered from the
# ClusterIP at the first try (no retries: a lost datagram is a failure, so
# loss cannot hide behind a resend), and new flows (new client source
# ports) use both pods.
set -uo pipefail
source "$(dirname "$0")/lib.sh"

RIG_NAME=udp
rig_init 13 fullnat
vip=$RIG_VIP
port=5353
requests=60
min_share=$((requests / 5))  # each pod >= 20%

rig_add_pod a
rig_add_pod b
rig_pod_udp_echo a "$port"
rig_pod_udp_echo b "$port"
rig_apply "myecho $vip $port $port UDP $(rig_pod_ip a),$(rig_pod_ip b)"

out="$RIG_TMP/udp.out"
probe() {
    rig_client "$RIG_PYTHON" "$RIG_DIR/udp_client.py" "$vip" "$port" 1 >"$out" 2>&1 &&
        grep -q 'mynginx-' "$out"
}
poll_probe() {
    local i
    for ((i = 0; i < RIG_CONVERGE_TIMEOUT * 2; i++)); do
        probe && return 0
        sleep 0.3
    done
    cat "$out"
    return 1
}
rig_require "a UDP request to $vip:$port is answered" poll_probe

# Retries 0: each request is sent once.
rig_client "$RIG_PYTHON" "$RIG_DIR/udp_client.py" "$vip" "$port" "$requests" 0 >"$out" 2>&1
rc=$?
answered=$(grep -c ' mynginx-' "$out" || true)
rig_check "all $requests UDP requests from distinct source ports answered at the first try ($answered)" \
    test "$rc" -eq 0 -a "$answered" -eq "$requests"
ports=$(awk '{ print $1 }' "$out" | sort -u | wc -l)
rig_check "the requests used $requests distinct source ports ($ports)" test "$ports" -eq "$requests"
n_a=$(grep -c ' mynginx-a ' "$out" || true)
n_b=$(grep -c ' mynginx-b ' "$out" || true)
rig_log "spread: a=$n_a b=$n_b"
rig_check "both pods answer >= 20% (a=$n_a b=$n_b, min $min_share)" \
    test "$n_a" -ge "$min_share" -a "$n_b" -ge "$min_share"
# fullnat: the pods see the gateway's SNAT address, never the client's.
want=$(rig_gw_ip)
seen=$(awk '{ print $3 }' "$out" | grep -v '^$' | cut -d: -f1 | sort -u | tr '\n' ' ')
rig_check "pods see the SNAT source $want (saw: $seen)" test "$seen" = "$want "
rig_check "no answer came from a wrong source" bash -c "! grep -q WRONG-SOURCE '$out'"

# One flow sticks to one pod: repeated requests from one socket.
sticky() {
    rig_client "$RIG_PYTHON" - "$vip" "$port" <<'PY'
import socket, sys
vip, port = sys.argv[1], int(sys.argv[2])
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(1.0)
pods = set()
for i in range(10):
    s.sendto(b"again", (vip, port))
    pods.add(s.recvfrom(2048)[0].split()[0])
print(pods)
sys.exit(0 if len(pods) == 1 else 1)
PY
}
rig_check "10 requests of one UDP flow go to one pod" sticky

rig_finish
