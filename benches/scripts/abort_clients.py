"""Clients that start downloads and abort them: RETR, read a little, ABOR (with the
Telnet IP/Synch prefix), expect 426 then 226 (or a lone 226 if the transfer won the
race), repeat. Prints `aborts OK ERRORS` when the duration is over.

usage: abort_clients.py HOST PORT PATH CLIENTS SECONDS
"""
import ftplib
import sys
import threading
import time

host, port, path = sys.argv[1], int(sys.argv[2]), sys.argv[3]
clients, seconds = int(sys.argv[4]), float(sys.argv[5])
deadline = time.monotonic() + seconds
lock = threading.Lock()
counts = {"ok": 0, "errors": 0}


def client():
    while time.monotonic() < deadline:
        try:
            ftp = ftplib.FTP()
            ftp.connect(host, port, timeout=30)
            ftp.login()
            for _ in range(5):
                data = ftp.transfercmd(f"RETR {path}")
                data.recv(65536)
                ftp.sock.sendall(b"\xff\xf4\xff\xf2ABOR\r\n")
                first = ftp.getline()
                if first.startswith("426"):
                    second = ftp.getline()
                    assert second.startswith("226"), second
                else:
                    assert first.startswith("226"), first
                data.close()
                with lock:
                    counts["ok"] += 1
            ftp.quit()
        except Exception as e:  # noqa: BLE001 - every failure is counted and shown
            with lock:
                counts["errors"] += 1
            print(f"abort client error: {e!r}", file=sys.stderr)


threads = [threading.Thread(target=client) for _ in range(clients)]
for t in threads:
    t.start()
for t in threads:
    t.join()
print(f"aborts {counts['ok']} {counts['errors']}")
