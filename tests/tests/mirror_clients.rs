//! lftp `mirror`, `wget -m` and `rclone copy` of a tree shaped like a real mirror
//! (links inside and outside the root, dangling links, empty folders, awkward names
//! and sizes): each copy is complete, byte for byte, and holds nothing the server
//! refuses; no listing or fact reply describes anything outside the root.

use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::process::Command;

use ringftp_tests::fixtures::{assert_mirrored, mirror_tree, DANGLING_LINK, REFUSED_LINKS};
use ringftp_tests::{require_tool, run_ok, RawFtp, Server};

#[test]
fn lftp_mirror_of_a_mirror_tree() {
    let top = tempfile::tempdir().unwrap();
    let root = mirror_tree(top.path());
    let server = Server::serve(&root, &[]);
    let out = tempfile::tempdir().unwrap();
    let copy = out.path().join("copy");
    let script = format!(
        "set cmd:fail-exit yes; set net:max-retries 1; set net:timeout 30; open ftp://anonymous:x@{}; mirror /pub {}; bye",
        server.addr(),
        copy.display()
    );
    let output = Command::new(require_tool("lftp"))
        .arg("-c")
        .arg(&script)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "lftp mirror failed: {stderr}");
    assert!(!stderr.contains("Access failed"), "{stderr}");
    assert_mirrored(&root.join("pub"), &copy, &[]);
}

#[test]
fn wget_mirror_of_a_mirror_tree() {
    let top = tempfile::tempdir().unwrap();
    let root = mirror_tree(top.path());
    let server = Server::serve(&root, &[]);
    let out = tempfile::tempdir().unwrap();
    let output = Command::new(require_tool("wget"))
        .current_dir(out.path())
        .args([
            "-m",
            "-nH",
            "-nv",
            "--tries=1",
            "--timeout=30",
            "--no-passive-ftp",
        ])
        // Links are re-created as links (wget's default RETRs a link like a file,
        // which fails for a link to a folder on any server that lists links as links).
        .arg("--retr-symlinks=no")
        .arg(format!("ftp://anonymous:x@{}/pub/", server.addr()))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "wget -m failed: {stderr}");
    for error in ["No such file", "ERROR", "failed"] {
        assert!(!stderr.contains(error), "{stderr}");
    }
    // wget keeps its `.listing` files in -m mode; they are its own.
    assert_mirrored(&root.join("pub"), &out.path().join("pub"), &[".listing"]);
}

#[test]
fn rclone_copy_of_a_mirror_tree() {
    let top = tempfile::tempdir().unwrap();
    let root = mirror_tree(top.path());
    let server = Server::serve(&root, &[]);
    let out = tempfile::tempdir().unwrap();
    let rclone = require_tool("rclone");
    let pass = run_ok(Command::new(&rclone).args(["obscure", "x@example.org"]));
    let pass = String::from_utf8(pass).unwrap().trim().to_string();
    let remote = format!(
        ":ftp,host={},port={},user=anonymous,pass={pass}:/pub",
        server.addr().ip(),
        server.addr().port()
    );
    let output = Command::new(&rclone)
        .args(["copy", "--config", "/dev/null", "--create-empty-src-dirs"])
        .args(["--retries", "1", "--low-level-retries", "1"])
        .arg(&remote)
        .arg(out.path().join("pub"))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "rclone copy failed: {stderr}");
    assert!(!stderr.contains("ERROR"), "{stderr}");
    assert_mirrored(&root.join("pub"), &out.path().join("pub"), &[]);
}

/// Run a listing command over EPSV and return the data and the final reply code.
fn listing(ftp: &mut RawFtp, command: &str) -> (String, u16) {
    let mut data = ftp.epsv_connect();
    let (code, text) = ftp.cmd(command);
    assert_eq!(code, 150, "{command}: {text}");
    let mut body = String::new();
    data.read_to_string(&mut body).unwrap();
    (body, ftp.reply().0)
}

#[test]
fn nothing_outside_the_root_is_described() {
    let top = tempfile::tempdir().unwrap();
    let root = mirror_tree(top.path());
    let server = Server::serve(&root, &[]);
    let mut ftp = RawFtp::login(server.addr());
    // What the link targets would show if they were stat'ed: inode facts and sizes.
    let outside: Vec<String> = ["/etc", top.path().to_str().unwrap()]
        .iter()
        .map(|p| {
            let m = std::fs::metadata(p).unwrap();
            format!("unique={:x}h{:x};", m.dev(), m.ino())
        })
        .collect();
    let mut texts = Vec::new();
    for command in [
        "LIST -a /pub",
        "LIST /pub",
        "NLST /pub",
        "MLSD /pub",
        "LIST -la /pub/*",
        "NLST /pub/*",
    ] {
        let (body, code) = listing(&mut ftp, command);
        assert_eq!(code, 226, "{command}");
        texts.push(body);
    }
    // A dangling link is listed by LIST only, as a link; MLSD and NLST leave it out.
    for text in &texts[2..4] {
        assert!(!text.contains(DANGLING_LINK), "{text}");
    }
    assert!(
        texts[1].contains(" dangling -> no-such-file\r\n"),
        "{}",
        texts[1]
    );
    let (code, stat) = ftp.cmd("STAT /pub");
    assert_eq!(code, 213);
    texts.push(stat);
    for text in &texts {
        for refused in REFUSED_LINKS {
            assert!(!text.contains(refused), "{refused} listed: {text}");
        }
        for fact in &outside {
            assert!(!text.contains(fact.as_str()), "outside inode shown: {text}");
        }
        assert!(
            !text.contains(root.to_str().unwrap()),
            "real path shown: {text}"
        );
    }
    // Every listed entry can be used.
    assert!(
        texts[0].contains(" latest -> debian-cd/12.5.0\r\n"),
        "{}",
        texts[0]
    );
    assert_eq!(ftp.cmd("CWD /pub/latest").0, 250);
    assert_eq!(ftp.cmd("CWD /").0, 250);
    for path in REFUSED_LINKS.iter().chain(&[DANGLING_LINK]) {
        for command in ["MLST", "SIZE", "MDTM", "CWD", "STAT"] {
            let (code, text) = ftp.cmd(&format!("{command} /pub/{path}"));
            assert_eq!(code, 550, "{command} {path}: {text}");
        }
        assert_eq!(ftp.cmd(&format!("SIZE /pub/{path}/passwd")).0, 550);
    }
    assert_eq!(ftp.cmd("SIZE /pub/secret-link").0, 550);
    let (code, mlst) = ftp.cmd("MLST /pub/latest");
    assert_eq!(code, 250);
    assert!(mlst.contains("type=dir;"), "{mlst}");
}
