#!/usr/bin/env bash
# Server CPU per GiB with bandwidth caps off and on, side by side in one run:
# ringftp-load downloads a 32 MiB file over 32 sessions (COUNT transfers in all)
# from a fresh ringftpd per mode, modes alternating, ROUNDS rounds; medians.
#   off:      no caps
#   unbound:  --session-rate, --ip-rate and --total-rate all set far above what moves
#             (every chunk pays for the buckets, none waits)
#   session:  --session-rate 16MiB (32 x 16 MiB/s = 512 MiB/s in all)
#   total:    --total-rate 512MiB (shared by both workers)
# And at the same rate, paced by the client or by the server (curl, 32 at a time):
#   curl-client: no caps, every curl --limit-rate 16M (curl's M = MiB)
#   curl-server: --session-rate 16MiB, curl unthrottled
# And uploads (32 sessions storing 32 MiB each, anonymous writes allowed):
#   up-off:     no caps
#   up-session: --session-rate 16MiB
#   up-total:   --total-rate 512MiB
#   up-client:  no caps, every session writes at 16 MiB/s (ringftp-load --write-rate)
# CPU = utime + stime of the server process during the load run; client CPU = that of
# ringftp-load or of all curls (GNU time's children rusage); machine CPU = every busy
# jiffy of /proc/stat (user, system, irq, softirq of all cores, the kernel's timers and
# softirqs that no process is charged for included). On loopback the kernel's TCP work
# for one connection lands on whichever side's system call or softirq starts it, so the
# machine's figure is the one that does not move with who does the work.
# RATE_CPU_PERF=1 also samples the whole machine with `perf record -a -g` during each
# load run and reports the share of the server's samples spent in softirq (`softirq`)
# and the server's CPU without it (`no-softirq`): on loopback a capped upload's read,
# by opening the TCP window, makes the client's stack send its queued data and the
# server's receive it inside the server's softirq, work a client-paced upload does in
# the client's system call (and that a real client's machine does itself).
# Usage: benches/scripts/rate_cpu.sh [ROUNDS] [COUNT]
set -euo pipefail
cd "$(dirname "$0")/../.."
rounds=${1:-3}
count=${2:-128}
cargo build --release -q -p ringftpd -p ringftp-load
dir=$(mktemp -d "${RATE_CPU_TMP:-/tmp}/ringftp-ratecpu.XXXXXX")
pid=""
stop() { if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; pid=""; fi; }
trap 'stop; rm -rf "$dir"' EXIT
mkdir "$dir/root"
head -c $((32 << 20)) /dev/urandom >"$dir/root/f32m.bin"
tck=$(getconf CLK_TCK)
cpu_ticks() { local s; s=$(cat "/proc/$1/stat"); s=${s##*) }; read -r -a f <<<"$s"; echo $((f[11] + f[12])); }
busy_jiffies() { awk '/^cpu /{print $2 + $3 + $4 + $7 + $8 + $9}' /proc/stat; }
perf_on=${RATE_CPU_PERF:-0}
if [ "$perf_on" = 1 ] && ! command -v perf >/dev/null; then
    echo "RATE_CPU_PERF=1 needs perf (apt-get install linux-perf)" >&2
    exit 1
fi
modes=(${RATE_CPU_MODES:-off unbound session total curl-client curl-server up-off up-session up-total})
flags_for() {
    case $1 in
        off) ;;
        up-off) echo --anonymous-write ;;
        up-session) echo --anonymous-write --session-rate 16MiB ;;
        up-total) echo --anonymous-write --total-rate 512MiB ;;
        up-client) echo --anonymous-write ;;
        unbound) echo --session-rate 64GiB --ip-rate 64GiB --total-rate 64GiB ;;
        session) echo --session-rate 16MiB ;;
        total) echo --total-rate 512MiB ;;
        curl-client) ;;
        curl-server) echo --session-rate 16MiB ;;
    esac
}
echo "cores: $(nproc); $(grep -m1 'model name' /proc/cpuinfo || true)"
: >"$dir/results"
for round in $(seq "$rounds"); do
    for mode in "${modes[@]}"; do
        mkfifo "$dir/out"
        # shellcheck disable=SC2046 # flags_for prints a list of flags
        target/release/ringftpd serve "$dir/root" --listen 127.0.0.1:0 --workers 2 \
            --passive-ports 21000-22999 $(flags_for "$mode") >"$dir/out" 2>"$dir/log" &
        pid=$!
        read -r line <"$dir/out"
        rm "$dir/out"
        port=${line##*:}
        perf_pid=""
        if [ "$perf_on" = 1 ]; then
            perf record -q -a -g -F 499 -o "$dir/perf.data" 2>/dev/null &
            perf_pid=$!
        fi
        before=$(cpu_ticks "$pid")
        machine_before=$(busy_jiffies)
        case $mode in
            curl-*)
                limit=()
                [ "$mode" = curl-client ] && limit=(--limit-rate 16M)
                t0=$(date +%s.%N)
                seq "$count" | /usr/bin/time -f '%U %S' -o "$dir/client.cpu" \
                    xargs -P 32 -I{} curl -s -S -o /dev/null "${limit[@]}" \
                    "ftp://127.0.0.1:$port/f32m.bin"
                t1=$(date +%s.%N)
                python3 -c "import json; b = $count * (32 << 20); print(json.dumps({'bytes_down': b, 'bytes_up': 0, 'throughput': {'mib_per_s': b / 2**20 / ($t1 - $t0)}, 'sessions': {'failed': 0, 'aborted': 0}}))" >"$dir/load.json"
                ;;
            up-*)
                pace=()
                [ "$mode" = up-client ] && pace=(--write-rate 16MiB)
                /usr/bin/time -f '%U %S' -o "$dir/client.cpu" \
                    target/release/ringftp-load "127.0.0.1:$port" stor 32MiB -c 32 -n "$count" "${pace[@]}" \
                    --delete-uploads --no-pin --quiet --json >"$dir/load.json" 2>"$dir/load.log"
                ;;
            *)
                /usr/bin/time -f '%U %S' -o "$dir/client.cpu" \
                    target/release/ringftp-load "127.0.0.1:$port" retr f32m.bin -c 32 -n "$count" \
                    --no-pin --quiet --json >"$dir/load.json" 2>"$dir/load.log"
                ;;
        esac
        after=$(cpu_ticks "$pid")
        machine=$(($(busy_jiffies) - machine_before))
        softirq=nan
        if [ -n "$perf_pid" ]; then
            kill -INT "$perf_pid"
            wait "$perf_pid" || true
            # Samples of the server's threads, and those under a softirq among them.
            softirq=$(perf script -i "$dir/perf.data" -F pid,ip,sym 2>/dev/null | awk -v p="$pid" '
                BEGIN { RS = "" }
                { split($1, id, "/"); if (id[1] != p) next; n++; if ($0 ~ /handle_softirqs/) s++ }
                END { if (n) printf "%.4f", s / n; else print "nan" }')
            rm -f "$dir/perf.data"
        fi
        stop
        rm -f "$dir"/root/ringftp-load-* 2>/dev/null || true
        python3 - "$dir/load.json" "$mode" "$round" "$((after - before))" "$tck" "$dir/client.cpu" "$machine" "$softirq" >>"$dir/results" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
mode, rnd, ticks, tck = sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
client = sum(float(x) for x in open(sys.argv[6]).read().split()[-2:])
machine = int(sys.argv[7]) / tck
softirq = float(sys.argv[8])
gib = (r["bytes_down"] + r["bytes_up"]) / 2**30
failed = r["sessions"]["failed"] + r["sessions"]["aborted"]
server = ticks / tck / gib
print(mode, rnd, f"{r['throughput']['mib_per_s']:.1f}", f"{server:.4f}", failed,
      f"{client / gib:.4f}", f"{server + client / gib:.4f}", f"{machine / gib:.4f}",
      f"{softirq:.4f}", f"{server * (1 - softirq):.4f}")
PY
        tail -1 "$dir/results"
    done
done
python3 - "$dir/results" <<'PY'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1])]
print(f"\n{'mode':<12} {'MiB/s':>7} {'server s/GiB':>12} {'vs off':>7} {'client':>7} {'sum':>6} {'machine':>8} {'softirq':>8} {'no-softirq':>10}  server runs  failed")
def baseline(mode):
    # Downloads compare with "off", uploads with "up-off".
    ref = "up-off" if mode.startswith("up-") else "off"
    return statistics.median([float(r[3]) for r in rows if r[0] == ref] or [float("nan")])
for mode in dict.fromkeys(r[0] for r in rows):
    rs = [r for r in rows if r[0] == mode]
    med = lambda i: statistics.median(float(r[i]) for r in rs)
    print(f"{mode:<12} {med(2):>7.1f} {med(3):>12.3f} {med(3) / baseline(mode):>6.2f}x {med(5):>7.3f} {med(6):>6.3f} {med(7):>8.3f} {med(8):>8.3f} {med(9):>10.3f}"
          f"  {' '.join(r[3] for r in rs)}  {sum(int(r[4]) for r in rs)}")
PY
