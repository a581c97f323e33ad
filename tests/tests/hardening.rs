//! Hardening: session caps, failed-login blocking, slow and idle clients, attacks
//! (bounce, port stealing, traversal, hostile bytes, floods) and faults (full disk,
//! unwritable folders, files changing under a transfer, resets, a busy worker).
//!
//! Every test checks what the client sees, that a normal client is still served
//! afterwards and, where resources are at stake, that the server's open file
//! descriptors return to their baseline (polled: closing is asynchronous).

use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ringftp_tests::{
    connect_from, private_port_range, wait_until, write_pattern, Launch, RawFtp, Server,
};

const SMALL: usize = 1000;
const LARGE: u64 = 48 << 20;

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// A tree with `small.bin` (pattern) and a sparse `large.bin` (too big for the
/// kernel's socket buffers, so a client that stops reading stalls the transfer).
fn tree() -> tempfile::TempDir {
    let root = tempfile::tempdir().unwrap();
    write_pattern(&root.path().join("small.bin"), SMALL);
    let large = std::fs::File::create(root.path().join("large.bin")).unwrap();
    large.set_len(LARGE).unwrap();
    root
}

/// A session from `source` logs in and gets `small.bin` byte for byte.
fn still_serves_from(server: &Server, root: &Path, source: IpAddr) {
    let (ftp, (code, text)) = RawFtp::connect_from(source, server.addr());
    assert_eq!(code, 220, "a normal client must be served: {text}");
    serves_a_download(ftp, server, root, source);
}

/// On an admitted connection from `source`: log in and get `small.bin` byte for byte.
fn serves_a_download(mut ftp: RawFtp, server: &Server, root: &Path, source: IpAddr) {
    assert_eq!(ftp.cmd("USER anonymous").0, 331);
    assert_eq!(ftp.cmd("PASS test@").0, 230);
    // The data connection comes from the control connection's address.
    let (code, text) = ftp.cmd("EPSV");
    assert_eq!(code, 229, "{text}");
    let mut data = connect_from(
        source,
        SocketAddr::new(server.addr().ip(), epsv_port(&text)),
    );
    assert_eq!(ftp.cmd("RETR small.bin").0, 150);
    let mut got = Vec::new();
    data.read_to_end(&mut got).unwrap();
    assert_eq!(ftp.reply().0, 226);
    assert_eq!(got, std::fs::read(root.join("small.bin")).unwrap());
    assert_eq!(ftp.cmd("QUIT").0, 221);
}

fn still_serves(server: &Server, root: &Path) {
    still_serves_from(server, root, ip("127.0.0.1"));
}

/// Connect and return the greeting, the connection and whether it was closed after.
fn greeting_from(source: IpAddr, server: &Server) -> (u16, String, RawFtp) {
    let (ftp, (code, text)) = RawFtp::connect_from(source, server.addr());
    (code, text, ftp)
}

/// Assert the connection is refused with 421 and `needle` in the text, then closed.
fn assert_refused(source: IpAddr, server: &Server, needle: &str) {
    let (code, text, mut ftp) = greeting_from(source, server);
    assert_eq!(code, 421, "expected a refusal, got {text:?}");
    assert!(text.contains(needle), "{text:?} should say {needle:?}");
    assert!(ftp.is_closed(), "a refused connection must be closed");
}

/// Wait until a connection from `source` is admitted (a session slot is released
/// asynchronously after a client leaves), bounded.
fn admitted_eventually(source: IpAddr, server: &Server) -> RawFtp {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let (code, text, ftp) = greeting_from(source, server);
        if code == 220 {
            return ftp;
        }
        assert_eq!(code, 421, "{text}");
        assert!(
            Instant::now() < deadline,
            "no session slot was released within 5 s: {text}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn serve_args(root: &Path, extra: &[&str]) -> Vec<String> {
    let mut args: Vec<String> = vec!["serve".into(), root.display().to_string()];
    args.extend(["--listen".into(), "127.0.0.1:0".into()]);
    if !extra.contains(&"--passive-ports") {
        args.extend(["--passive-ports".into(), private_port_range(16)]);
    }
    args.extend(extra.iter().map(|s| s.to_string()));
    args
}

/// Start `serve ROOT` with a config file holding `toml` (flags override it).
fn serve_with_config(root: &Path, toml: &str, extra: &[&str]) -> (Server, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("ringftpd.toml");
    std::fs::write(&conf, toml).unwrap();
    let mut args = serve_args(root, extra);
    args.extend(["--config".into(), conf.display().to_string()]);
    (Server::start(&args), dir)
}

/// Nothing arrived on a data connection (the refusal came before any 150).
fn assert_nothing_sent(data: &TcpStream, what: &str) {
    data.set_nonblocking(true).unwrap();
    let mut buf = [0u8; 4096];
    if let Ok(n @ 1..) = (&*data).read(&mut buf) {
        panic!(
            "{what} sent {n} bytes: {:?}",
            String::from_utf8_lossy(&buf[..n])
        );
    }
}

fn epsv_port(text: &str) -> u16 {
    text.split("|||")
        .nth(1)
        .and_then(|s| s.split('|').next())
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("bad EPSV reply {text:?}"))
}

/// Warm a worker up (its pipe pool keeps a pipe after the first spliced transfer),
/// then return the fd count once it is stable.
fn warm_baseline(server: &Server, root: &Path) -> usize {
    let mut ftp = RawFtp::login(server.addr());
    let mut data = ftp.epsv_connect();
    assert_eq!(ftp.cmd("RETR large.bin").0, 150);
    let mut sink = vec![0u8; 1 << 20];
    let mut total = 0u64;
    loop {
        let n = data.read(&mut sink).unwrap();
        if n == 0 {
            break;
        }
        total += n as u64;
    }
    assert_eq!(total, LARGE);
    assert_eq!(ftp.reply().0, 226);
    assert_eq!(ftp.cmd("QUIT").0, 221);
    drop(data);
    still_serves(server, root);
    server.stable_fd_count()
}

fn assert_fds_back(server: &Server, baseline: usize) {
    let after = server.fds_settle(baseline, Duration::from_secs(10));
    assert!(
        after <= baseline,
        "server fds: baseline {baseline}, now {after} (leak): {:?}",
        server.fd_targets()
    );
}

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("Uid:"))
                .map(|u| u.split_whitespace().nth(1) == Some("0"))
        })
        .unwrap_or(false)
}

