#!/usr/bin/env bash
# The fleet's withdrawal and disruption timelines as pictures (issue 16 §6):
# runs the fleet rig (tests/integration/fleet/test_fleet.sh) once with
# FLEET_TIMELINE, turns the raw events of its two SIGKILL losses into data
# (.dat) and renders PNGs with gnuplot, next to perf/RESULTS.md:
#   fleet-withdrawal-nat      2. nat: g3 SIGKILLed under 60 keep-alive
#                             connections (cl1) and 20 new connections/s (cl2)
#   fleet-withdrawal-fullnat  5. the same in fullnat with owner redirect
# x = ms from the SIGKILL. Top panel: each new connection's time to answer
# (connect + GET + reply) at its start, answered or failed. Bottom panel:
# each keep-alive connection a row (grouped by the gateway that carried it
# before the kill), a dot per answered request, a bar from start to answer
# for a request that took >= 100 ms (a stall), a cross where the connection
# broke. Vertical lines: the kill and every FIB change of the VIP on the
# router (the withdrawal; a re-announce, when it falls in the window).
#
#   perf/scripts/fleet-timeline.sh [OUTDIR]      run the rig, write OUTDIR's
#                                                .dat and .png (OUTDIR: perf)
#   perf/scripts/fleet-timeline.sh --render [OUTDIR]   PNGs again from the .dat
#
# The run needs root (namespaces), the rig's tools (tools/install-deps.sh)
# and gnuplot; SVCGW_BIN and SVCGWCTL_BIN default to build/ of this tree.
# Bounded: the rig gets FLEET_TIMELINE_TIMEOUT s (default 420) and is then
# stopped (SIGTERM: the rig removes its namespaces and processes). The rig's
# own checks run as in the suite; a timing check that fails under load is
# reported, and whatever losses were recorded are still drawn.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
phases="nat fullnat"
slow_ms=100 # a keep-alive request this slow is drawn as a bar

