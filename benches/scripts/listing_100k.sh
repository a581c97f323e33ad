#!/usr/bin/env bash
# LIST and MLSD of a 100,000-entry folder from ringftpd next to vsftpd's LIST, in one
# run on one machine: time from sending the command to its 226, all bytes read.
# Usage: benches/scripts/listing_100k.sh [RUNS] [ENTRIES]   (defaults: 5, 100000)
# Needs a release build (cargo build --release -p ringftpd) and vsftpd: /usr/sbin/vsftpd,
# or VSFTPD=PATH (e.g. unpacked with `apt-get download vsftpd && dpkg -x vsftpd_*.deb x`
# when another FTP server package is installed, since Debian's conflict).
set -euo pipefail
runs=${1:-5}
entries=${2:-100000}
cd "$(dirname "$0")/../.."
ringftpd=${RINGFTPD:-target/release/ringftpd}
[[ -x $ringftpd ]] || { echo "build $ringftpd first: cargo build --release -p ringftpd" >&2; exit 1; }
vsftpd=${VSFTPD:-/usr/sbin/vsftpd}
[[ -x $vsftpd ]] || { echo "needs $vsftpd (apt-get install vsftpd, or set VSFTPD)" >&2; exit 1; }
r_port=${RINGFTPD_PORT:-42121}
v_port=${VSFTPD_PORT:-42122}
work=$(mktemp -d /tmp/ringftp-listing.XXXXXX)
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    rm -rf "$work"
}
trap cleanup EXIT
mkdir -p "$work/root/big" "$work/empty"
python3 - "$work/root/big" "$entries" <<'PY'
import os, sys
d, n = sys.argv[1], int(sys.argv[2])
for i in range(n):
    with open(os.path.join(d, f"pkg-{i * 7919 % n:06d}_1.0-1_amd64.deb"), "wb") as f:
        f.write(b"x" * (i % 97))
PY
"$ringftpd" serve "$work/root" --listen "127.0.0.1:$r_port" --passive-ports 42200-42299 \
    >"$work/ringftpd.log" 2>&1 &
pids+=($!)
cat >"$work/vsftpd.conf" <<CONF
listen=YES
listen_ipv6=NO
listen_address=127.0.0.1
listen_port=$v_port
background=NO
run_as_launching_user=YES
seccomp_sandbox=NO
anonymous_enable=YES
local_enable=NO
no_anon_password=YES
anon_root=$work/root
write_enable=NO
pasv_min_port=42300
pasv_max_port=42399
xferlog_enable=NO
dirmessage_enable=NO
secure_chroot_dir=$work/empty
CONF
"$vsftpd" "$work/vsftpd.conf" >"$work/vsftpd.log" 2>&1 &
pids+=($!)
python3 - "$r_port" "$v_port" "$runs" "$entries" <<'PY'
import ftplib, socket, statistics, sys, time
r_port, v_port, runs, entries = (int(a) for a in sys.argv[1:])

def connect(port):
    for _ in range(100):
        try:
            ftp = ftplib.FTP()
            ftp.connect("127.0.0.1", port, timeout=120)
            ftp.login("anonymous", "bench@")
            return ftp
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"no server on port {port}")

def timed(ftp, command):
    start = time.perf_counter()
    conn = ftp.transfercmd(command)
    lines = 0
    while True:
        chunk = conn.recv(1 << 20)
        if not chunk:
            break
        lines += chunk.count(b"\n")
    conn.close()
    ftp.voidresp()
    elapsed = time.perf_counter() - start
    if lines < entries:
        raise SystemExit(f"{command}: {lines} lines, expected {entries}")
    return elapsed

cases = [("ringftpd", r_port, "LIST big"), ("ringftpd", r_port, "MLSD big"),
         ("vsftpd", v_port, "LIST big")]
sessions = {port: connect(port) for _, port, _ in cases}
times = {case: [] for case in cases}
for _ in range(runs):
    for case in cases:
        times[case].append(timed(sessions[case[1]], case[2]))
print(f"{entries} entries, {runs} runs each, interleaved; seconds (median, min-max):")
for (server, _, command), t in times.items():
    print(f"  {server:9} {command:9} {statistics.median(t):.3f}  ({min(t):.3f}-{max(t):.3f})")
PY