// ---------------------------------------------------------------------------
// Session caps
// ---------------------------------------------------------------------------

#[test]
fn per_ip_session_cap_refuses_with_421_and_recovers() {
    let root = tree();
    let server = Server::start(&serve_args(root.path(), &["--max-sessions-per-ip", "2"]));
    let local = ip("127.0.0.1");
    let (c1, _, first) = greeting_from(local, &server);
    let (c2, _, second) = greeting_from(local, &server);
    assert_eq!((c1, c2), (220, 220));
    let baseline = server.stable_fd_count();
    let before = server.fd_targets();
    for _ in 0..20 {
        assert_refused(local, &server, "Too many sessions from your address");
    }
    // Refused connections leave nothing behind.
    if server.fds_settle(baseline, Duration::from_secs(10)) > baseline {
        panic!("fds before {before:?}, after {:?}", server.fd_targets());
    }
    // Another address is not affected by this one's cap.
    still_serves_from(&server, root.path(), ip("127.0.0.2"));
    // Closing one session frees its slot.
    drop(first);
    let mut third = admitted_eventually(local, &server);
    assert_eq!(third.cmd("NOOP").0, 200);
    assert_refused(local, &server, "from your address");
    drop(second);
    drop(third);
    let _ = admitted_eventually(local, &server);
}

#[test]
fn global_session_cap_refuses_with_421_and_recovers() {
    let root = tree();
    let server = Server::start(&serve_args(root.path(), &["--max-sessions", "3"]));
    let mut open: Vec<RawFtp> = ["127.0.0.1", "127.0.0.2", "127.0.0.3"]
        .iter()
        .map(|a| {
            let (code, text, ftp) = greeting_from(ip(a), &server);
            assert_eq!(code, 220, "{text}");
            ftp
        })
        .collect();
    for a in ["127.0.0.1", "127.0.0.4"] {
        assert_refused(ip(a), &server, "Too many sessions on this server");
    }
    open.remove(0);
    let mut again = admitted_eventually(ip("127.0.0.4"), &server);
    assert_eq!(again.cmd("USER anonymous").0, 331);
    assert_eq!(again.cmd("PASS x@").0, 230);
    assert_refused(ip("127.0.0.5"), &server, "on this server");
    drop(open);
    drop(again);
    // Slots come back as the server sees each close; the session admitted first is
    // the one that must work (a probe dropped after its 220 would hold a slot too).
    let ftp = admitted_eventually(ip("127.0.0.1"), &server);
    serves_a_download(ftp, &server, root.path(), ip("127.0.0.1"));
}

// ---------------------------------------------------------------------------
// Failed logins
// ---------------------------------------------------------------------------

#[test]
fn failed_logins_are_delayed_then_the_address_is_blocked() {
    let root = tree();
    let delay = Duration::from_millis(400);
    // A real account, so both an unknown user and a wrong password are tried.
    let hash = ringftp_tests::fixtures::hash_password("s3cret\n");
    let users = root.path().join("users.toml");
    std::fs::write(
        &users,
        format!(
            "[[user]]\nname = \"alice\"\npassword = {:?}\npermissions = [\"read\"]\n",
            hash.trim()
        ),
    )
    .unwrap();
    let (server, _conf) = serve_with_config(
        root.path(),
        "[limits]\nlogin_failures_before_block = 3\nlogin_block_secs = 60\nlogin_failure_delay_ms = 400\n",
        &["--users", users.to_str().unwrap()],
    );
    let attacker = ip("127.0.0.1");
    let (mut ftp, (code, _)) = RawFtp::connect_from(attacker, server.addr());
    assert_eq!(code, 220);
    // A bystander on another address is not slowed down by the attacker's delays.
    let (mut bystander, _) = RawFtp::connect_from(ip("127.0.0.2"), server.addr());
    for (attempt, user) in ["bob", "alice", "alice"].into_iter().enumerate() {
        assert_eq!(ftp.cmd(&format!("USER {user}")).0, 331);
        let started = Instant::now();
        ftp.send_raw(b"PASS wrong-password\r\n");
        if attempt == 0 {
            let quick = Instant::now();
            assert_eq!(bystander.cmd("NOOP").0, 200);
            assert!(
                quick.elapsed() < delay,
                "a failed login must not stall other sessions"
            );
        }
        let (code, text) = ftp.reply();
        assert_eq!(code, 530, "{text}");
        assert!(
            started.elapsed() >= delay - Duration::from_millis(20),
            "530 came after {:?}, before the configured delay",
            started.elapsed()
        );
    }
    // Blocked now: USER is refused with 421 and the connection closed.
    let (code, text) = ftp.cmd("USER anonymous");
    assert_eq!(code, 421, "{text}");
    assert!(text.contains("failed logins"), "{text}");
    assert!(ftp.is_closed());
    // A new connection from the same address is blocked at USER too, even anonymous.
    // With the right password too.
    let (mut again, (code, _)) = RawFtp::connect_from(attacker, server.addr());
    assert_eq!(code, 220);
    assert_eq!(again.cmd("USER anonymous").0, 421);
    let (mut again, _) = RawFtp::connect_from(attacker, server.addr());
    assert_eq!(again.cmd("USER alice").0, 421);
    // Other addresses log in normally, alice with her password too.
    let (mut alice, _) = RawFtp::connect_from(ip("127.0.0.3"), server.addr());
    assert_eq!(alice.cmd("USER alice").0, 331);
    assert_eq!(alice.cmd("PASS s3cret").0, 230);
    assert_eq!(bystander.cmd("USER anonymous").0, 331);
    assert_eq!(bystander.cmd("PASS me@").0, 230);
    still_serves_from(&server, root.path(), ip("127.0.0.2"));
}

// ---------------------------------------------------------------------------
// Slow and idle clients
// ---------------------------------------------------------------------------

