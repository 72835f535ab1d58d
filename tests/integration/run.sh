#!/usr/bin/env bash
# Runs every integration test against BUILD_DIR/app/svcgw (or, with
# SVCGW_GATEWAY=kernel, against the kernel reference gateway) and prints
#   integration: N passed, N failed
# Tests run one after the other (each builds its own namespaces) under a
# time limit. A test that exits 2 declares itself not applicable to the
# selected gateway; it is listed as skipped, never hidden.
# Usage: tests/integration/run.sh BUILD_DIR [TEST_NAME_FILTER]
set -uo pipefail

here=$(cd "$(dirname "$0")" && pwd)
build=${1:?usage: $0 BUILD_DIR [FILTER]}
filter=${2:-}
gateway=${SVCGW_GATEWAY:-svcgw}
per_test_timeout=${SVCGW_TEST_TIMEOUT:-300}

if [ "$(id -u)" -ne 0 ]; then
    echo "integration: needs root (network namespaces); run as root" >&2
    echo "integration: 0 passed, 1 failed"
    exit 1
fi
export SVCGW_GATEWAY=$gateway
SVCGW_BIN=$(realpath -m "$build")/app/svcgw
export SVCGW_BIN
SVCGWCTL_BIN=$(realpath -m "$build")/tools/svcgwctl
export SVCGWCTL_BIN
if [ "$gateway" = svcgw ] && [ ! -x "$SVCGW_BIN" ]; then
    echo "integration: $SVCGW_BIN is missing; every test will fail" >&2
fi

tests=(
    "test_walkthrough.sh fullnat"
    "test_walkthrough.sh nat"
    "test_udp.sh"
    "test_workers.sh"
    "test_tap_or_xdp.sh"
    "test_check.sh"
    "test_dns.sh"
    "test_surface.sh"
    "test_mtu.sh"
    "test_faults.sh"
    "test_flood.sh"
    "test_churn.sh fullnat"
)

passed=0
failed=0
skipped=0
failed_names=()
logdir=$(mktemp -d /tmp/svcgw-integration.XXXX)
for t in "${tests[@]}"; do
    if [ -n "$filter" ] && [[ "$t" != *"$filter"* ]]; then
        continue
    fi
    read -r -a argv <<<"$t"
    name="${t// /-}"
    name=${name%.sh}
    echo "=== $t (gateway: $gateway)"
    log="$logdir/${name//.sh/}.log"
    timeout -k 10 "$per_test_timeout" bash "$here/${argv[0]}" "${argv[@]:1}" 2>&1 | tee "$log"
    rc=${PIPESTATUS[0]}
    case $rc in
        0) passed=$((passed + 1)) ;;
        2)
            skipped=$((skipped + 1))
            echo "--- SKIPPED $t: not applicable to SVCGW_GATEWAY=$gateway"
            ;;
        124 | 137)
            failed=$((failed + 1))
            failed_names+=("$t (timed out after ${per_test_timeout}s)")
            ;;
        *)
            failed=$((failed + 1))
            failed_names+=("$t")
            ;;
    esac
done

for t in "${failed_names[@]}"; do
    echo "failed: $t (log: $logdir)"
done
if [ "$skipped" -ne 0 ]; then
    echo "integration: $skipped skipped (daemon-only tests under SVCGW_GATEWAY=$gateway)"
fi
if [ "$failed" -eq 0 ]; then
    rm -rf "$logdir"
fi
echo "integration: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
