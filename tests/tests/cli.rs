//! The daemon's command line: clear messages and non-zero exits for bad input, the
//! xferlog it writes, and `hash-password`.

use std::io::Read;
use std::process::Command;

use ringftp_tests::{binary, write_pattern, RawFtp, Server};

fn ringftpd(args: &[&str]) -> std::process::Output {
    Command::new(binary("ringftpd"))
        .args(args)
        .output()
        .unwrap()
}

fn assert_fails_with(out: &std::process::Output, needle: &str) {
    assert!(!out.status.success(), "must fail");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(needle),
        "stderr {err:?} should mention {needle:?}"
    );
}

#[test]
fn bad_configuration_is_named_and_refused() {
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("ringftpd.toml");
    std::fs::write(&conf, "root = \"/nonexistent/folder\"\n").unwrap();
    assert_fails_with(&ringftpd(&["--config", conf.to_str().unwrap()]), "`root`");
    std::fs::write(
        &conf,
        format!("root = {:?}\nlisten_port = 21\n", dir.path()),
    )
    .unwrap();
    assert_fails_with(
        &ringftpd(&["--config", conf.to_str().unwrap()]),
        "listen_port",
    );
    std::fs::write(
        &conf,
        format!("root = {:?}\npassive_ports = \"9-1\"\n", dir.path()),
    )
    .unwrap();
    assert_fails_with(
        &ringftpd(&["--config", conf.to_str().unwrap()]),
        "passive_ports",
    );
    std::fs::write(
        &conf,
        format!("root = {:?}\n[timeouts]\nidle_secs = 0\n", dir.path()),
    )
    .unwrap();
    assert_fails_with(
        &ringftpd(&["--config", conf.to_str().unwrap()]),
        "timeouts.idle_secs",
    );
    std::fs::write(
        &conf,
        format!(
            "root = {:?}\n[limits]\nmax_sessions = \"many\"\n",
            dir.path()
        ),
    )
    .unwrap();
    assert_fails_with(
        &ringftpd(&["--config", conf.to_str().unwrap()]),
        "max_sessions",
    );
    assert_fails_with(&ringftpd(&["serve", "/nonexistent/folder"]), "`root`");
    assert_fails_with(&ringftpd(&[]), "nothing to serve");
    assert_fails_with(
        &ringftpd(&[
            "serve",
            dir.path().to_str().unwrap(),
            "--listen",
            "nonsense",
        ]),
        "nonsense",
    );
    // A valid file passes check-config and prints the resolved settings.
    std::fs::write(&conf, format!("root = {:?}\nworkers = 2\n", dir.path())).unwrap();
    let out = ringftpd(&["--config", conf.to_str().unwrap(), "check-config"]);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("passive_ports = \"50000-51999\""));
}

#[test]
fn transfers_are_written_to_the_xferlog() {
    let root = tempfile::tempdir().unwrap();
    write_pattern(&root.path().join("file.bin"), 100_000);
    let logs = tempfile::tempdir().unwrap();
    let xferlog = logs.path().join("xferlog");
    let server = Server::serve(root.path(), &["--xferlog", xferlog.to_str().unwrap()]);
    let mut ftp = RawFtp::login(server.addr());
    let mut data = ftp.epsv_connect();
    assert_eq!(ftp.cmd("RETR file.bin").0, 150);
    let mut got = Vec::new();
    data.read_to_end(&mut got).unwrap();
    assert_eq!(ftp.reply().0, 226);
    assert_eq!(ftp.cmd("QUIT").0, 221);
    drop(server);
    let log = std::fs::read_to_string(&xferlog).unwrap();
    let line = log.lines().next().expect("one xferlog line");
    let (stamp, fields) = split_xferlog_line(line);
    assert_xferlog_stamp(stamp);
    assert_eq!(fields.len(), 13, "{log}");
    assert_eq!(fields[1], "127.0.0.1");
    assert_eq!(fields[2], "100000");
    assert!(fields[3].ends_with("/file.bin"));
    assert_eq!(&fields[4..8], ["b", "_", "o", "a"]);
    assert_eq!(&fields[8..12], ["anonymous", "ftp", "0", "*"]);
    assert_eq!(fields[12], "c");
}

/// Splits an xferlog line the way log tools read it: the fixed 24-character date
/// (`Tue Dec  1 22:01:59 2026`, day of month space-padded), then whitespace-separated
/// fields.
fn split_xferlog_line(line: &str) -> (&str, Vec<&str>) {
    assert!(line.len() > 25 && line.is_char_boundary(24), "{line:?}");
    let (stamp, rest) = line.split_at(24);
    assert!(rest.starts_with(' '), "{line:?}");
    (stamp, rest.split_whitespace().collect())
}

/// `DDD MMM dd hh:mm:ss YYYY` with a space-padded day, whatever today's date is.
fn assert_xferlog_stamp(stamp: &str) {
    const DAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let b = stamp.as_bytes();
    assert!(DAYS.contains(&&stamp[0..3]), "{stamp:?}");
    assert_eq!(b[3], b' ', "{stamp:?}");
    assert!(MONTHS.contains(&&stamp[4..7]), "{stamp:?}");
    assert_eq!(b[7], b' ', "{stamp:?}");
    let day: u32 = stamp[8..10].trim_start().parse().expect("day of month");
    assert!((1..=31).contains(&day), "{stamp:?}");
    // One-digit days are padded with a space, never a zero.
    assert_eq!(b[8] == b' ', day < 10, "{stamp:?}");
    assert_eq!(b[10], b' ', "{stamp:?}");
    let hms: Vec<u32> = stamp[11..19]
        .split(':')
        .map(|n| n.parse().expect("hh:mm:ss"))
        .collect();
    assert!(
        hms.len() == 3 && hms[0] < 24 && hms[1] < 60 && hms[2] < 61,
        "{stamp:?}"
    );
    assert_eq!(b[19], b' ', "{stamp:?}");
    let year: u32 = stamp[20..24].parse().expect("year");
    assert!(year >= 1970, "{stamp:?}");
}

#[test]
fn xferlog_lines_split_alike_on_one_and_two_digit_days() {
    let tail = " 1 127.0.0.1 100000 /srv/f.bin b _ o a anonymous ftp 0 * c";
    for stamp in ["Tue Dec  1 22:01:59 2026", "Fri Dec 25 08:00:00 2026"] {
        assert_xferlog_stamp(stamp);
        let line = format!("{stamp}{tail}");
        let (got, fields) = split_xferlog_line(&line);
        assert_eq!(got, stamp);
        assert_eq!(fields.len(), 13);
        assert_eq!(fields[12], "c");
    }
}
