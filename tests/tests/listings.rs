//! Listings as mirror clients and scripts use them: sorted by name, dotfiles as `ls`
//! shows them, `perm` facts that follow the real permissions, shell patterns in the
//! last path component (and nowhere else), the known glob denial-of-service patterns,
//! `mget` through tnftp and lftp, and a folder of 100,000 entries.

use std::io::Read;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use ringftp_tests::fixtures::users_file;
use ringftp_tests::{require_tool, run_ok, RawFtp, Server};

/// Run a listing command over EPSV; the data and the final reply code.
fn listing(ftp: &mut RawFtp, command: &str) -> (String, u16) {
    let mut data = ftp.epsv_connect();
    let (code, text) = ftp.cmd(command);
    if code != 150 {
        return (text, code);
    }
    let mut body = Vec::new();
    data.read_to_end(&mut body).unwrap();
    (String::from_utf8_lossy(&body).into_owned(), ftp.reply().0)
}

fn names(body: &str) -> Vec<String> {
    body.lines()
        .map(|l| l.rsplit(' ').next().unwrap().to_string())
        .collect()
}

fn small_tree(root: &Path) {
    for n in [
        "b.txt",
        "a.txt",
        "C.txt",
        "z.iso",
        ".hidden",
        "ü.txt",
        "a.txt.sig",
    ] {
        std::fs::write(root.join(n), n.as_bytes()).unwrap();
    }
    std::fs::create_dir(root.join("sub")).unwrap();
    std::fs::write(root.join("sub/x1.iso"), b"1").unwrap();
    std::fs::write(root.join("sub/x2.iso"), b"22").unwrap();
    std::fs::write(root.join("sub/notes.txt"), b"n").unwrap();
}

#[test]
fn listings_are_sorted_and_hide_dotfiles_like_ls() {
    let root = tempfile::tempdir().unwrap();
    small_tree(root.path());
    let server = Server::serve(root.path(), &[]);
    let mut ftp = RawFtp::login(server.addr());
    let sorted = [
        "C.txt",
        "a.txt",
        "a.txt.sig",
        "b.txt",
        "sub",
        "z.iso",
        "ü.txt",
    ];
    let (body, code) = listing(&mut ftp, "LIST");
    assert_eq!(code, 226);
    assert_eq!(names(&body), sorted);
    let (body, _) = listing(&mut ftp, "LIST -a");
    let mut with_dots = vec![".", "..", ".hidden"];
    with_dots.extend(sorted);
    assert_eq!(names(&body), with_dots);
    let (body, _) = listing(&mut ftp, "LIST -A");
    assert_eq!(names(&body), &with_dots[2..]);
    // NLST and MLSD show dotfiles (but never `.` and `..`).
    let (body, _) = listing(&mut ftp, "NLST");
    assert_eq!(names(&body), &with_dots[2..]);
    let (body, _) = listing(&mut ftp, "MLSD");
    assert_eq!(names(&body), &with_dots[2..]);
    // NLST -l is a long listing.
    let (body, _) = listing(&mut ftp, "NLST -l sub");
    assert!(body.lines().all(|l| l.starts_with("-rw")), "{body}");
}

