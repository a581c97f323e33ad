#!/usr/bin/env bash
# Two ringftpd builds side by side: both serve the same folder at the same time, each on
# its own port and half of the passive range, each with its own load generator running
# the same scenario. Both see the same machine, so the ratio of their CPU per unit of
# work holds still where runs one after the other swing with the machine's drift. After
# half the rounds the builds swap ports and load generators. Prints each round and the
# median ratio (B over A: below 1 means B uses less CPU).
#
# SCENARIO=small (the default): open loop of RATE new sessions/s (login, RETR 4 KiB,
# QUIT); CPU per session. SCENARIO=wan: RATE slow readers at once (default 600), each
# reading a 64 MiB file at 256 KiB/s through a 64 KiB receive buffer, as compare.sh's
# wan; CPU per GiB.
#
# Usage: [SCENARIO=small|wan] benches/scripts/builds_side_by_side.sh BIN_A BIN_B [ROUNDS] [RATE] [DURATION]
#   e.g. benches/scripts/builds_side_by_side.sh /tmp/ringftpd-before target/release/ringftpd 6
#        SCENARIO=wan benches/scripts/builds_side_by_side.sh /tmp/before target/release/ringftpd 4 600 20s
set -euo pipefail
cd "$(dirname "$0")/../.."
# shellcheck source=benches/scripts/small_files.sh
source benches/scripts/small_files.sh
[[ $# -ge 2 ]] || { echo "usage: $0 BIN_A BIN_B [ROUNDS] [RATE] [DURATION]" >&2; exit 2; }
scenario=${SCENARIO:-small}
case $scenario in
small) rounds=${3:-6} rate=${4:-2500} duration=${5:-8s} ;;
wan) rounds=${3:-4} rate=${4:-600} duration=${5:-20s} ;;
*) echo "SCENARIO is small or wan, not $scenario" >&2; exit 2 ;;
esac
bin_a=$1 bin_b=$2
for b in "$bin_a" "$bin_b"; do [[ -x "$b" ]] || { echo "$b: not an executable" >&2; exit 2; }; done
[[ "${SKIP_BUILD:-0}" == 1 ]] || cargo build --release -q -p ringftp-load
load=target/release/ringftp-load
dir=$(mktemp -d /tmp/ringftp-builds.XXXXXX)
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
    rm -rf "$dir"
}
trap cleanup EXIT
if [[ $scenario == small ]]; then
    make_small_files "$dir/root" 1000 "$dir/small.txt"
    load_args=(retr-list "$dir/small.txt" --rate "$rate" --duration "$duration" --threads 1)
else
    mkdir -p "$dir/root"
    head -c $((64 << 20)) /dev/urandom >"$dir/root/wan.bin"
    load_args=(retr wan.bin --concurrency "$rate" --read-rate 256KiB --rcvbuf 64KiB
        --ramp-up 2s --duration "$duration" --cut-at-end --threads 1)
fi

ticks() { # pid -> utime + stime in clock ticks
    local stat
    stat=$(cat "/proc/$1/stat")
    stat=${stat##*) }
    read -r -a f <<<"$stat"
    echo $((f[11] + f[12]))
}
wait_listening() { # port pid
    for _ in $(seq 100); do
        kill -0 "$2" 2>/dev/null || return 1
        (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
        sleep 0.1
    done
    return 1
}

tck=$(getconf CLK_TCK)
for r in $(seq "$rounds"); do
    # First half: A on the first port and range, B on the second; then swapped.
    if ((r <= rounds / 2)); then first=$bin_a second=$bin_b; else first=$bin_b second=$bin_a; fi
    "$first" serve "$dir/root" --listen 127.0.0.1:2341 --passive-ports 20000-25999 >"$dir/1.log" 2>&1 &
    p1=$!
    "$second" serve "$dir/root" --listen 127.0.0.1:2342 --passive-ports 26000-31999 >"$dir/2.log" 2>&1 &
    p2=$!
    pids=("$p1" "$p2")
    wait_listening 2341 "$p1" && wait_listening 2342 "$p2" || { echo "a server did not start" >&2; exit 1; }
    t1=$(ticks "$p1") t2=$(ticks "$p2")
    "$load" 127.0.0.1:2341 "${load_args[@]}" --no-pin --json >"$dir/1.json" 2>/dev/null &
    l1=$!
    "$load" 127.0.0.1:2342 "${load_args[@]}" --no-pin --json >"$dir/2.json" 2>/dev/null
    wait "$l1"
    t1=$(($(ticks "$p1") - t1)) t2=$(($(ticks "$p2") - t2))
    kill "$p1" "$p2"; wait "$p1" "$p2" 2>/dev/null || true
    pids=()
    if [[ $first == "$bin_a" ]]; then a=1 b=2 ta=$t1 tb=$t2; else a=2 b=1 ta=$t2 tb=$t1; fi
    python3 - "$dir/$a.json" "$dir/$b.json" "$ta" "$tb" "$tck" "$r" "$scenario" <<'PY' | tee -a "$dir/rounds.txt"
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:3])
ta, tb, tck, r = (int(x) for x in sys.argv[3:7])
errors = len(a.get("errors") or []) + len(b.get("errors") or [])
if sys.argv[7] == "small":
    def show(run, ticks):
        cpu = ticks / tck * 1000 / max(run["transfers_ok"], 1)
        return cpu, f"{run['transfers_ok']} sessions {cpu:.4f} ms/session"
else:
    def show(run, ticks):
        gib = run["bytes_down"] / 2**30
        cpu = ticks / tck / max(gib, 1e-9)
        return cpu, f"{gib:.2f} GiB {cpu:.4f} s/GiB"
ca, sa = show(a, ta)
cb, sb = show(b, tb)
print(f"round {r}: A {sa}, B {sb}, B/A {cb / ca:.3f}"
      + (f" ({errors} error classes)" if errors else ""))
PY
done
python3 - "$dir/rounds.txt" <<'PY'
import re, statistics, sys
ratios = [float(m.group(1)) for m in re.finditer(r"B/A (\d+\.\d+)", open(sys.argv[1]).read())]
print(f"median B/A {statistics.median(ratios):.3f} over {len(ratios)} rounds")
PY