# to_dat RAWDIR PHASE DAT: one loss's raw events -> DAT, gnuplot index blocks
# (each with a NaN line when empty), times in ms from the kill:
#   0 new connections:   start_ms latency_ms ok(1|0)
#   1 keep-alive reqs:   start_ms end_ms latency_ms row g3(1|0)
#   2 keep-alive breaks: ms row g3(1|0) "reason"
#   3 FIB changes:       ms n_next_hops "label" (the whole run's: g3's
#                        re-announce, g2's SIGSTOP; drawn when in the window)
# and "# key value" lines: run kill_utc withdraw_ms rows_g12 rows_g3 xmin xmax.
to_dat() {
    python3 - "$@" <<'PY'
import datetime, os, sys
raw, phase, dat = sys.argv[1:]
def lines(name):
    path = os.path.join(raw, f"{phase}-{name}.raw")
    return [l.split() for l in open(path)] if os.path.exists(path) else []
ev = {l[0]: l[1:] for l in lines("events") if l}
if "kill" not in ev:
    sys.exit(f"fleet-timeline: no {phase} loss recorded")
kill = int(ev["kill"][0])
ms = lambda ns: (int(ns) - kill) / 1e6
g3 = set(ev.get("g3_ports", []))
g12 = set(ev.get("g12_ports", []))

new = []
for f in lines("new"):
    start, end, outcome = int(f[0]), int(f[1]), f[2]
    new.append((ms(start), (end - start) / 1e6, 1 if outcome == "ok" else 0))

reqs, ends = {}, {}
for f in lines("keepalive"):
    if f[0] == "req":
        reqs.setdefault(f[1], []).append((int(f[3]), int(f[4])))
    elif f[0] == "end":
        ends[f[1]] = (int(f[3]), f[4] == "BROKEN", " ".join(f[5:]))
# Rows: g1/g2's connections from 1 up, then g3's above them.
ports = sorted(set(reqs) | set(ends), key=int)
low = [p for p in ports if p not in g3]
high = [p for p in ports if p in g3]
row = {p: i + 1 for i, p in enumerate(low)}
row.update({p: len(low) + 2 + i for i, p in enumerate(high)})

fib = []
for l in open(os.path.join(raw, "fib-vias.raw")) if os.path.exists(os.path.join(raw, "fib-vias.raw")) else []:
    f = l.split()
    t = datetime.datetime.fromisoformat(f[0]).replace(tzinfo=datetime.timezone.utc)
    ns = int(t.timestamp()) * 10**9 + t.microsecond * 1000
    gws = ",".join("g" + v.rsplit(".", 1)[1] for v in sorted(f[1:]))
    fib.append((ms(ns), len(f) - 1, gws or "none"))

starts = [s for s, _, _ in new] + [ms(s) for r in reqs.values() for s, _ in r]
ends_ms = [s + l for s, l, _ in new] + [ms(e) for e, _, _ in ends.values()]
xmin = max(min(starts, default=-3000), -3000)
xmax = max(ends_ms, default=10000)

with open(dat, "w") as out:
    utc = datetime.datetime.fromtimestamp(kill / 1e9, datetime.timezone.utc)
    out.write(f"# fleet {phase} loss: SIGKILL g3; times in ms from the kill\n")
    out.write(f"# run {os.environ.get('TIMELINE_RUN', '')}\n")
    out.write(f"# kill_utc {utc.strftime('%Y-%m-%dT%H:%M:%S.%f')[:-3]}\n")
    out.write(f"# withdraw_ms {ev.get('withdraw_ms', ['never'])[0]}\n")
    out.write(f"# rows_g12 {len(low)}\n# rows_g3 {len(high)}\n")
    out.write(f"# xmin {xmin:.0f}\n# xmax {xmax:.0f}\n")
    def block(title, rows, empty):
        out.write(f"# {title}\n")
        for r in rows:
            out.write(" ".join(r) + "\n")
        if not rows:
            out.write(empty + "\n")
        out.write("\n\n")
    block("0 new connections: start_ms latency_ms ok",
          [(f"{s:.1f}", f"{l:.2f}", str(o)) for s, l, o in sorted(new)], "NaN NaN NaN")
    block("1 keep-alive requests: start_ms end_ms latency_ms row g3",
          [(f"{ms(s):.1f}", f"{ms(e):.1f}", f"{(e - s) / 1e6:.2f}", str(row[p]), str(int(p in g3)))
           for p in ports for s, e in reqs.get(p, [])], "NaN NaN NaN NaN NaN")
    block("2 keep-alive breaks: ms row g3 reason",
          [(f"{ms(t):.1f}", str(row[p]), str(int(p in g3)), '"' + why.replace('"', "'") + '"')
           for p, (t, broken, why) in sorted(ends.items()) if broken], 'NaN NaN NaN ""')
    block("3 FIB changes of the VIP: ms next_hops label",
          [(f"{t:.1f}", str(n), f'"{g}"') for t, n, g in fib], 'NaN NaN "none"')
n_fail = sum(1 for _, _, o in new if not o)
broken = [(p in g3, why.split(":")[0]) for p, (_, b, why) in ends.items() if b]
why = {}
for on_g3, w in broken:
    k = f"{'g3' if on_g3 else 'g1/g2'} {w}"
    why[k] = why.get(k, 0) + 1
print(f"fleet-timeline: {phase}: {len(new)} new connections ({n_fail} failed), "
      f"{len(ports)} keep-alive ({len(high)} on g3, {len(broken)} broken"
      f"{': ' if why else ''}{', '.join(f'{n} {k}' for k, n in sorted(why.items()))}), "
      f"withdrawn after {ev.get('withdraw_ms', ['?'])[0]} ms")
PY
}

