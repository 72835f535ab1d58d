#!/usr/bin/env bash
# Runs every libFuzzer target (tests/fuzz/) for SECONDS in total (default
# 60, split evenly), each from its seed corpus copied to a temporary
# directory so runs never write into the checkout. Configures the clang
# build (build-fuzz, or $FUZZ_BUILD) on first use.
#
#   tools/fuzz.sh [SECONDS] [TARGET...]
#
# Exit status: 0 when no target crashed, leaked, timed out or ran out of
# memory; 1 otherwise (artifacts are kept in the temporary directory, whose
# path is printed), and also when a target's seed corpus is missing or
# cannot be copied (a run from an empty corpus would pass while fuzzing
# almost nothing). Seeds named crash-* are reproducers of reported bugs:
# they fail the run until the bug is fixed. Each target's line gives the
# coverage libFuzzer measured: after loading the seeds (INITED) and at the
# end (DONE), as edges ("cov") and features ("ft"); a short CI run is a
# smoke test, and these numbers say how much of the code it reached.
set -euo pipefail

cd "$(dirname "$0")/.."
total=${1:-60}
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(fuzz_packet fuzz_dns fuzz_config fuzz_api)
build=${FUZZ_BUILD:-build-fuzz}
cxx=${FUZZ_CXX:-clang++-14}
cc=${FUZZ_CC:-clang-14}

if [ ! -f "$build/build.ninja" ]; then
  # Libraries get ASan/UBSan and coverage (fuzzer-no-link); the targets link
  # libFuzzer's main (tests/fuzz/meson.build). Benchmarks are not needed.
  CXX=$cxx CC=$cc meson setup "$build" -Dbuildtype=debugoptimized -Db_ndebug=false \
    -Db_sanitize=address,undefined -Db_lundef=false -Dcpp_args=-fsanitize=fuzzer-no-link \
    -Dbenchmarks=disabled -Djemalloc=disabled >/dev/null
fi
ninja -C "$build" -j"${FUZZ_JOBS:-2}" "${targets[@]/#/tests/fuzz/}" >/dev/null

per=$((total / ${#targets[@]}))
[ "$per" -ge 1 ] || per=1
work=$(mktemp -d /tmp/svcgw-fuzz.XXXXXX)
failed=()
# "cov: N ft: M" of the libFuzzer status line STAGE (INITED or DONE) in LOG.
coverage() {
  sed -n "s/^#[0-9]*[[:space:]]*$1[[:space:]]*cov: \\([0-9]*\\) ft: \\([0-9]*\\).*/cov \\1 ft \\2/p" "$2" | tail -n 1
}
for t in "${targets[@]}"; do
  mkdir -p "$work/$t/corpus" "$work/$t/artifacts"
  seeds=(tests/fuzz/corpus/"$t"/*)
  if [ ! -e "${seeds[0]}" ]; then
    echo "fuzz: $t has no seed corpus in tests/fuzz/corpus/$t" >&2
    exit 1
  fi
  cp "${seeds[@]}" "$work/$t/corpus/"
  copied=$(find "$work/$t/corpus" -type f | wc -l)
  if [ "$copied" -ne "${#seeds[@]}" ]; then
    echo "fuzz: $t: copied $copied of ${#seeds[@]} seeds" >&2
    exit 1
  fi
  # -timeout: a hang is a bug (the control thread must never stall on one
  # request); -rss_limit_mb: so is unbounded memory. halt_on_error makes
  # UBSan findings fatal like ASan's.
  if ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:symbolize=1} \
     UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1} \
     "$build/tests/fuzz/$t" -max_total_time="$per" -timeout=10 -rss_limit_mb=2048 \
       -print_final_stats=1 -artifact_prefix="$work/$t/artifacts/" ${FUZZ_ARGS:-} \
       "$work/$t/corpus" >"$work/$t/log" 2>&1; then
    execs=$(grep -m1 'stat::number_of_executed_units' "$work/$t/log" | awk '{print $2}')
    echo "fuzz: $t ok (${per}s, ${execs:-?} execs, ${#seeds[@]} seeds;" \
      "seeds: $(coverage INITED "$work/$t/log"); end: $(coverage DONE "$work/$t/log"))"
  else
    echo "fuzz: $t FAILED (log: $work/$t/log)"
    grep -E 'ERROR|SUMMARY|Test unit written' "$work/$t/log" | head -5 | sed 's/^/  /'
    failed+=("$t")
  fi
done
if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz: ${#failed[@]} target(s) failed: ${failed[*]} (artifacts in $work)"
  exit 1
fi
rm -rf "$work"
echo "fuzz: all ${#targets[@]} targets clean"