#[test]
fn commands_sent_one_byte_at_a_time_work() {
    let root = tree();
    let server = Server::start(&serve_args(root.path(), &[]));
    let stream = TcpStream::connect(server.addr()).unwrap();
    stream.set_nodelay(true).unwrap();
    let mut writer = stream.try_clone().unwrap();
    let (mut ftp, (code, _)) = RawFtp::from_stream(stream);
    assert_eq!(code, 220);
    let mut dribble = |line: &str| {
        for b in line.bytes().chain(*b"\r\n") {
            writer.write_all(&[b]).unwrap();
            // Pacing, so each byte arrives in its own segment and read.
            std::thread::sleep(Duration::from_millis(2));
        }
    };
    dribble("USER anonymous");
    assert_eq!(ftp.reply().0, 331);
    dribble("PASS slow@");
    assert_eq!(ftp.reply().0, 230);
    dribble("SIZE small.bin");
    assert_eq!(ftp.reply(), (213, format!("213 {SMALL}\r\n")));
    dribble("EPSV");
    let (code, text) = ftp.reply();
    assert_eq!(code, 229);
    let mut data = TcpStream::connect(("127.0.0.1", epsv_port(&text))).unwrap();
    dribble("RETR small.bin");
    assert_eq!(ftp.reply().0, 150);
    let mut got = Vec::new();
    data.read_to_end(&mut got).unwrap();
    assert_eq!(ftp.reply().0, 226);
    assert_eq!(got, std::fs::read(root.path().join("small.bin")).unwrap());
    still_serves(&server, root.path());
}

#[test]
fn idle_control_connections_are_closed_with_421() {
    let root = tree();
    let server = Server::start(&serve_args(root.path(), &["--idle-timeout", "2"]));
    still_serves(&server, root.path());
    let baseline = server.stable_fd_count();
    let started = Instant::now();
    let (mut anonymous, _) = RawFtp::connect(server.addr());
    let mut logged_in = RawFtp::login(server.addr());
    for ftp in [&mut anonymous, &mut logged_in] {
        ftp.set_timeout(Duration::from_secs(10));
        let (code, text) = ftp.try_reply().expect("a 421 before the close");
        assert_eq!(code, 421, "{text}");
        assert!(text.to_lowercase().contains("timeout"), "{text}");
        assert!(ftp.is_closed());
    }
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(1500) && waited < Duration::from_secs(8),
        "closed after {waited:?} with a 2 s idle timeout"
    );
    assert_fds_back(&server, baseline);
    still_serves(&server, root.path());
}

#[test]
fn each_command_restarts_the_idle_timeout() {
    let root = tree();
    let server = Server::start(&serve_args(root.path(), &["--idle-timeout", "2"]));
    let mut ftp = RawFtp::login(server.addr());
    // A client busy for twice the timeout, a command every half second, keeps its
    // session: the timer armed at login fires early and is re-armed, not obeyed.
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(4) {
        let (code, text) = ftp.cmd("NOOP");
        assert_eq!(code, 200, "after {:?}: {text}", started.elapsed());
        std::thread::sleep(Duration::from_millis(500));
    }
    let (code, _) = ftp.cmd("NOOP");
    assert_eq!(code, 200);
    let last = Instant::now();
    ftp.set_timeout(Duration::from_secs(10));
    let (code, text) = ftp.try_reply().expect("a 421 once the client is quiet");
    assert_eq!(code, 421, "{text}");
    let quiet = last.elapsed();
    assert!(
        quiet >= Duration::from_millis(1500),
        "closed {quiet:?} after the last command, with a 2 s idle timeout"
    );
}

#[test]
fn unused_passive_ports_return_to_the_pool_after_the_passive_timeout() {
    let root = tree();
    let (server, _conf) = serve_with_config(
        root.path(),
        "[timeouts]\npassive_secs = 1\n",
        &["--workers", "1", "--passive-ports", &private_port_range(2)],
    );
    still_serves(&server, root.path());
    let baseline = server.stable_fd_count();
    let mut a = RawFtp::login(server.addr());
    let mut b = RawFtp::login(server.addr());
    let mut c = RawFtp::login(server.addr());
    let started = Instant::now();
    let pa = a.pasv().expect("first port");
    let pb = b.pasv().expect("second port");
    assert_ne!(pa, pb);
    let (code, text) = c.pasv().expect_err("the slice is empty");
    assert_eq!(code, 425, "{text}");
    // Neither a nor b connects: after the passive timeout their ports come back.
    let mut got = None;
    wait_until(Duration::from_secs(8), || {
        got = c.pasv().ok();
        got.is_some()
    });
    let port = got.expect("a PASV succeeds once the unused listeners time out");
    assert!(port == pa || port == pb);
    assert!(
        started.elapsed() >= Duration::from_millis(800),
        "ports came back after {:?}, before the 1 s passive timeout",
        started.elapsed()
    );
    // The timed-out session has no data channel any more.
    let timed_out = if port == pa { &mut a } else { &mut b };
    assert_eq!(timed_out.cmd("RETR small.bin").0, 425);
    // The new lease works.
    let mut data = TcpStream::connect(("127.0.0.1", port)).unwrap();
    assert_eq!(c.cmd("RETR small.bin").0, 150);
    let mut buf = Vec::new();
    data.read_to_end(&mut buf).unwrap();
    assert_eq!(buf.len(), SMALL);
    assert_eq!(c.reply().0, 226);
    drop((a, b, c));
    // Listeners, sessions and data connections are all gone.
    assert_fds_back(&server, baseline);
    still_serves(&server, root.path());
}

#[test]
fn a_data_client_that_never_reads_times_out_and_frees_its_fds() {
    let root = tree();
    let server = Server::start(&serve_args(
        root.path(),
        &["--workers", "1", "--data-timeout", "2"],
    ));
    let baseline = warm_baseline(&server, root.path());
    let mut ftp = RawFtp::login(server.addr());
    let data = ftp.epsv_connect();
    let started = Instant::now();
    assert_eq!(ftp.cmd("RETR large.bin").0, 150);
    // Never read: the kernel buffers fill, the transfer stalls, the timeout fires.
    ftp.set_timeout(Duration::from_secs(20));
    let (code, text) = ftp.reply();
    assert!(code == 426 || code == 451, "expected 426/451, got {text}");
    assert!(
        started.elapsed() >= Duration::from_millis(1500),
        "stalled transfer ended after {:?}, before the 2 s data timeout",
        started.elapsed()
    );
    // The server closed the data connection: what is buffered, then EOF or reset.
    let mut data = data;
    data.set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut total = 0u64;
    let mut buf = vec![0u8; 1 << 20];
    while let Ok(n) = data.read(&mut buf) {
        if n == 0 {
            break;
        }
        total += n as u64;
    }
    assert!(total < LARGE, "the stalled transfer must not complete");
    assert_eq!(ftp.cmd("NOOP").0, 200);
    assert_eq!(ftp.cmd("QUIT").0, 221);
    drop(data);
    drop(ftp);
    assert_fds_back(&server, baseline);
    still_serves(&server, root.path());
}

