#!/usr/bin/env bash
# Accuracy of the bandwidth caps: achieved rate / cap for the session, address and
# total caps at 1, 10 and 100 MiB/s, medians of RUNS runs (default 3), on loopback.
#   session: one session, --session-rate CAP
#   address: 3 sessions from 127.0.0.1 together, --ip-rate CAP
#   total:   8 sessions from 127.0.0.2-9 (spread over both workers), --total-rate CAP
# Each run moves SECS (default 5) seconds' worth of bytes at the cap.
# Usage: benches/scripts/rate_accuracy.sh [RUNS] [SECS]
set -euo pipefail
cd "$(dirname "$0")/../.."
runs=${1:-3}
secs=${2:-5}
cargo build --release -q -p ringftpd
dir=$(mktemp -d /tmp/ringftp-rate.XXXXXX)
pid=""
stop() { if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; pid=""; fi; }
trap 'stop; rm -rf "$dir"' EXIT
mkdir "$dir/root"
echo "cores: $(nproc); $(grep -m1 'model name' /proc/cpuinfo || true)"
printf '%-8s %9s %8s %12s %s\n' cap MiB/s sessions achieved/cap "runs (achieved/cap)"
for kind in session address total; do
    case $kind in
        session) flag=--session-rate; sessions=1; sources=same ;;
        address) flag=--ip-rate; sessions=3; sources=same ;;
        total) flag=--total-rate; sessions=8; sources=spread ;;
    esac
    for mib in 1 10 100; do
        cap=$((mib << 20))
        file=$kind-$mib.bin
        head -c $((cap * secs / sessions)) /dev/urandom >"$dir/root/$file"
        mkfifo "$dir/out"
        target/release/ringftpd serve "$dir/root" --listen 127.0.0.1:0 --workers 2 \
            --passive-ports 23000-23999 "$flag" "${mib}MiB" >"$dir/out" 2>"$dir/log" &
        pid=$!
        read -r line <"$dir/out"
        rm "$dir/out"
        port=${line##*:}
        ratios=()
        for _ in $(seq "$runs"); do
            read -r _bytes _secs rate < <(python3 benches/scripts/rate_accuracy.py 127.0.0.1 "$port" "$file" "$sessions" "$sources")
            ratios+=("$(python3 -c "print(f'{$rate / $cap:.4f}')")")
        done
        stop
        rm -f "$dir/root/$file"
        median=$(printf '%s\n' "${ratios[@]}" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}')
        printf '%-8s %9s %8s %12s %s\n' "$kind" "$mib" "$sessions" "$median" "${ratios[*]}"
    done
done
