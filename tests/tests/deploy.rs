//! The Debian package's systemd unit, checked by `systemd-analyze verify` (no running
//! systemd needed). The package build and install are slower: `tests/package.sh`.

use std::path::Path;
use std::process::Command;

fn unit_text() -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/debian/ringftpd.service");
    std::fs::read_to_string(path).expect("deploy/debian/ringftpd.service")
}

#[test]
fn the_systemd_unit_passes_systemd_analyze_verify() {
    let analyze = ringftp_tests::require_tool("systemd-analyze");
    // verify checks that ExecStart's program exists: point it at the built binary
    // (the package installs it as /usr/sbin/ringftpd); nothing else changes.
    let binary = ringftp_tests::binary("ringftpd");
    let dir = tempfile::tempdir().unwrap();
    let unit = dir.path().join("ringftpd.service");
    let text = unit_text();
    assert!(text.contains("ExecStart=/usr/sbin/ringftpd "));
    std::fs::write(
        &unit,
        text.replace("/usr/sbin/ringftpd", &binary.display().to_string()),
    )
    .unwrap();
    let out = Command::new(analyze)
        .arg("verify")
        .arg(&unit)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    // Unknown keys are only warnings (exit 0): any message counts as a failure.
    assert!(
        out.status.success() && stderr.trim().is_empty(),
        "systemd-analyze verify: {} {stderr}",
        out.status
    );
}

#[test]
fn the_unit_has_the_hardening_the_server_relies_on() {
    let text = unit_text();
    let lines: Vec<&str> = text.lines().map(str::trim).collect();
    for directive in [
        "NoNewPrivileges=yes",
        "ProtectSystem=strict",
        "ReadWritePaths=/var/log/ringftpd",
        "ProtectHome=yes",
        "PrivateTmp=yes",
        "CapabilityBoundingSet=CAP_NET_BIND_SERVICE CAP_SETUID CAP_SETGID",
        "RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX",
        "LimitNOFILE=1048576",
        "ExecReload=/bin/kill -HUP $MAINPID",
    ] {
        assert!(lines.contains(&directive), "missing {directive}");
    }
}
