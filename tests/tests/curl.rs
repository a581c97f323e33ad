//! curl against ringftpd: passive (EPSV and PASV), active (EPRT and PORT), resume,
//! and upload for a named user with write rights.

use std::process::Command;

use ringftp_tests::{require_tool, run_ok, write_pattern, Server};

fn curl() -> Command {
    let mut c = Command::new(require_tool("curl"));
    c.args(["--silent", "--show-error", "--max-time", "60"]);
    c
}

fn tree() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    write_pattern(&dir.path().join("small.bin"), 10_000);
    write_pattern(&dir.path().join("big.bin"), 3 << 20);
    dir
}

#[test]
fn passive_downloads_with_epsv_and_pasv() {
    let root = tree();
    let server = Server::serve(root.path(), &[]);
    let expected = std::fs::read(root.path().join("big.bin")).unwrap();
    let url = format!("ftp://{}/big.bin", server.addr());
    let epsv = run_ok(curl().arg(&url));
    assert_eq!(epsv, expected);
    let pasv = run_ok(curl().arg("--disable-epsv").arg(&url));
    assert_eq!(pasv, expected);
    let small = run_ok(curl().arg(format!("ftp://{}/small.bin", server.addr())));
    assert_eq!(small, std::fs::read(root.path().join("small.bin")).unwrap());
}

#[test]
fn active_downloads_with_eprt_and_port() {
    let root = tree();
    let server = Server::serve(root.path(), &[]);
    let expected = std::fs::read(root.path().join("big.bin")).unwrap();
    let url = format!("ftp://{}/big.bin", server.addr());
    let eprt = run_ok(curl().args(["-P", "127.0.0.1"]).arg(&url));
    assert_eq!(eprt, expected);
    let port = run_ok(curl().args(["-P", "127.0.0.1", "--disable-eprt"]).arg(&url));
    assert_eq!(port, expected);
}

#[test]
fn resume_continues_a_partial_download() {
    let root = tree();
    let server = Server::serve(root.path(), &[]);
    let expected = std::fs::read(root.path().join("big.bin")).unwrap();
    let out = tempfile::tempdir().unwrap();
    let partial = out.path().join("big.bin");
    std::fs::write(&partial, &expected[..1_000_003]).unwrap();
    run_ok(
        curl()
            .args(["-C", "-", "-o"])
            .arg(&partial)
            .arg(format!("ftp://{}/big.bin", server.addr())),
    );
    assert_eq!(std::fs::read(&partial).unwrap(), expected);
}

#[test]
fn listing_shows_files() {
    let root = tree();
    let server = Server::serve(root.path(), &[]);
    let list = run_ok(curl().arg(format!("ftp://{}/", server.addr())));
    let text = String::from_utf8(list).unwrap();
    let lines: Vec<&str> = text.lines().map(|l| l.trim_end_matches('\r')).collect();
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("-rw") && l.ends_with(" big.bin")),
        "{text}"
    );
    assert!(lines.iter().any(|l| l.ends_with(" small.bin")), "{text}");
    let names = run_ok(
        curl()
            .arg("--list-only")
            .arg(format!("ftp://{}/", server.addr())),
    );
    let mut names: Vec<_> = String::from_utf8(names)
        .unwrap()
        .lines()
        .map(str::to_string)
        .collect();
    names.sort();
    assert_eq!(names, ["big.bin", "small.bin"]);
}

fn users_file(
    dir: &std::path::Path,
    name: &str,
    password: &str,
    perms: &str,
) -> std::path::PathBuf {
    let hash = ringftp_tests::fixtures::hash_password(password);
    let path = dir.join("users.toml");
    std::fs::write(
        &path,
        format!("[[user]]\nname = \"{name}\"\npassword = \"{hash}\"\npermissions = [{perms}]\n"),
    )
    .unwrap();
    path
}

#[test]
fn upload_needs_a_user_with_write_rights() {
    let root = tree();
    let conf = tempfile::tempdir().unwrap();
    let users = users_file(conf.path(), "alice", "s3cret pass", "\"read\", \"write\"");
    let server = Server::serve(root.path(), &["--users", users.to_str().unwrap()]);
    let src = conf.path().join("up.bin");
    write_pattern(&src, 2 << 20);
    // Anonymous may not upload.
    let anon = curl()
        .arg("-T")
        .arg(&src)
        .arg(format!("ftp://{}/up.bin", server.addr()))
        .output()
        .unwrap();
    assert!(!anon.status.success());
    assert!(!root.path().join("up.bin").exists());
    // Wrong password is refused.
    let wrong = curl()
        .args(["-u", "alice:nope", "-T"])
        .arg(&src)
        .arg(format!("ftp://{}/up.bin", server.addr()))
        .output()
        .unwrap();
    assert!(!wrong.status.success());
    run_ok(
        curl()
            .args(["-u", "alice:s3cret pass", "-T"])
            .arg(&src)
            .arg(format!("ftp://{}/up.bin", server.addr())),
    );
    assert_eq!(
        std::fs::read(root.path().join("up.bin")).unwrap(),
        std::fs::read(&src).unwrap()
    );
    // No temporary upload files are left behind.
    let leftovers: Vec<_> = std::fs::read_dir(root.path())
        .unwrap()
        .filter_map(|e| e.ok())
        .filter(|e| e.file_name().to_string_lossy().contains(".part"))
        .collect();
    assert!(leftovers.is_empty());
}
