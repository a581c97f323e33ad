#!/usr/bin/env bash
# Sandbox on against sandbox off, side by side in one run: two ringftpd servers on the
# same folder (one with `sandbox.enabled = false`), and the small-file and mixed
# scenarios of benches/compare.sh run against each in turn, alternating which goes
# first, ROUNDS times. Prints sessions/s and server CPU per session for every run and
# the medians. Usage: benches/scripts/sandbox_ab.sh [ROUNDS] [DURATION]
set -euo pipefail
cd "$(dirname "$0")/../.."
# shellcheck source=benches/scripts/small_files.sh
source benches/scripts/small_files.sh
rounds=${1:-3}
duration=${2:-20s}
[[ "${SKIP_BUILD:-0}" == 1 ]] || cargo build --release -q -p ringftpd -p ringftp-load
dir=$(mktemp -d /tmp/ringftp-sandbox-ab.XXXXXX)
declare -A pid=() port=([on]=2231 [off]=2232) pasv=([on]=20000-24999 [off]=25000-29999)
cleanup() {
    for p in "${pid[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
    rm -rf "$dir"
}
trap cleanup EXIT
make_small_files "$dir/root" 2000 "$dir/small.txt"
for mode in on off; do
    printf '[sandbox]\nenabled = %s\n' "$([[ $mode == on ]] && echo true || echo false)" >"$dir/$mode.toml"
    mkfifo "$dir/$mode.out"
    target/release/ringftpd --config "$dir/$mode.toml" serve "$dir/root" \
        --listen "127.0.0.1:${port[$mode]}" --passive-ports "${pasv[$mode]}" \
        >"$dir/$mode.out" 2>"$dir/$mode.err" &
    pid[$mode]=$!
    read -r _ <"$dir/$mode.out"
done
grep -q "sandbox enforced" "$dir/on.err" || { echo "sandbox not enforced"; cat "$dir/on.err"; exit 1; }

cpu_ticks() { local s; s=$(cat "/proc/$1/stat"); s=${s##*) }; read -r -a f <<<"$s"; echo $(( f[11] + f[12] )); }
tck=$(getconf CLK_TCK)
scenario_args() {
    case $1 in
        small) echo "retr-list $dir/small.txt --concurrency 512 --duration $duration" ;;
        mixed) echo "retr-list $dir/small.txt --mode mixed:0.5 --concurrency 5000 --ramp-up 5s --duration $duration" ;;
    esac
}
results=$dir/results.txt
for round in $(seq "$rounds"); do
    order=(on off); (( round % 2 == 0 )) && order=(off on)
    for scenario in small mixed; do
        for mode in "${order[@]}"; do
            before=$(cpu_ticks "${pid[$mode]}")
            # shellcheck disable=SC2046 # the scenario is a list of arguments
            target/release/ringftp-load "127.0.0.1:${port[$mode]}" $(scenario_args $scenario) \
                --no-pin --timeout 20s --json --quiet >"$dir/run.json" 2>/dev/null || true
            after=$(cpu_ticks "${pid[$mode]}")
            python3 - "$dir/run.json" $(( after - before )) "$tck" "$round" "$scenario" "$mode" >>"$results" <<'PY'
import json, sys
r = json.load(open(sys.argv[1])); ticks, tck = int(sys.argv[2]), int(sys.argv[3])
ok = r["sessions"]["ok"]; bad = r["sessions"]["failed"] + r["sessions"]["aborted"]
ms = ticks / tck * 1000 / ok if ok else float("nan")
print(f"{sys.argv[4]} {sys.argv[5]} {sys.argv[6]} {r['throughput']['sessions_per_s']:.1f} {ms:.3f} {bad}")
PY
            tail -n 1 "$results" | awk '{printf "round %s %-5s sandbox %-3s %8s sessions/s %6s ms CPU/session %s errors\n", $1, $2, $3, $4, $5, $6}'
        done
    done
done
python3 - "$results" <<'PY'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1])]
for scenario in ("small", "mixed"):
    med = {}
    for mode in ("off", "on"):
        sel = [r for r in rows if r[1] == scenario and r[2] == mode]
        med[mode] = (statistics.median(float(r[3]) for r in sel), statistics.median(float(r[4]) for r in sel))
    ratios = [float(on[3]) / float(off[3]) for on, off in zip(
        [r for r in rows if r[1] == scenario and r[2] == "on"],
        [r for r in rows if r[1] == scenario and r[2] == "off"])]
    print(f"{scenario}: median sessions/s off {med['off'][0]:.1f} on {med['on'][0]:.1f} "
          f"(on/off {med['on'][0] / med['off'][0]:.3f}; per round {', '.join(f'{x:.2f}' for x in ratios)}); "
          f"median CPU/session off {med['off'][1]:.3f} ms on {med['on'][1]:.3f} ms")
PY
