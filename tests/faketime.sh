#!/usr/bin/env bash
# Runs the tests that print or parse dates under faked clocks: a one-digit and a
# two-digit day of the month, so a test that depends on today's date shows up on
# any day. Needs Debian's `faketime` package; not part of tests/run.sh.
# Usage: tests/faketime.sh [cargo test filter...]
set -euo pipefail
cd "$(dirname "$0")/.."
command -v faketime >/dev/null || {
    echo "tests/faketime.sh: install faketime first (apt-get install faketime)" >&2
    exit 1
}
cargo build --workspace --bins
cargo test --workspace --no-run
for when in '2027-01-05 12:00:00' '2027-01-25 12:00:00' '2027-07-09 23:59:30'; do
    echo "== faketime '$when'"
    faketime "$when" cargo test --workspace "$@"
done
