#!/usr/bin/env bash
# Runs every integration test against BUILD_DIR/app/svcgw (or, with
# SVCGW_GATEWAY=kernel, against the kernel reference gateway) and prints
#   integration: N passed, N failed
# Tests run one after the other (each builds its own namespaces) under a
# time limit.
#
# Skips: a test exits 77 (automake's skip code) to say it does not apply.
# Only the daemon-only tests (marked below) may, and only against the
# kernel reference gateway (SVCGW_GATEWAY=kernel, which has no API, lcores
# or devices): anywhere else 77 is a failure, as is any other non-zero
# status (bash itself exits 2 on a syntax error). A filter that selects no
# test fails the run, so a typo cannot pass for a green run.
#
# Sanitizers: the options below are exported for every test, so a BUILD_DIR
# configured with -Db_sanitize=address,undefined (make asan-integration) runs
# the daemon, svcgwctl and --check runs under ASan/LSan/UBSan. Each report
# goes to a file of its own (log_path) rather than to stderr, where the
# tests discard the output of many runs (svcgwctl, --check) and only read
# the exit codes; a test that leaves a report fails, whatever its status.
# (The options are inert for an unsanitized build.)
# Usage: tests/integration/run.sh BUILD_DIR [TEST_NAME_FILTER]
#        (SVCGW_SKIP_TESTS: see below)
set -uo pipefail

# Exit status of a test that does not apply (lib.sh rig_daemon_only).
readonly skip_status=77

here=$(cd "$(dirname "$0")" && pwd)
build=${1:?usage: $0 BUILD_DIR [FILTER]}
filter=${2:-}
gateway=${SVCGW_GATEWAY:-svcgw}
per_test_timeout=${SVCGW_TEST_TIMEOUT:-300}
# SVCGW_SKIP_TESTS="a.sh,b.sh nat": entries (as listed below, without
# "daemon:"; comma-separated) left out of a whole-suite run (make
# asan-integration: see the Makefile); a filter naming one runs it anyway.
IFS=, read -r -a skip_list <<<"${SVCGW_SKIP_TESTS:-}"

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
# Every tool the rig and the tests use, checked once before anything runs.
if ! missing=$(bash -c 'source "$1/lib.sh" && rig_missing_tools' _ "$here"); then
    echo "integration: missing $missing (run tools/install-deps.sh)" >&2
    echo "integration: 0 passed, 1 failed"
    exit 1
fi

# "daemon:" marks a test that runs only against svcgw (its API, lcores,
# devices or restarts): the one kind that may skip, under the kernel gateway.
tests=(
    "test_walkthrough.sh fullnat"
    "test_walkthrough.sh nat"
    "test_udp.sh"
    "daemon:test_workers.sh"
    "daemon:test_affinity.sh"
    "daemon:test_tap_or_xdp.sh"
    "daemon:test_check.sh"
    "daemon:test_startup.sh"
    "daemon:test_offload.sh"
    "daemon:test_hostpath.sh"
    "daemon:test_hostpath.sh tap_pmd"
    "daemon:test_dns.sh"
    "daemon:test_surface.sh"
    "test_mtu.sh"
    "daemon:test_faults.sh"
    "daemon:test_flood.sh"
    "daemon:test_churn.sh fullnat"
    "daemon:test_churn.sh nat"
    "daemon:test_health.sh"
    "test_kubeapi.sh"
    "daemon:test_kube_walkthrough.sh"
    "daemon:test_kube_lb.sh"
    "daemon:test_kube_nodeport.sh"
    "daemon:test_kube_chaos.sh"
    "daemon:test_fleet_leases.sh"
    "daemon:test_endpoints.sh"
    "daemon:test_cluster_export.sh"
    "daemon:test_announce.sh"
    "daemon:test_fleet_nat.sh"
    "daemon:fleet/test_fleet.sh"
)