// ---------------------------------------------------------------------------
// Attacks
// ---------------------------------------------------------------------------

#[test]
fn ftp_bounce_to_another_host_or_a_privileged_port_is_refused() {
    let root = tree();
    let server = Server::start(&serve_args(root.path(), &[]));
    // A third party the attacker wants the server to connect to.
    let victim = TcpListener::bind("127.0.0.2:0").unwrap();
    victim.set_nonblocking(true).unwrap();
    let vport = victim.local_addr().unwrap().port();
    let mut ftp = RawFtp::login(server.addr());
    let port_arg = |a: &str, p: u16| format!("PORT {},{},{}", a.replace('.', ","), p >> 8, p & 255);
    for cmd in [
        port_arg("127.0.0.2", vport),
        format!("EPRT |1|127.0.0.2|{vport}|"),
        port_arg("192.0.2.7", 50000),
        port_arg("127.0.0.1", 21),
        port_arg("127.0.0.1", 1023),
        "EPRT |1|127.0.0.1|22|".into(),
        "EPRT |2|::1|2121|".into(),
    ] {
        let (code, text) = ftp.cmd(&cmd);
        assert_eq!(code / 100, 5, "{cmd} must be refused, got {text}");
        // Nothing was set up: a transfer now has no data channel.
        assert_eq!(ftp.cmd("RETR small.bin").0, 425, "after {cmd}");
    }
    assert!(
        matches!(victim.accept(), Err(e) if e.kind() == std::io::ErrorKind::WouldBlock),
        "the server connected to the third party"
    );
    // Active mode to the client's own address and an unprivileged port works.
    let own = TcpListener::bind("127.0.0.1:0").unwrap();
    let oport = own.local_addr().unwrap().port();
    assert_eq!(ftp.cmd(&port_arg("127.0.0.1", oport)).0, 200);
    assert_eq!(ftp.cmd("RETR small.bin").0, 150);
    let (mut data, _) = own.accept().unwrap();
    let mut got = Vec::new();
    data.read_to_end(&mut got).unwrap();
    assert_eq!(got.len(), SMALL);
    assert_eq!(ftp.reply().0, 226);
    still_serves(&server, root.path());
}

#[test]
fn passive_port_stealing_from_another_address_is_refused() {
    let root = tree();
    let server = Server::start(&serve_args(
        root.path(),
        &["--data-timeout", "2", "--passive-timeout", "2"],
    ));
    let mut ftp = RawFtp::login(server.addr());
    // The thief connects before the rightful client; the rightful client still wins.
    let (code, text) = ftp.cmd("EPSV");
    assert_eq!(code, 229);
    let port = epsv_port(&text);
    let target = SocketAddr::new(ip("127.0.0.1"), port);
    let mut thief = connect_from(ip("127.0.0.2"), target);
    let mut rightful = TcpStream::connect(target).unwrap();
    assert_eq!(ftp.cmd("RETR small.bin").0, 150);
    let mut got = Vec::new();
    rightful.read_to_end(&mut got).unwrap();
    assert_eq!(ftp.reply().0, 226);
    assert_eq!(got, std::fs::read(root.path().join("small.bin")).unwrap());
    thief
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut stolen = Vec::new();
    let _ = thief.read_to_end(&mut stolen);
    assert!(stolen.is_empty(), "the thief got {} bytes", stolen.len());
    // Only a thief connects: no data leaks, the transfer fails after the passive
    // timeout (150 comes only once the rightful connection is there).
    let port = ftp.pasv().unwrap();
    let mut thief = connect_from(ip("127.0.0.2"), SocketAddr::new(ip("127.0.0.1"), port));
    ftp.set_timeout(Duration::from_secs(15));
    let started = Instant::now();
    let (code, text) = ftp.cmd("RETR small.bin");
    assert!(code == 425 || code == 426, "{text}");
    assert!(started.elapsed() >= Duration::from_millis(1500), "{text}");
    thief
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut stolen = Vec::new();
    let _ = thief.read_to_end(&mut stolen);
    assert!(stolen.is_empty());
    assert_eq!(ftp.cmd("NOOP").0, 200);
    still_serves(&server, root.path());
}

#[test]
fn a_parked_passive_listener_serves_the_next_pasv_and_drops_earlier_connections() {
    let root = tree();
    let server = Server::start(&serve_args(
        root.path(),
        &["--workers", "1", "--passive-ports", &private_port_range(8)],
    ));
    let want = std::fs::read(root.path().join("small.bin")).unwrap();
    let fetch = |ftp: &mut RawFtp, port: u16| {
        let mut data = TcpStream::connect(SocketAddr::new(ip("127.0.0.1"), port)).unwrap();
        assert_eq!(ftp.cmd("RETR small.bin").0, 150);
        let mut got = Vec::new();
        data.read_to_end(&mut got).unwrap();
        assert_eq!(ftp.reply().0, 226);
        assert_eq!(got, want);
    };
    let mut first = RawFtp::login(server.addr());
    let port = first.pasv().unwrap();
    fetch(&mut first, port);
    assert_eq!(first.cmd("QUIT").0, 221);
    // The port's listener stays open for the next PASV. A connection made now (from
    // the same address, so only the timing tells it apart) waits in its backlog.
    let early_target = SocketAddr::new(ip("127.0.0.1"), port);
    assert!(
        wait_until(Duration::from_secs(10), || server.passive_listener_count()
            == 1),
        "the data connection's listener was not kept open"
    );
    let mut early = TcpStream::connect(early_target).expect("connect to the parked port");
    // The next session gets the same port, and the early connection is closed before
    // the reply, never handed the file.
    let mut second = RawFtp::login(server.addr());
    assert_eq!(
        second.pasv().unwrap(),
        port,
        "the parked listener was not reused"
    );
    early
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut stolen = Vec::new();
    let _ = early.read_to_end(&mut stolen);
    assert!(
        stolen.is_empty(),
        "an early connection got {} bytes",
        stolen.len()
    );
    fetch(&mut second, port);
    assert_eq!(second.cmd("QUIT").0, 221);
    still_serves(&server, root.path());
}

