//! Protocol-level behaviour over a raw control connection: ABOR, disconnects,
//! passive port stealing, FTP bounce, IPv6, traversal and line limits.

use std::io::Read;
use std::net::TcpStream;
use std::time::Duration;

use ringftp_tests::{require_tool, run_ok, write_pattern, RawFtp, Server};

fn served_tree() -> tempfile::TempDir {
    let root = tempfile::tempdir().unwrap();
    write_pattern(&root.path().join("large.bin"), 64 << 20);
    write_pattern(&root.path().join("small.bin"), 1000);
    root
}

/// A normal client still gets a file byte for byte.
fn still_serves(server: &Server, root: &std::path::Path) {
    let mut ftp = RawFtp::login(server.addr());
    let mut data = ftp.epsv_connect();
    assert_eq!(ftp.cmd("RETR small.bin").0, 150);
    let mut got = Vec::new();
    data.read_to_end(&mut got).unwrap();
    assert_eq!(ftp.reply().0, 226);
    assert_eq!(got, std::fs::read(root.join("small.bin")).unwrap());
    assert_eq!(ftp.cmd("QUIT").0, 221);
}

/// Bytes of `path` in the page cache, as util-linux `fincore` reports them.
fn cached_bytes(path: &std::path::Path) -> u64 {
    let out = run_ok(
        std::process::Command::new(require_tool("fincore"))
            .args(["--bytes", "--noheadings", "--output", "RES"])
            .arg(path),
    );
    String::from_utf8(out).unwrap().trim().parse().unwrap()
}

/// Drops `path` from the page cache (written back first: dirty pages are not dropped).
fn evict_from_page_cache(path: &std::path::Path) {
    let file = std::fs::File::open(path).unwrap();
    file.sync_all().unwrap();
    rustix::fs::fadvise(&file, 0, None, rustix::fs::Advice::DontNeed).unwrap();
    let left = cached_bytes(path);
    assert_eq!(
        left,
        0,
        "{} should have left the page cache",
        path.display()
    );
}

/// Files in the page cache are spliced on the worker, others through io_uring; a file
/// evicted from the cache must still arrive whole, also from a REST offset.
///
/// Each RETR gets a file that was never sent: while other processes write heavily, the
/// kernel can keep a few hundred KiB of a file it has just spliced into sockets pinned
/// in the page cache for a minute or more, after the sockets (and the server) are gone, so
/// evicting the same file a second time is not reliable.
#[test]
fn a_file_not_in_the_page_cache_is_sent_whole() {
    let root = served_tree();
    let server = Server::serve(root.path(), &[]);
    for rest in [0usize, 5_000_001] {
        let name = format!("cold-{rest}.bin");
        let path = root.path().join(&name);
        write_pattern(&path, 24 << 20);
        let want = std::fs::read(&path).unwrap();
        evict_from_page_cache(&path);
        let mut ftp = RawFtp::login(server.addr());
        assert_eq!(ftp.cmd("TYPE I").0, 200);
        assert_eq!(ftp.cmd(&format!("REST {rest}")).0, 350);
        let mut data = ftp.epsv_connect();
        assert_eq!(ftp.cmd(&format!("RETR {name}")).0, 150);
        let mut got = Vec::new();
        data.read_to_end(&mut got).unwrap();
        assert_eq!(ftp.reply().0, 226);
        assert!(got == want[rest..], "RETR of {name} from {rest} differs");
        assert_eq!(ftp.cmd("QUIT").0, 221);
    }
}

#[test]
fn abor_during_a_large_retr_replies_426_then_226() {
    let root = served_tree();
    let server = Server::serve(root.path(), &[]);
    let mut ftp = RawFtp::login(server.addr());
    let mut data = ftp.epsv_connect();
    assert_eq!(ftp.cmd("RETR large.bin").0, 150);
    // Read a little so the transfer is under way, then stop reading and abort,
    // with the Telnet IP + Synch sequence clients send before ABOR.
    let mut buf = vec![0u8; 64 * 1024];
    data.read_exact(&mut buf).unwrap();
    ftp.send_raw(b"\xff\xf4\xff\xf2ABOR\r\n");
    let (first, text) = ftp.reply();
    assert_eq!(first, 426, "{text}");
    assert_eq!(ftp.reply().0, 226);
    // The data connection is closed by the server.
    data.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut rest = Vec::new();
    let _ = data.read_to_end(&mut rest);
    assert!(rest.len() < 64 << 20);
    // The session goes on.
    assert_eq!(ftp.cmd("NOOP").0, 200);
    still_serves(&server, root.path());
}