passed=0
failed=0
skipped=0
failed_names=()
durations=()  # "SECONDS TEST", for the slowest-first summary
logdir=$(mktemp -d /tmp/svcgw-integration.XXXX)
# halt_on_error: a UBSan finding stops the process, like an ASan one, so it
# cannot scroll by unnoticed.
asan_base="detect_leaks=1${ASAN_OPTIONS:+:$ASAN_OPTIONS}"
ubsan_base="halt_on_error=1:print_stacktrace=1${UBSAN_OPTIONS:+:$UBSAN_OPTIONS}"
# LSan: only leaks inside libraries are suppressed (lsan.supp says which, why).
export LSAN_OPTIONS="suppressions=$here/lsan.supp:print_suppressions=0${LSAN_OPTIONS:+:$LSAN_OPTIONS}"
sanitizer_dir="$logdir/sanitizer"
mkdir -p "$sanitizer_dir"
# The sanitizer reports a test left (files named PREFIX.<pid>).
sanitizer_reports() {
    compgen -G "$sanitizer_dir/$1.*" || true
}
selected=0
for entry in "${tests[@]}"; do
    t=${entry#daemon:}
    daemon_only=false
    [ "$t" != "$entry" ] && daemon_only=true
    if [ -n "$filter" ] && [[ "$t" != *"$filter"* ]]; then
        continue
    fi
    if [ -z "$filter" ] && printf '%s\n' "${skip_list[@]}" | grep -Fxq -- "$t"; then
        echo "--- not run: $t (SVCGW_SKIP_TESTS)"
        continue
    fi
    selected=$((selected + 1))
    read -r -a argv <<<"$t"
    name="${t// /-}"
    name=${name//.sh/}
    name=${name//\//-} # fleet/test_fleet: a log file name, not a directory
    echo "=== $t (gateway: $gateway)"
    log="$logdir/$name.log"
    export ASAN_OPTIONS="$asan_base:log_path=$sanitizer_dir/$name"
    export UBSAN_OPTIONS="$ubsan_base:log_path=$sanitizer_dir/$name"
    started=$SECONDS
    timeout -k 10 "$per_test_timeout" bash "$here/${argv[0]}" "${argv[@]:1}" 2>&1 | tee "$log"
    rc=${PIPESTATUS[0]}
    took=$((SECONDS - started))
    durations+=("$took $t")
    # Belt and braces: a report in a file, or one that reached the output
    # anyway (a process started with its own options), fails the test.
    reports=$(sanitizer_reports "$name")
    if [ -n "$reports" ] || grep -Eq 'ERROR: (Address|Leak)Sanitizer|: runtime error: ' "$log"; then
        for r in $reports; do
            echo "----- sanitizer report $r (first 60 lines) -----"
            head -n 60 "$r"
        done
        echo "--- FAILED $t: sanitizer report(s) (exit status $rc)"
        rc=1
    fi
    if [ "$rc" -eq "$skip_status" ] && ! { $daemon_only && [ "$gateway" = kernel ]; }; then
        echo "--- FAILED $t: exit status $skip_status (skip) is allowed only for a daemon-only test under SVCGW_GATEWAY=kernel"
        rc=1
    fi
    case $rc in
        0)
            passed=$((passed + 1))
            echo "--- passed $t in ${took}s"
            ;;
        "$skip_status")
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

if [ "$selected" -eq 0 ]; then
    echo "integration: the filter '$filter' selects no test" >&2
    failed=$((failed + 1))
fi
for t in "${failed_names[@]}"; do
    echo "failed: $t (log: $logdir)"
done
if [ ${#durations[@]} -gt 0 ]; then
    echo "integration: slowest: $(printf '%s\n' "${durations[@]}" | sort -rn | head -5 |
        awk '{t=$2; for (i = 3; i <= NF; i++) t = t " " $i; printf "%s%s %ss", sep, t, $1; sep=", "}')" \
        "(all: ${SECONDS}s)"
fi
if [ "$skipped" -ne 0 ]; then
    echo "integration: $skipped skipped (daemon-only tests under SVCGW_GATEWAY=$gateway)"
fi
if [ "$failed" -eq 0 ]; then
    rm -rf "$logdir"
fi
echo "integration: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