#[test]
fn perm_facts_follow_the_account_and_the_mode() {
    let root = tempfile::tempdir().unwrap();
    let conf = tempfile::tempdir().unwrap();
    std::fs::write(root.path().join("rw.bin"), b"x").unwrap();
    std::fs::write(root.path().join("ro.bin"), b"x").unwrap();
    std::fs::set_permissions(
        root.path().join("ro.bin"),
        std::fs::Permissions::from_mode(0o444),
    )
    .unwrap();
    std::fs::create_dir(root.path().join("dir")).unwrap();
    let as_root = std::fs::metadata(root.path().join("rw.bin")).unwrap().uid() == 0;
    let users = users_file(
        conf.path(),
        "writer",
        "pw",
        "\"read\", \"write\", \"delete\", \"mkdir\", \"rename\"",
        None,
    );
    let server = Server::serve(root.path(), &["--users", users.to_str().unwrap()]);
    let perm = |body: &str, name: &str| -> String {
        body.lines()
            .find(|l| l.ends_with(&format!(" {name}")))
            .and_then(|l| l.split("perm=").nth(1))
            .and_then(|p| p.split(';').next())
            .unwrap_or_else(|| panic!("{name} in {body}"))
            .to_string()
    };
    let mut anon = RawFtp::login(server.addr());
    let (body, _) = listing(&mut anon, "MLSD");
    assert_eq!(perm(&body, "rw.bin"), "r");
    assert_eq!(perm(&body, "ro.bin"), "r");
    assert_eq!(perm(&body, "dir"), "el");
    assert_eq!(anon.cmd("NOOP").0, 200);
    let (mut writer, _) = RawFtp::connect(server.addr());
    assert_eq!(writer.cmd("USER writer").0, 331);
    assert_eq!(writer.cmd("PASS pw").0, 230);
    let (body, _) = listing(&mut writer, "MLSD");
    assert_eq!(perm(&body, "rw.bin"), "adfrw");
    // The kernel lets root write a 0444 file; anyone else may only delete or rename it.
    assert_eq!(perm(&body, "ro.bin"), if as_root { "adfrw" } else { "dfr" });
    assert_eq!(perm(&body, "dir"), "cdeflmp");
    let (code, mlst) = writer.cmd("MLST ro.bin");
    assert_eq!(code, 250);
    assert_eq!(
        perm(mlst.lines().nth(1).unwrap().trim(), "/ro.bin"),
        perm(&body, "ro.bin")
    );
}

#[test]
fn patterns_in_the_last_component_of_list_nlst_and_stat() {
    let root = tempfile::tempdir().unwrap();
    small_tree(root.path());
    std::fs::write(root.path().join("[1].txt"), b"literal").unwrap();
    let server = Server::serve(root.path(), &["--anonymous-write"]);
    let mut ftp = RawFtp::login(server.addr());
    let (body, code) = listing(&mut ftp, "NLST *.txt");
    assert_eq!(code, 226);
    assert_eq!(
        names(&body),
        ["C.txt", "[1].txt", "a.txt", "b.txt", "ü.txt"]
    );
    let (body, _) = listing(&mut ftp, "NLST sub/x?.iso");
    assert_eq!(
        body, "sub/x1.iso\r\nsub/x2.iso\r\n",
        "as `ls sub/x?.iso` prints"
    );
    let (body, _) = listing(&mut ftp, "LIST -l [ab].*");
    assert_eq!(names(&body), ["a.txt", "a.txt.sig", "b.txt"]);
    // An existing name is taken literally, glob characters or not.
    let (body, _) = listing(&mut ftp, "NLST [1].txt");
    assert_eq!(body, "[1].txt\r\n");
    // No match is an empty listing, as for an empty folder.
    let (body, code) = listing(&mut ftp, "NLST *.nothing");
    assert_eq!((body.as_str(), code), ("", 226));
    let (code, stat) = ftp.cmd("STAT sub/*.iso");
    assert_eq!(code, 213);
    assert_eq!(
        stat.lines().filter(|l| l.contains("x")).count(),
        2,
        "{stat}"
    );
    // No recursion: a pattern in a folder component is a literal name.
    assert_eq!(listing(&mut ftp, "NLST s*/x1.iso").1, 550);
    // RETR, STOR and DELE paths stay literal.
    assert_eq!(ftp.cmd("SIZE *.txt").0, 550);
    let mut data = ftp.epsv_connect();
    assert_eq!(ftp.cmd("RETR *.txt").0, 550);
    drop(data);
    data = ftp.epsv_connect();
    assert_eq!(ftp.cmd("STOR new*.txt").0, 150);
    drop(data);
    assert_eq!(ftp.reply().0, 226);
    assert!(root.path().join("new*.txt").exists());
    assert_eq!(ftp.cmd("DELE *.iso").0, 550);
    assert!(root.path().join("z.iso").exists());
}

/// The pattern and what it must get: a reply within the client's read timeout.
fn hostile_patterns() -> Vec<(String, &'static str)> {
    vec![
        // CVE-2010-2632 (vsftpd/libc glob): `*/../` repeated.
        ("*/../".repeat(100) + "*", "CVE-2010-2632"),
        // CVE-2011-0762: braces and stars repeated.
        ("{a,b}".repeat(50) + "*", "CVE-2011-0762 braces"),
        ("*{,}".repeat(60), "CVE-2011-0762 stars"),
        // CVE-2011-0418 (brace expansion in FTP globbing).
        ("{..,..,..}/".repeat(40) + "*", "CVE-2011-0418"),
        // Exponential backtracking against long names.
        ("a*".repeat(120) + "b", "a*a*...b"),
        ("*a".repeat(127) + "*", "*a*a*...*"),
        ("[".repeat(200), "unbalanced ["),
        (
            "[!a".to_string() + &"*".repeat(100),
            "unbalanced [! with stars",
        ),
        ("*".repeat(4000), "4,000-byte pattern"),
    ]
}

