#!/usr/bin/env bash
# Side-by-side benchmark on loopback: ringftpd and its peers (vsftpd, pure-ftpd, ProFTPD,
# unFTP) serve the same folder and ringftp-load runs the same scenarios against each, in
# one run, on one machine. Absolute numbers on a shared machine mean little; the ratios
# are the result.
#
# Usage: benches/compare.sh                  (full run; see benches/README.md for its cost)
#        BENCH_QUICK=1 benches/compare.sh    (short run)
#        PEERS="vsftpd unftp" BENCH_ONLY=small,wan benches/compare.sh
# Every knob is an environment variable; see benches/README.md.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

if [[ "${BENCH_QUICK:-0}" == 1 ]]; then
    : "${BENCH_DURATION:=3s}" "${BENCH_BIG_MIB:=256}" "${BENCH_BIG_COUNT:=1}"
    : "${BENCH_MID_CONCURRENCY:=32}" "${BENCH_MID_COUNT:=32}"
    : "${BENCH_SMALL_FILES:=200}" "${BENCH_SMALL_CONCURRENCY:=128}"
    : "${BENCH_ACTIVE_CONCURRENCY:=64}" "${BENCH_MIXED:=500}" "${BENCH_RAMP:=1s}" "${BENCH_MID_RAMP:=0s}"
    : "${BENCH_TIMEOUT:=10s}"
    : "${BENCH_WAN_SESSIONS:=200}" "${BENCH_WAN_DURATION:=10s}" "${BENCH_WAN_MIB:=64}"
    : "${BENCH_WAN10K_SESSIONS:=1000}" "${BENCH_WAN10K_DURATION:=10s}"
    : "${BENCH_FLASH_RATE:=200}" "${BENCH_FLASH_DURATION:=5s}"
    : "${BENCH_COLD_FILES:=8}" "${BENCH_COLD_MIB:=32}"
    : "${BENCH_UPLOAD_SESSIONS:=8}" "${BENCH_UPLOAD_MIB:=16}"
    : "${BENCH_LISTING_ENTRIES:=10000}"
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
: "${BENCH_WAN_SESSIONS:=2000}"     # wan: slow readers at once
: "${BENCH_WAN_RATE:=256KiB}"       # wan: each one's read rate
: "${BENCH_WAN_DURATION:=60s}"
: "${BENCH_WAN_RAMP:=5s}"
: "${BENCH_WAN_MIB:=256}"           # wan: size of the file they read
: "${BENCH_WAN_RCVBUF:=64KiB}"      # wan: client receive buffer (a quarter second of data)
: "${BENCH_WAN10K_SESSIONS:=10000}" # wan10k: slow readers at once
: "${BENCH_WAN10K_RATE:=50KiB}"
: "${BENCH_WAN10K_DURATION:=60s}"
# wan10k's ramp-up: a third of the run (20 s of 60), so every session reads for at least
# two thirds of it; a session started just before the cut is rated on its start alone.
if [[ -z "${BENCH_WAN10K_RAMP:-}" ]]; then
    if [[ $BENCH_WAN10K_DURATION =~ ^([0-9]+)s$ ]]; then
        BENCH_WAN10K_RAMP=$((BASH_REMATCH[1] / 3))s
    else
        BENCH_WAN10K_RAMP=20s
    fi
fi
: "${BENCH_WAN10K_RCVBUF:=32KiB}"
: "${BENCH_FLASH_RATE:=500}"        # flash: new sessions per second (open loop)
: "${BENCH_FLASH_DURATION:=20s}"
: "${BENCH_COLD_FILES:=32}"         # cold: sessions, one distinct file each
: "${BENCH_COLD_MIB:=256}"          # cold: size of each file
: "${BENCH_UPLOAD_SESSIONS:=64}"    # upload: sessions, one STOR each
: "${BENCH_UPLOAD_MIB:=64}"
: "${BENCH_LISTING_ENTRIES:=100000}" # listing/mlsd: entries of the listed folder
: "${BENCH_LISTING_CONCURRENCY:=4}"
: "${PEERS=vsftpd pure-ftpd proftpd unftp}"
# Servers run one after another, so they share one passive range (below the kernel's
# ephemeral range, 32768+, so passive listeners never collide with client ports). It holds
# 12,000 ports: wan10k needs one per session.
: "${BENCH_PASV:=20000-31999}"
: "${RINGFTPD_PORT:=2221}" "${VSFTPD_PORT:=2222}" "${PUREFTPD_PORT:=2223}"
: "${PROFTPD_PORT:=2224}" "${UNFTP_PORT:=2225}"
: "${SKIP_BUILD:=0}"
: "${BENCH_ONLY:=}"                 # comma-separated scenario ids to run (default: all)
: "${LOAD_FLAGS=--no-pin}"          # extra ringftp-load flags for every scenario
: "${RINGFTPD_ARGS:=}"              # extra `ringftpd serve` flags, e.g. "--config tuned.toml"
: "${RINGFTPD_BIN:=}"               # another ringftpd build to measure (default: target/release)
# --no-pin: the load generator shares the cores with the server under test. Pinned, its
# threads collide with ringftpd's pinned workers (single stream: 1,650-2,450 MiB/s
# pinned vs 2,300-3,250 unpinned, same server) while the scheduler moves them away from
# unpinned servers such as vsftpd; unpinned, both servers get the same treatment.
: "${KEEP_BENCH_DIR:=0}"
: "${UNFTP_ROOT:=$ROOT/target/peers}" # where `cargo install unftp` puts unftp
: "${RESTORE_PACKAGES:=1}"          # reinstall the FTP server packages found at start
: "${RINGFTPD_AT:=first}"           # measure ringftpd first or last (alternate between runs)
: "${BENCH_PAIRED:=0}"              # 1: ringftpd and each peer at the same time (see below)

