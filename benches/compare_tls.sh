#!/usr/bin/env bash
# Side-by-side benchmark on loopback: ringftpd and vsftpd serve the same folder and
# ringftp-load runs the same scenarios against each, in one run, on one machine.
# Absolute numbers on a shared machine mean little; the ratios are the result.
#
# The FTPS comparison: ringftpd and vsftpd side by side with the same self-signed
# certificate, AUTH TLS + PROT P with session reuse (BENCH_SET=tls, the default here;
# BENCH_SET=plain runs the plain scenarios against vsftpd alone; benches/compare.sh
# compares every peer).
# Usage: benches/compare_tls.sh
# Every knob is an environment variable; see benches/README.md.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

if [[ "${BENCH_QUICK:-0}" == 1 ]]; then
    : "${BENCH_DURATION:=3s}" "${BENCH_BIG_MIB:=256}" "${BENCH_BIG_COUNT:=1}"
    : "${BENCH_MID_CONCURRENCY:=32}" "${BENCH_MID_COUNT:=32}"
    : "${BENCH_SMALL_FILES:=200}" "${BENCH_SMALL_CONCURRENCY:=128}"
    : "${BENCH_ACTIVE_CONCURRENCY:=64}" "${BENCH_MIXED:=500}" "${BENCH_RAMP:=1s}" "${BENCH_MID_RAMP:=0s}"
    : "${BENCH_TIMEOUT:=10s}"
fi
: "${BENCH_DURATION:=20s}"          # fixed-duration scenarios
: "${BENCH_BIG_MIB:=1024}"          # size of the single-stream file
: "${BENCH_BIG_COUNT:=3}"           # downloads of it, one after another
: "${BENCH_MID_CONCURRENCY:=256}"   # sessions at once on the 64 MiB file
: "${BENCH_MID_COUNT:=512}"         # sessions in total on the 64 MiB file
: "${BENCH_MID_RAMP:=1s}"           # ramp-up of the 64 MiB scenario (vsftpd's backlog is 32)
: "${BENCH_SMALL_FILES:=2000}"      # 4 KiB files
: "${BENCH_SMALL_CONCURRENCY:=512}" # sessions at once, login + RETR 4 KiB + QUIT
: "${BENCH_ACTIVE_CONCURRENCY:=64}" # active-mode sessions at once on 4 KiB files
: "${BENCH_MIXED:=5000}"            # mixed active/passive sessions at once
: "${BENCH_RAMP:=5s}"               # ramp-up of the mixed scenario
: "${BENCH_TIMEOUT:=20s}"           # ringftp-load per-phase timeout
: "${BENCH_SET:=tls}"               # tls (FTPS set) or plain (the scenarios below)
: "${BENCH_TLS_STREAMS:=64}"        # tls: sessions at once on the 64 MiB file
: "${BENCH_TLS_COUNT:=128}"         # tls: sessions in total on the 64 MiB file
: "${BENCH_TLS_SESSIONS:=64}"       # tls: sessions at once, login-only (a handshake each)
: "${RINGFTPD_PORT:=2221}"
: "${VSFTPD_PORT:=2222}"
# Passive ranges sit below the kernel's ephemeral range (32768+), one range per server.
: "${RINGFTPD_PASV:=20000-24999}"
: "${VSFTPD_PASV:=25000-29999}"
: "${SKIP_BUILD:=0}"
: "${BENCH_ONLY:=}"                 # comma-separated scenario ids to run (default: all)
: "${LOAD_FLAGS=--no-pin}"          # extra ringftp-load flags for every scenario
: "${RINGFTPD_ARGS:=}"              # extra `ringftpd serve` flags, e.g. "--config tuned.toml"
# --no-pin: the load generator shares the cores with the server under test. Pinned, its
# threads collide with ringftpd's pinned workers (single stream: 1,650-2,450 MiB/s
# pinned vs 2,300-3,250 unpinned, same server) while the scheduler moves them away from
# unpinned servers such as vsftpd; unpinned, both servers get the same treatment.
: "${KEEP_BENCH_DIR:=0}"

BENCH_DIR=${BENCH_DIR:-$(mktemp -d /tmp/ringftp-bench.XXXXXX)}
DATA=$BENCH_DIR/root
RESULTS=$BENCH_DIR/results
mkdir -p "$DATA" "$RESULTS" "$BENCH_DIR/empty"

LOAD=$ROOT/target/release/ringftp-load
RINGFTPD=$ROOT/target/release/ringftpd
CLK_TCK=$(getconf CLK_TCK)
declare -A PID=()

log() { printf '[compare] %s\n' "$*" >&2; }

