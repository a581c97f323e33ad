#!/usr/bin/env bash
# Two ringftpd instances on one machine, loaded through HAProxy (PROXY protocol v2 on
# control and data connections) and directly (two ringftp-load processes at once, one
# per instance), alternately in one run: the balancer's cost as ratios, and how it
# spread the sessions (from each instance's metrics).
#
# Usage: benches/scripts/haproxy_scale.sh [ROUNDS] [SECONDS]   (default 3 rounds of 10 s)
# Needs haproxy (apt-get install haproxy) and python3.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
ROUNDS=${1:-3}
SECS=${2:-10}
SMALL_C=${SMALL_C:-64}
BIG_C=${BIG_C:-16}
: "${SKIP_BUILD:=0}"
command -v haproxy >/dev/null || { echo "haproxy is needed (apt-get install haproxy)" >&2; exit 1; }
if [[ "$SKIP_BUILD" != 1 ]]; then
    (cd "$ROOT" && cargo build --release -q -p ringftpd -p ringftp-load)
fi
RINGFTPD=$ROOT/target/release/ringftpd
LOAD=$ROOT/target/release/ringftp-load
DIR=$(mktemp -d /tmp/ringftp-haproxy.XXXXXX)
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$DIR/root"
}
trap cleanup EXIT
mkdir -p "$DIR/root" "$DIR/out"
head -c 4096 /dev/urandom >"$DIR/root/f4k"
head -c $((64 << 20)) /dev/urandom >"$DIR/root/f64m"

PORT=2621
start_node() { # name ip passive metrics-port
    cat >"$DIR/$1.toml" <<CONF
root = "$DIR/root"
listen = ["$2:$PORT"]
workers = 1
pin_workers = false
passive_ports = "$3"
[proxy_protocol]
trusted = ["127.0.0.5"]
[metrics]
listen = "127.0.0.1:$4"
CONF
    "$RINGFTPD" --config "$DIR/$1.toml" >"$DIR/$1.out" 2>"$DIR/$1.log" &
    PIDS+=($!)
    eval "PID_$1=$!"
}
start_node n1 127.0.0.2 6000-6499 9201
start_node n2 127.0.0.3 6500-6999 9202
cat >"$DIR/haproxy.cfg" <<CONF
global
    maxconn 4000
defaults
    mode tcp
    timeout connect 5s
    timeout client 60s
    timeout server 60s
    timeout tunnel 1h
    source 127.0.0.5
    retries 3
    option redispatch
    option splice-auto
frontend ftp
    bind 127.0.0.1:$PORT
    default_backend nodes
backend nodes
    balance roundrobin
    default-server send-proxy-v2 check check-send-proxy inter 2s
    server n1 127.0.0.2:$PORT
    server n2 127.0.0.3:$PORT
listen pasv1
    bind 127.0.0.1:6000-6499
    server n1 127.0.0.2 send-proxy-v2
listen pasv2
    bind 127.0.0.1:6500-6999
    server n2 127.0.0.3 send-proxy-v2
CONF
haproxy -db -f "$DIR/haproxy.cfg" >"$DIR/haproxy.log" 2>&1 &
PIDS+=($!)
PID_haproxy=$!
for _ in $(seq 100); do
    curl -s "ftp://127.0.0.1:$PORT/f4k" -o /dev/null && break
    kill -0 "$PID_haproxy" 2>/dev/null || { cat "$DIR/haproxy.log" >&2; exit 1; }
    sleep 0.1
