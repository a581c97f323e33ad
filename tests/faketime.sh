#!/usr/bin/env bash
# Runs every unit and end-to-end test binary under faked clocks (a one-digit and a
# two-digit day of the month, and a day far from the build date), so a test that
# depends on today's date shows up on any day. Needs Debian's `faketime` package;
# not part of tests/run.sh. Usage: tests/faketime.sh [test filter]
#
# The binaries are built first and then run directly: rustc and rustdoc do not finish
# under faketime, so cargo must not compile anything while the clock is faked.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v faketime >/dev/null || {
    echo "tests/faketime.sh: install faketime first (apt-get install faketime)" >&2
    exit 1
}
cargo build --workspace --bins
mapfile -t tests < <(cargo test --workspace --lib --bins --tests --no-run --message-format=json 2>/dev/null |
    python3 -c '
import json, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m.get("profile", {}).get("test") and m.get("executable"):
        print(m["manifest_path"].rsplit("/", 1)[0] + "\t" + m["executable"])
')
failed=0
# File timestamps come from the kernel's real clock, not the faked one. NO_FAKE_STAT
# keeps libfaketime from shifting what stat() reports, so every process sees a file's
# real times (otherwise lftp's `mirror -R` sends shifted times by MFMT).
export NO_FAKE_STAT=1
for when in '2027-01-05 12:00:00' '2027-01-25 12:00:00' '2027-07-09 23:59:30'; do
    echo "== faketime '$when'"
    for entry in "${tests[@]}"; do
        dir=${entry%%$'\t'*} exe=${entry#*$'\t'}
        # ftputil's suite measures the server's time shift from files it just
        # uploaded against its own clock: under faketime those two clocks differ by
        # the fake offset, whatever the server does.
        [[ $(basename "$exe") == ftputil-* ]] && continue
        # Each binary runs from its package folder, as cargo test runs it.
        (cd "$dir" && faketime "$when" "$exe" -q "$@") || failed=1
    done
done
exit "$failed"
