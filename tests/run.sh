#!/usr/bin/env bash
# The whole test suite: format and lint checks, the binaries the end-to-end tests
# start, then every unit, property and end-to-end test in the workspace.
# On Debian, as root, it first installs the FTP clients (and util-linux fincore)
# the end-to-end tests drive, and HAProxy for the load-balancer tests.
set -euo pipefail
cd "$(dirname "$0")/.."
need=()
command -v curl >/dev/null || need+=(curl)
command -v lftp >/dev/null || need+=(lftp)
command -v python3 >/dev/null || need+=(python3)
command -v fincore >/dev/null || need+=(util-linux)
command -v haproxy >/dev/null || need+=(haproxy)
# ringftp-load's chart tests draw labels with DejaVu Sans.
[ -f /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ] || need+=(fonts-dejavu-core)
if [ ${#need[@]} -gt 0 ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq
        apt-get install -y -qq "${need[@]}"
    else
        echo "tests/run.sh: install ${need[*]} first (the end-to-end tests drive them)" >&2
        exit 1
    fi
fi
cargo fmt --all -- --check
cargo clippy --workspace --all-targets -- -D warnings
cargo build --workspace --bins
cargo test --workspace "$@"
