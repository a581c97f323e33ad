#!/usr/bin/env bash
# First-byte latency of 50 download sessions with and without a HASH of a 2 GiB file
# running on the same server, alternating, in one run (ringftp-load, closed loop).
# The hashing client rotates algorithms and moves the file's mtime with MFMT after each
# round, so every HASH is computed, never answered from the digest cache.
# Usage: benches/scripts/hash_under_load.sh [PAIRS] [SECONDS]   (defaults: 3, 20)
set -euo pipefail
pairs=${1:-3}
secs=${2:-20}
cd "$(dirname "$0")/../.."
ringftpd=${RINGFTPD:-target/release/ringftpd}
load=${RINGFTP_LOAD:-target/release/ringftp-load}
for b in "$ringftpd" "$load"; do
    [[ -x $b ]] || { echo "build $b first: cargo build --release -p ringftpd -p ringftp-load" >&2; exit 1; }
done
port=${RINGFTPD_PORT:-42131}
work=$(mktemp -d /tmp/ringftp-hash.XXXXXX)
pids=()
cleanup() {
    touch "$work/stop"
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    rm -rf "$work"
}
trap cleanup EXIT
mkdir -p "$work/root"
head -c $((2 << 30)) /dev/urandom >"$work/root/big.iso"
head -c 4096 /dev/urandom >"$work/root/f4k"
"$ringftpd" serve "$work/root" --listen "127.0.0.1:$port" --passive-ports 42400-42999 \
    --anonymous-write >"$work/ringftpd.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break; sleep 0.1; done
hasher() {
    exec python3 - "$port" "$work/hashes.log" "$work/stop" <<'PY'
import ftplib, os, sys, time
port, log, stop = int(sys.argv[1]), sys.argv[2], sys.argv[3]
ftp = ftplib.FTP()
ftp.connect("127.0.0.1", port, timeout=600)
ftp.login("anonymous", "bench@")
with open(log, "a") as out:
    while True:
        # A new mtime for every round (and every run): each HASH is computed afresh.
        stamp = time.strftime("%Y%m%d%H%M%S", time.gmtime(time.time() - 86400 * 365 * 5))
        ftp.sendcmd(f"MFMT {stamp} big.iso")
        for algorithm in ["SHA-256", "SHA-512", "SHA-1", "MD5", "CRC32"]:
            ftp.sendcmd(f"OPTS HASH {algorithm}")
            start = time.perf_counter()
            reply = ftp.sendcmd("HASH big.iso")
            print(f"{algorithm} {time.perf_counter() - start:.2f}s {reply[:40]}", file=out, flush=True)
            if os.path.exists(stop):
                sys.exit(0)
PY
}
run_load() {
    "$load" "127.0.0.1:$port" retr f4k -c 50 -k 20 -d "${secs}s" --no-pin -q --json 2>/dev/null |
        python3 -c 'import json,sys; r=json.load(sys.stdin); p={x["phase"]: x for x in r["latency_us"]}; print(p["first-byte"]["p99"], p["first-byte"]["p50"], r["transfers_ok"], sum(e["count"] for e in r["errors"]))'
}
echo "pair  first-byte p99 us (p50) without HASH | with HASH  transfers, errors"
for i in $(seq "$pairs"); do
    read -r a_p99 a_p50 a_ok a_err < <(run_load)
    rm -f "$work/stop"
    hasher & hpid=$!
    pids+=("$hpid")
    read -r b_p99 b_p50 b_ok b_err < <(run_load)
    # The hasher stops after its current HASH, so no hash runs into the next "without".
    touch "$work/stop"
    wait "$hpid" 2>/dev/null || true
    echo "$i     $a_p99 ($a_p50) $a_ok $a_err | $b_p99 ($b_p50) $b_ok $b_err  ratio $(python3 -c "print(round($b_p99/$a_p99, 2))")"
done
echo "hashes computed during the runs:"; cat "$work/hashes.log"
