#!/usr/bin/env bash
# Soak: ringftpd under mixed load (active+passive downloads, uploads, aborts) for a
# while, sampling its fd count and RSS every 10 s. Passes when no transfer failed and
# fds and RSS stay flat from minute 2 to the end (60 s runs: from second 20).
#
# usage: benches/soak.sh [SECONDS=600] [SESSIONS=2000]
set -euo pipefail
cd "$(dirname "$0")/.."
secs=${1:-600}
sessions=${2:-2000}
retr_sessions=$((sessions * 3 / 4))
stor_sessions=$((sessions / 5))
abort_clients=$((sessions - retr_sessions - stor_sessions))
warm=$(( secs >= 300 ? 120 : secs / 3 ))
cargo build --release -q -p ringftpd -p ringftp-load
dir=$(mktemp -d /tmp/ringftp-soak.XXXXXX)
pid=""
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null || true; rm -rf "$dir"; }
trap cleanup EXIT
mkdir -p "$dir/root/up"
for i in $(seq 1 200); do head -c $((RANDOM * 4 + 1)) /dev/urandom > "$dir/root/f$i.bin"; done
head -c $((64 << 20)) /dev/urandom > "$dir/root/big.bin"
(cd "$dir/root" && ls f*.bin) > "$dir/paths.txt"
echo big.bin >> "$dir/paths.txt"
mkfifo "$dir/out"
target/release/ringftpd serve "$dir/root" --listen 127.0.0.1:0 --passive-ports 47000-48999 \
    --anonymous-write --log-level warn > "$dir/out" 2> "$dir/server.log" &
pid=$!
exec 3< "$dir/out"
read -r line <&3
port=${line##*:}
load=target/release/ringftp-load
$load "127.0.0.1:$port" retr-list "$dir/paths.txt" -c "$retr_sessions" -d "${secs}s" -k 4 \
    --mode mixed:0.5 --ramp-up 10s --json --quiet > "$dir/retr.json" 2> "$dir/retr.err" &
l1=$!
$load "127.0.0.1:$port" stor 256KiB -c "$stor_sessions" -d "${secs}s" -k 2 --upload-dir up \
    --delete-uploads --verify-size --ramp-up 10s --json --quiet > "$dir/stor.json" 2> "$dir/stor.err" &
l2=$!
python3 benches/scripts/abort_clients.py 127.0.0.1 "$port" big.bin "$abort_clients" "$secs" \
    > "$dir/abort.txt" 2> "$dir/abort.err" &
l3=$!
echo "t_s fds rss_kib"
start=$(date +%s)
: > "$dir/samples"
while kill -0 "$l1" 2>/dev/null || kill -0 "$l2" 2>/dev/null; do
    now=$(( $(date +%s) - start ))
    fds=$(ls "/proc/$pid/fd" | wc -l)
    rss=$(awk '/VmRSS/ {print $2}' "/proc/$pid/status")
    echo "$now $fds $rss" | tee -a "$dir/samples"
    sleep 10
done
wait "$l1" "$l2" "$l3" || true
python3 - "$dir" "$warm" "$secs" <<'PY'
import json, sys
d, warm, secs = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
ok = True
for name in ("retr", "stor"):
    r = json.load(open(f"{d}/{name}.json"))
    s = r["sessions"]
    print(f"{name}: sessions ok {s['ok']} failed {s['failed']} aborted-at-end {s['aborted']}, "
          f"transfers ok {r['transfers_ok']}, MiB/s {r['throughput']['mib_per_s']:.0f}, errors {r['errors']}")
    ok &= s["failed"] == 0 and not r["errors"]
aborts, errors = open(f"{d}/abort.txt").read().split()[1:3]
print(f"abort clients: {aborts} aborts ok, {errors} errors")
ok &= int(errors) == 0
samples = [tuple(map(int, l.split())) for l in open(f"{d}/samples")]
steady = [s for s in samples if warm <= s[0] <= secs - 10]
if steady:
    fds = [s[1] for s in steady]; rss = [s[2] for s in steady]
    print(f"from {warm}s to {secs - 10}s: fds {min(fds)}..{max(fds)}, RSS {min(rss)}..{max(rss)} KiB")
    # Flat: RSS may wander with allocator noise but must not trend up by more than 10%.
    half = len(rss) // 2 or 1
    first, last = sum(rss[:half]) / half, sum(rss[half:]) / max(1, len(rss) - half)
    print(f"RSS mean first half {first:.0f} KiB, second half {last:.0f} KiB")
    ok &= last <= first * 1.10
print("SOAK PASS" if ok else "SOAK FAIL")
sys.exit(0 if ok else 1)
PY
