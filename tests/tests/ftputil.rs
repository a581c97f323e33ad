//! ftputil 5.2.0's real-server suite (`test/test_real_ftp.py` from its PyPI sdist)
//! against ringftpd: user `ftptest` / `dummy` with write access and the fixture tree
//! the suite's tests describe. The venv comes from `tests/clients/ftputil_setup.sh`
//! (run by `tests/run.sh`). The suite's fixed `PORT = 2121` is set to the port the
//! server got, so the test never collides with another server on the machine.
//!
//! Debian's vsftpd passes 53 of the 54 tests; so must ringftpd. The one both fail is
//! `TestRestArgument::test_for_writing`, which expects `REST 3` + `STOR` to truncate
//! the file after the written bytes; RFC 959 and RFC 3659 only say where writing
//! starts, so ringftpd (like vsftpd and pyftpdlib) keeps the rest of the file.

use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;

use ringftp_tests::fixtures::users_file;
use ringftp_tests::{bin_dir, write_pattern, Launch, Server};

/// The unprivileged account the server runs as when the tests run as root, so that
/// `rootdir1` is really not writable for it.
const NOBODY: u32 = 65534;

fn suite_dir() -> PathBuf {
    let dir = bin_dir().join("../ftputil");
    assert!(
        dir.join("venv/bin/pytest").exists() && dir.join("ftputil-5.2.0/test/test_real_ftp.py").exists(),
        "ftputil's suite is not set up in {}: run tests/run.sh (it runs tests/clients/ftputil_setup.sh)",
        dir.display()
    );
    dir
}

/// The tree test_real_ftp.py expects in the login folder.
fn fixture(root: &Path) {
    let mkdir = |p: &str| std::fs::create_dir_all(root.join(p)).unwrap();
    let file = |p: &str, data: &[u8]| std::fs::write(root.join(p), data).unwrap();
    file("CONTENTS", b"This is the ftputil test folder.\n");
    // Not a multiple of ftputil's copy chunk: its callback test counts size / chunk + 1.
    write_pattern(&root.join("large_file"), (20 << 20) + 1234);
    file(".hidden", b"");
    mkdir("dir with spaces/second dir");
    file("dir with spaces/some file", b"x");
    file("dir with spaces/some_file", b"y");
    for d in ["rootdir1", "rootdir2/dir2"] {
        mkdir(d);
    }
    mkdir("walk_test/dir1/dir11");
    mkdir("walk_test/dir1/dir12/dir123");
    mkdir("walk_test/dir2");
    mkdir("walk_test/dir3/dir31");
    for f in [
        "walk_test/dir1/dir12/dir123/file1234",
        "walk_test/dir1/dir12/file121",
        "walk_test/dir1/dir12/file122",
        "walk_test/dir3/file31",
        "walk_test/dir3/file32",
        "walk_test/file4",
    ] {
        file(f, b"");
    }
    symlink("../dir1/dir12/dir123", root.join("walk_test/dir3/dir32")).unwrap();
    mkdir("äbc");
    file("äbc/file1", b"");
    file("äbc/file1_ö", b"");
    mkdir("dir_with_broken_link");
    symlink(
        "../nonexistent/nonexistent",
        root.join("dir_with_broken_link/nonexistent"),
    )
    .unwrap();
}

fn chown_tree(path: &Path, uid: u32) {
    std::os::unix::fs::lchown(path, Some(uid), Some(uid)).unwrap();
    if std::fs::symlink_metadata(path).unwrap().is_dir() {
        for e in std::fs::read_dir(path).unwrap() {
            chown_tree(&e.unwrap().path(), uid);
        }
    }
}

#[test]
fn ftputil_real_server_suite() {
    let suite = suite_dir();
    let top = tempfile::tempdir().unwrap();
    std::fs::set_permissions(top.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let root = top.path().join("ftp");
    std::fs::create_dir(&root).unwrap();
    fixture(&root);
    let as_root = rustix_is_root();
    let mut launch = Launch::default();
    if as_root {
        // Everything belongs to the server's account except rootdir1 and rootdir2.
        chown_tree(&root, NOBODY);
        for d in ["rootdir1", "rootdir2"] {
            std::os::unix::fs::chown(root.join(d), Some(0), Some(0)).unwrap();
        }
        launch.shell_prelude = Some(format!(
            "exec setpriv --reuid={NOBODY} --regid={NOBODY} --clear-groups -- \"$0\" \"$@\""
        ));
    } else {
        for d in ["rootdir1", "rootdir2"] {
            std::fs::set_permissions(root.join(d), std::fs::Permissions::from_mode(0o555)).unwrap();
        }
    }
    let users = users_file(
        top.path(),
        "ftptest",
        "dummy",
        "\"read\", \"write\", \"delete\", \"mkdir\", \"rename\"",
        Some(&root),
    );
    std::fs::set_permissions(&users, std::fs::Permissions::from_mode(0o644)).unwrap();
    let args: Vec<String> = [
        "serve",
        root.to_str().unwrap(),
        "--listen",
        "127.0.0.1:0",
        "--passive-ports",
        &ringftp_tests::free_port_range(64),
        "--users",
        users.to_str().unwrap(),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let server = Server::launch(&args, &launch);
    // The suite as shipped, with its port set to this server's.
    let work = tempfile::tempdir().unwrap();
    let source =
        std::fs::read_to_string(suite.join("ftputil-5.2.0/test/test_real_ftp.py")).unwrap();
    assert!(source.contains("\nPORT = 2121\n"), "suite layout changed");
    let source = source.replace(
        "\nPORT = 2121\n",
        &format!("\nPORT = {}\n", server.addr().port()),
    );
    std::fs::write(work.path().join("test_real_ftp.py"), source).unwrap();
    let output = Command::new(suite.join("venv/bin/python"))
        .args([
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "-rf",
            "test_real_ftp.py",
        ])
        .current_dir(work.path())
        .output()
        .unwrap();
    let report = String::from_utf8_lossy(&output.stdout);
    let summary = report.lines().last().unwrap_or_default();
    let count = |word: &str| -> u32 {
        summary
            .split(", ")
            .flat_map(|part| part.split(' '))
            .collect::<Vec<_>>()
            .windows(2)
            .find(|w| w[1].starts_with(word))
            .and_then(|w| w[0].trim_start_matches('=').trim().parse().ok())
            .unwrap_or(0)
    };
    let passed = count("passed");
    let failed = count("failed");
    eprintln!("ftputil suite: {passed} passed, {failed} failed\n{report}");
    assert!(
        passed >= 53,
        "ftputil suite: {passed} passed, {failed} failed\n{report}"
    );
    assert!(
        failed <= 1 && (failed == 0 || report.contains("TestRestArgument::test_for_writing")),
        "only the REST-for-writing test may fail:\n{report}"
    );
}

fn rustix_is_root() -> bool {
    let probe = tempfile::tempfile().unwrap();
    use std::os::unix::fs::MetadataExt;
    probe.metadata().unwrap().uid() == 0
}