#[test]
fn traversal_and_symlink_escapes_are_refused() {
    let root = tree();
    let r = root.path();
    std::os::unix::fs::symlink("/etc", r.join("etc-link")).unwrap();
    std::os::unix::fs::symlink("/etc/passwd", r.join("passwd-link")).unwrap();
    std::os::unix::fs::symlink("../../../../../../../etc", r.join("rel-escape")).unwrap();
    std::os::unix::fs::symlink("small.bin", r.join("inner-link")).unwrap();
    std::fs::create_dir(r.join("sub")).unwrap();
    let server = Server::start(&serve_args(r, &[]));
    let mut ftp = RawFtp::login(server.addr());
    for cmd in [
        "SIZE etc-link/passwd",
        "SIZE passwd-link",
        "SIZE rel-escape/passwd",
        "SIZE ../../etc/passwd",
        "SIZE sub/../../../etc/passwd",
        "MDTM passwd-link",
        "MLST passwd-link",
        "MLST etc-link",
        "CWD etc-link",
        "CWD rel-escape",
        "CWD sub/../../etc",
        "STAT etc-link",
        "STAT passwd-link",
    ] {
        let (code, text) = ftp.cmd(cmd);
        assert_eq!(code, 550, "{cmd} must be refused: {text}");
        assert!(!text.contains("root:"), "{cmd} leaked /etc/passwd: {text}");
    }
    // The working directory never left the root.
    assert!(ftp.cmd("PWD").1.contains("\"/\""));
    // Transfers through an escape: refused before any data moves.
    for cmd in [
        "RETR etc-link/passwd",
        "RETR passwd-link",
        "RETR rel-escape/passwd",
        "RETR ../../../etc/passwd",
        "RETR /../etc/passwd",
        "LIST etc-link",
        "NLST rel-escape",
        "MLSD etc-link",
        "LIST etc-link/",
    ] {
        let data = ftp.epsv_connect();
        let (code, text) = ftp.cmd(cmd);
        assert_eq!(code, 550, "{cmd} must be refused: {text}");
        assert_nothing_sent(&data, cmd);
    }
    // A LIST of the root shows the links but never follows the escaping ones.
    let mut data = ftp.epsv_connect();
    assert_eq!(ftp.cmd("LIST -la").0, 150);
    let mut listing = String::new();
    data.read_to_string(&mut listing).unwrap();
    assert_eq!(ftp.reply().0, 226);
    assert!(!listing.contains("passwd "), "{listing}");
    // Symlinks that stay inside the root work.
    let mut data = ftp.epsv_connect();
    assert_eq!(ftp.cmd("RETR inner-link").0, 150);
    let mut got = Vec::new();
    data.read_to_end(&mut got).unwrap();
    assert_eq!(ftp.reply().0, 226);
    assert_eq!(got.len(), SMALL);
    still_serves(&server, r);
}

#[test]
fn nul_and_line_breaks_in_paths_are_harmless() {
    let root = tree();
    let r = root.path();
    std::fs::write(r.join("a"), b"file a").unwrap();
    std::fs::create_dir(r.join("cr\rdir")).unwrap();
    // A name that would forge a reply line if it reached the control connection raw.
    std::fs::write(r.join("x\r\n226 Transfer complete"), b"").unwrap();
    std::fs::write(r.join("y\n230 Login successful"), b"").unwrap();
    let server = Server::start(&serve_args(r, &[]));
    let mut ftp = RawFtp::login(server.addr());
    // NUL inside a path: refused, never truncated to "a".
    let data = ftp.epsv_connect();
    ftp.send_raw(b"RETR a\0b\r\n");
    let (code, text) = ftp.reply();
    assert!(code == 501 || code == 550, "RETR a<NUL>b: {text}");
    assert_nothing_sent(&data, "RETR a<NUL>b");
    ftp.send_raw(b"SIZE small.bin\0/../../../etc/passwd\r\n");
    let (code, text) = ftp.reply();
    assert!(code == 501 || code == 550, "SIZE with NUL: {text}");
    ftp.send_raw(b"CWD \0\r\n");
    assert_eq!(ftp.reply().0 / 100, 5);
    // A bare LF ends a command: one line becomes two commands, each answered once.
    ftp.send_raw(b"SIZE small.bin\nSIZE a\r\n");
    assert_eq!(ftp.reply().0, 213);
    assert_eq!(ftp.reply(), (213, "213 6\r\n".into()));
    // A CR inside an argument is refused (it cannot be told from a line break).
    ftp.send_raw(b"CWD cr\rdir\r\n");
    assert_eq!(ftp.reply().0, 501);
    assert!(ftp.cmd("PWD").1.contains("\"/\""));
    // Names with CR/LF listed over the control connection cannot forge replies.
    let (code, text) = ftp.cmd("STAT .");
    assert_eq!(code, 213, "{text}");
    for line in text.lines().skip(1) {
        assert!(
            !line.starts_with("226") && !line.starts_with("230"),
            "forged reply line {line:?} in {text:?}"
        );
    }
    // The reply stream is still in step.
    assert_eq!(ftp.cmd("NOOP").0, 200);
    assert_eq!(ftp.cmd("SIZE small.bin"), (213, format!("213 {SMALL}\r\n")));
    still_serves(&server, r);
}

