#!/usr/bin/env bash
# Two builds of svcgw (e.g. -Dcpu_arch=native in build/ and x86-64 in
# build-asan/, as `make asan` does) must export the same table digests for
# the same configs: a fleet mixing them picks alike (DESIGN §6). Each build
# also runs the golden pick/hash unit tests (test_fleet, test_flow,
# test_net, test_dataplane); this is the end-to-end half, through
# `svcgw --check`, over the example configs and a generated one with rings
# of every automatic size.
# Usage: tests/compare_builds.sh BUILD_A BUILD_B
set -euo pipefail
a=${1:?usage: $0 BUILD_A BUILD_B}
b=${2:?usage: $0 BUILD_A BUILD_B}
here=$(cd "$(dirname "$0")/.." && pwd)
tmp=$(mktemp -d /tmp/svcgw-compare.XXXX)
trap 'rm -rf "$tmp"' EXIT

# 12 services with 1..2048 endpoints: every rung of the automatic ring-size
# ladder from 251 to 65537, weights, a drained endpoint, ClientIP affinity.
generated="$tmp/ladder.yaml"
{
    echo 'ports: [{name: ext0, device: "net_af_packet0,iface=veth-gw", address: 10.99.0.1/24}]'
    echo 'network: {service_cidr: 10.96.0.0/16}'
    echo 'maglev: {seed: 7}'
    echo 'services:'
    n=1
    for s in $(seq 0 11); do
        echo "  - name: svc$s"
        echo "    cluster_ip: 10.96.1.$((s + 1))"
        [ $((s % 3)) -eq 2 ] && echo "    session_affinity: ClientIP"
        echo "    ports: [{name: http, port: 80, target_port: 8080}, {name: dns, port: 53, target_port: 53, protocol: UDP}]"
        echo "    endpoints:"
        for e in $(seq 1 "$n"); do
            weight=$(((e % 4 + 1) * 50))
            [ "$e" -eq 3 ] && weight=0
            echo "      - {ip: 10.$((100 + s)).$((e / 250)).$((e % 250 + 1)), weight: $weight}"
        done
        n=$((n * 2))
    done
} >"$generated"

fail=0
for config in "$here"/config/*.yaml "$generated"; do
    out_a=$("$a/app/svcgw" -c "$config" --check 2>&1) || { echo "$a: --check $config failed: $out_a"; fail=1; continue; }
    out_b=$("$b/app/svcgw" -c "$config" --check 2>&1) || { echo "$b: --check $config failed: $out_b"; fail=1; continue; }
    if [ "$out_a" = "$out_b" ]; then
        echo "same: $out_a"
    else
        echo "DIFFERENT digests for $config:"
        echo "  $a: $out_a"
        echo "  $b: $out_b"
        fail=1
    fi
done
[ "$fail" -eq 0 ] && echo "compare_builds: $a and $b export the same digests"
exit "$fail"
