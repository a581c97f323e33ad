//! Replies come in the order of the commands, one per command, whatever the framing:
//! an over-long line behind a password check or a running transfer, pipelining behind
//! a password check, `LF CR` line ends, and the wait for a passive connection.

use std::io::{Read, Write};
use std::time::Duration;

use ringftp_tests::fixtures::users_file;
use ringftp_tests::{write_pattern, RawFtp, Server};

fn codes(ftp: &mut RawFtp, n: usize) -> Vec<u16> {
    (0..n).map(|_| ftp.reply().0).collect()
}

fn named_user_server(root: &std::path::Path, conf: &std::path::Path) -> Server {
    let users = users_file(conf, "alice", "s3cret", "\"read\", \"write\"", None);
    Server::serve(root, &["--users", users.to_str().unwrap()])
}

#[test]
fn an_over_long_line_waits_for_the_password_check() {
    let root = tempfile::tempdir().unwrap();
    let conf = tempfile::tempdir().unwrap();
    let server = named_user_server(root.path(), conf.path());
    let (mut ftp, _) = RawFtp::connect(server.addr());
    let mut burst = b"USER alice\r\nPASS s3cret\r\n".to_vec();
    burst.extend(std::iter::repeat_n(b'A', 5000));
    burst.extend_from_slice(b"\r\nNOOP\r\nPASS again\r\nNOOP\r\n");
    ftp.send_raw(&burst);
    assert_eq!(codes(&mut ftp, 5), [331, 230, 500, 200, 230]);
    // A wrong password: the 530 (after its delay) still comes first.
    let (mut ftp, _) = RawFtp::connect(server.addr());
    let mut burst = b"USER alice\r\nPASS wrong\r\n".to_vec();
    burst.extend(std::iter::repeat_n(b'B', 5000));
    burst.extend_from_slice(b"\r\nSYST\r\n");
    ftp.send_raw(&burst);
    assert_eq!(codes(&mut ftp, 4), [331, 530, 500, 215]);
}

#[test]
fn an_over_long_line_waits_for_a_running_transfer() {
    let root = tempfile::tempdir().unwrap();
    write_pattern(&root.path().join("big.bin"), 32 << 20);
    let server = Server::serve(root.path(), &[]);
    let mut ftp = RawFtp::login(server.addr());
    let mut data = ftp.epsv_connect();
    let mut burst = b"RETR big.bin\r\n".to_vec();
    burst.extend(std::iter::repeat_n(b'C', 5000));
    burst.extend_from_slice(b"\r\nNOOP\r\n");
    ftp.send_raw(&burst);
    // The data is not read yet, so the transfer is still running behind the 150.
    assert_eq!(ftp.reply().0, 150);
    let mut got = Vec::new();
    data.read_to_end(&mut got).unwrap();
    assert_eq!(got.len(), 32 << 20);
    assert_eq!(codes(&mut ftp, 3), [226, 500, 200]);
}

#[test]
fn pipelining_behind_a_password_check_keeps_every_reply() {
    let root = tempfile::tempdir().unwrap();
    let conf = tempfile::tempdir().unwrap();
    let server = named_user_server(root.path(), conf.path());
    let (mut ftp, _) = RawFtp::connect(server.addr());
    let mut burst = b"USER alice\r\nPASS s3cret\r\n".to_vec();
    for _ in 0..1000 {
        burst.extend_from_slice(b"NOOP\r\n");
    }
    burst.extend_from_slice(b"PWD\r\n");
    ftp.send_raw(&burst);
    assert_eq!(codes(&mut ftp, 2), [331, 230]);
    assert!(codes(&mut ftp, 1000).iter().all(|&c| c == 200));
    assert_eq!(ftp.reply().0, 257);
    assert_eq!(ftp.cmd("NOOP").0, 200);
}

#[test]
fn lf_cr_line_ends_get_one_reply_per_command() {
    let root = tempfile::tempdir().unwrap();
    let server = Server::serve(root.path(), &["--anonymous-write"]);
    let mut ftp = RawFtp::login(server.addr());
    let mut data = ftp.epsv_connect();
    ftp.send_raw(b"STOR up.txt\n\r\n");
    assert_eq!(ftp.reply().0, 150);
    data.write_all(b"uploaded\n").unwrap();
    drop(data);
    assert_eq!(ftp.reply().0, 226);
    // The next reply is the next command's: no `500 Empty command.` for the LF CR LF.
    let (code, text) = ftp.cmd("PWD");
    assert_eq!(code, 257, "{text}");
    ftp.send_raw(b"NOOP\n\rSYST\n\r\n\r\nNOOP\r\n");
    assert_eq!(codes(&mut ftp, 3), [200, 215, 200]);
    let (code, text) = ftp.cmd("NOOP");
    assert_eq!(code, 200, "{text}");
    assert_eq!(
        std::fs::read(root.path().join("up.txt")).unwrap(),
        b"uploaded\n"
    );
}

#[test]
fn the_wait_for_a_passive_connection_follows_passive_secs() {
    let root = tempfile::tempdir().unwrap();
    std::fs::write(root.path().join("f"), b"x").unwrap();
    let server = Server::serve(
        root.path(),
        &["--passive-timeout", "1", "--data-timeout", "120"],
    );
    let mut ftp = RawFtp::login(server.addr());
    // Well below the 120 s data timeout: the 425 must come from passive_secs.
    ftp.set_timeout(Duration::from_secs(30));
    assert_eq!(ftp.cmd("EPSV").0, 229);
    let (code, text) = ftp.cmd("LIST");
    assert_eq!(code, 425, "{text}");
    assert_eq!(ftp.cmd("NOOP").0, 200);
}

#[test]
fn a_small_file_gets_its_150_and_226_and_a_buffered_one_that_fills_the_socket_its_150_first() {
    let root = tempfile::tempdir().unwrap();
    write_pattern(&root.path().join("small.bin"), 4096);
    write_pattern(&root.path().join("big.bin"), 16 << 20);
    let conf = tempfile::tempdir().unwrap();
    let conf = conf.path().join("ringftpd.toml");
    // Every file up to 32 MiB takes the buffered path of small files.
    std::fs::write(&conf, "[transfer]\nsmall_file_max = 33554432\n").unwrap();
    let server = Server::serve(root.path(), &["--config", conf.to_str().unwrap()]);
    let mut ftp = RawFtp::login(server.addr());
    ftp.set_timeout(Duration::from_secs(60));

    // A file that fits the socket: both replies, the data byte for byte.
    let mut data = ftp.epsv_connect();
    assert_eq!(ftp.cmd("RETR small.bin").0, 150);
    assert_eq!(ftp.reply().0, 226);
    let mut got = Vec::new();
    data.read_to_end(&mut got).unwrap();
    assert_eq!(got, std::fs::read(root.path().join("small.bin")).unwrap());

    // 16 MiB cannot all wait in the two sockets' buffers: the server's send has to
    // wait for this client, which reads the 150 before any data (as many clients do).
    // The 150 must come before that wait, or both sides would wait for each other.
    let mut data = ftp.epsv_connect();
    assert_eq!(ftp.cmd("RETR big.bin").0, 150);
    let mut got = Vec::new();
    data.read_to_end(&mut got).unwrap();
    assert!(got == std::fs::read(root.path().join("big.bin")).unwrap());
    assert_eq!(ftp.reply().0, 226);
    assert_eq!(ftp.cmd("NOOP").0, 200);
}