#[test]
fn megabyte_lines_are_refused_without_growing_memory() {
    let root = tree();
    let server = Server::start(&serve_args(root.path(), &["--workers", "1"]));
    still_serves(&server, root.path());
    let mut sessions: Vec<RawFtp> = (0..8).map(|_| RawFtp::login(server.addr())).collect();
    let rss_before = server.rss_kib();
    // Reset the peak-RSS mark (VmHWM) so the peak during the attack is visible.
    let peak_reset = std::fs::write(format!("/proc/{}/clear_refs", server.pid()), "5").is_ok();
    let line = vec![b'A'; 1 << 20];
    std::thread::scope(|s| {
        for ftp in sessions.iter_mut() {
            let line = &line;
            s.spawn(move || {
                ftp.send_raw(line);
                // Still no newline: the session must keep working afterwards.
                ftp.send_raw(b"\r\n");
                assert_eq!(ftp.reply().0, 500);
                assert_eq!(ftp.cmd("NOOP").0, 200);
            });
        }
    });
    let peak = std::fs::read_to_string(format!("/proc/{}/status", server.pid()))
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .unwrap();
    let rss_after = server.rss_kib();
    // 8 MiB of line data arrived; buffering it would show as MiBs of growth.
    assert!(
        !peak_reset || peak < rss_before + 3 * 1024,
        "peak RSS {peak} KiB vs {rss_before} KiB before: the long lines were buffered"
    );
    assert!(
        rss_after < rss_before + 2 * 1024,
        "RSS grew from {rss_before} KiB to {rss_after} KiB"
    );
    for ftp in sessions.iter_mut() {
        assert_eq!(ftp.cmd("PWD").0, 257);
    }
    still_serves(&server, root.path());
}

#[test]
fn a_pasv_flood_holds_at_most_one_port_per_session() {
    let root = tree();
    let server = Server::start(&serve_args(
        root.path(),
        &["--workers", "1", "--passive-ports", &private_port_range(4)],
    ));
    still_serves(&server, root.path());
    let baseline = server.stable_fd_count();
    let mut flooder = RawFtp::login(server.addr());
    for i in 0..300 {
        let cmd = if i % 2 == 0 { "PASV" } else { "EPSV" };
        let (code, text) = flooder.cmd(cmd);
        assert!(
            code == 227 || code == 229,
            "{cmd} #{i} failed: each new PASV must release the previous port: {text}"
        );
    }
    // One session, one listener: the replaced listeners were closed.
    let during = server.fd_count();
    assert!(
        during <= baseline + 4,
        "after 300 PASVs the server holds {during} fds (baseline {baseline}): {:?}",
        server.fd_targets()
    );
    // The flooder holds one port; the three others serve other sessions.
    let mut others: Vec<RawFtp> = (0..3)
        .map(|i| {
            let mut f = RawFtp::login(server.addr());
            assert!(f.pasv().is_ok(), "session {i} found no passive port");
            f
        })
        .collect();
    let mut late = RawFtp::login(server.addr());
    assert_eq!(late.pasv().unwrap_err().0, 425, "the slice is full now");
    // Ports come back when their sessions go.
    assert_eq!(flooder.cmd("QUIT").0, 221);
    let mut port = None;
    wait_until(Duration::from_secs(5), || {
        port = late.pasv().ok();
        port.is_some()
    });
    let port = port.expect("a released port is leased again");
    let mut data = TcpStream::connect(("127.0.0.1", port)).unwrap();
    assert_eq!(late.cmd("RETR small.bin").0, 150);
    let mut got = Vec::new();
    data.read_to_end(&mut got).unwrap();
    assert_eq!(late.reply().0, 226);
    assert_eq!(got.len(), SMALL);
    for f in others.iter_mut() {
        assert_eq!(f.cmd("QUIT").0, 221);
    }
    drop(others);
    drop(late);
    assert_fds_back(&server, baseline);
    still_serves(&server, root.path());
}

/// Soft and hard open-file limits of this process.
fn nofile_limits() -> (u64, u64) {
    let limits = std::fs::read_to_string("/proc/self/limits").unwrap();
    let line = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .unwrap();
    let mut n = line
        .split_whitespace()
        .skip(3)
        .map(|v| v.parse().unwrap_or(u64::MAX));
    (n.next().unwrap(), n.next().unwrap())
}

/// Make room for `needed` open files in this test process (soft limit up to the hard one).
fn ensure_open_files(needed: u64) {
    let (soft, hard) = nofile_limits();
    if soft >= needed {
        return;
    }
    let hard_text = if hard == u64::MAX {
        "unlimited".to_string()
    } else {
        hard.to_string()
    };
    let _ = Command::new("prlimit")
        .arg("--pid")
        .arg(std::process::id().to_string())
        .arg(format!("--nofile={hard_text}:{hard_text}"))
        .status();
    let (soft, _) = nofile_limits();
    assert!(
        soft >= needed,
        "this test needs {needed} open files; the limit is {soft} (raise `ulimit -n`)"
    );
}

#[test]
fn a_thousand_connections_that_never_log_in_are_closed_by_the_idle_timeout() {
    // The other tests of this binary run alongside and hold a few hundred more.
    ensure_open_files(2000);
    let root = tree();
    let server = Server::start(&serve_args(root.path(), &["--idle-timeout", "2"]));
    still_serves(&server, root.path());
    let baseline = server.stable_fd_count();
    let mut idle: Vec<RawFtp> = (0..1000)
        .map(|i| {
            let (ftp, (code, text)) = RawFtp::connect(server.addr());
            assert_eq!(code, 220, "connection {i}: {text}");
            ftp
        })
        .collect();
    assert!(
        server.fd_count() >= baseline + 500,
        "the server does not hold the idle connections ({} fds)",
        server.fd_count()
    );
    // The server keeps serving while they sit there.
    still_serves(&server, root.path());
    // Each is closed with 421 after the idle timeout.
    for (i, ftp) in idle.iter_mut().enumerate() {
        ftp.set_timeout(Duration::from_secs(15));
        let reply = ftp.try_reply();
        assert!(
            matches!(&reply, Some((421, _))),
            "connection {i}: {reply:?}"
        );
        assert!(ftp.is_closed(), "connection {i} left open");
    }
    drop(idle);
    assert_fds_back(&server, baseline);
    still_serves(&server, root.path());
}

// ---------------------------------------------------------------------------
// Faults
// ---------------------------------------------------------------------------

/// Unmounts (lazily) when dropped.
struct Mount(PathBuf);

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

