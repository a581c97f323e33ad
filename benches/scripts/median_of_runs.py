#!/usr/bin/env python3
"""Medians over several benches/compare.sh runs, with the per-run ratios.

Usage: median_of_runs.py RESULTS_DIR... (each holding the summary.json of one run)
Prints, per scenario and server, the median value, CPU per unit and memory, and
ringftpd's ratio to that server in every run (taken inside each run, then the median).
"""
import json
import os
import statistics
import sys


def median(values):
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def fmt(v, spec=".2f"):
    return "n/a" if v is None else format(v, spec)


def main():
    runs = []
    for d in sys.argv[1:]:
        with open(os.path.join(d, "summary.json")) as f:
            runs.append(json.load(f))
    if not runs:
        sys.exit("usage: median_of_runs.py RESULTS_DIR...")
    servers = runs[0]["servers"]
    for sid, sc in runs[0]["scenarios"].items():
        print(f"\n== {sc['desc']} ({sc['metric']}), {len(runs)} runs")
        for srv in servers:
            per = [r["scenarios"].get(sid, {}).get("servers", {}).get(srv) for r in runs]
            got = [p for p in per if p]
            if not got:
                print(f"  {srv:10} n/a")
                continue
            ratios = []
            for r, p in zip(runs, per):
                base = r["scenarios"].get(sid, {}).get("servers", {}).get("ringftpd")
                ratios.append(base["value"] / p["value"] if base and p and p["value"] else None)
            ratio_text = ("" if srv == "ringftpd" else
                          f"  ratio {fmt(median(ratios))}x ({', '.join(fmt(x) for x in ratios)})")
            print(f"  {srv:10} value {fmt(median([p['value'] for p in got]), '.1f')}"
                  f"  errors {fmt(median([p['errors'] for p in got]), '.0f')}"
                  f"  cpu/unit {fmt(median([p['cpu_per_unit'] for p in got]), '.3f')}"
                  f"  memory {fmt(median([p['memory_mib'] for p in got]), '.1f')} MiB"
                  f"  p99 first byte {fmt(median([p['p99_first_byte_ms'] for p in got]), '.1f')} ms"
                  f"  rate p1 {fmt(median([p['rate_p1'] for p in got]), '.3f')}"
                  + ratio_text)


if __name__ == "__main__":
    main()
