# Sourced by the side-by-side bench scripts: the small-file data set of the `small`
# scenario of benches/compare.sh.
#
# make_small_files ROOT COUNT LIST: COUNT files of 4 KiB of random bytes in ROOT/small,
# and their paths relative to ROOT, one per line, in LIST (ringftp-load's retr-list).
make_small_files() {
    local root=$1 count=$2 list=$3
    mkdir -p "$root/small"
    python3 - "$root/small" "$count" <<'PY'
import os, sys
for i in range(int(sys.argv[2])):
    with open(os.path.join(sys.argv[1], f"s{i:05}.bin"), "wb") as f:
        f.write(os.urandom(4096))
PY
    (cd "$root" && ls small | sed 's|^|small/|') >"$list"
}