fn mount_tmpfs(dir: &Path, options: &str) -> Option<Mount> {
    let ok = Command::new("mount")
        .args(["-t", "tmpfs", "-o", options, "tmpfs"])
        .arg(dir)
        .stderr(std::process::Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    ok.then(|| Mount(dir.to_path_buf()))
}

/// STOR `len` bytes; returns the final reply.
fn stor(ftp: &mut RawFtp, name: &str, len: usize) -> (u16, String) {
    let mut data = ftp.epsv_connect();
    let (code, text) = ftp.cmd(&format!("STOR {name}"));
    if code != 150 {
        return (code, text);
    }
    let chunk = vec![0x5au8; 64 * 1024];
    let mut left = len;
    while left > 0 {
        let n = left.min(chunk.len());
        // The server may close the data connection early (that is the point).
        if data.write_all(&chunk[..n]).is_err() {
            break;
        }
        left -= n;
    }
    drop(data);
    ftp.reply()
}

fn names_in(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

#[test]
fn stor_on_a_full_disk_replies_452_and_leaves_no_file() {
    let root = tree();
    let full = root.path().join("full");
    std::fs::create_dir(&full).unwrap();
    // A real full filesystem (1 MiB tmpfs) where mounting is allowed (root);
    // otherwise a 1 MiB file-size limit on the server (EFBIG, SIGXFSZ ignored).
    let mount = mount_tmpfs(&full, "size=1m,mode=0777");
    let launch = match mount {
        Some(_) => Launch::default(),
        None => {
            eprintln!("cannot mount a tmpfs here; simulating a full disk with RLIMIT_FSIZE");
            Launch {
                shell_prelude: Some("trap '' XFSZ; ulimit -f 2048".into()),
                ..Launch::default()
            }
        }
    };
    let server = Server::launch(
        &serve_args(root.path(), &["--anonymous-write", "--workers", "1"]),
        &launch,
    );
    let baseline = warm_baseline(&server, root.path());
    let mut ftp = RawFtp::login(server.addr());
    let (code, text) = stor(&mut ftp, "full/big.bin", 4 << 20);
    assert!(
        code == 452 || code == 451 || code == 552,
        "STOR on a full disk: {text}"
    );
    assert_ne!(code, 226);
    assert_eq!(code, 452, "ENOSPC/EFBIG should map to 452: {text}");
    // No partial file under its name nor a temporary one.
    assert!(
        names_in(&full).is_empty(),
        "left behind: {:?}",
        names_in(&full)
    );
    assert_eq!(ftp.cmd("SIZE full/big.bin").0, 550);
    // The space came back: a small upload fits and lands whole.
    assert_eq!(stor(&mut ftp, "full/small.bin", 100_000).0, 226);
    assert_eq!(names_in(&full), vec!["small.bin".to_string()]);
    assert_eq!(
        std::fs::metadata(full.join("small.bin")).unwrap().len(),
        100_000
    );
    assert_eq!(ftp.cmd("QUIT").0, 221);
    drop(ftp);
    // The failed upload's file and socket are closed.
    assert_fds_back(&server, baseline);
    still_serves(&server, root.path());
    drop(server);
    drop(mount);
}

/// Makes a folder unwritable even for root; undone on drop.
enum ReadOnly {
    Immutable(PathBuf),
    Mounted { _mount: Mount },
    Mode(PathBuf),
}

impl Drop for ReadOnly {
    fn drop(&mut self) {
        match self {
            ReadOnly::Immutable(p) => {
                let _ = Command::new("chattr").arg("-i").arg(&*p).status();
            }
            ReadOnly::Mounted { .. } => {}
            ReadOnly::Mode(p) => {
                use std::os::unix::fs::PermissionsExt;
                let _ = std::fs::set_permissions(&*p, std::fs::Permissions::from_mode(0o755));
            }
        }
    }
}

fn make_read_only(dir: &Path) -> ReadOnly {
    use std::os::unix::fs::PermissionsExt;
    if !is_root() {
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o555)).unwrap();
        return ReadOnly::Mode(dir.to_path_buf());
    }
    // Root ignores permission bits: use the immutable attribute, or a read-only mount.
    let immutable = Command::new("chattr")
        .arg("+i")
        .arg(dir)
        .stderr(std::process::Stdio::null())
        .status()
        .map(|s| s.success())
        .unwrap_or(false);
    if immutable {
        return ReadOnly::Immutable(dir.to_path_buf());
    }
    match mount_tmpfs(dir, "ro,size=64k") {
        Some(m) => ReadOnly::Mounted { _mount: m },
        None => panic!(
            "as root, neither `chattr +i` nor a read-only tmpfs mount works on {}",
            dir.display()
        ),
    }
}

#[test]
fn stor_where_the_server_cannot_write_replies_550() {
    let root = tree();
    let locked = root.path().join("locked");
    std::fs::create_dir(&locked).unwrap();
    std::fs::write(root.path().join("plain.txt"), b"not a folder").unwrap();
    let guard = make_read_only(&locked);
    let server = Server::start(&serve_args(root.path(), &["--anonymous-write"]));
    let mut ftp = RawFtp::login(server.addr());
    for target in ["locked/new.bin", "plain.txt/child.bin", "missing/new.bin"] {
        let (code, text) = stor(&mut ftp, target, 10_000);
        assert_eq!(code, 550, "STOR {target}: {text}");
    }
    assert!(names_in(&locked).is_empty(), "{:?}", names_in(&locked));
    assert_eq!(ftp.cmd("MKD locked/sub").0, 550);
    assert_eq!(ftp.cmd("NOOP").0, 200);
    // Writable places still work.
    assert_eq!(stor(&mut ftp, "ok.bin", 10_000).0, 226);
    still_serves(&server, root.path());
    drop(server);
    drop(guard);
}

/// Read a RETR to its end (or an error), comparing against `expected` as it comes.
fn read_and_compare(data: &mut TcpStream, expected: &[u8], mut pos: usize) -> usize {
    let mut buf = vec![0u8; 256 * 1024];
    loop {
        match data.read(&mut buf) {
            Ok(0) | Err(_) => return pos,
            Ok(n) => {
                assert!(pos + n <= expected.len(), "more bytes than the file had");
                assert!(
                    buf[..n] == expected[pos..pos + n],
                    "wrong bytes at offset {pos}"
                );
                pos += n;
            }
        }
    }
}