# plot DIR PHASE HOLDER TITLE: DIR/fleet-withdrawal-PHASE.dat -> .png;
# HOLDER names what the keep-alive rows are grouped by.
plot() {
    local dir=$1 phase=$2 holder=$3 title=$4 dat png w g12 g3 xmin xmax kill_utc shade
    dat=$dir/fleet-withdrawal-$phase.dat
    png=$dir/fleet-withdrawal-$phase.png
    [ -s "$dat" ] || return 0
    key() { sed -n "s/^# $1 //p" "$dat"; }
    w=$(key withdraw_ms) g12=$(key rows_g12) g3=$(key rows_g3)
    xmin=$(key xmin) xmax=$(key xmax) kill_utc=$(key kill_utc)
    # Kill to withdrawal: the router still sends g3 its share.
    shade=""
    [[ $w =~ ^[0-9]+$ ]] && shade="set object 1 rect from 0, graph 0 to $w, graph 1 fc rgb '#ede7f6' fs solid noborder behind"
    gnuplot <<GP
set terminal pngcairo size 1000,820 font 'sans,10'
set output '$png'
set multiplot title "$title\nSIGKILL g3 at ${kill_utc/T/ } UTC; the router's FIB dropped its next hop $w ms later (BFD 300 ms x 3; shaded)" font 'sans,11'
set xrange [$xmin - 300 : $xmax + 300]
set grid lc rgb '#dddddd'
set border 3
set xtics nomirror
set ytics nomirror
set lmargin 13
set rmargin 3
set style line 1 lc rgb '#2e7d32' pt 7 ps 0.55
set style line 2 lc rgb '#c62828' pt 2 ps 1.5 lw 2
set style line 3 lc rgb '#5c7fa8' pt 7 ps 0.22
set style line 4 lc rgb '#ef6c00' lw 3
set style line 5 lc rgb 'black' lw 2
set style line 6 lc rgb '#6a1b9a' lw 2 dt 2
$shade
set arrow 1 from 0, graph 0 to 0, graph 1 nohead ls 5 front

# new connections
set origin 0, 0.53
set size 1, 0.39
set title 'new connections from cl2 (20/s, one GET each, Connection: close): time to answer, at their start'
set logscale y
set yrange [0.3:30000]
set ylabel 'ms to answer (log)'
set format x ''
set key top right opaque box samplen 2 Left reverse
set label 1 'SIGKILL g3 ' at first 0, graph 0.93 right front
plot '$dat' index 3 using 1:(0.3):(0):(1e5) with vectors nohead ls 6 notitle, \
     '' index 3 using 1:(12000):(' FIB: via '.strcol(3)) with labels left tc rgb '#6a1b9a' notitle, \
     '' index 0 using (\$3 == 1 ? \$1 : NaN):2 with points ls 1 title 'answered', \
     '' index 0 using (\$3 == 0 ? \$1 : NaN):2 with points ls 2 title 'failed (drawn at its timeout or error)'

# keep-alive connections
unset label 1
set origin 0, 0.0
set size 1, 0.55
set title 'keep-alive connections from cl1 (one GET every 0.5 s, never reconnecting), one row each'
unset logscale y
set yrange [0 : $g12 + $g3 + 2]
set ylabel "keep-alive connections\nby $holder before the kill"
set ytics ('g1, g2 ($g12)' ($g12 + 1) / 2.0, 'g3 ($g3)' $g12 + 1 + ($g3 + 1) / 2.0) rotate by 90 center
set grid noytics
set arrow 2 from graph 0, first $g12 + 1 to graph 1, first $g12 + 1 nohead lc rgb '#888888' dt 3
set format x '%g'
set xlabel 'ms from the SIGKILL of g3'
set key below horizontal noopaque nobox samplen 2
plot '$dat' index 3 using 1:(0):(0):($g12 + $g3 + 2) with vectors nohead ls 6 notitle, \
     '' index 1 using 1:4 with points ls 3 title 'request answered', \
     '' index 1 using (\$3 >= $slow_ms ? \$1 : NaN):4:(\$2 - \$1):(0) with vectors nohead ls 4 title 'request >= $slow_ms ms (bar: sent to answered)', \
     '' index 2 using 1:2 with points ls 2 title 'connection broken'
unset multiplot
GP
    echo "fleet-timeline: wrote $png" >&2
}

render() {
    local dir=$1
    command -v gnuplot >/dev/null || { echo "fleet-timeline: gnuplot missing (tools/install-deps.sh)" >&2; exit 1; }
    plot "$dir" nat 'the gateway carrying them' \
        'Fleet (3 gateways, router ECMP, BGP + BFD), nat: g3 SIGKILLed under load'
    plot "$dir" fullnat 'their owner' \
        'Fleet (3 gateways, router ECMP, BGP + BFD), fullnat with owner redirect: g3 SIGKILLed under load'
}

if [ "${1:-}" = --render ]; then
    render "${2:-$root/perf}"
    exit 0
fi
outdir=${1:-$root/perf}
[ "$(id -u)" -eq 0 ] || { echo "fleet-timeline: the rig needs root (namespaces)" >&2; exit 1; }
export SVCGW_BIN=${SVCGW_BIN:-$root/build/app/svcgw}
export SVCGWCTL_BIN=${SVCGWCTL_BIN:-$root/build/tools/svcgwctl}
[ -x "$SVCGW_BIN" ] || { echo "fleet-timeline: no svcgw at $SVCGW_BIN (set SVCGW_BIN)" >&2; exit 1; }
mkdir -p "$outdir"
work=$(mktemp -d /tmp/svcgw-fleet-timeline.XXXXXX)
trap 'rm -rf "$work"' EXIT
rc=0
run="$(date -u '+%F %H:%M') UTC, load average $(cut -d' ' -f1-3 /proc/loadavg), commit $(git -C "$root" rev-parse --short HEAD)"
echo "# fleet-timeline.sh $run"
export TIMELINE_RUN=$run
FLEET_TIMELINE=$work/raw timeout -s TERM "${FLEET_TIMELINE_TIMEOUT:-420}" \
    "$root/tests/integration/fleet/test_fleet.sh" >"$work/rig.log" 2>&1 || rc=$?
grep -E '^(FAIL|fleet: [0-9]+ checks)|withdrawn after|FATAL' "$work/rig.log" || true
[ "$rc" -eq 0 ] || echo "fleet-timeline: the rig exited $rc (its log: above; a timing check may fail under load)" >&2
for phase in $phases; do
    to_dat "$work/raw" "$phase" "$outdir/fleet-withdrawal-$phase.dat" || true
done
render "$outdir"
