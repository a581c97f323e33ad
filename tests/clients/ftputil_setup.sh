#!/usr/bin/env bash
# A Python venv with pytest and the ftputil 5.2.0 sdist from PyPI, for ftputil's
# real-server suite (test/test_real_ftp.py), which tests/tests/ftputil.rs runs
# against ringftpd. Usage: tests/clients/ftputil_setup.sh [DIR] (default target/ftputil).
set -euo pipefail
dir=${1:-target/ftputil}
if [ -x "$dir/venv/bin/pytest" ] && [ -f "$dir/ftputil-5.2.0/test/test_real_ftp.py" ]; then
    exit 0
fi
mkdir -p "$dir/dl"
python3 -m venv "$dir/venv"
"$dir/venv/bin/pip" install -q --disable-pip-version-check pytest
"$dir/venv/bin/pip" download -q --disable-pip-version-check --no-binary :all: --no-deps \
    ftputil==5.2.0 -d "$dir/dl"
tar -xzf "$dir/dl/ftputil-5.2.0.tar.gz" -C "$dir"
"$dir/venv/bin/pip" install -q --disable-pip-version-check --no-deps "$dir/ftputil-5.2.0"
