#!/usr/bin/env bash
# The standard set's sweeps as pictures (issue 16 §6): runs each sweep, keeps
# its points as data (.dat, one line per x: x median min max n) and renders
# PNGs with gnuplot, next to perf/RESULTS.md, which embeds them:
#   mpps-vs-flows     svcgw-pktgen ring link, fullnat, 64 backends, 1k..1M flows
#   mpps-vs-backends  the same at 100k flows, 2..1000 backends
#   dns-sweep         DNS answered/s vs offered qps, svcgw and knotd, one core
#                     each (perf/dns/compare.sh -x, kxdpgun open loop)
#
#   perf/scripts/plots.sh BUILD [REPS] [OUTDIR] [SWEEPS]
#       REPS 3, OUTDIR perf, SWEEPS "flows backends dns"
#   perf/scripts/plots.sh --render [OUTDIR]     PNGs again from OUTDIR's .dat
#
# Every run is bounded (pktgen-runs.sh: 90 s each; compare.sh: -l 3 per
# rate); the helper scripts remove their processes, namespaces, EAL runtime
# dirs and files on any exit. Needs gnuplot (tools/install-deps.sh); the DNS
# sweep needs root, knot, knot-dnsutils.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
flows_points="1000 10000 100000 1000000"
backend_points="2 10 100 1000"
dns_rates=100000,200000,300000,400000,600000,800000,1000000
dns_seconds=3

# mpps_plot DIR NAME XLABEL TITLE: NAME.dat (x median min max n) -> NAME.png.
mpps_plot() {
    local dir=$1 name=$2 xlabel=$3 title=$4
    [ -s "$dir/$name.dat" ] || return 0
    gnuplot -e "$common
        set output '$dir/$name.png'; set title '$title';
        set logscale x; set xlabel '$xlabel'; set ylabel 'Mpps out'; set yrange [0:*];
        plot '$dir/$name.dat' using 1:2:3:4 with yerrorlines lw 2 pt 7 title 'median [min..max]'"
}

render() {
    local dir=$1
    command -v gnuplot >/dev/null || { echo "plots: gnuplot missing (tools/install-deps.sh)" >&2; exit 1; }
    common='set terminal pngcairo size 800,500 font "sans,10"; set grid; set key top right;'
    mpps_plot "$dir" mpps-vs-flows 'established flows' \
        'svcgw worker, established fullnat, 64 backends (ring link, 1 shared core)'
    mpps_plot "$dir" mpps-vs-backends 'backends of the service' \
        'svcgw worker, 100k established fullnat flows (ring link, 1 shared core)'
    if [ -s "$dir/dns-sweep.dat" ]; then
        # Columns: server offered sent/s answered/s; x = what kxdpgun sent.
        gnuplot -e "$common
            set output '$dir/dns-sweep.png';
            set title 'DNS over a veth, one server core: answered vs offered (kxdpgun open loop)';
            set key top left;
            set xlabel 'queries sent per s (kxdpgun)'; set ylabel 'answers per s';
            set xrange [0:*]; set yrange [0:*]; set format x '%.0s%c'; set format y '%.0s%c';
            plot '$dir/dns-sweep.dat' using (strcol(1) eq 'svcgw' ? \$3 : NaN):4 with points pt 7 ps 1.2 title 'svcgw',
                 '' using (strcol(1) eq 'knot' ? \$3 : NaN):4 with points pt 5 ps 1.2 title 'knotd (1 UDP worker)',
                 x with lines dt 2 lc rgb 'gray' title 'answered = sent'"
    fi
    ls "$dir"/*.png 2>/dev/null | sed 's/^/plots: wrote /' >&2 || true
}

# RAW (label RESULT k=v ...) -> DAT (x median min max n) of one field.
to_dat() {  # RAW FIELD DAT
    python3 - "$@" <<'PY'
import statistics, sys
raw, field, dat = sys.argv[1:]
points = {}
for line in open(raw):
    parts = line.split()
    x = int(parts[0])
    kv = dict(f.split("=", 1) for f in parts[2:] if "=" in f)
    points.setdefault(x, []).append(float(kv[field]))
with open(dat, "w") as out:
    out.write(f"# x median min max n ({field})\n")
    for x in sorted(points):
        v = points[x]
        out.write(f"{x} {statistics.median(v):.4f} {min(v):.4f} {max(v):.4f} {len(v)}\n")
PY
}

# local_sweep flows|backends: the ring-link pktgen runs of one sweep -> .dat.
local_sweep() {
    local sweep=$1 x dat points fixed
    if [ "$sweep" = flows ]; then
        points=$flows_points fixed=(--clients 4096 --backends 64) dat=mpps-vs-flows
    else
        points=$backend_points fixed=(--clients 4096 --flows 100000) dat=mpps-vs-backends
    fi
    for x in $points; do
        PERF_RAW="$work/$sweep.raw" "$here/pktgen-runs.sh" "$build" "$reps" "$x" -- \
            "--$sweep" "$x" "${fixed[@]}" --duration 1 | grep '^|' || true
    done
    to_dat "$work/$sweep.raw" rx_mpps "$outdir/$dat.dat"
}

if [ "${1:-}" = --render ]; then
    render "${2:-$root/perf}"
    exit 0
fi
build=${1:?usage: plots.sh BUILD [REPS] [OUTDIR] [SWEEPS] | plots.sh --render [OUTDIR]}
reps=${2:-3}
outdir=${3:-$root/perf}
sweeps=${4:-flows backends dns}
[[ $reps =~ ^[1-9]$ ]] || { echo "plots: REPS is 1..9" >&2; exit 2; }
work=$(mktemp -d /tmp/svcgw-plots.XXXXXX)
trap 'rm -rf "$work"' EXIT
echo "# plots.sh $(date -u '+%F %H:%M') UTC, load average $(cut -d' ' -f1-3 /proc/loadavg)," \
    "commit $(git -C "$root" rev-parse --short HEAD), REPS=$reps"
for sweep in $sweeps; do
    case $sweep in
        flows | backends)
            local_sweep "$sweep"
            ;;
        dns)
            "$root/perf/dns/compare.sh" -b "$build" -d -l "$dns_seconds" -x "$dns_rates" -r "$reps" \
                -o "$outdir/dns-sweep.dat" both
            ;;
        *) echo "plots: unknown sweep '$sweep' (flows backends dns)" >&2; exit 2 ;;
    esac
done
render "$outdir"
