#!/usr/bin/env bash
# Single-stream RETR throughput of ringftpd next to a plain sendfile loopback
# baseline, in one run. Usage: benches/scripts/retr_throughput.sh [SIZE_MIB] [RUNS]
set -euo pipefail
cd "$(dirname "$0")/../.."
size_mib=${1:-1024}
runs=${2:-5}
cargo build --release -q -p ringftpd
dir=$(mktemp -d)
pid=""
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null || true; rm -rf "$dir"; }
trap cleanup EXIT
head -c "$((size_mib * 1024 * 1024))" /dev/urandom > "$dir/big.bin"
mkfifo "$dir/out"
target/release/ringftpd serve "$dir" --listen 127.0.0.1:0 --passive-ports 41000-41099 > "$dir/out" &
pid=$!
read -r line < "$dir/out"
port=${line##*:}
cat /proc/cpuinfo | grep -m1 "model name" || true
echo "cores: $(nproc)"
python3 benches/scripts/retr_throughput.py 127.0.0.1 "$port" big.bin "$dir/big.bin" "$runs"