cleanup() {
    local name
    for name in "${!PID[@]}"; do
        local pid=${PID[$name]}
        if kill -0 "$pid" 2>/dev/null; then
            kill "$pid" 2>/dev/null || true
            for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
            kill -9 "$pid" 2>/dev/null || true
        fi
    done
    if [[ "$KEEP_BENCH_DIR" != 1 ]]; then
        rm -rf "$DATA"
        log "results kept in $RESULTS"
    fi
}
trap cleanup EXIT

# ---------------------------------------------------------------- build
if [[ "$SKIP_BUILD" != 1 ]]; then
    log "building ringftp-load"
    (cd "$ROOT" && cargo build --release -q -p ringftp-load)
    log "building ringftpd"
    if ! (cd "$ROOT" && cargo build --release -q -p ringftpd); then
        log "ringftpd does not build; its column will read n/a"
        RINGFTPD=
    fi
fi
[[ -x "$LOAD" ]] || { log "no $LOAD"; exit 1; }
[[ -n "$RINGFTPD" && -x "$RINGFTPD" ]] || RINGFTPD=

# ---------------------------------------------------------------- data
log "creating data in $DATA"
head -c "$((BENCH_BIG_MIB << 20))" /dev/urandom >"$DATA/big.bin"
head -c "$((64 << 20))" /dev/urandom >"$DATA/f64m.bin"
mkdir -p "$DATA/small"
python3 - "$DATA/small" "$BENCH_SMALL_FILES" <<'EOF'
import os, sys
d, n = sys.argv[1], int(sys.argv[2])
for i in range(n):
    with open(os.path.join(d, f"s{i:05}.bin"), "wb") as f:
        f.write(os.urandom(4096))
EOF
chmod -R a+rX "$DATA"
# Relative paths: vsftpd under run_as_launching_user does not chroot, so anon_root is
# only its starting directory; ringftpd resolves them against its virtual root.
(cd "$DATA" && ls small | sed 's|^|small/|') >"$BENCH_DIR/small.txt"

# ---------------------------------------------------------------- certificate
TLS_ARGS=()
if [[ "$BENCH_SET" == tls ]]; then
    CERT=$BENCH_DIR/cert.pem KEY=$BENCH_DIR/key.pem
    openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj /CN=127.0.0.1 \
        -addext subjectAltName=IP:127.0.0.1 -keyout "$KEY" -out "$CERT" 2>/dev/null
    TLS_ARGS=(--tls-cert "$CERT" --tls-key "$KEY")
    LOAD_FLAGS="$LOAD_FLAGS --tls --tls-trust $CERT"
fi

# ---------------------------------------------------------------- servers
wait_listening() { # port pid -> 0 once the port accepts connections
    local port=$1 pid=$2
    for _ in $(seq 100); do
        kill -0 "$pid" 2>/dev/null || return 1
        if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then return 0; fi
        sleep 0.1
    done
    return 1
}

