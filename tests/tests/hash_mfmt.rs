//! HASH (draft-bryan-ftpext-hash) and its X-aliases checked against coreutils'
//! `sha256sum`/`sha512sum`/`sha1sum`/`md5sum` and `crc32` (libarchive-zip-perl);
//! MFMT through Python ftplib and `lftp mirror -R`, which keep modification times.

use std::os::unix::fs::MetadataExt;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, SystemTime};

use ringftp_tests::{require_tool, run_ok, write_pattern, RawFtp, Server};

fn tool_digest(tool: &str, path: &Path) -> String {
    let out = run_ok(Command::new(require_tool(tool)).arg(path));
    String::from_utf8(out)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .to_lowercase()
}

#[test]
fn hash_values_match_the_command_line_tools() {
    let root = tempfile::tempdir().unwrap();
    let file = root.path().join("image.iso");
    write_pattern(&file, (3 << 20) + 7);
    let server = Server::serve(root.path(), &["--anonymous-write"]);
    let mut ftp = RawFtp::login(server.addr());
    let size = std::fs::metadata(&file).unwrap().len();
    let expect = |ftp: &mut RawFtp, algorithm: &str, tool: &str| {
        assert_eq!(ftp.cmd(&format!("OPTS HASH {algorithm}")).0, 200);
        let (code, text) = ftp.cmd("HASH image.iso");
        assert_eq!(code, 213, "{text}");
        assert_eq!(
            text.trim_end(),
            format!(
                "213 {algorithm} 0-{size} {} /image.iso",
                tool_digest(tool, &file)
            )
        );
    };
    let (code, feat) = ftp.cmd("FEAT");
    assert_eq!(code, 211);
    assert!(
        feat.contains(" HASH SHA-256*;SHA-512;SHA-1;MD5;CRC32\r\n"),
        "{feat}"
    );
    assert_eq!(ftp.cmd("OPTS HASH").1.trim_end(), "200 SHA-256");
    for (algorithm, tool) in [
        ("SHA-256", "sha256sum"),
        ("SHA-512", "sha512sum"),
        ("SHA-1", "sha1sum"),
        ("MD5", "md5sum"),
        ("CRC32", "crc32"),
    ] {
        expect(&mut ftp, algorithm, tool);
    }
    for (verb, tool) in [
        ("XSHA256", "sha256sum"),
        ("XSHA512", "sha512sum"),
        ("XSHA1", "sha1sum"),
        ("XMD5", "md5sum"),
        ("XCRC", "crc32"),
    ] {
        let (code, text) = ftp.cmd(&format!("{verb} image.iso"));
        assert_eq!(code, 250, "{text}");
        assert_eq!(text.trim_end(), format!("250 {}", tool_digest(tool, &file)));
    }
    // A changed file is hashed again, not answered from the cache.
    write_pattern(&file, 1000);
    let (_, text) = ftp.cmd("XSHA256 image.iso");
    assert_eq!(
        text.trim_end(),
        format!("250 {}", tool_digest("sha256sum", &file))
    );
    assert_eq!(ftp.cmd("OPTS HASH SHA-3").0, 501);
    assert_eq!(ftp.cmd("HASH missing").0, 550);
    assert_eq!(ftp.cmd("HASH /").0, 550);
    // Commands sent behind a HASH wait for it and are answered in order.
    ftp.send_raw(b"XMD5 image.iso\r\nNOOP\r\nXCRC image.iso\r\nPWD\r\n");
    let codes: Vec<u16> = (0..4).map(|_| ftp.reply().0).collect();
    assert_eq!(codes, [250, 200, 250, 257]);
}

fn mtime(path: &Path) -> i64 {
    std::fs::metadata(path).unwrap().mtime()
}

#[test]
fn mfmt_through_ftplib_keeps_the_time() {
    let root = tempfile::tempdir().unwrap();
    std::fs::write(root.path().join("f.txt"), b"x").unwrap();
    let server = Server::serve(root.path(), &["--anonymous-write"]);
    let script = format!(
        r#"
import ftplib
ftp = ftplib.FTP()
ftp.connect("{ip}", {port})
ftp.login("anonymous", "x@y")
assert "MFMT" in ftp.sendcmd("FEAT"), "FEAT lists MFMT"
print(ftp.sendcmd("MFMT 20200102030405 f.txt"))
print(ftp.sendcmd("MDTM f.txt"))
try:
    ftp.sendcmd("MFMT 2020 f.txt")
except ftplib.error_perm as e:
    print(e)
ftp.quit()
"#,
        ip = server.addr().ip(),
        port = server.addr().port()
    );
    let out = run_ok(Command::new(require_tool("python3")).arg("-c").arg(&script));
    let out = String::from_utf8(out).unwrap();
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "213 Modify=20200102030405; /f.txt");
    assert_eq!(lines[1], "213 20200102030405");
    assert!(lines[2].starts_with("501 "), "{out}");
    assert_eq!(mtime(&root.path().join("f.txt")), 1_577_934_245);
    // Read-only users may not.
    let ro = tempfile::tempdir().unwrap();
    std::fs::write(ro.path().join("f.txt"), b"x").unwrap();
    let before = mtime(&ro.path().join("f.txt"));
    let server = Server::serve(ro.path(), &[]);
    let mut ftp = RawFtp::login(server.addr());
    assert_eq!(ftp.cmd("MFMT 20200102030405 f.txt").0, 550);
    assert_eq!(mtime(&ro.path().join("f.txt")), before);
}

#[test]
fn lftp_mirror_reverse_keeps_modification_times() {
    let local = tempfile::tempdir().unwrap();
    let tree = local.path().join("tree");
    std::fs::create_dir_all(tree.join("sub dir")).unwrap();
    write_pattern(&tree.join("a.bin"), 100_001);
    write_pattern(&tree.join("sub dir/b.txt"), 17);
    let old = SystemTime::UNIX_EPOCH + Duration::from_secs(1_600_000_000);
    for f in ["a.bin", "sub dir/b.txt"] {
        std::fs::File::options()
            .write(true)
            .open(tree.join(f))
            .unwrap()
            .set_modified(old)
            .unwrap();
    }
    let root = tempfile::tempdir().unwrap();
    let server = Server::serve(root.path(), &["--anonymous-write"]);
    let script = format!(
        "set cmd:fail-exit yes; set net:max-retries 1; open ftp://anonymous:x@{}; mirror -R {} /up; bye",
        server.addr(),
        tree.display()
    );
    run_ok(Command::new(require_tool("lftp")).arg("-c").arg(&script));
    for f in ["a.bin", "sub dir/b.txt"] {
        let uploaded = root.path().join("up").join(f);
        assert_eq!(
            std::fs::read(&uploaded).unwrap(),
            std::fs::read(tree.join(f)).unwrap()
        );
        assert_eq!(mtime(&uploaded), 1_600_000_000, "{f}: time kept");
    }
}
