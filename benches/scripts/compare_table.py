#!/usr/bin/env python3
"""The table of a benches/compare.sh run: one block per scenario, one row per server.

Usage: compare_table.py RESULTS_DIR CLK_TCK
Reads RESULTS_DIR/{servers,scenarios,na}.txt and SERVER-ID.{json,cpu,mem}; prints the
table and writes RESULTS_DIR/summary.json (the same figures, for median_of_runs.py).
"""
import json
import os
import sys

UNITS = {"mib_per_s": "MiB/s", "sessions_per_s": "sessions/s"}
CPU_UNITS = {"mib_per_s": "s/GiB", "sessions_per_s": "ms/session"}


def read(path, parse):
    try:
        with open(path) as f:
            return parse(f.read())
    except (OSError, ValueError):
        return None


def figures(results, tck, server, sid, metric):
    """Everything one server did in one scenario, or None when it has no result."""
    r = read(os.path.join(results, f"{server}-{sid}.json"), json.loads)
    if r is None:
        return None
    s = r["sessions"]
    cpu_ticks = read(os.path.join(results, f"{server}-{sid}.cpu"), int)
    mem = read(os.path.join(results, f"{server}-{sid}.mem"), json.loads) or {}
    cpu = None if cpu_ticks is None else cpu_ticks / tck
    if metric == "mib_per_s":
        gib = (r["bytes_down"] + r["bytes_up"]) / 2**30
        cpu_unit = cpu / gib if cpu is not None and gib else None
    else:
        done = s["ok"]
        cpu_unit = cpu * 1000 / done if cpu is not None and done else None
    phases = {p["phase"]: p for p in r["latency_us"]}
    rates = r.get("session_rates") or {}
    pss = mem.get("pss_bytes")
    sock = mem.get("socket_bytes")
    own = mem.get("memory_bytes")
    kernel = mem.get("kernel_rise_bytes")
    return {
        "value": r["throughput"][metric],
        "errors": s["failed"] + s["aborted"],
        "error_classes": r["errors"],
        "cut": s.get("cut", 0),
        "ok": s["ok"],
        "cpu_s": cpu,
        "cpu_per_unit": cpu_unit,
        "pss_mib": None if pss is None else pss / 2**20,
        "socket_mib": None if sock is None else sock / 2**20,
        "kernel_rise_mib": None if kernel is None else kernel / 2**20,
        # The server's own memory: peak of PSS + its sockets' kernel memory, sampled together.
        "memory_mib": None if own is None else own / 2**20,
        "processes": mem.get("processes"),
        "pipes": mem.get("pipes"),
        "p99_first_byte_ms": phases.get("first-byte", {}).get("p99", 0) / 1000 or None,
        "p99_session_ms": phases.get("session", {}).get("p99", 0) / 1000 or None,
        "rate_p1": rates.get("p1"),
        "rate_p50": rates.get("p50"),
        "rate_p99": rates.get("p99"),
    }


def fmt(v, spec=".1f"):
    return "n/a" if v is None else format(v, spec)


def ms(v):
    return "n/a" if v is None else f"{v:.1f}ms"


def main():
    results, tck = sys.argv[1], int(sys.argv[2])
    servers = read(os.path.join(results, "servers.txt"), str.split) or []
    scenarios = [l.split("|") for l in
                 (read(os.path.join(results, "scenarios.txt"), str.splitlines) or [])]
    na = dict(l.split("\t", 1) for l in
              (read(os.path.join(results, "na.txt"), str.splitlines) or []) if "\t" in l)
    summary = {"servers": servers, "na": na, "scenarios": {}}
    head = ("server", "value", "ringftpd/x", "errors", "cpu s", "cpu/unit", "PSS MiB",
            "sock MiB", "PSS+sock", "kernel+ MiB", "procs", "pipes", "p99 1st byte", "p99 session",
            "rate p1/p50/p99 MiB/s")
    for sid, desc, metric in scenarios:
        rows = {srv: figures(results, tck, srv, sid, metric) for srv in servers}
        summary["scenarios"][sid] = {"desc": desc, "metric": metric, "servers": rows}
        base = rows.get("ringftpd")
        print(f"\n== {desc} ({UNITS[metric]}; cpu per unit in {CPU_UNITS[metric]})")
        table = [head]
        for srv in servers:
            f = rows[srv]
            if f is None:
                why = na.get(srv, "no result")
                table.append((srv, "n/a", why[:60]) + ("",) * (len(head) - 3))
                continue
            ratio = (f"{base['value'] / f['value']:.2f}x"
                     if base and f["value"] and srv != "ringftpd" else "")
            rate = ("" if f["rate_p1"] is None else
                    f"{f['rate_p1']:.3f}/{f['rate_p50']:.3f}/{f['rate_p99']:.3f}")
            table.append((srv, fmt(f["value"]), ratio, str(f["errors"]), fmt(f["cpu_s"]),
                          fmt(f["cpu_per_unit"], ".3f"), fmt(f["pss_mib"]),
                          fmt(f["socket_mib"]), fmt(f["memory_mib"]),
                          fmt(f["kernel_rise_mib"]), fmt(f["processes"], "d"),
                          fmt(f["pipes"], "d"), ms(f["p99_first_byte_ms"]), ms(f["p99_session_ms"]), rate))
        widths = [max(len(r[i]) for r in table) for i in range(len(head))]
        for i, r in enumerate(table):
            print("  ".join(c.ljust(w) if j == 0 else c.rjust(w)
                            for j, (c, w) in enumerate(zip(r, widths))).rstrip())
            if i == 0:
                print("  ".join("-" * w for w in widths))
    print("\nringftpd/x = ringftpd's value / that server's (higher is better for ringftpd);")
    print("errors = failed + aborted sessions (sessions cut at the end of a wan run are not errors);")
    print("cpu = server CPU seconds (forking servers: listener + reaped session processes);")
    print("PSS = peak PSS of the server's process tree; sock = peak kernel memory of the TCP")
    print("sockets the tree holds (receive + send queues + forward allocation); PSS+sock = peak of")
    print("their sum; kernel+ = peak rise of Slab + TCP socket memory during the run, machine-wide")
    print("(the load generator's sockets too); pipes = pipe fds the tree held at peak.")
    with open(os.path.join(results, "summary.json"), "w") as f:
        json.dump(summary, f, indent=1)


if __name__ == "__main__":
    main()