#[test]
fn client_disconnect_mid_transfer_frees_everything() {
    let root = served_tree();
    let server = Server::serve(root.path(), &["--workers", "1"]);
    let disconnect_mid_transfer = || {
        let mut ftp = RawFtp::login(server.addr());
        let mut data = ftp.epsv_connect();
        assert_eq!(ftp.cmd("RETR large.bin").0, 150);
        let mut buf = vec![0u8; 128 * 1024];
        data.read_exact(&mut buf).unwrap();
        drop(data);
        drop(ftp);
    };
    // Warm up: the worker keeps one splice pipe in its pool from now on.
    disconnect_mid_transfer();
    still_serves(&server, root.path());
    // Pipes are pooled per worker (and a transfer may find the pool empty while an
    // aborted one still returns its pipes), so sockets and files are what must not leak.
    let before = non_pipe_fds(&server);
    for _ in 0..5 {
        disconnect_mid_transfer();
    }
    // The server notices, cleans up and still serves; fds return to the baseline.
    still_serves(&server, root.path());
    let mut after = non_pipe_fds(&server);
    for _ in 0..200 {
        if after <= before {
            break;
        }
        // Closing is asynchronous on the server side: poll /proc, bounded.
        std::thread::sleep(Duration::from_millis(25));
        after = non_pipe_fds(&server);
    }
    assert!(
        after <= before,
        "fds other than pooled pipes: before {before}, after {after}"
    );
}

#[test]
fn stray_connection_to_another_sessions_passive_port_is_refused() {
    let root = served_tree();
    let server = Server::serve(root.path(), &["--listen", "127.0.0.1:0"]);
    let mut ftp = RawFtp::login(server.addr());
    let (code, text) = ftp.cmd("EPSV");
    assert_eq!(code, 229);
    let port: u16 = text
        .split("|||")
        .nth(1)
        .unwrap()
        .split('|')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    // A thief from another loopback address connects first.
    let thief = socket_from("127.0.0.2", ("127.0.0.1", port));
    let mut rightful = TcpStream::connect(("127.0.0.1", port)).unwrap();
    assert_eq!(ftp.cmd("RETR small.bin").0, 150);
    let mut got = Vec::new();
    rightful.read_to_end(&mut got).unwrap();
    assert_eq!(ftp.reply().0, 226);
    assert_eq!(got.len(), 1000);
    // The thief got nothing: its connection is closed without data.
    let mut thief = thief;
    thief
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut stolen = Vec::new();
    let _ = thief.read_to_end(&mut stolen);
    assert!(stolen.is_empty());
}

fn socket_from(source: &str, target: (&str, u16)) -> TcpStream {
    let source: std::net::IpAddr = source.parse().unwrap();
    let target = std::net::SocketAddr::new(target.0.parse().unwrap(), target.1);
    // std cannot bind a source address before connecting; socket2 can.
    let socket = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    socket
        .bind(&std::net::SocketAddr::new(source, 0).into())
        .unwrap();
    socket.connect(&target.into()).unwrap();
    socket.into()
}

#[test]
fn bounce_and_privileged_port_targets_are_refused() {
    let root = served_tree();
    let server = Server::serve(root.path(), &[]);
    let mut ftp = RawFtp::login(server.addr());
    let (code, _) = ftp.cmd("PORT 127,0,0,1,0,21");
    assert_eq!(code / 100, 5, "privileged port must be refused");
    let (code, _) = ftp.cmd("PORT 10,0,0,1,200,10");
    assert_eq!(code / 100, 5, "foreign host must be refused");
    let (code, _) = ftp.cmd("EPRT |1|192.0.2.1|50000|");
    assert_eq!(code / 100, 5);
    let (code, _) = ftp.cmd("EPRT |3|127.0.0.1|50000|");
    assert_eq!(code / 100, 5);
    // Nothing was opened: a transfer now has no data channel.
    assert_eq!(ftp.cmd("RETR small.bin").0, 425);
    still_serves(&server, root.path());
}

#[test]
fn an_active_target_that_refuses_the_connection_gets_425() {
    let root = served_tree();
    let server = Server::serve(root.path(), &[]);
    let mut ftp = RawFtp::login(server.addr());
    // A port nothing listens on any more: the connect is refused (RST).
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = closed.local_addr().unwrap().port();
    drop(closed);
    let (code, text) = ftp.cmd(&format!("PORT 127,0,0,1,{},{}", port >> 8, port & 255));
    assert_eq!(code, 200, "{text}");
    let (code, text) = ftp.cmd("RETR small.bin");
    assert_eq!(code, 425, "{text}");
    assert_eq!(ftp.cmd("NOOP").0, 200);
    still_serves(&server, root.path());
}

