#!/usr/bin/env bash
# Server CPU per GiB with bandwidth caps off and on, side by side in one run:
# ringftp-load downloads a 32 MiB file over 32 sessions (COUNT transfers in all)
# from a fresh ringftpd per mode, modes alternating, ROUNDS rounds; medians.
#   off:      no caps
#   unbound:  --session-rate, --ip-rate and --total-rate all set far above what moves
#             (every chunk pays for the buckets, none waits)
#   session:  --session-rate 16MiB (32 x 16 MiB/s = 512 MiB/s in all)
#   total:    --total-rate 512MiB (shared by both workers)
# CPU = utime + stime of the server process during the load run.
# Usage: benches/scripts/rate_cpu.sh [ROUNDS] [COUNT]
set -euo pipefail
cd "$(dirname "$0")/../.."
rounds=${1:-3}
count=${2:-128}
cargo build --release -q -p ringftpd -p ringftp-load
dir=$(mktemp -d /tmp/ringftp-ratecpu.XXXXXX)
pid=""
stop() { if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; pid=""; fi; }
trap 'stop; rm -rf "$dir"' EXIT
mkdir "$dir/root"
head -c $((32 << 20)) /dev/urandom >"$dir/root/f32m.bin"
tck=$(getconf CLK_TCK)
cpu_ticks() { local s; s=$(cat "/proc/$1/stat"); s=${s##*) }; read -r -a f <<<"$s"; echo $((f[11] + f[12])); }
modes=(off unbound session total)
flags_for() {
    case $1 in
        off) ;;
        unbound) echo --session-rate 64GiB --ip-rate 64GiB --total-rate 64GiB ;;
        session) echo --session-rate 16MiB ;;
        total) echo --total-rate 512MiB ;;
    esac
}
echo "cores: $(nproc); $(grep -m1 'model name' /proc/cpuinfo || true)"
: >"$dir/results"
for round in $(seq "$rounds"); do
    for mode in "${modes[@]}"; do
        mkfifo "$dir/out"
        # shellcheck disable=SC2046 # flags_for prints a list of flags
        target/release/ringftpd serve "$dir/root" --listen 127.0.0.1:0 --workers 2 \
            --passive-ports 41200-41299 $(flags_for "$mode") >"$dir/out" 2>"$dir/log" &
        pid=$!
        read -r line <"$dir/out"
        rm "$dir/out"
        port=${line##*:}
        before=$(cpu_ticks "$pid")
        target/release/ringftp-load "127.0.0.1:$port" retr f32m.bin -c 32 -n "$count" \
            --no-pin --quiet --json >"$dir/load.json" 2>"$dir/load.log"
        after=$(cpu_ticks "$pid")
        stop
        python3 - "$dir/load.json" "$mode" "$round" "$((after - before))" "$tck" >>"$dir/results" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
mode, rnd, ticks, tck = sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
gib = (r["bytes_down"] + r["bytes_up"]) / 2**30
failed = r["sessions"]["failed"] + r["sessions"]["aborted"]
print(mode, rnd, f"{r['throughput']['mib_per_s']:.1f}", f"{ticks / tck / gib:.4f}", failed)
PY
        tail -1 "$dir/results"
    done
done
python3 - "$dir/results" <<'PY'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1])]
print(f"\n{'mode':<8} {'MiB/s':>8} {'CPU s/GiB':>10} {'vs off':>7}  runs (s/GiB)  failed")
off = statistics.median(float(r[3]) for r in rows if r[0] == "off")
for mode in ("off", "unbound", "session", "total"):
    rs = [r for r in rows if r[0] == mode]
    cpu = statistics.median(float(r[3]) for r in rs)
    rate = statistics.median(float(r[2]) for r in rs)
    print(f"{mode:<8} {rate:>8.1f} {cpu:>10.3f} {cpu / off:>6.2f}x  {' '.join(r[3] for r in rs)}  {sum(int(r[4]) for r in rs)}")
PY
