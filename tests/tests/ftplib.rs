//! Python ftplib against ringftpd: MLSD, SIZE, MDTM, REST, RNFR/RNTO, DELE, MKD/RMD.

use std::path::Path;
use std::process::Command;

use ringftp_tests::{require_tool, run_ok, write_pattern, Server};

#[test]
fn ftplib_session_with_write_rights() {
    let root = tempfile::tempdir().unwrap();
    write_pattern(&root.path().join("data.bin"), 200_000);
    std::fs::create_dir(root.path().join("sub dir")).unwrap();
    let server = Server::serve(root.path(), &["--anonymous-write"]);
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("clients/ftplib_session.py");
    let out = run_ok(
        Command::new(require_tool("python3"))
            .arg(script)
            .arg(server.addr().ip().to_string())
            .arg(server.addr().port().to_string())
            .args(["anonymous", "test@example.org"])
            .arg(root.path()),
    );
    assert_eq!(String::from_utf8_lossy(&out).trim(), "ok");
}
