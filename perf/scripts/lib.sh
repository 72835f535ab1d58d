#!/usr/bin/env bash
# Shared by the perf scripts (sourced): a private temp dir, DPDK file
# prefixes owned by this script, background peers, bounded waits, and a
# clean-up that runs on every exit (normal, error, Ctrl-C, timeout):
# processes stopped, temp dir (memif sockets, configs) removed, and the EAL
# runtime dirs and hugepage files of our file prefixes deleted.

perf_prefixes=()
perf_pids=()
perf_peer_pid=""
perf_peer_name=""
perf_tmp=""

# Hugepage files outlive an EAL process (kept for secondaries): removed as
# soon as the process is gone, so the next run finds the pages free.
perf_release_prefix() {
  rm -f /dev/hugepages/"$1"map_* 2>/dev/null || true
  rm -rf "/var/run/dpdk/$1" 2>/dev/null || true
}

perf_cleanup() {
  local p
  perf_stop_peer
  for p in "${perf_pids[@]}"; do
    kill -KILL "$p" 2>/dev/null || true
  done
  for p in "${perf_prefixes[@]}"; do
    perf_release_prefix "$p"
  done
  [ -n "$perf_tmp" ] && rm -rf "$perf_tmp"
}

perf_tmp_init() {
  perf_tmp=$(mktemp -d /tmp/svcgw-perf.XXXXXX)
  trap perf_cleanup EXIT
  trap 'exit 130' INT TERM
}

perf_register_prefix() { perf_prefixes+=("$1"); }

# perf_prefix KIND I: sets $prefix to a file prefix unique to this script
# run and registers it for clean-up (no $(...): a subshell would lose it).
perf_prefix() {
  prefix="svcgwp_$1_$$_$2"
  perf_register_prefix "$prefix"
}

# perf_spawn LOG CMD...: starts the peer in the background (stdin /dev/null).
perf_spawn() {
  local log=$1
  shift
  "$@" </dev/null >"$log" 2>&1 &
  perf_peer_pid=$!
  perf_peer_name=$(basename "$1")
  perf_pids+=("$perf_peer_pid")
}

# perf_wait_for LOG PATTERN MAX_S: true once PATTERN is in LOG; false when
# the peer exits or MAX_S passes.
perf_wait_for() {
  local log=$1 pattern=$2 max=$3 t=0
  while [ "$t" -lt $((max * 10)) ]; do
    grep -q -- "$pattern" "$log" 2>/dev/null && return 0
    kill -0 "$perf_peer_pid" 2>/dev/null || return 1
    sleep 0.1
    t=$((t + 1))
  done
  return 1
}

# SIGINT (svcgw and testpmd both stop cleanly on it), 10 s, then SIGKILL.
perf_stop_peer() {
  local p=$perf_peer_pid t=0
  [ -n "$p" ] || return 0
  perf_peer_pid=""
  kill -INT "$p" 2>/dev/null || return 0
  while kill -0 "$p" 2>/dev/null && [ "$t" -lt 100 ]; do
    sleep 0.1
    t=$((t + 1))
  done
  kill -KILL "$p" 2>/dev/null || true
  local rc=0
  wait "$p" 2>/dev/null || rc=$?
  # 130 = stopped by our SIGINT; anything else is the peer's own failure.
  if [ "$rc" -ne 0 ] && [ "$rc" -ne 130 ]; then
    echo "perf: peer $perf_peer_name (pid $p) exited with status $rc on SIGINT" >&2
  fi
}

# perf_daemon_config CFG PREFIX true|false [MEMORY_MB]: svcgw-pktgen's emitted
# config made private to this run: own file prefix, hugepages on/off, API
# socket in the temp dir, metrics on a port of its own. PERF_LCORES (default
# "0-1": control on lcore 0, one worker on lcore 1) sets dpdk.lcores, e.g.
# "0@0,1@1,2@1" for two workers sharing CPU 1.
perf_daemon_config() {
  local cfg=$1 prefix=$2 huge=$3 mem=${4:-1024} lcores=${PERF_LCORES:-0-1}
  local metrics_port=$((20000 + ($$ * 7 + ${#perf_prefixes[@]}) % 20000))
  sed -i "s|^dpdk: .*|dpdk: {lcores: \"$lcores\", memory_mb: $mem, file_prefix: $prefix, hugepages: $huge}|" "$cfg"
  {
    echo "api: {listen: \"unix:$perf_tmp/$prefix.api.sock\"}"
    echo "metrics: {listen: \"tcp:127.0.0.1:$metrics_port\"}"
  } >>"$cfg"
}