[[ -z "$RINGFTPD_BIN" || -x "$RINGFTPD_BIN" ]] ||
    { echo "RINGFTPD_BIN=$RINGFTPD_BIN: not an executable" >&2; exit 2; }
BENCH_DIR=${BENCH_DIR:-$(mktemp -d /tmp/ringftp-bench.XXXXXX)}
DATA=$BENCH_DIR/root
RESULTS=$BENCH_DIR/results
: "${BENCH_CHARTS:=$RESULTS/charts}"
mkdir -p "$DATA" "$RESULTS" "$BENCH_DIR/empty" "$BENCH_CHARTS"

LOAD=$ROOT/target/release/ringftp-load
PLOT=$ROOT/target/release/ringftp-plot
RINGFTPD=${RINGFTPD_BIN:-$ROOT/target/release/ringftpd}
CLK_TCK=$(getconf CLK_TCK)
PASV_MIN=${BENCH_PASV%-*}
PASV_MAX=${BENCH_PASV#*-}
SERVER_PID=
PAIRED_PID=
declare -A NA=()        # server -> why it has no column
FTP_PACKAGES=(vsftpd pure-ftpd proftpd-core)
INSTALLED_AT_START=()
INSTALLED_BY_US=()
SAMPLER_PID=

log() { printf '[compare] %s\n' "$*" >&2; }

is_installed() { dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q "install ok installed"; }
for p in "${FTP_PACKAGES[@]}"; do if is_installed "$p"; then INSTALLED_AT_START+=("$p"); fi; done

stop_server() {
    local pid=$SERVER_PID
    SERVER_PID=
    [[ -n "$pid" ]] || return 0
    if kill -0 "$pid" 2>/dev/null; then
        kill "$pid" 2>/dev/null || true
        for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -9 "$pid" 2>/dev/null || true
    fi
    wait "$pid" 2>/dev/null || true
}

# Debian's FTP server packages conflict (each provides ftp-server): one is installed at a
# time. policy-rc.d keeps the package's own service from starting on port 21 while it is
# installed; the benchmark starts the binary itself with its own config.
POLICY=/usr/sbin/policy-rc.d
POLICY_OURS=0
apt_install() { # package...
    [[ "$(id -u)" == 0 ]] || { echo "not root, cannot install $*"; return 1; }
    if [[ ! -e "$POLICY" ]]; then
        printf '#!/bin/sh\nexit 101\n' >"$POLICY" && chmod +x "$POLICY" && POLICY_OURS=1
    fi
    INSTALLED_BY_US+=("$@")
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >"$BENCH_DIR/apt.log" 2>&1 ||
        { DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null 2>&1 &&
          DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >"$BENCH_DIR/apt.log" 2>&1; } ||
        { tail -n 3 "$BENCH_DIR/apt.log" | tr '\n' ' '; return 1; }
}

remove_installed() { # removes what apt_install installed for the server just measured
    ((${#INSTALLED_BY_US[@]})) || return 0
    DEBIAN_FRONTEND=noninteractive apt-get remove -y -qq "${INSTALLED_BY_US[@]}" >>"$BENCH_DIR/apt.log" 2>&1 ||
        log "could not remove ${INSTALLED_BY_US[*]}"
    INSTALLED_BY_US=()
}

restore_packages() {
    [[ "$RESTORE_PACKAGES" == 1 && "$(id -u)" == 0 ]] || return 0
    local p missing=()
    for p in "${INSTALLED_AT_START[@]}"; do is_installed "$p" || missing+=("$p"); done
    if ((${#missing[@]})); then
        log "restoring ${missing[*]}"
        apt_install "${missing[@]}" >/dev/null || log "could not restore ${missing[*]}"
    fi
}

cleanup() {
    stop_server
    if [[ -n "${PAIRED_PID:-}" ]]; then SERVER_PID=$PAIRED_PID stop_server; fi
    if [[ -n "$SAMPLER_PID" ]]; then kill "$SAMPLER_PID" 2>/dev/null || true; fi
    remove_installed || true
    if [[ "$FTP_ACCOUNT_OURS" == 1 ]]; then userdel ftp 2>/dev/null || true; fi
    restore_packages || true
    if [[ "$POLICY_OURS" == 1 ]]; then rm -f "$POLICY"; fi
    if [[ "$KEEP_BENCH_DIR" != 1 ]]; then
        rm -rf "$DATA"
        log "results kept in $RESULTS"
    fi
}
trap cleanup EXIT

# ---------------------------------------------------------------- build
if [[ "$SKIP_BUILD" != 1 ]]; then
    log "building ringftp-load"
    (cd "$ROOT" && cargo build --release -q -p ringftp-load --bins)
    log "building ringftpd"
    if ! (cd "$ROOT" && cargo build --release -q -p ringftpd); then
        log "ringftpd does not build; its column will read n/a"
        NA[ringftpd]="does not build"
    fi
fi
[[ -x "$LOAD" ]] || { log "no $LOAD"; exit 1; }
[[ -x "$RINGFTPD" ]] || NA[ringftpd]=${NA[ringftpd]:-"no $RINGFTPD"}

# ---------------------------------------------------------------- scenarios
# id|description|metric|ringftp-load arguments (word-split; paths are relative to the
# served folder, which every server resolves the same way)
SCENARIOS=(
    "big|1 stream, ${BENCH_BIG_MIB} MiB file x${BENCH_BIG_COUNT}|mib_per_s|retr big.bin --concurrency 1 --count $BENCH_BIG_COUNT"
    "mid|${BENCH_MID_CONCURRENCY} sessions on 64 MiB (${BENCH_MID_COUNT} total)|mib_per_s|retr f64m.bin --concurrency $BENCH_MID_CONCURRENCY --count $BENCH_MID_COUNT --ramp-up $BENCH_MID_RAMP"
    "small|${BENCH_SMALL_CONCURRENCY} x login+RETR 4 KiB+QUIT, ${BENCH_DURATION}|sessions_per_s|retr-list $BENCH_DIR/small.txt --concurrency $BENCH_SMALL_CONCURRENCY --duration $BENCH_DURATION"
    "active|${BENCH_ACTIVE_CONCURRENCY} active sessions, 4 KiB, ${BENCH_DURATION}|sessions_per_s|retr-list $BENCH_DIR/small.txt --mode active --concurrency $BENCH_ACTIVE_CONCURRENCY --duration $BENCH_DURATION"
    "mixed|${BENCH_MIXED} mixed active/passive, 4 KiB, ${BENCH_DURATION}|sessions_per_s|retr-list $BENCH_DIR/small.txt --mode mixed:0.5 --concurrency $BENCH_MIXED --ramp-up $BENCH_RAMP --duration $BENCH_DURATION"
    "wan|wan: ${BENCH_WAN_SESSIONS} sessions at ${BENCH_WAN_RATE}/s on ${BENCH_WAN_MIB} MiB, ${BENCH_WAN_DURATION}|mib_per_s|retr wan.bin --concurrency $BENCH_WAN_SESSIONS --read-rate $BENCH_WAN_RATE --rcvbuf $BENCH_WAN_RCVBUF --ramp-up $BENCH_WAN_RAMP --duration $BENCH_WAN_DURATION --cut-at-end"
    "wan10k|wan10k: ${BENCH_WAN10K_SESSIONS} sessions at ${BENCH_WAN10K_RATE}/s, ${BENCH_WAN10K_DURATION}|mib_per_s|retr wan.bin --concurrency $BENCH_WAN10K_SESSIONS --read-rate $BENCH_WAN10K_RATE --rcvbuf $BENCH_WAN10K_RCVBUF --ramp-up $BENCH_WAN10K_RAMP --duration $BENCH_WAN10K_DURATION --cut-at-end"
    "flash|flash: ${BENCH_FLASH_RATE} new sessions/s on 1 MiB, ${BENCH_FLASH_DURATION}|sessions_per_s|retr hot.bin --rate $BENCH_FLASH_RATE --duration $BENCH_FLASH_DURATION"
    "cold|cold: ${BENCH_COLD_FILES} sessions on distinct ${BENCH_COLD_MIB} MiB files, evicted|mib_per_s|retr-list $BENCH_DIR/cold.txt --concurrency $BENCH_COLD_FILES --count $BENCH_COLD_FILES"
    "upload|upload: ${BENCH_UPLOAD_SESSIONS} sessions x STOR ${BENCH_UPLOAD_MIB} MiB|mib_per_s|stor ${BENCH_UPLOAD_MIB}MiB --upload-dir upload --concurrency $BENCH_UPLOAD_SESSIONS --count $BENCH_UPLOAD_SESSIONS"
    "listing|LIST of ${BENCH_LISTING_ENTRIES} entries x${BENCH_LISTING_CONCURRENCY}, ${BENCH_DURATION}|sessions_per_s|list listing --concurrency $BENCH_LISTING_CONCURRENCY --duration $BENCH_DURATION"
    "mlsd|MLSD of ${BENCH_LISTING_ENTRIES} entries x${BENCH_LISTING_CONCURRENCY}, ${BENCH_DURATION}|sessions_per_s|mlsd listing --concurrency $BENCH_LISTING_CONCURRENCY --duration $BENCH_DURATION"
)
selected() { [[ -z "$BENCH_ONLY" || ",$BENCH_ONLY," == *",$1,"* ]]; }

# ---------------------------------------------------------------- data
log "creating data in $DATA"
make_file() { [[ -s "$1" ]] || head -c "$(($2 << 20))" /dev/urandom >"$1"; }
if selected big; then make_file "$DATA/big.bin" "$BENCH_BIG_MIB"; fi
if selected mid; then make_file "$DATA/f64m.bin" 64; fi
if selected wan || selected wan10k; then make_file "$DATA/wan.bin" "$BENCH_WAN_MIB"; fi
if selected flash; then make_file "$DATA/hot.bin" 1; fi
mkdir -p "$DATA/small" "$DATA/cold" "$DATA/listing" "$DATA/upload"
chmod 0777 "$DATA/upload"
python3 - "$DATA" "$BENCH_SMALL_FILES" "$BENCH_LISTING_ENTRIES" <<'EOF'
import os, sys
root, small, entries = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
for i in range(small):
    p = os.path.join(root, "small", f"s{i:05}.bin")
    if not os.path.exists(p):
        with open(p, "wb") as f:
            f.write(os.urandom(4096))
listing = os.path.join(root, "listing")
for i in range(len(os.listdir(listing)), entries):
    open(os.path.join(listing, f"entry-{i:06}.txt"), "wb").close()
EOF
if selected cold; then
    for i in $(seq -w 0 $((BENCH_COLD_FILES - 1))); do make_file "$DATA/cold/c$i.bin" "$BENCH_COLD_MIB"; done
fi
chmod -R a+rX "$DATA"
(cd "$DATA" && ls small | sed 's|^|small/|') >"$BENCH_DIR/small.txt"
(cd "$DATA" && ls cold | sed 's|^|cold/|') >"$BENCH_DIR/cold.txt"

# Drops the cold files from the page cache: written back first (dirty pages cannot be
# dropped), then POSIX_FADV_DONTNEED. Prints how many of their pages stay cached.
evict_cold() {
    python3 - "$DATA/cold" <<'EOF'
import os, sys
d = sys.argv[1]
for name in sorted(os.listdir(d)):
    fd = os.open(os.path.join(d, name), os.O_RDONLY)
    try:
        os.fsync(fd)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    finally:
        os.close(fd)
EOF
    if command -v fincore >/dev/null; then
        fincore --bytes --noheadings "$DATA"/cold/*.bin | awk '{s += $1} END {printf "%d bytes of the cold files still cached\n", s}'
    fi
}

# ---------------------------------------------------------------- servers
wait_listening() { # port pid -> 0 once the port accepts connections
    local port=$1 pid=$2
    for _ in $(seq 150); do
        kill -0 "$pid" 2>/dev/null || return 1
        if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then return 0; fi
        sleep 0.1
    done
    return 1
}

port_of() {
    case $1 in
        ringftpd) echo "$RINGFTPD_PORT" ;; vsftpd) echo "$VSFTPD_PORT" ;;
        pure-ftpd) echo "$PUREFTPD_PORT" ;; proftpd) echo "$PROFTPD_PORT" ;;
        unftp) echo "$UNFTP_PORT" ;;
    esac
}

# Each prepare_X installs what X needs (echoing the reason and failing when it cannot)
# and each start_X starts it in the foreground of a background job, setting SERVER_PID.
prepare_ringftpd() { [[ -z "${NA[ringftpd]:-}" ]] || { echo "${NA[ringftpd]}"; return 1; }; }
start_ringftpd() {
    # shellcheck disable=SC2086 # RINGFTPD_ARGS is a list of flags
    "$RINGFTPD" serve "$DATA" --listen "127.0.0.1:$RINGFTPD_PORT" --passive-ports "$PASV_MIN-$PASV_MAX" \
        --anonymous-write $RINGFTPD_ARGS >"$BENCH_DIR/ringftpd.log" 2>&1 &
    SERVER_PID=$!
}

prepare_vsftpd() { [[ -x /usr/sbin/vsftpd ]] || apt_install vsftpd; }
start_vsftpd() {
    # As Debian ships it, plus what running unprivileged on a high port needs
    # (run_as_launching_user, seccomp off, listen in the foreground), anonymous
    # uploads for the upload scenario, and no transfer log or reverse lookups.
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
write_enable=YES
anon_upload_enable=YES
anon_umask=022
pasv_enable=YES
pasv_min_port=$PASV_MIN
pasv_max_port=$PASV_MAX
port_enable=YES
connect_from_port_20=NO
max_clients=0
max_per_ip=0
use_sendfile=YES
xferlog_enable=NO
dirmessage_enable=NO
secure_chroot_dir=$BENCH_DIR/empty
EOF
    # vsftpd writes its start-up errors to fd 0.
    /usr/sbin/vsftpd "$BENCH_DIR/vsftpd.conf" >"$BENCH_DIR/vsftpd.log" 2>&1 0>&1 &
    SERVER_PID=$!
}

# pure-ftpd and ProFTPD run anonymous sessions as the `ftp` account; vsftpd's package
# creates it and removes it again when vsftpd is swapped out, so make one when it is
# missing (and delete it at the end).
FTP_ACCOUNT_OURS=0
ensure_ftp_account() {
    getent passwd ftp >/dev/null && return 0
    useradd --system --home-dir /srv/ftp --shell /usr/sbin/nologin ftp && FTP_ACCOUNT_OURS=1
}

prepare_pure-ftpd() { [[ -x /usr/sbin/pure-ftpd ]] || apt_install pure-ftpd; }
start_pure-ftpd() {
    # pure-ftpd serves anonymous users from the home of the `ftp` account. A private mount
    # namespace binds the benchmark folder there for this process only.
    local home
    ensure_ftp_account || { echo "no ftp account"; return 1; }
    home=$(getent passwd ftp | cut -d: -f6)
    [[ -n "$home" ]] || { echo "no ftp account"; return 1; }
    mkdir -p "$home"
    # -e anonymous only, -H no reverse DNS, -f none no syslog, -c/-C no session caps
    # (Debian's default caps 50 clients), -m 1000 no load-based refusal of downloads,
    # -L lists folders of up to a million entries (default 10,000), -p the passive range,
    # -S address,port.
    unshare --mount --propagation private sh -c \
        'mount --bind "$0" "$1" && shift && exec /usr/sbin/pure-ftpd "$@"' \
        "$DATA" "$home" -S "127.0.0.1,$PUREFTPD_PORT" -e -H -f none -c 20000 -C 20000 -m 1000 -L 1000000:5 \
        -p "$PASV_MIN:$PASV_MAX" >"$BENCH_DIR/pure-ftpd.log" 2>&1 &
    SERVER_PID=$!
}

prepare_proftpd() { [[ -x /usr/sbin/proftpd ]] || apt_install proftpd-core; }
start_proftpd() {
    # The performance advice of ProFTPD's docs: sendfile, no reverse DNS or ident, no
    # mod_delay login delays, no transfer/wtmp logs, scoreboard on tmpfs-like /tmp.
    ensure_ftp_account || { echo "no ftp account"; return 1; }
    cat >"$BENCH_DIR/proftpd.conf" <<EOF
ServerType standalone
ServerName "bench"
DefaultServer on
DefaultAddress 127.0.0.1
SocketBindTight on
UseIPv6 off
Port $PROFTPD_PORT
User nobody
Group nogroup
PidFile $BENCH_DIR/proftpd.pid
ScoreboardFile $BENCH_DIR/proftpd.scoreboard
MaxInstances 30000
TCPBacklog 255
PassivePorts $PASV_MIN $PASV_MAX
UseSendfile on
UseReverseDNS off
<IfModule mod_ident.c>
  IdentLookups off
</IfModule>
WtmpLog off
TransferLog none
SystemLog none
<IfModule mod_delay.c>
  DelayEngine off
</IfModule>
<Anonymous $DATA>
  User ftp
  Group nogroup
  UserAlias anonymous ftp
  RequireValidShell off
  MaxClients none
  AllowOverwrite on
</Anonymous>
EOF
    /usr/sbin/proftpd -n -q -c "$BENCH_DIR/proftpd.conf" >"$BENCH_DIR/proftpd.log" 2>&1 &
    SERVER_PID=$!
}

prepare_unftp() {
    if [[ ! -x "$UNFTP_ROOT/bin/unftp" ]]; then
        log "installing unftp with cargo (takes a few minutes)"
        cargo install unftp --locked --no-default-features --root "$UNFTP_ROOT" \
            >"$BENCH_DIR/unftp-install.log" 2>&1 ||
            { echo "cargo install unftp failed: $(tail -n 2 "$BENCH_DIR/unftp-install.log" | tr '\n' ' ')"; return 1; }
    fi
}
start_unftp() {
    "$UNFTP_ROOT/bin/unftp" --root-dir="$DATA" --bind-address="127.0.0.1:$UNFTP_PORT" \
        --passive-ports="$PASV_MIN-$PASV_MAX" --auth-type=anonymous --log-level=error \
        --bind-address-http="127.0.0.1:$((UNFTP_PORT + 10))" \
        >"$BENCH_DIR/unftp.log" 2>&1 &
    SERVER_PID=$!
}


# ---------------------------------------------------------------- measuring
# CPU time of a server in clock ticks: utime+stime of the process (all its threads) plus
# cutime+cstime, the CPU of children it has waited for. The forking servers fork one
# process per session; each exits when its session ends and the listener reaps it, so
# once a scenario is over and every child is gone, cutime+cstime holds exactly their CPU.
# Sampling the process tree with ps instead would miss sessions that start and end
# between samples.
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

# Memory sampler: every second, the PSS of the server's whole process tree
# (smaps_rollup of the server and every descendant), the pipes it holds, the kernel
# memory of the TCP sockets the tree holds open (from `ss -tme`: receive queue, send
# queue and forward allocation of each socket whose inode is one of the tree's fds,
# which is what the kernel charges to the server's connections, not the clients'), and
# the rise of kernel memory over its value at the start, machine-wide: Slab
# (/proc/meminfo) and the pages TCP sockets use (/proc/net/sockstat), the load
# generator's sockets included. Rewrites the peaks as JSON after every sample.
cat >"$BENCH_DIR/memsample.py" <<'EOF'
import json, os, re, signal, subprocess, sys, time
root, out = int(sys.argv[1]), sys.argv[2]
page = os.sysconf("SC_PAGE_SIZE")
def kernel():
    slab = tcp = 0
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("Slab:"):
                slab = int(line.split()[1]) * 1024
    with open("/proc/net/sockstat") as f:
        for line in f:
            if line.startswith("TCP:"):
                w = line.split()
                tcp = int(w[w.index("mem") + 1]) * page
    return slab, tcp
def tree():
    children = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open(f"/proc/{d}/stat") as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
                children.setdefault(ppid, []).append(int(d))
            except (OSError, ValueError, IndexError):
                pass
    todo, seen = [root], []
    while todo:
        p = todo.pop()
        seen.append(p)
        todo.extend(children.get(p, []))
    return seen
def pss_pipes_sockets(pids):
    pss = pipes = 0
    sockets = set()
    for p in pids:
        try:
            with open(f"/proc/{p}/smaps_rollup") as f:
                for line in f:
                    if line.startswith("Pss:"):
                        pss += int(line.split()[1]) * 1024
                        break
            for fd in os.listdir(f"/proc/{p}/fd"):
                try:
                    target = os.readlink(f"/proc/{p}/fd/{fd}")
                except OSError:
                    continue
                if target.startswith("pipe:"):
                    pipes += 1
                elif target.startswith("socket:["):
                    sockets.add(target[8:-1])
        except OSError:
            pass
    return pss, pipes, sockets
SKMEM = re.compile(r"ino:(\d+)\b.*?skmem:\(r(\d+),rb\d+,t\d+,tb\d+,f(\d+),w(\d+)", re.S)
def socket_memory(inodes):
    # ss prints one entry per socket: a line with ino:N, then one with skmem:(...).
    out = subprocess.run(["ss", "-tmeHn"], capture_output=True, text=True).stdout
    return sum(int(r) + int(f) + int(w) for ino, r, f, w in SKMEM.findall(out)
               if ino in inodes)
base_slab, base_tcp = kernel()
peak = {"pss_bytes": 0, "processes": 0, "pipes": 0, "socket_bytes": 0, "memory_bytes": 0,
        "slab_rise_bytes": 0, "tcp_rise_bytes": 0, "kernel_rise_bytes": 0, "samples": 0}
def save():
    with open(out + ".tmp", "w") as f:
        json.dump(peak, f)
    os.replace(out + ".tmp", out)
signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
while True:
    pids = tree()
    pss, pipes, inodes = pss_pipes_sockets(pids)
    sock = socket_memory(inodes)
    slab, tcp = kernel()
    rise = max(0, slab - base_slab) + max(0, tcp - base_tcp)
    peak["pss_bytes"] = max(peak["pss_bytes"], pss)
    peak["processes"] = max(peak["processes"], len(pids))
    peak["pipes"] = max(peak["pipes"], pipes)
    peak["socket_bytes"] = max(peak["socket_bytes"], sock)
    peak["memory_bytes"] = max(peak["memory_bytes"], pss + sock)
    peak["slab_rise_bytes"] = max(peak["slab_rise_bytes"], slab - base_slab)
    peak["tcp_rise_bytes"] = max(peak["tcp_rise_bytes"], tcp - base_tcp)
    peak["kernel_rise_bytes"] = max(peak["kernel_rise_bytes"], rise)
    peak["samples"] += 1
    save()
    time.sleep(1)
EOF

run_scenario() { # server id args...
    local server=$1 id=$2; shift 2
    local pid=$SERVER_PID port out=$RESULTS/$server-$id.json
    port=$(port_of "$server")
    rm -f "$out" "$RESULTS/$server-$id.cpu" "$RESULTS/$server-$id.mem"
    if [[ $id == cold ]]; then evict_cold >"$RESULTS/$server-$id.evict" 2>&1 || true; fi
    local before after
    before=$(cpu_ticks "$pid")
    python3 "$BENCH_DIR/memsample.py" "$pid" "$RESULTS/$server-$id.mem" &
    SAMPLER_PID=$!
    for _ in $(seq 100); do [[ -s "$RESULTS/$server-$id.mem" ]] && break; sleep 0.05; done
    # shellcheck disable=SC2086 # LOAD_FLAGS is a list of flags
    "$LOAD" "127.0.0.1:$port" "$@" $LOAD_FLAGS --timeout "$BENCH_TIMEOUT" --json --quiet --timeline \
        >"$out" 2>"$RESULTS/$server-$id.log" || true
    wait_children_gone "$pid"
    after=$(cpu_ticks "$pid")
    kill "$SAMPLER_PID" 2>/dev/null || true
    wait "$SAMPLER_PID" 2>/dev/null || true
    SAMPLER_PID=
    echo "$(( after - before ))" >"$RESULTS/$server-$id.cpu"
    [[ -s "$out" ]] || { rm -f "$out"; log "  no result (see $RESULTS/$server-$id.log)"; }
    if [[ $id == upload ]]; then rm -f "$DATA"/upload/*; fi
}

# ---------------------------------------------------------------- paired runs
# BENCH_PAIRED=1: instead of one server after another, ringftpd and one peer at a time
# run side by side, each on half of the passive range with its own load generator, and
# every scenario runs against both at once. On a shared machine whose speed drifts from
# minute to minute, both then see the same machine, so the ratio of their CPU per
# session holds still where sequential runs swing; meant for the session scenarios
# (small, active, mixed, flash), where CPU per session is the figure that counts. Each
# pairing's results go to RESULTS/paired-PEER, a results folder of two servers, so
# compare_table.py and markdown_table.py read it like any other.
run_paired() {
    local base=$PASV_MIN half=$(( (PASV_MAX - PASV_MIN + 1) / 2 ))
    local peer dir s id desc args rpid ppid ours theirs reason
    for peer in $PEERS; do
        dir=$RESULTS/paired-$peer
        mkdir -p "$dir"
        printf 'ringftpd\n%s\n' "$peer" >"$dir/servers.txt"
        cp "$RESULTS/scenarios.txt" "$dir/scenarios.txt"
        : >"$dir/na.txt"
        log "ringftpd + $peer: preparing"
        if ! prepare_ringftpd >"$BENCH_DIR/prepare-ringftpd.out" 2>&1 ||
            ! "prepare_$peer" >"$BENCH_DIR/prepare-$peer.out" 2>&1; then
            reason=$(cat "$BENCH_DIR/prepare-ringftpd.out" "$BENCH_DIR/prepare-$peer.out" 2>/dev/null |
                tr '\n' ' ' | cut -c1-300)
            printf '%s\t%s\n' "$peer" "${reason:-cannot be prepared}" >"$dir/na.txt"
            log "ringftpd + $peer: n/a: ${reason:-cannot be prepared}"
            remove_installed
            continue
        fi
        PASV_MIN=$base PASV_MAX=$((base + half - 1)) start_ringftpd
        rpid=$SERVER_PID
        PASV_MIN=$((base + half)) PASV_MAX=$((base + 2 * half - 1)) "start_$peer"
        ppid=$SERVER_PID
        PAIRED_PID=$rpid
        if ! wait_listening "$RINGFTPD_PORT" "$rpid" || ! wait_listening "$(port_of "$peer")" "$ppid"; then
            printf '%s\t%s\n' "$peer" "does not start (see $BENCH_DIR/$peer.log)" >"$dir/na.txt"
            log "ringftpd + $peer: n/a: one of them does not start"
        else
            for s in "${SCENARIOS[@]}"; do
                IFS='|' read -r id desc _ args <<<"$s"
                selected "$id" || continue
                log "ringftpd + $peer: $desc"
                # Two subshells, waited for by PID: the servers are jobs of this shell too.
                # shellcheck disable=SC2086 # args is a list of words
                (SERVER_PID=$rpid RESULTS=$dir run_scenario ringftpd "$id" $args) &
                ours=$!
                # shellcheck disable=SC2086
                (SERVER_PID=$ppid RESULTS=$dir run_scenario "$peer" "$id" $args) &
                theirs=$!
                wait "$ours" "$theirs" || true
                if [[ -x "$PLOT" && -s "$dir/ringftpd-$id.json" && -s "$dir/$peer-$id.json" ]]; then
                    mkdir -p "$dir/charts"
                    "$PLOT" "$dir/charts/$id.svg" --title "$desc, side by side" \
                        "ringftpd=$dir/ringftpd-$id.json" "$peer=$dir/$peer-$id.json" ||
                        log "no chart for $id"
                fi
            done
        fi
        SERVER_PID=$rpid stop_server
        SERVER_PID=$ppid stop_server
        SERVER_PID= PAIRED_PID=
        remove_installed
        log "ringftpd + $peer:"
        python3 "$ROOT/benches/scripts/compare_table.py" "$dir" "$CLK_TCK" | tee "$dir/table.txt"
    done
}

SERVERS=()
[[ "$RINGFTPD_AT" == last ]] || SERVERS+=(ringftpd)
for p in $PEERS; do
    case $p in
        vsftpd | pure-ftpd | proftpd | unftp) SERVERS+=("$p") ;;
        *) log "unknown peer $p (vsftpd pure-ftpd proftpd unftp)"; exit 2 ;;
    esac
done
[[ "$RINGFTPD_AT" != last ]] || SERVERS+=(ringftpd)
printf '%s\n' "${SERVERS[@]}" >"$RESULTS/servers.txt"
: >"$RESULTS/scenarios.txt"
for s in "${SCENARIOS[@]}"; do
    IFS='|' read -r id desc metric _ <<<"$s"
    if selected "$id"; then echo "$id|$desc|$metric" >>"$RESULTS/scenarios.txt"; fi
done

if [[ "$BENCH_PAIRED" == 1 ]]; then
    run_paired
    exit 0
fi

for server in "${SERVERS[@]}"; do
    log "$server: preparing"
    if ! "prepare_$server" >"$BENCH_DIR/prepare-$server.out" 2>&1; then
        reason=$(tr '\n' ' ' <"$BENCH_DIR/prepare-$server.out" | cut -c1-300)
        NA[$server]=${reason:-cannot be installed}
        log "$server: n/a: ${NA[$server]}"
        continue
    fi
    if ! "start_$server" || ! wait_listening "$(port_of "$server")" "$SERVER_PID"; then
        NA[$server]="does not start (see $BENCH_DIR/$server.log)"
        log "$server: n/a: ${NA[$server]}"
        stop_server
        remove_installed
        continue
    fi
    for s in "${SCENARIOS[@]}"; do
        IFS='|' read -r id desc _ args <<<"$s"
        selected "$id" || continue
        log "$server: $desc"
        # shellcheck disable=SC2086 # args is a list of words
        run_scenario "$server" "$id" $args
    done
    stop_server
    remove_installed
done
: >"$RESULTS/na.txt"
for server in "${!NA[@]}"; do printf '%s\t%s\n' "$server" "${NA[$server]}" >>"$RESULTS/na.txt"; done

# ---------------------------------------------------------------- charts and table
if [[ -x "$PLOT" ]]; then
    while IFS='|' read -r id desc _; do
        lines=()
        for server in "${SERVERS[@]}"; do
            [[ -s "$RESULTS/$server-$id.json" ]] && lines+=("$server=$RESULTS/$server-$id.json")
        done
        ((${#lines[@]})) || continue
        "$PLOT" "$BENCH_CHARTS/$id.svg" --title "$desc" "${lines[@]}" ||
            log "no chart for $id"
    done <"$RESULTS/scenarios.txt"
fi
python3 "$ROOT/benches/scripts/compare_table.py" "$RESULTS" "$CLK_TCK" | tee "$RESULTS/table.txt"
