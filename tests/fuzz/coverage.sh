#!/usr/bin/env bash
# Line coverage of a libFuzzer target on its seed corpus (or on DIR), with
# llvm-cov: builds the target with clang's source-based coverage in
# build-cov/ (or $COV_BUILD) on first use, runs every input once
# (-runs=0), and prints the per-file summary of FILES (default: the packet
# path's) and the execution counts of the lines named by PATTERN (an
# extended regular expression; default: the events tests/fuzz/README.md
# lists for fuzz_packet).
#
#   tests/fuzz/coverage.sh [TARGET [DIR [PATTERN]]]
set -euo pipefail

cd "$(dirname "$0")/../.."
target=${1:-fuzz_packet}
corpus=${2:-tests/fuzz/corpus/$target}
pattern=${3:-'\+\+burst_replies;|WorkerEvent::icmp_error_translated\)|DropReason::flow_table_full\)|WorkerEvent::handoff_(in|out)[,)]|\+\+_counters\.evicted_(transitory|established);'}
build=${COV_BUILD:-build-cov}
files=(lib/dataplane/worker.cpp lib/dataplane/worker_impl.hpp lib/dataplane/worker_host.cpp lib/dataplane/packet.cpp
  lib/flow/flow_table.cpp lib/flow/affinity_table.cpp)

if [ ! -f "$build/build.ninja" ]; then
  # No sanitizers: coverage only. The fuzzer's main comes from -fsanitize=fuzzer
  # (tests/fuzz/meson.build); the libraries get fuzzer-no-link like build-fuzz.
  # (LLVM_PROFILE_FILE: the compiler checks of the setup would leave profiles here.)
  LLVM_PROFILE_FILE=/dev/null CXX=${FUZZ_CXX:-clang++-14} CC=${FUZZ_CC:-clang-14} \
    meson setup "$build" -Dbuildtype=debug \
    -Dcpp_args='-fprofile-instr-generate -fcoverage-mapping -fsanitize=fuzzer-no-link' \
    -Dcpp_link_args=-fprofile-instr-generate -Dbenchmarks=disabled -Djemalloc=disabled >/dev/null
fi
ninja -C "$build" "tests/fuzz/$target" >/dev/null
work=$(mktemp -d /tmp/svcgw-cov.XXXXXX)
trap '[ -n "${COV_KEEP:-}" ] || rm -rf "$work"' EXIT
LLVM_PROFILE_FILE="$work/run.profraw" "$build/tests/fuzz/$target" -runs=0 "$corpus" >"$work/log" 2>&1 ||
  { tail -n 20 "$work/log"; exit 1; }
llvm-profdata-14 merge -sparse "$work/run.profraw" -o "$work/run.profdata"
echo "# $target on $corpus ($(find "$corpus" -type f | wc -l) inputs): lines, missed, cover"
# (llvm-cov 14 ignores a file list here: take the whole report and pick.)
report=$(llvm-cov-14 report "$build/tests/fuzz/$target" -instr-profile="$work/run.profdata")
for f in "${files[@]}"; do
  { grep -E "^$f " <<<"$report" || true; } | awk '{ print $1, $8, $9, $10 }'
done
echo "# executions of the lines matching the pattern (file:line count source)"
llvm-cov-14 show "$build/tests/fuzz/$target" -instr-profile="$work/run.profdata" >"$work/show"
for f in "${files[@]}"; do
  awk -v want="$PWD/$f:" '$0 == want { on = 1; next } /^\// { on = 0 } on' "$work/show" |
    grep -E "^ +[0-9]+\|" | { grep -E -- "$pattern" || true; } |
    awk -v f="$f" -F'|' '{ gsub(/ /, "", $1); gsub(/ /, "", $2); sub(/^ +/, "", $3); print f ":" $1, $2, $3 }'
done
