#!/usr/bin/env python3
"""Markdown tables of several benches/compare.sh runs (medians, with the per-run ratios).

Usage: markdown_table.py RESULTS_DIR... (each holding the summary.json of one run)
"""
import json, os, statistics, sys
runs = [json.load(open(os.path.join(d, "summary.json"))) for d in sys.argv[1:]]
servers = runs[0]["servers"]
order = ["ringftpd", "vsftpd", "pure-ftpd", "proftpd", "unftp"]
servers = [s for s in order if s in servers]
names = {"ringftpd": "ringftpd", "vsftpd": "vsftpd", "pure-ftpd": "pure-ftpd", "proftpd": "ProFTPD", "unftp": "unFTP"}
def med(v):
    v = [x for x in v if x is not None]
    return statistics.median(v) if v else None
def g(run, sid, srv):
    return run["scenarios"].get(sid, {}).get("servers", {}).get(srv)
def num(v, d=0):
    if v is None: return "n/a"
    return f"{v:,.{d}f}"
units = {"mib_per_s": "MiB/s", "sessions_per_s": "sessions/s"}
cpuu = {"mib_per_s": "s/GiB", "sessions_per_s": "ms/session"}
sids = list(runs[0]["scenarios"].keys())
print("| scenario | metric | " + " | ".join(names[s] for s in servers) + " |")
print("|---|---|" + "---:|" * len(servers))
for sid in sids:
    sc = runs[0]["scenarios"][sid]
    cells = []
    for srv in servers:
        vals = [g(r, sid, srv)["value"] if g(r, sid, srv) else None for r in runs]
        errs = [g(r, sid, srv)["errors"] if g(r, sid, srv) else None for r in runs]
        m = med(vals)
        d = 1 if m is not None and m < 100 else 0
        cell = num(m, d)
        me = med(errs)
        if me:
            cell += f" ({num(me)} err)"
        if srv != "ringftpd":
            ratios = []
            for r in runs:
                a, b = g(r, sid, "ringftpd"), g(r, sid, srv)
                ratios.append(a["value"] / b["value"] if a and b and b["value"] else None)
            mr = med(ratios)
            if mr is not None:
                cell += f"<br>**{mr:.2f}x** ({', '.join('n/a' if x is None else f'{x:.2f}' for x in ratios)})"
        cells.append(cell)
    print(f"| {sc['desc']} | {units[sc['metric']]} | " + " | ".join(cells) + " |")
print()
print("| scenario | server CPU per unit | " + " | ".join(names[s] for s in servers) + " |")
print("|---|---|" + "---:|" * len(servers))
for sid in sids:
    sc = runs[0]["scenarios"][sid]
    cells = [num(med([g(r, sid, s)["cpu_per_unit"] if g(r, sid, s) else None for r in runs]), 3) for s in servers]
    print(f"| {sid} | {cpuu[sc['metric']]} | " + " | ".join(cells) + " |")
print()
print("| scenario | memory: PSS + kernel rise, MiB | " + " | ".join(names[s] for s in servers) + " |")
print("|---|---|" + "---:|" * len(servers))
for sid in sids:
    cells = []
    for s in servers:
        p = med([g(r, sid, s)["pss_mib"] if g(r, sid, s) else None for r in runs])
        k = med([g(r, sid, s)["kernel_rise_mib"] if g(r, sid, s) else None for r in runs])
        cells.append(f"{num(p,1)} + {num(k)}")
    print(f"| {sid} | | " + " | ".join(cells) + " |")
print()
print("| scenario | figure | " + " | ".join(names[s] for s in servers) + " |")
print("|---|---|" + "---:|" * len(servers))
for sid, key, label, dd in [("wan", "rate_p1", "per-session rate p1, MiB/s", 3), ("wan10k", "rate_p1", "per-session rate p1, MiB/s", 4),
                        ("flash", "p99_first_byte_ms", "p99 first byte, ms", 1), ("flash", "p99_session_ms", "p99 session (from intended start), ms", 0),
                        ("cold", "p99_first_byte_ms", "p99 first byte, ms", 1)]:
    if sid not in runs[0]["scenarios"]: continue
    cells = [num(med([g(r, sid, s)[key] if g(r, sid, s) else None for r in runs]), dd) for s in servers]
    print(f"| {sid} | {label} | " + " | ".join(cells) + " |")