done

ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
sessions() { # metrics-port metric
    curl -s "http://127.0.0.1:$1/metrics" | awk -v m="$2" '$1 ~ "^"m"[{ ]" || $1 == m {s += $2} END {print s + 0}'
}
LOADFLAGS=(--no-pin --quiet --json --timeout 20s --source-ips 127.0.1.1-127.0.1.8)
run() { # round scenario-id via concurrency scenario-args...
    local round=$1 id=$2 via=$3 c=$4; shift 4
    local tag="$DIR/out/$round-$id-$via"
    local n1a n2a h1 h2 hp
    local counter=ringftpd_sessions_total
    [[ $via == haproxy ]] && counter=ringftpd_proxied_sessions_total
    n1a=$(sessions 9201 $counter); n2a=$(sessions 9202 $counter)
    h1=$(( $(ticks "$PID_n1") + $(ticks "$PID_n2") )); hp=$(ticks "$PID_haproxy")
    if [[ $via == haproxy ]]; then
        "$LOAD" "127.0.0.1:$PORT" "$@" -c "$c" -d "${SECS}s" "${LOADFLAGS[@]}" >"$tag.json" 2>"$tag.log"
    else
        "$LOAD" "127.0.0.2:$PORT" "$@" -c $((c / 2)) -d "${SECS}s" "${LOADFLAGS[@]}" >"$tag.a.json" 2>"$tag.a.log" &
        local a=$!
        "$LOAD" "127.0.0.3:$PORT" "$@" -c $((c / 2)) -d "${SECS}s" "${LOADFLAGS[@]}" >"$tag.b.json" 2>"$tag.b.log"
        wait "$a"
    fi
    h2=$(( $(ticks "$PID_n1") + $(ticks "$PID_n2") ))
    echo "$(( $(sessions 9201 $counter) - n1a )) $(( $(sessions 9202 $counter) - n2a )) $(( h2 - h1 )) $(( $(ticks "$PID_haproxy") - hp ))" >"$tag.extra"
}
for r in $(seq "$ROUNDS"); do
    # Alternate which path goes first, so drift on the shared machine hits both.
    order=(haproxy direct); (( r % 2 == 0 )) && order=(direct haproxy)
    for via in "${order[@]}"; do
        echo "round $r: small files, $via" >&2
        run "$r" small "$via" "$SMALL_C" retr /f4k
        echo "round $r: 64 MiB files, $via" >&2
        run "$r" big "$via" "$BIG_C" retr /f64m
    done
done
python3 - "$DIR/out" "$ROUNDS" "$(getconf CLK_TCK)" <<'PY'
import json, os, statistics, sys
out, rounds, tck = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
def load(path):
    with open(path) as f:
        return json.load(f)
def result(r, sid, via):
    tag = os.path.join(out, f"{r}-{sid}-{via}")
    parts = [load(tag + ".json")] if via == "haproxy" else [load(tag + ".a.json"), load(tag + ".b.json")]
    n1, n2, cpu, hcpu = map(int, open(tag + ".extra").read().split())
    return {
        "sessions_per_s": sum(p["throughput"]["sessions_per_s"] for p in parts),
        "mib_per_s": sum(p["throughput"]["mib_per_s"] for p in parts),
        "ok": sum(p["sessions"]["ok"] for p in parts),
        "failed": sum(p["sessions"]["failed"] + p["sessions"]["aborted"] for p in parts),
        "split": (n1, n2), "cpu": cpu / tck, "haproxy_cpu": hcpu / tck,
    }
for sid, metric, unit in (("small", "sessions_per_s", "sessions/s"), ("big", "mib_per_s", "MiB/s")):
    print(f"== {sid}: {unit}")
    ratios = []
    for r in range(1, rounds + 1):
        h, d = result(r, sid, "haproxy"), result(r, sid, "direct")
        ratio = h[metric] / d[metric] if d[metric] else float("nan")
        ratios.append(ratio)
        print(f"round {r}: haproxy {h[metric]:.1f} (errors {h['failed']}, split n1/n2 {h['split'][0]}/{h['split'][1]}, "
              f"nodes cpu {h['cpu']:.1f} s, haproxy cpu {h['haproxy_cpu']:.1f} s) | direct {d[metric]:.1f} "
              f"(errors {d['failed']}, split {d['split'][0]}/{d['split'][1]}, nodes cpu {d['cpu']:.1f} s) | ratio {ratio:.2f}")
    print(f"median ratio haproxy/direct: {statistics.median(ratios):.2f}")
PY
