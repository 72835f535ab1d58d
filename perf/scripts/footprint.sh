#!/usr/bin/env bash
# svcgw's memory: the daemon on real hugepages (1 worker, fullnat, net_memif
# port), read at idle for two flow-table capacities and again with 1M flows
# open (svcgw-pktgen over memif). Per state it prints the EAL heap in use
# (DPDK telemetry /eal/heap_info: Alloc_size; that is what the -m hugepage
# reservation is used for), the hugepage memory mapped (smaps Hugetlb) and
# the RSS outside hugepages; memory per flow is the heap difference between
# the two capacities over the capacity difference.
#   perf/scripts/footprint.sh BUILD
set -euo pipefail
build=$1
pktgen="$build/perf/svcgw-pktgen"
svcgw="$build/app/svcgw"
here=$(dirname "$0")
# shellcheck source=perf/scripts/lib.sh
. "$here/lib.sh"
perf_tmp_init
memory_mb=400            # 2M-flow table (~170 MB) + mbuf pool fit; 256 x 2 MiB pages here
small=65536 large=2097152
flows=1000000
backends=64              # 15.6k flows per backend: inside one SNAT address's port space
shape=(--flows "$flows" --clients 4096 --backends "$backends")
free_pages=$(cat /sys/kernel/mm/hugepages/hugepages-2048kB/free_hugepages)
if [ "$free_pages" -lt $((memory_mb / 2)) ]; then
  echo "| footprint | skipped: $free_pages free 2 MiB hugepages, need $((memory_mb / 2)) | | |"
  exit 0
fi

# heap_mib PREFIX: EAL heap bytes allocated (socket 0) via the telemetry socket.
heap_mib() {
  python3 - "/var/run/dpdk/$1/dpdk_telemetry.v2" <<'PY'
import json, socket, sys
for attempt in range(3):  # the control thread may be busy right after a run
    try:
        s = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        s.settimeout(5)
        s.connect(sys.argv[1])
        s.recv(4096)
        s.send(b"/eal/heap_info,0")
        info = json.loads(s.recv(65536))["/eal/heap_info"]
        print(f"{int(info['Alloc_size']) / 1048576:.1f}")
        break
    except Exception as e:
        err = e
else:
    print(f"n/a ({type(err).__name__})")
PY
}
# mem_row LABEL PID PREFIX
mem_row() {
  local pid=$2 prefix=$3 huge rss
  huge=$(awk '/Hugetlb/ {s += $2} END {printf "%.0f", s / 1024}' "/proc/$pid/smaps_rollup")
  rss=$(awk '/^Rss:/ {printf "%.0f", $2 / 1024}' "/proc/$pid/smaps_rollup")
  echo "| $1 | EAL heap in use $(heap_mib "$prefix") MiB; hugepages mapped $huge MiB; RSS (non-huge) $rss MiB | |"
}

echo "| state | memory | note |"
echo "|---|---|---|"
declare -A heap rss
for cap in $small $large; do
  perf_prefix fp "$cap"
  cfg="$perf_tmp/fp$cap.yaml"
  sock="$perf_tmp/fp$cap.sock"
  "$pktgen" "${shape[@]}" --max-flows "$cap" --emit-config "$cfg" \
    --device "net_memif0,role=server,socket=$sock,socket-abstract=no"
  perf_daemon_config "$cfg" "$prefix" true "$memory_mb"
  perf_spawn "$perf_tmp/fp$cap.log" "$svcgw" -c "$cfg" -- --log-level=error
  if ! perf_wait_for "$perf_tmp/fp$cap.log" 'running:' 30; then
    echo "| max_flows $cap | svcgw did not start | |"
    tail -3 "$perf_tmp/fp$cap.log" >&2
    perf_stop_peer
    continue
  fi
  sleep 1
  row=$(mem_row "idle, conntrack.max_flows $cap" "$perf_peer_pid" "$prefix")
  echo "$row"
  heap[$cap]=$(sed -E 's/.*heap in use ([0-9.]+|n\/a[^M]*) MiB.*/\1/' <<<"$row")
  rss[$cap]=$(sed -E 's/.*RSS \(non-huge\) ([0-9]+) MiB.*/\1/' <<<"$row")
  if [ "$cap" = "$large" ]; then
    pgp="svcgwp_fpg_$$"
    perf_register_prefix "$pgp"
    timeout -k 5 90 "$pktgen" --link memif "${shape[@]}" --duration 1 \
      -- -l 0 --no-pci --no-huge -m 1024 --no-shconf --no-telemetry "--file-prefix=$pgp" \
      --log-level=error --vdev "net_memif0,role=client,socket=$sock,socket-abstract=no" \
      >"$perf_tmp/fpg.log" 2>&1 || echo "footprint: pktgen failed: $(tail -2 "$perf_tmp/fpg.log")" >&2
    warm=$(grep -m1 '^warm-up' "$perf_tmp/fpg.log" || echo "warm-up: n/a")
    echo "$(mem_row "$flows flows opened, max_flows $cap" "$perf_peer_pid" "$prefix" | sed 's/ |$//') $warm |"
  fi
  perf_stop_peer
  perf_release_prefix "$prefix"
  grep -E 'worker 0:' "$perf_tmp/fp$cap.log" | cut -c1-200 | sed 's/^/#   /' || true
done
python3 - "${heap[$small]:-n/a}" "${heap[$large]:-n/a}" "${rss[$small]:-n/a}" "${rss[$large]:-n/a}" \
  "$small" "$large" <<'PY'
import sys
ha, hb, ra, rb, ca, cb = sys.argv[1:7]
try:
    n = int(cb) - int(ca)
    heap = (float(hb) - float(ha)) * 1048576 / n
    rss = (float(rb) - float(ra)) * 1048576 / n
    print(f"| memory per flow of capacity | {heap + rss:.1f} B: EAL heap {heap:.1f} B + "
          f"process memory {rss:.1f} B (max_flows {ca} -> {cb}: heap {ha} -> {hb} MiB, "
          f"RSS {ra} -> {rb} MiB) | |")
except ValueError:
    print("| memory per flow of capacity | n/a (a state did not start) | |")
PY
