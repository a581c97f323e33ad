#!/usr/bin/env bash
# The whole test suite: format and lint checks, the binaries the end-to-end tests
# start, then every unit, property and end-to-end test in the workspace.
# On Debian, as root, it first installs the FTP clients (and util-linux fincore,
# systemd's systemd-analyze for the unit file, python3-seccomp to hide Landlock,
# openssl for the FTPS tests' certificates, wget, rclone, tnftp, crc32 from
# libarchive-zip-perl, python3-venv) the end-to-end tests drive, HAProxy for the
# load-balancer tests, and sets up the Python venv for ftputil's real-server suite.
set -euo pipefail
cd "$(dirname "$0")/.."
need=()
command -v curl >/dev/null || need+=(curl)
command -v ss >/dev/null || need+=(iproute2)
command -v lftp >/dev/null || need+=(lftp)
command -v python3 >/dev/null || need+=(python3)
command -v openssl >/dev/null || need+=(openssl)
command -v fincore >/dev/null || need+=(util-linux)
command -v haproxy >/dev/null || need+=(haproxy)
command -v systemd-analyze >/dev/null || need+=(systemd)
/usr/bin/python3 -c 'import seccomp' 2>/dev/null || need+=(python3-seccomp)
command -v wget >/dev/null || need+=(wget)
command -v rclone >/dev/null || need+=(rclone)
command -v tnftp >/dev/null || need+=(tnftp)
command -v crc32 >/dev/null || need+=(libarchive-zip-perl)
python3 -c 'import ensurepip, venv' 2>/dev/null || need+=(python3-venv)
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
tests/clients/ftputil_setup.sh "${CARGO_TARGET_DIR:-target}/ftputil"
cargo fmt --all -- --check
cargo clippy --workspace --all-targets -- -D warnings
cargo build --workspace --bins
cargo test --workspace "$@"