start_vsftpd() {
    if [[ ! -x /usr/sbin/vsftpd ]]; then
        log "installing vsftpd"
        apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq vsftpd >/dev/null
    fi
    cat >"$BENCH_DIR/vsftpd.conf" <<EOF
listen=YES
listen_ipv6=NO
listen_address=127.0.0.1
listen_port=$VSFTPD_PORT
background=NO
run_as_launching_user=YES
seccomp_sandbox=NO
anonymous_enable=YES
local_enable=NO
no_anon_password=YES
anon_root=$DATA
write_enable=NO
pasv_enable=YES
pasv_min_port=${VSFTPD_PASV%-*}
pasv_max_port=${VSFTPD_PASV#*-}
port_enable=YES
connect_from_port_20=NO
max_clients=0
max_per_ip=0
xferlog_enable=NO
dirmessage_enable=NO
secure_chroot_dir=$BENCH_DIR/empty
EOF
    if [[ "$BENCH_SET" == tls ]]; then
        # vsftpd's default cipher list (DES-CBC3-SHA) is refused by OpenSSL 3.
        cat >>"$BENCH_DIR/vsftpd.conf" <<EOF
ssl_enable=YES
allow_anon_ssl=YES
force_anon_logins_ssl=YES
force_anon_data_ssl=YES
require_ssl_reuse=YES
ssl_ciphers=HIGH
rsa_cert_file=$CERT
rsa_private_key_file=$KEY
EOF
    fi
    /usr/sbin/vsftpd "$BENCH_DIR/vsftpd.conf" >"$BENCH_DIR/vsftpd.log" 2>&1 &
    PID[vsftpd]=$!
    wait_listening "$VSFTPD_PORT" "${PID[vsftpd]}" || { log "vsftpd did not start"; cat "$BENCH_DIR/vsftpd.log" >&2; unset 'PID[vsftpd]'; return 1; }
}

start_ringftpd() {
    [[ -n "$RINGFTPD" ]] || return 1
    # shellcheck disable=SC2086 # RINGFTPD_ARGS is a list of flags
    "$RINGFTPD" serve "$DATA" --listen "127.0.0.1:$RINGFTPD_PORT" --passive-ports "$RINGFTPD_PASV" \
        "${TLS_ARGS[@]}" $RINGFTPD_ARGS >"$BENCH_DIR/ringftpd.log" 2>&1 &
    PID[ringftpd]=$!
    if ! wait_listening "$RINGFTPD_PORT" "${PID[ringftpd]}"; then
        log "ringftpd did not start (see $BENCH_DIR/ringftpd.log); its column will read n/a"
        kill "${PID[ringftpd]}" 2>/dev/null || true
        unset 'PID[ringftpd]'
        return 1
    fi
}

start_ringftpd || true
start_vsftpd || true
[[ -n "${PID[vsftpd]:-}${PID[ringftpd]:-}" ]] || { log "no server running"; exit 1; }

# ---------------------------------------------------------------- measuring
# CPU time of a server in clock ticks: utime+stime of the process (all its threads) plus
# cutime+cstime, the CPU of children it has waited for. vsftpd forks one process per
# session; each exits when its session ends and the listener reaps it, so once a scenario
# is over and every child is gone, cutime+cstime holds exactly their CPU. Sampling the
# process tree with ps instead would miss sessions that start and end between samples.
cpu_ticks() {
    local stat
    stat=$(cat "/proc/$1/stat" 2>/dev/null) || { echo 0; return; }
    stat=${stat##*) }  # fields after "comm", starting at field 3
    read -r -a f <<<"$stat"
    echo $(( f[11] + f[12] + f[13] + f[14] ))
}

wait_children_gone() { # pid: wait (bounded) until the server's session processes exited
    for _ in $(seq 300); do
        [[ -z "$(pgrep -P "$1" 2>/dev/null)" ]] && return 0
        sleep 0.1
    done
}

SCENARIOS=()
run_scenario() { # id description metric -- ringftp-load scenario args...
    local id=$1 desc=$2 metric=$3; shift 4
    if [[ -n "$BENCH_ONLY" && ",$BENCH_ONLY," != *",$id,"* ]]; then return 0; fi
    SCENARIOS+=("$id|$desc|$metric")
    local server port
    for server in ringftpd vsftpd; do
        local out=$RESULTS/$server-$id.json
        rm -f "$out" "$RESULTS/$server-$id.cpu"
        local pid=${PID[$server]:-}
        if [[ -z "$pid" ]] || ! kill -0 "$pid" 2>/dev/null; then continue; fi
        port=$([[ $server == ringftpd ]] && echo "$RINGFTPD_PORT" || echo "$VSFTPD_PORT")
        log "$server: $desc"
        local before after
        before=$(cpu_ticks "$pid")
        # shellcheck disable=SC2086 # LOAD_FLAGS is a list of flags
        "$LOAD" "127.0.0.1:$port" "$@" $LOAD_FLAGS --timeout "$BENCH_TIMEOUT" --json --quiet \
            >"$out" 2>"$RESULTS/$server-$id.log" || true
        wait_children_gone "$pid"
        after=$(cpu_ticks "$pid")
        echo "$(( after - before ))" >"$RESULTS/$server-$id.cpu"
        [[ -s "$out" ]] || { rm -f "$out"; log "  no result (see $RESULTS/$server-$id.log)"; }
    done
}

if [[ "$BENCH_SET" == tls ]]; then
run_scenario tls-big "TLS 1 stream, ${BENCH_BIG_MIB} MiB file x${BENCH_BIG_COUNT}" mib_per_s -- \
    retr big.bin --concurrency 1 --count "$BENCH_BIG_COUNT"
run_scenario tls-mid "TLS ${BENCH_TLS_STREAMS} streams on 64 MiB (${BENCH_TLS_COUNT} total)" mib_per_s -- \
    retr f64m.bin --concurrency "$BENCH_TLS_STREAMS" --count "$BENCH_TLS_COUNT" --ramp-up "$BENCH_MID_RAMP"
run_scenario tls-sessions "TLS ${BENCH_TLS_SESSIONS} x connect+handshake+login+QUIT, ${BENCH_DURATION}" sessions_per_s -- \
    login-only --concurrency "$BENCH_TLS_SESSIONS" --duration "$BENCH_DURATION"
else
run_scenario big "1 stream, ${BENCH_BIG_MIB} MiB file x${BENCH_BIG_COUNT}" mib_per_s -- \
    retr big.bin --concurrency 1 --count "$BENCH_BIG_COUNT"
run_scenario mid "${BENCH_MID_CONCURRENCY} sessions on 64 MiB (${BENCH_MID_COUNT} total)" mib_per_s -- \
    retr f64m.bin --concurrency "$BENCH_MID_CONCURRENCY" --count "$BENCH_MID_COUNT" --ramp-up "$BENCH_MID_RAMP"
run_scenario small "${BENCH_SMALL_CONCURRENCY} x login+RETR 4 KiB+QUIT, ${BENCH_DURATION}" sessions_per_s -- \
    retr-list "$BENCH_DIR/small.txt" --concurrency "$BENCH_SMALL_CONCURRENCY" --duration "$BENCH_DURATION"
run_scenario active "${BENCH_ACTIVE_CONCURRENCY} active sessions, 4 KiB, ${BENCH_DURATION}" sessions_per_s -- \
    retr-list "$BENCH_DIR/small.txt" --mode active --concurrency "$BENCH_ACTIVE_CONCURRENCY" --duration "$BENCH_DURATION"
run_scenario mixed "${BENCH_MIXED} mixed active/passive, 4 KiB, ${BENCH_DURATION}" sessions_per_s -- \
    retr-list "$BENCH_DIR/small.txt" --mode mixed:0.5 --concurrency "$BENCH_MIXED" \
    --ramp-up "$BENCH_RAMP" --duration "$BENCH_DURATION"
fi

# ---------------------------------------------------------------- table
printf '%s\n' "${SCENARIOS[@]}" >"$RESULTS/scenarios.txt"
python3 - "$RESULTS" "$CLK_TCK" <<'EOF' | tee "$RESULTS/table.txt"
import json, os, sys
results, tck = sys.argv[1], int(sys.argv[2])
with open(os.path.join(results, "scenarios.txt")) as f:
    scenarios = f.read().splitlines()

def load(server, sid):
    try:
        with open(os.path.join(results, f"{server}-{sid}.json")) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None

def cpu(server, sid):
    try:
        with open(os.path.join(results, f"{server}-{sid}.cpu")) as f:
            return int(f.read()) / tck
    except (OSError, ValueError):
        return None

units = {"mib_per_s": "MiB/s", "sessions_per_s": "sessions/s"}
def cpu_per_unit(r, metric, c):
    """Server CPU per unit of work done, so servers that finished different amounts compare."""
    if metric == "mib_per_s":
        gib = (r["bytes_down"] + r["bytes_up"]) / 2**30
        return "n/a" if not gib else f"{c / gib:.3f}"
    done = r["sessions"]["ok"]
    return "n/a" if not done else f"{c * 1000 / done:.2f}"

cpu_units = {"mib_per_s": "s/GiB", "sessions_per_s": "ms/session"}
rows = [("scenario", "metric", "ringftpd", "vsftpd", "ratio", "errors r/v", "cpu s r/v",
         "cpu per unit r/v", "p99 session r/v")]
for line in scenarios:
    sid, desc, metric = line.split("|")
    vals, errs, cpus, units_cpu, p99s = [], [], [], [], []
    for server in ("ringftpd", "vsftpd"):
        r = load(server, sid)
        if r is None:
            vals.append(None); errs.append("n/a"); cpus.append("n/a"); units_cpu.append("n/a")
            p99s.append("n/a")
            continue
        vals.append(r["throughput"][metric])
        s = r["sessions"]
        errs.append(str(s["failed"] + s["aborted"]))
        c = cpu(server, sid)
        cpus.append("n/a" if c is None else f"{c:.1f}")
        units_cpu.append("n/a" if c is None else cpu_per_unit(r, metric, c))
        sess = [p for p in r["latency_us"] if p["phase"] == "session"]
        p99s.append(f"{sess[0]['p99'] / 1000:.1f}ms" if sess else "n/a")
    fmt = lambda v: "n/a" if v is None else f"{v:.1f}"
    ratio = "n/a" if None in vals or not vals[1] else f"{vals[0] / vals[1]:.2f}x"
    rows.append((desc, units[metric], fmt(vals[0]), fmt(vals[1]), ratio,
                 "/".join(errs), "/".join(cpus), "/".join(units_cpu) + " " + cpu_units[metric],
                 "/".join(p99s)))
widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
for i, r in enumerate(rows):
    print("  ".join(c.ljust(w) if j == 0 else c.rjust(w) for j, (c, w) in enumerate(zip(r, widths))))
    if i == 0:
        print("  ".join("-" * w for w in widths))
print("\nratio = ringftpd / vsftpd (higher is better); errors = failed + aborted sessions;")
print("cpu = server CPU seconds during the scenario (vsftpd: listener + reaped session processes);")
print("cpu per unit = that CPU per GiB moved or per completed session.")
EOF
