#!/usr/bin/env bash
# RSS of ringftpd holding N idle, logged-in control sessions (default 5000).
# Usage: benches/scripts/idle_sessions_memory.sh [SESSIONS]
set -euo pipefail
cd "$(dirname "$0")/../.."
n=${1:-5000}
cargo build --release -q -p ringftpd -p ringftp-load
dir=$(mktemp -d)
pid=""
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null || true; rm -rf "$dir"; }
trap cleanup EXIT
mkfifo "$dir/out"
target/release/ringftpd serve "$dir" --listen 127.0.0.1:0 --passive-ports 41100-41199 \
    --metrics 127.0.0.1:0 --log-level warn > "$dir/out" &
pid=$!
exec 3< "$dir/out"
read -r line <&3
port=${line##*:}
read -r mline <&3
metrics=${mline##* on }
rss() { awk '/VmRSS/ {print $2}' "/proc/$pid/status"; }
echo "RSS before: $(rss) KiB"
# Hold every session logged in for 20 s, then QUIT.
target/release/ringftp-load "127.0.0.1:$port" login-only -c "$n" -n "$n" --ramp-up 5s \
    --think-time 20s --timeout 60s --quiet --json > "$dir/load.json" &
load=$!
peak=0
open=0
for _ in $(seq 1 40); do
    sleep 0.5
    now_open=$(curl -s "$metrics" | awk '/^ringftpd_sessions_open/ {s += $2} END {print s + 0}')
    r=$(rss)
    if [ "$now_open" -ge "$open" ]; then open=$now_open; fi
    if [ "$r" -gt "$peak" ]; then peak=$r; fi
    if [ "$now_open" -ge "$n" ]; then break; fi
done
echo "sessions open: $open"
echo "RSS with $open idle logged-in sessions: $(rss) KiB (peak seen $peak KiB)"
wait "$load"
python3 -c 'import json,sys; r=json.load(open(sys.argv[1])); print("load tool: sessions ok", r["sessions"]["ok"], "failed", r["sessions"]["failed"], "errors", r["errors"])' "$dir/load.json" || true
