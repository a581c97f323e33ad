//! What a slow download costs the server: its socket holds at most
//! `transfer.unsent_max` bytes not yet sent (TCP_NOTSENT_LOWAT), so a client that stops
//! reading leaves the rest of the file in the server's pipe (page-cache references),
//! not in kernel socket memory; and it holds one splice pipe, where a fast download
//! takes a second one to read ahead.

use std::io::Read;
use std::net::TcpStream;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use ringftp_tests::{require_tool, run_ok, wait_until, write_pattern, RawFtp, Server};

const KIB: u64 = 1024;

/// Bytes the server's end of `data` holds unsent (`notsent:` in `ss -ti`; absent = 0).
fn server_unsent(ss: &Path, data: &TcpStream) -> u64 {
    let filter = format!(
        "( sport = :{} and dport = :{} )",
        data.peer_addr().unwrap().port(),
        data.local_addr().unwrap().port()
    );
    let out = run_ok(Command::new(ss).args(["-tinH", "state", "established", &filter]));
    let text = String::from_utf8_lossy(&out);
    assert!(!text.trim().is_empty(), "ss does not show the data socket");
    text.split_whitespace()
        .find_map(|w| w.strip_prefix("notsent:"))
        .map_or(0, |n| n.parse().expect("notsent"))
}

/// Start a 16 MiB RETR and read nothing yet; the data socket.
fn start_download(server: &Server) -> (RawFtp, TcpStream) {
    let mut ftp = RawFtp::login(server.addr());
    assert_eq!(ftp.cmd("TYPE I").0, 200);
    let data = ftp.epsv_connect();
    assert_eq!(ftp.cmd("RETR 16m.bin").0, 150);
    (ftp, data)
}

#[test]
fn a_client_that_stops_reading_pins_at_most_unsent_max_in_the_socket() {
    let ss = require_tool("ss");
    let root = tempfile::tempdir().unwrap();
    write_pattern(&root.path().join("16m.bin"), 16 << 20);
    let conf = root.path().join("unlimited.toml");
    std::fs::write(&conf, "[transfer]\nunsent_max = 0\n").unwrap();
    let dir = root.path().to_str().unwrap();

    // The default: the server fills the socket up to 64 KiB unsent, then waits. One
    // splice may overshoot by what the kernel appends to its last segment (64 KiB).
    let server = Server::serve(root.path(), &[]);
    let (_ftp, data) = start_download(&server);
    assert!(
        wait_until(Duration::from_secs(10), || server_unsent(&ss, &data)
            >= 64 * KIB),
        "the server never filled the socket to 64 KiB unsent"
    );
    let unsent = server_unsent(&ss, &data);
    assert!(unsent <= 64 * KIB + 80 * KIB, "{unsent} bytes unsent");

    // With the kernel's default the same stalled client pins megabytes.
    let server = Server::serve(Path::new(dir), &["-c", conf.to_str().unwrap()]);
    let (mut ftp, mut data) = start_download(&server);
    assert!(
        wait_until(Duration::from_secs(10), || server_unsent(&ss, &data)
            > 1 << 20),
        "unsent_max = 0 should let the socket queue more than 1 MiB: {}",
        server_unsent(&ss, &data)
    );
    // Reading on delivers the whole file.
    let mut got = Vec::new();
    data.read_to_end(&mut got).unwrap();
    assert_eq!(got.len(), 16 << 20);
    assert_eq!(ftp.reply().0, 226);
}

/// Pipe fds `pid` holds (each pipe is two).
fn pipe_fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
        .filter(|target| target.to_string_lossy().starts_with("pipe:"))
        .count()
}

#[test]
fn a_stalled_download_holds_one_pipe_and_a_fast_one_reads_ahead_with_two() {
    let ss = require_tool("ss");
    let root = tempfile::tempdir().unwrap();
    write_pattern(&root.path().join("16m.bin"), 16 << 20);
    let server = Server::serve(root.path(), &["--workers", "1"]);
    let before = pipe_fds(server.pid());

    let (_stalled_ftp, stalled) = start_download(&server);
    assert!(
        wait_until(Duration::from_secs(10), || server_unsent(&ss, &stalled)
            >= 64 * KIB),
        "the server never filled the socket"
    );
    assert_eq!(
        pipe_fds(server.pid()) - before,
        2,
        "a stalled download: one pipe"
    );

    // A client that reads as fast as loopback allows gets a second pipe; both go back
    // to the worker's pool when the transfer ends, next to the stalled one's.
    let (mut ftp, mut data) = start_download(&server);
    let mut got = Vec::new();
    data.read_to_end(&mut got).unwrap();
    assert_eq!(got.len(), 16 << 20);
    assert_eq!(ftp.reply().0, 226);
    assert_eq!(
        pipe_fds(server.pid()) - before,
        2 + 4,
        "a fast download: two pipes"
    );
}