#[test]
fn traversal_and_hostile_lines_are_contained() {
    let root = served_tree();
    std::os::unix::fs::symlink("/etc", root.path().join("etc-link")).unwrap();
    let server = Server::serve(root.path(), &[]);
    let mut ftp = RawFtp::login(server.addr());
    assert_eq!(ftp.cmd("SIZE ../../etc/passwd").0, 550);
    assert_eq!(ftp.cmd("CWD /../..").0, 250);
    assert!(ftp.cmd("PWD").1.contains("\"/\""));
    assert_eq!(ftp.cmd("SIZE etc-link/passwd").0, 550);
    assert_eq!(ftp.cmd("CWD etc-link").0, 550);
    assert_eq!(ftp.cmd("SIZE %2e%2e/%2e%2e/etc/passwd").0, 550);
    // A 1 MiB line without a newline, then a newline: one error, session intact.
    ftp.send_raw(&vec![b'A'; 1 << 20]);
    ftp.send_raw(b"\r\n");
    assert_eq!(ftp.reply().0, 500);
    assert_eq!(ftp.cmd("NOOP").0, 200);
    still_serves(&server, root.path());
}

#[test]
fn ipv6_loopback_works() {
    if std::net::TcpListener::bind("[::1]:0").is_err() {
        panic!("IPv6 loopback is not available on this machine");
    }
    let root = served_tree();
    let server = Server::serve(root.path(), &["--listen", "[::1]:0"]);
    assert!(server.addr().is_ipv6());
    let mut ftp = RawFtp::login(server.addr());
    assert_eq!(
        ftp.cmd("PASV").0,
        522,
        "PASV cannot describe an IPv6 address"
    );
    still_serves(&server, root.path());
    let url = format!("ftp://[::1]:{}/small.bin", server.addr().port());
    let out = ringftp_tests::run_ok(
        std::process::Command::new(ringftp_tests::require_tool("curl"))
            .args(["--silent", "--show-error", "--max-time", "30"])
            .arg(&url),
    );
    assert_eq!(out, std::fs::read(root.path().join("small.bin")).unwrap());
}

#[test]
fn a_second_server_cannot_share_the_port() {
    let root = served_tree();
    let server = Server::serve(root.path(), &[]);
    let out = std::process::Command::new(ringftp_tests::binary("ringftpd"))
        .arg("serve")
        .arg(root.path())
        .args(["--listen", &server.addr().to_string()])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("cannot listen on") && err.contains("in use"),
        "{err}"
    );
    still_serves(&server, root.path());
}

#[test]
fn abor_sent_as_urgent_data_is_understood() {
    let root = served_tree();
    let server = Server::serve(root.path(), &[]);
    let mut ftp = RawFtp::login(server.addr());
    let mut data = ftp.epsv_connect();
    assert_eq!(ftp.cmd("RETR large.bin").0, 150);
    let mut buf = vec![0u8; 64 * 1024];
    data.read_exact(&mut buf).unwrap();
    // As Python's ftplib does: the whole line with MSG_OOB, so its last byte is urgent.
    ftp.send_urgent(b"ABOR\r\n");
    assert_eq!(ftp.reply().0, 426);
    assert_eq!(ftp.reply().0, 226);
    // As lftp does: Telnet IP, then IAC DM with the DM byte urgent (Synch), then ABOR.
    let mut data = ftp.epsv_connect();
    assert_eq!(ftp.cmd("RETR large.bin").0, 150);
    data.read_exact(&mut buf).unwrap();
    ftp.send_raw(b"\xff\xf4\xff");
    ftp.send_urgent(b"\xf2");
    ftp.send_raw(b"ABOR\r\n");
    assert_eq!(ftp.reply().0, 426);
    assert_eq!(ftp.reply().0, 226);
    assert_eq!(ftp.cmd("NOOP").0, 200);
}

/// Open fds of the server that are not pipes (sockets, files, io_uring, ...).
fn non_pipe_fds(server: &Server) -> usize {
    std::fs::read_dir(format!("/proc/{}/fd", server.pid()))
        .unwrap()
        .filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
        .filter(|target| !target.to_string_lossy().starts_with("pipe:"))
        .count()
}