#[test]
fn glob_denial_of_service_patterns_are_answered_within_bounds() {
    let root = tempfile::tempdir().unwrap();
    let many = root.path().join("many");
    std::fs::create_dir(&many).unwrap();
    for i in 0..2_000 {
        let name = format!("{}{i:04}", "a".repeat(240));
        std::fs::write(many.join(name), b"").unwrap();
    }
    let server = Server::serve(root.path(), &[]);
    let mut attacker = RawFtp::login(server.addr());
    let mut bystander = RawFtp::login(server.addr());
    attacker.set_timeout(Duration::from_secs(20));
    bystander.set_timeout(Duration::from_secs(20));
    assert_eq!(attacker.cmd("CWD many").0, 250);
    for (pattern, what) in hostile_patterns() {
        for verb in ["STAT", "NLST", "LIST"] {
            let line = format!("{verb} {pattern}");
            let code = if verb == "STAT" {
                attacker.cmd(&line).0
            } else {
                listing(&mut attacker, &line).1
            };
            assert!(
                [213, 226, 501, 550].contains(&code),
                "{what} via {verb}: {code}"
            );
            assert_eq!(bystander.cmd("NOOP").0, 200, "{what}: bystander");
        }
    }
    // The session is still usable and the listing still right.
    let (body, code) = listing(&mut attacker, &format!("NLST {}*", "a".repeat(240)));
    assert_eq!(code, 226);
    assert_eq!(body.lines().count(), 2_000);
}

#[test]
fn mget_through_tnftp_and_lftp() {
    let root = tempfile::tempdir().unwrap();
    small_tree(root.path());
    let server = Server::serve(root.path(), &[]);
    let want = ["C.txt", "a.txt", "b.txt", "ü.txt"];
    // The classic client expands `*.txt` with NLST on the server.
    let out = tempfile::tempdir().unwrap();
    let mut child = Command::new(require_tool("tnftp"))
        .args(["-n", "-i", "-p", "-v"])
        .arg(server.addr().ip().to_string())
        .arg(server.addr().port().to_string())
        .current_dir(out.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    use std::io::Write;
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"user anonymous x@y\nbinary\nmget *.txt\nquit\n")
        .unwrap();
    let output = child.wait_with_output().unwrap();
    let transcript = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{transcript}");
    let mut got: Vec<String> = std::fs::read_dir(out.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    got.sort();
    assert_eq!(got, want, "{transcript}");
    for name in want {
        assert_eq!(
            std::fs::read(out.path().join(name)).unwrap(),
            name.as_bytes()
        );
    }
    let out = tempfile::tempdir().unwrap();
    let script = format!(
        "set cmd:fail-exit yes; open ftp://anonymous:x@{}; lcd {}; mget *.txt; bye",
        server.addr(),
        out.path().display()
    );
    run_ok(Command::new(require_tool("lftp")).arg("-c").arg(&script));
    let mut got: Vec<String> = std::fs::read_dir(out.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .collect();
    got.sort();
    assert_eq!(got, want);
}

#[test]
fn a_folder_of_100000_entries_lists_completely_in_order() {
    let root = tempfile::tempdir().unwrap();
    let big = root.path().join("big");
    std::fs::create_dir(&big).unwrap();
    // Created in an order unlike the sorted one.
    for i in (0..100_000u32).rev() {
        std::fs::File::create(big.join(format!("f{:05}", (i * 7919) % 100_000))).unwrap();
    }
    let server = Server::serve(root.path(), &[]);
    let mut ftp = RawFtp::login(server.addr());
    ftp.set_timeout(Duration::from_secs(120));
    let expected: Vec<String> = (0..100_000).map(|i| format!("f{i:05}")).collect();
    for command in ["LIST big", "MLSD big", "NLST big"] {
        let (body, code) = listing(&mut ftp, command);
        assert_eq!(code, 226, "{command}");
        assert!(
            names(&body) == expected,
            "{command}: not all entries, or not sorted"
        );
    }
}
