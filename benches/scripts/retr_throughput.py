"""Single-stream RETR throughput of an FTP server next to a plain sendfile(2)
loopback baseline, measured in the same run with the same receiver.

usage: retr_throughput.py FTP_HOST FTP_PORT PATH_ON_SERVER LOCAL_FILE [RUNS]

The baseline server is a separate process that accepts one connection per run and
sends LOCAL_FILE with os.sendfile; the receiver (this process) reads both streams
into one reused 1 MiB buffer. Runs alternate between the two; medians are reported.
"""
import ftplib
import os
import socket
import statistics
import subprocess
import sys
import time

BASELINE_SERVER = r"""
import os, socket, sys
path, runs = sys.argv[1], int(sys.argv[2])
ls = socket.socket(); ls.bind(("127.0.0.1", 0)); ls.listen(1)
print(ls.getsockname()[1], flush=True)
size = os.path.getsize(path)
for _ in range(runs):
    c, _ = ls.accept()
    with open(path, "rb") as f:
        off = 0
        while off < size:
            off += os.sendfile(c.fileno(), f.fileno(), off, size - off)
    c.close()
"""


def drain(sock, expected):
    buf = bytearray(1 << 20)
    view = memoryview(buf)
    got = 0
    while True:
        n = sock.recv_into(view)
        if n == 0:
            break
        got += n
    if got != expected:
        sys.exit(f"short transfer: {got} of {expected} bytes")


def ftp_run(host, port, path, size):
    ftp = ftplib.FTP()
    ftp.connect(host, port, timeout=120)
    ftp.login()
    ftp.voidcmd("TYPE I")
    start = time.perf_counter()
    data = ftp.transfercmd(f"RETR {path}")
    drain(data, size)
    data.close()
    ftp.voidresp()
    elapsed = time.perf_counter() - start
    ftp.quit()
    return size / elapsed


def baseline_run(port, size):
    start = time.perf_counter()
    s = socket.create_connection(("127.0.0.1", port))
    drain(s, size)
    s.close()
    return size / (time.perf_counter() - start)


def main():
    host, port, path, local = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
    runs = int(sys.argv[5]) if len(sys.argv) > 5 else 5
    size = os.path.getsize(local)
    server = subprocess.Popen(
        [sys.executable, "-c", BASELINE_SERVER, local, str(runs)],
        stdout=subprocess.PIPE, text=True)
    try:
        base_port = int(server.stdout.readline())
        ftp_rates, base_rates = [], []
        for _ in range(runs):
            base_rates.append(baseline_run(base_port, size))
            ftp_rates.append(ftp_run(host, port, path, size))
        server.wait(timeout=60)
    finally:
        if server.poll() is None:
            server.kill()
    mib = 1024 * 1024
    f, b = statistics.median(ftp_rates), statistics.median(base_rates)
    print(f"file: {size / mib:.0f} MiB, runs: {runs}")
    print("ftp RETR MiB/s:      " + " ".join(f"{r / mib:.0f}" for r in ftp_rates))
    print("sendfile MiB/s:      " + " ".join(f"{r / mib:.0f}" for r in base_rates))
    print(f"median ftp {f / mib:.0f} MiB/s, median sendfile {b / mib:.0f} MiB/s, ratio {f / b:.2f}")


if __name__ == "__main__":
    main()
