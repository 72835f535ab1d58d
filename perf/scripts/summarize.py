#!/usr/bin/env python3
"""Median/min/max of the RESULT k=v lines of repeated svcgw-pktgen runs.

usage: summarize.py LABEL "ARGS" FILE            -> one markdown table row
       summarize.py --bench JSON                 -> Google Benchmark repetitions table
              (exit status 1 when a row failed: an error, or a sanity counter != 0)
       summarize.py --ratio LABEL "ARGS" A B     -> median [min..max] of the
              per-run ratio rx_mpps(A[i]) / rx_mpps(B[i]) (runs paired in order)
       summarize.py --keys KEYS LABEL "CMD" FILE -> one row, the given RESULT keys
              (comma list) of any tool, e.g. svcgw-health-bench
"""
import os
import statistics
import sys

FIELDS = [
    ("tx_mpps", "Mpps in"), ("rx_mpps", "Mpps out"), ("worker_ns_per_pkt", "worker ns/pkt"),
    ("conn_per_s", "conn/s"), ("lost", "lost"), ("errors", "verify errors"),
    ("lat_p50_ns", "lat p50 ns"), ("lat_p99_ns", "lat p99 ns"),
    ("share_min", "share min"), ("share_max", "share max"),
    ("moved_alive", "moved (alive)"), ("moved_dead", "moved (removed)"), ("remapped", "new remapped"),
]
# Shown even when zero: a zero here is the finding.
KEEP_ZERO = ("errors", "lost", "moved_alive")


def load(path):
    runs = []
    lines = open(path).readlines() if os.path.exists(path) else []
    for line in lines:
        kv = dict(f.split("=", 1) for f in line.split()[1:])
        runs.append({k: float(v) for k, v in kv.items()})
    return runs


def cell(vals):
    med, lo, hi = statistics.median(vals), min(vals), max(vals)
    fmt = (lambda v: f"{v:.3f}") if max(abs(lo), abs(hi)) < 100 else (lambda v: f"{v:.0f}")
    return f"{fmt(med)} [{fmt(lo)}..{fmt(hi)}]"


# Benchmark counters that say whether a row measured what it claims
# (bench_worker.cpp, bench_dataplane.cpp, bench_control.cpp): shown, and any
# non-zero value fails the row, as a benchmark's SkipWithError does.
SANITY = ("lost_bursts", "unopened", "unestablished", "misses", "stale_sightings")


def bench(path):
    """Google Benchmark JSON with repetitions -> median/min/max per benchmark,
    with the sanity counters and errors. Returns the number of failed rows."""
    import json
    runs, unit, checks, errors = {}, {}, {}, {}
    try:
        data = json.load(open(path))
    except (OSError, ValueError) as e:  # the bench aborted mid-run
        print(f"(no complete benchmark output: {e})")
        return 1
    for b in data["benchmarks"]:
        if b.get("run_type") != "iteration":
            continue
        name = b["run_name"]
        runs.setdefault(name, [])
        if b.get("error_occurred"):
            errors.setdefault(name, b.get("error_message", "error"))
        else:
            runs[name].append(b["real_time"])
            unit[name] = b["time_unit"]
        for key in SANITY:
            if key in b:
                checks.setdefault(name, {})
                checks[name][key] = max(checks[name].get(key, 0), b[key])
    failed = 0
    print(f"{'benchmark':58} {'median':>10} {'min':>10} {'max':>10}  unit  checks")
    for name, t in runs.items():
        bad = {k: v for k, v in checks.get(name, {}).items() if v != 0}
        shown = " ".join(f"{k}={v:g}" for k, v in checks.get(name, {}).items())
        if name in errors or bad or not t:
            failed += 1
            why = errors.get(name) or ("sanity counter(s) " + shown if bad else "no run")
            print(f"{name:58} FAILED: {why}")
            continue
        print(f"{name:58} {statistics.median(t):10.3f} {min(t):10.3f} {max(t):10.3f}  "
              f"{unit[name]:4}  {shown}".rstrip())
    if failed:
        print(f"{failed} benchmark row(s) failed")
    return failed


def main():
    if sys.argv[1] == "--bench":
        return 1 if bench(sys.argv[2]) else 0
    if sys.argv[1] == "--ratio":
        label, args, a, b = sys.argv[2:6]
        pairs = [(x["rx_mpps"], y["rx_mpps"]) for x, y in zip(load(a), load(b)) if y["rx_mpps"] > 0]
        if not pairs:
            print(f"| {label} | (no paired runs) | | {args} |")
            return
        print(f"| {label} | {cell([x / y for x, y in pairs])} | n={len(pairs)} | {args} |")
        return
    if sys.argv[1] == "--keys":
        keys, label, command, path = sys.argv[2].split(","), sys.argv[3], sys.argv[4], sys.argv[5]
        runs = load(path)
        cells = [f"{k} {cell([r[k] for r in runs if k in r])}" for k in keys
                 if any(k in r for r in runs)]
        print(f"| {label} | {'; '.join(cells) or '(no successful run)'} | n={len(runs)} | `{command}` |")
        return
    label, args, path = sys.argv[1], sys.argv[2], sys.argv[3]
    runs = load(path)
    if not runs:
        print(f"| {label} | (no successful run) | n=0 | `{args}` |")
        return
    cells = []
    for key, name in FIELDS:
        vals = [r[key] for r in runs if key in r]
        if not vals or all(v == 0 for v in vals) and key not in KEEP_ZERO:
            continue
        cells.append(f"{name} {cell(vals)}")
    print(f"| {label} | {'; '.join(cells)} | n={len(runs)} | `svcgw-pktgen {args}` |")


if __name__ == "__main__":
    sys.exit(main())
