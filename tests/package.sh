#!/usr/bin/env bash
# Builds the Debian package, installs it with apt-get, checks what it installed, and
# purges it again. Needs root on Debian, and port 21 free. Not part of tests/run.sh:
# on 2 shared cores `cargo install cargo-deb` took 1m26s (once) and the package's
# release build 5m30s from a clean target; 17 s in all when the build is up to date.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
    echo "tests/package.sh: run as root on Debian (it installs the package)" >&2
    exit 1
fi
export DEBIAN_FRONTEND=noninteractive
command -v systemd-analyze >/dev/null || { apt-get update -qq; apt-get install -y -qq systemd; }
command -v cargo-deb >/dev/null || cargo install cargo-deb --locked

start=$(date +%s)
cargo deb -p ringftpd
echo "tests/package.sh: package built in $(( $(date +%s) - start )) s"
deb=$(ls -t target/debian/ringftpd_*.deb | head -n 1)

fail() { echo "tests/package.sh: FAIL: $*" >&2; exit 1; }
command -v curl >/dev/null || apt-get install -y -qq curl
tmp=$(mktemp -d)
apt-get install -y "./$deb"
trap 'apt-get purge -y -qq ringftpd >/dev/null || true; rm -rf "$tmp"' EXIT

[ -x /usr/sbin/ringftpd ] || fail "/usr/sbin/ringftpd missing"
[ -x /usr/bin/ringftp-load ] || fail "/usr/bin/ringftp-load missing"
dpkg-query -W -f='${Conffiles}\n' ringftpd | grep -q ' /etc/ringftpd/ringftpd.toml ' \
    || fail "/etc/ringftpd/ringftpd.toml is not a conffile"
[ -f /etc/logrotate.d/ringftpd ] || fail "logrotate file missing"
getent passwd ftp >/dev/null || fail "the ftp user was not created"
[ -d /srv/ftp ] || fail "/srv/ftp missing"
[ "$(stat -c %U /var/log/ringftpd)" = ftp ] || fail "/var/log/ringftpd is not owned by ftp"
ringftpd --config /etc/ringftpd/ringftpd.toml check-config >/dev/null \
    || fail "check-config refused the packaged config"
unit=$(dpkg -L ringftpd | grep '/ringftpd.service$')
out=$(systemd-analyze verify "$unit" 2>&1) || fail "systemd-analyze verify: $out"
[ -z "$out" ] || fail "systemd-analyze verify: $out"
ringftp-load --help >/dev/null || fail "ringftp-load does not run"
logrotate -d /etc/logrotate.d/ringftpd >/dev/null 2>&1 || fail "logrotate -d refused /etc/logrotate.d/ringftpd"

# The packaged config, run as the unit runs it (as root; it switches to ftp itself).
echo "hello from /srv/ftp" >/srv/ftp/ringftpd-package-test.txt
/usr/sbin/ringftpd --config /etc/ringftpd/ringftpd.toml >"$tmp/out" 2>"$tmp/err" &
pid=$!
for _ in $(seq 100); do grep -q 'serving .* on' "$tmp/out" 2>/dev/null && break; sleep 0.1; done
grep -q 'serving' "$tmp/out" || { kill "$pid"; fail "ringftpd did not start: $(cat "$tmp/err")"; }
got=$(curl -s ftp://127.0.0.1:21/ringftpd-package-test.txt || true)
owner=$(awk '/^Uid:/ {print $3}' "/proc/$pid/status")
kill "$pid"; wait "$pid" || true
rm -f /srv/ftp/ringftpd-package-test.txt
[ "$got" = "hello from /srv/ftp" ] || fail "download from the packaged server: '$got' $(cat "$tmp/err")"
[ "$owner" = "$(id -u ftp)" ] || fail "the packaged server runs as uid $owner, not ftp"
[ -f /var/log/ringftpd/xferlog ] || fail "no transfer log in /var/log/ringftpd"
echo "tests/package.sh: PASS ($deb)"
