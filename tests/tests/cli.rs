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
    let fields: Vec<&str> = log
        .lines()
        .next()
        .expect("one xferlog line")
        .split(' ')
        .collect();
    assert_eq!(fields.len(), 18, "{log}");
    assert_eq!(fields[6], "127.0.0.1");
    assert_eq!(fields[7], "100000");
    assert!(fields[8].ends_with("/file.bin"));
    assert_eq!(&fields[9..13], ["b", "_", "o", "a"]);
    assert_eq!(fields[17], "c");
}
