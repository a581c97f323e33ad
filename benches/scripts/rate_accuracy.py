#!/usr/bin/env python3
"""Download FILE over N concurrent ftplib sessions and print the achieved rate.

Usage: rate_accuracy.py HOST PORT FILE SESSIONS same|spread

`same`: every session from 127.0.0.1 (one client address); `spread`: session i from
127.0.0.(2+i), so an address cap does not apply. Sessions log in first, then all start
RETR together; the rate is all bytes over the time from that start to the last 226.
Prints one line: bytes seconds bytes_per_second.
"""
import ftplib
import sys
import threading
import time

host, port, name, sessions, sources = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4]), sys.argv[5]

clients = []
for i in range(sessions):
    source = ("127.0.0.1", 0) if sources == "same" else (f"127.0.0.{2 + i}", 0)
    ftp = ftplib.FTP(source_address=source, timeout=120)
    ftp.connect(host, port)
    ftp.login()
    ftp.voidcmd("TYPE I")
    clients.append(ftp)

start = threading.Barrier(sessions + 1)
got = [0] * sessions
errors = []


def run(i, ftp):
    def sink(block):
        got[i] += len(block)
    start.wait()
    try:
        ftp.retrbinary(f"RETR {name}", sink, blocksize=1 << 20)
    except Exception as e:  # report, do not hide, a failed transfer
        errors.append(f"session {i}: {e}")


threads = [threading.Thread(target=run, args=(i, c)) for i, c in enumerate(clients)]
for t in threads:
    t.start()
start.wait()
t0 = time.monotonic()
for t in threads:
    t.join()
elapsed = time.monotonic() - t0
for c in clients:
    try:
        c.quit()
    except Exception:
        pass
if errors:
    sys.exit("; ".join(errors))
total = sum(got)
print(f"{total} {elapsed:.4f} {total / elapsed:.1f}")
