#!/usr/bin/env python3
"""Median/min/max of the RESULT k=v lines of repeated svcgw-pktgen runs.

usage: summarize.py LABEL "ARGS" FILE  -> one markdown table row per field group
"""
import statistics
import sys

FIELDS = [
    ("tx_mpps", "Mpps in"), ("rx_mpps", "Mpps out"), ("worker_ns_per_pkt", "worker ns/pkt"),
    ("conn_per_s", "conn/s"), ("lost", "lost"), ("errors", "verify errors"),
    ("lat_p50_ns", "lat p50 ns"), ("lat_p99_ns", "lat p99 ns"),
    ("share_min", "share min"), ("share_max", "share max"),
    ("moved_alive", "moved (alive)"), ("moved_dead", "moved (removed)"), ("remapped", "new remapped"),
]


def main():
    label, args, path = sys.argv[1], sys.argv[2], sys.argv[3]
    runs = []
    for line in open(path):
        kv = dict(f.split("=", 1) for f in line.split()[1:])
        runs.append({k: float(v) for k, v in kv.items()})
    if not runs:
        print(f"| {label} | (no successful run) | `{args}` |")
        return
    cells = []
    for key, name in FIELDS:
        vals = [r[key] for r in runs if key in r]
        if not vals or all(v == 0 for v in vals) and key not in ("errors", "lost", "moved_alive"):
            continue
        med, lo, hi = statistics.median(vals), min(vals), max(vals)
        fmt = (lambda v: f"{v:.3f}") if max(abs(lo), abs(hi)) < 100 else (lambda v: f"{v:.0f}")
        cells.append(f"{name} {fmt(med)} [{fmt(lo)}..{fmt(hi)}]")
    print(f"| {label} | {'; '.join(cells)} | n={len(runs)} | `svcgw-pktgen {args}` |")


if __name__ == "__main__":
    main()