#[test]
fn a_file_truncated_while_it_is_sent_fails_the_transfer() {
    let root = tree();
    let path = root.path().join("shrinking.bin");
    write_pattern(&path, 32 << 20);
    let original = std::fs::read(&path).unwrap();
    let server = Server::start(&serve_args(
        root.path(),
        &["--data-timeout", "5", "--workers", "1"],
    ));
    let baseline = warm_baseline(&server, root.path());
    let mut ftp = RawFtp::login(server.addr());
    let mut data = ftp.epsv_connect();
    data.set_read_timeout(Some(Duration::from_secs(15)))
        .unwrap();
    assert_eq!(ftp.cmd("RETR shrinking.bin").0, 150);
    let mut head = vec![0u8; 1 << 20];
    data.read_exact(&mut head).unwrap();
    assert!(head[..] == original[..1 << 20]);
    std::fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .unwrap()
        .set_len(16 << 20)
        .unwrap();
    let got = read_and_compare(&mut data, &original, 1 << 20);
    ftp.set_timeout(Duration::from_secs(15));
    let (code, text) = ftp.reply();
    assert!(
        code == 451 || code == 426,
        "a file that shrank mid-transfer must fail, got {text} after {got} bytes"
    );
    assert!(got < original.len());
    assert_eq!(ftp.cmd("NOOP").0, 200);
    assert_eq!(ftp.cmd("QUIT").0, 221);
    drop((ftp, data));
    assert_fds_back(&server, baseline);
    still_serves(&server, root.path());
}

#[test]
fn a_file_deleted_while_it_is_sent_is_sent_whole() {
    let root = tree();
    let path = root.path().join("vanishing.bin");
    write_pattern(&path, 8 << 20);
    let original = std::fs::read(&path).unwrap();
    let server = Server::start(&serve_args(root.path(), &[]));
    let mut ftp = RawFtp::login(server.addr());
    let mut data = ftp.epsv_connect();
    assert_eq!(ftp.cmd("RETR vanishing.bin").0, 150);
    let mut head = vec![0u8; 1 << 20];
    data.read_exact(&mut head).unwrap();
    std::fs::remove_file(&path).unwrap();
    // The open file keeps its data: the transfer finishes with the original bytes.
    let got = read_and_compare(&mut data, &original, 1 << 20);
    assert_eq!(got, original.len());
    assert_eq!(ftp.reply().0, 226);
    assert_eq!(ftp.cmd("SIZE vanishing.bin").0, 550);
    still_serves(&server, root.path());
}

fn reset(stream: TcpStream) {
    socket2::SockRef::from(&stream)
        .set_linger(Some(Duration::ZERO))
        .unwrap();
    drop(stream);
}

#[test]
fn a_client_reset_mid_transfer_is_cleaned_up() {
    let root = tree();
    let server = Server::start(&serve_args(
        root.path(),
        &["--workers", "1", "--anonymous-write"],
    ));
    let baseline = warm_baseline(&server, root.path());
    // Download: RST after a little data.
    let mut ftp = RawFtp::login(server.addr());
    let mut data = ftp.epsv_connect();
    assert_eq!(ftp.cmd("RETR large.bin").0, 150);
    let mut buf = vec![0u8; 256 * 1024];
    data.read_exact(&mut buf).unwrap();
    reset(data);
    let (code, text) = ftp.reply();
    assert!(code == 426 || code == 451, "{text}");
    assert_eq!(ftp.cmd("NOOP").0, 200);
    // Upload: RST after a little data; nothing is left under any name.
    let mut data = ftp.epsv_connect();
    assert_eq!(ftp.cmd("STOR upload.bin").0, 150);
    data.write_all(&vec![7u8; 256 * 1024]).unwrap();
    reset(data);
    let (code, text) = ftp.reply();
    assert!(code == 426 || code == 451, "{text}");
    let leftovers: Vec<String> = names_in(root.path())
        .into_iter()
        .filter(|n| n.contains("upload"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
    assert_eq!(ftp.cmd("QUIT").0, 221);
    drop(ftp);
    assert_fds_back(&server, baseline);
    still_serves(&server, root.path());
}

#[test]
fn a_busy_worker_still_answers_a_new_session_quickly() {
    let root = tree();
    let server = Server::start(&serve_args(
        root.path(),
        &["--workers", "1", "--passive-ports", &private_port_range(32)],
    ));
    let stop = Arc::new(AtomicBool::new(false));
    let flowing = Arc::new(AtomicUsize::new(0));
    let finished = Arc::new(AtomicUsize::new(0));
    let addr = server.addr();
    let readers: Vec<_> = (0..20)
        .map(|_| {
            let stop = stop.clone();
            let flowing = flowing.clone();
            let finished = finished.clone();
            std::thread::spawn(move || {
                let mut ftp = RawFtp::login(addr);
                let mut data = ftp.epsv_connect();
                assert_eq!(ftp.cmd("RETR large.bin").0, 150);
                data.set_read_timeout(Some(Duration::from_secs(10)))
                    .unwrap();
                let mut buf = vec![0u8; 64 * 1024];
                let mut total = 0usize;
                let mut counted = false;
                while !stop.load(Ordering::Relaxed) {
                    let n = data.read(&mut buf).expect("download stalled");
                    if n == 0 {
                        finished.fetch_add(1, Ordering::Relaxed);
                        break;
                    }
                    total += n;
                    if !counted && total >= 1 << 20 {
                        counted = true;
                        flowing.fetch_add(1, Ordering::Relaxed);
                    }
                    // A steady reader (about 13 MB/s): 48 MiB outlast the probes.
                    std::thread::sleep(Duration::from_millis(5));
                }
                drop(data);
                let _ = ftp.try_reply();
            })
        })
        .collect();
    let all_flowing = wait_until(Duration::from_secs(20), || {
        flowing.load(Ordering::Relaxed) == 20
    });
    assert!(
        all_flowing,
        "only {} downloads got going",
        flowing.load(Ordering::Relaxed)
    );
    // Several new sessions over a second or so, each while all 20 downloads run.
    for probe in 0..5 {
        let started = Instant::now();
        let mut ftp = RawFtp::login(server.addr());
        assert_eq!(ftp.cmd("NOOP").0, 200);
        let took = started.elapsed();
        assert!(
            took < Duration::from_secs(3),
            "probe {probe}: a new session took {took:?} to log in and NOOP next to 20 downloads"
        );
        still_serves(&server, root.path());
        // Spread the probes over the downloads' lifetime.
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(
        finished.load(Ordering::Relaxed),
        0,
        "the downloads must still run during the probes"
    );
    stop.store(true, Ordering::Relaxed);
    for r in readers {
        r.join().expect("reader thread");
    }
    still_serves(&server, root.path());
}
