//! Operations: Prometheus metrics, SIGHUP reload of the config file, and the
//! graceful drain on SIGTERM.

use std::io::Read;
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::path::Path;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ringftp_tests::{
    connect_from, http_get, metric, metric_sum, private_port_range, signal, wait_until,
    write_pattern, Launch, RawFtp, Server,
};

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn tree() -> tempfile::TempDir {
    let root = tempfile::tempdir().unwrap();
    write_pattern(&root.path().join("small.bin"), 1000);
    // Above the small-file limit (64 KiB): moved with splice.
    write_pattern(&root.path().join("data.bin"), 1 << 20);
    root
}

fn epsv_port(text: &str) -> u16 {
    text.split("|||")
        .nth(1)
        .and_then(|s| s.split('|').next())
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("bad EPSV reply {text:?}"))
}

/// RETR `name` over EPSV; returns the bytes.
fn retr(ftp: &mut RawFtp, name: &str) -> Vec<u8> {
    let mut data = ftp.epsv_connect();
    assert_eq!(ftp.cmd(&format!("RETR {name}")).0, 150);
    let mut got = Vec::new();
    data.read_to_end(&mut got).unwrap();
    assert_eq!(ftp.reply().0, 226);
    got
}

fn still_serves(server: &Server, root: &Path) {
    let mut ftp = RawFtp::login(server.addr());
    assert_eq!(
        retr(&mut ftp, "small.bin"),
        std::fs::read(root.join("small.bin")).unwrap()
    );
    assert_eq!(ftp.cmd("QUIT").0, 221);
}

/// `serve ROOT --config FILE` plus loopback listen, private passive ports and `extra`.
fn args(root: &Path, conf: &Path, extra: &[&str]) -> Vec<String> {
    let mut a: Vec<String> = vec![
        "serve".into(),
        root.display().to_string(),
        "--config".into(),
        conf.display().to_string(),
        "--listen".into(),
        "127.0.0.1:0".into(),
    ];
    if !extra.contains(&"--passive-ports") {
        a.extend(["--passive-ports".into(), private_port_range(16)]);
    }
    a.extend(extra.iter().map(|s| s.to_string()));
    a
}

// ---------------------------------------------------------------------------
// Metrics
// ---------------------------------------------------------------------------

#[test]
fn metrics_count_sessions_bytes_ports_and_errors() {
    let root = tree();
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("ringftpd.toml");
    std::fs::write(&conf, "[limits]\nlogin_failure_delay_ms = 10\n").unwrap();
    let mut server = Server::start(&args(
        root.path(),
        &conf,
        &[
            "--workers",
            "1",
            "--metrics",
            "127.0.0.1:0",
            "--max-sessions-per-ip",
            "2",
            "--passive-ports",
            &private_port_range(4),
        ],
    ));
    let metrics = server.metrics_addr();
    let scrape = || {
        let (status, body) = http_get(metrics, "/metrics");
        assert_eq!(status, 200);
        body
    };
    assert_eq!(http_get(metrics, "/elsewhere").0, 404);
    let m0 = scrape();
    let core0 = [("core", "0")];
    let get = |text: &str, name: &str, labels: &[(&str, &str)]| {
        metric(text, name, labels).unwrap_or_else(|| panic!("no {name}{labels:?} in:\n{text}"))
    };
    assert_eq!(get(&m0, "ringftpd_passive_ports", &core0), 4.0);
    assert_eq!(get(&m0, "ringftpd_passive_ports_in_use", &core0), 0.0);
    let sessions0 = get(&m0, "ringftpd_sessions_total", &core0);
    let out0 = get(
        &m0,
        "ringftpd_bytes_total",
        &[("core", "0"), ("direction", "out")],
    );
    let transfers0 = get(
        &m0,
        "ringftpd_transfers_total",
        &[("core", "0"), ("direction", "out")],
    );
    let errors0 = |code: &str| metric_sum(&m0, "ringftpd_error_replies_total", &[("code", code)]);
    let (e550, e500, e530) = (errors0("550"), errors0("500"), errors0("530"));

    // One session: two downloads, a listing, a stolen-port attempt and errors.
    let mut ftp = RawFtp::login(server.addr());
    let m1 = scrape();
    assert_eq!(get(&m1, "ringftpd_sessions_open", &core0), 1.0);
    assert_eq!(get(&m1, "ringftpd_sessions_total", &core0), sessions0 + 1.0);
    assert_eq!(retr(&mut ftp, "data.bin").len(), 1 << 20);
    let (code, text) = ftp.cmd("EPSV");
    assert_eq!(code, 229);
    let target = SocketAddr::new(ip("127.0.0.1"), epsv_port(&text));
    let _thief = connect_from(ip("127.0.0.2"), target);
    let mut rightful = TcpStream::connect(target).unwrap();
    assert_eq!(ftp.cmd("RETR small.bin").0, 150);
    let mut got = Vec::new();
    rightful.read_to_end(&mut got).unwrap();
    assert_eq!(ftp.reply().0, 226);
    let mut data = ftp.epsv_connect();
    assert_eq!(ftp.cmd("LIST").0, 150);
    let mut listing = Vec::new();
    data.read_to_end(&mut listing).unwrap();
    assert_eq!(ftp.reply().0, 226);
    assert_eq!(ftp.cmd("SIZE missing.bin").0, 550);
    assert_eq!(ftp.cmd("RETR missing.bin").0, 550);
    let (bogus, _) = ftp.cmd("BOGUS");
    assert_eq!(bogus / 100, 5);
    // A failed login (530) on a second session.
    let (mut intruder, _) = RawFtp::connect(server.addr());
    assert_eq!(intruder.cmd("USER bob").0, 331);
    assert_eq!(intruder.cmd("PASS nope").0, 530);
    // A third session from the same address exceeds the per-address cap.
    let (_, (code, _)) = RawFtp::connect(server.addr());
    assert_eq!(code, 421);
    assert_eq!(ftp.cmd("QUIT").0, 221);
    drop(intruder);

    let mut last = String::new();
    let settled = wait_until(Duration::from_secs(5), || {
        last = scrape();
        metric(&last, "ringftpd_sessions_open", &core0) == Some(0.0)
            && metric(&last, "ringftpd_passive_ports_in_use", &core0) == Some(0.0)
    });
    assert!(settled, "sessions and ports not released:\n{last}");
    let m = last;
    assert_eq!(get(&m, "ringftpd_sessions_total", &core0), sessions0 + 2.0);
    assert_eq!(get(&m, "ringftpd_sessions_refused_total", &core0), 1.0);
    let out = get(
        &m,
        "ringftpd_bytes_total",
        &[("core", "0"), ("direction", "out")],
    );
    assert!(
        out >= out0 + f64::from(1 << 20) + 1000.0 + listing.len() as f64,
        "bytes out {out0} -> {out}"
    );
    assert_eq!(
        get(
            &m,
            "ringftpd_transfers_total",
            &[("core", "0"), ("direction", "out")]
        ),
        transfers0 + 2.0
    );
    assert_eq!(get(&m, "ringftpd_listings_total", &core0), 1.0);
    assert_eq!(
        get(&m, "ringftpd_passive_foreign_refused_total", &core0),
        1.0
    );
    assert_eq!(get(&m, "ringftpd_login_failures_total", &core0), 1.0);
    let errors = |code: &str| metric_sum(&m, "ringftpd_error_replies_total", &[("code", code)]);
    assert_eq!(errors("550"), e550 + 2.0, "{m}");
    assert_eq!(errors("530"), e530 + 1.0, "{m}");
    // 421 refusals and the unknown command's 5xx are counted by code too.
    assert!(errors("421") >= 1.0, "{m}");
    if bogus == 500 {
        assert_eq!(errors("500"), e500 + 1.0, "{m}");
    } else {
        assert!(errors(&bogus.to_string()) >= 1.0, "{m}");
    }
    assert!(m.contains("ringftpd_timeouts_total"));
    still_serves(&server, root.path());
}

// ---------------------------------------------------------------------------
// SIGHUP
// ---------------------------------------------------------------------------

fn config(root: &Path, banner: &str, per_ip: usize, extra: &str) -> String {
    format!(
        "root = {:?}\nbanner = {banner:?}\n{extra}\n[limits]\nmax_sessions_per_ip = {per_ip}\n",
        root.display().to_string()
    )
}

#[test]
fn sighup_reloads_banner_and_limits_and_refuses_a_bad_file() {
    let root = tree();
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("ringftpd.toml");
    let log = dir.path().join("stderr.log");
    std::fs::write(&conf, config(root.path(), "Before reload.", 0, "")).unwrap();
    let mut a: Vec<String> = vec![
        "--config".into(),
        conf.display().to_string(),
        "--listen".into(),
        "127.0.0.1:0".into(),
        "--passive-ports".into(),
        private_port_range(16),
    ];
    a.extend(["--workers".into(), "2".into()]);
    let server = Server::launch(
        &a,
        &Launch {
            stderr_file: Some(log.clone()),
            log: Some("warn".into()),
            ..Launch::default()
        },
    );
    let greeting = || RawFtp::connect(server.addr()).1;
    assert!(greeting().1.contains("Before reload."));
    let mut existing = RawFtp::login(server.addr());

    // A valid change: new banner, at most 2 sessions per address.
    std::fs::write(&conf, config(root.path(), "After reload.", 2, "")).unwrap();
    signal(server.pid(), "HUP");
    // The reload is asynchronous: reconnect (bounded) until the new banner shows.
    let mut seen = String::new();
    let reloaded = wait_until(Duration::from_secs(10), || {
        let (code, text) = greeting();
        seen = text;
        code == 220 && seen.contains("After reload.")
    });
    assert!(reloaded, "new sessions still see {seen:?}");
    // The session from before the reload goes on.
    assert_eq!(existing.cmd("NOOP").0, 200);
    assert_eq!(retr(&mut existing, "small.bin").len(), 1000);
    // The new cap: `existing` plus one more; the probes above close asynchronously.
    let mut second = None;
    wait_until(Duration::from_secs(5), || {
        let (ftp, (code, _)) = RawFtp::connect(server.addr());
        if code == 220 {
            second = Some(ftp);
        }
        second.is_some()
    });
    let second = second.expect("a second session under the new cap of 2");
    let (code, text) = greeting();
    assert_eq!(code, 421, "the third session must be refused: {text}");

    // An invalid file (unknown key) is refused: everything stays as it was.
    std::fs::write(
        &conf,
        config(root.path(), "Broken.", 0, "no_such_key = true"),
    )
    .unwrap();
    signal(server.pid(), "HUP");
    let mut stderr = String::new();
    let refused = wait_until(Duration::from_secs(10), || {
        stderr = std::fs::read_to_string(&log).unwrap_or_default();
        stderr.contains("reload refused")
    });
    assert!(refused, "no refusal logged; stderr:\n{stderr}");
    assert!(stderr.contains("no_such_key"), "{stderr}");
    assert_eq!(greeting().0, 421, "the cap of 2 still holds");
    drop(second);
    let mut text = String::new();
    wait_until(Duration::from_secs(5), || {
        let (code, t) = greeting();
        text = t;
        code == 220
    });
    assert!(text.contains("After reload."), "banner now {text:?}");
    assert!(!text.contains("Broken."));
    assert_eq!(existing.cmd("NOOP").0, 200);
    assert_eq!(existing.cmd("QUIT").0, 221);
    // Under the cap of 2 a normal client is served once the probes' slots are free.
    let mut ftp = None;
    wait_until(Duration::from_secs(5), || {
        let (f, (code, _)) = RawFtp::connect(server.addr());
        ftp = (code == 220).then_some(f);
        ftp.is_some()
    });
    let mut ftp = ftp.expect("a session slot within 5 s");
    assert_eq!(ftp.cmd("USER anonymous").0, 331);
    assert_eq!(ftp.cmd("PASS me@").0, 230);
    assert_eq!(retr(&mut ftp, "small.bin").len(), 1000);
}

// ---------------------------------------------------------------------------
// SIGTERM
// ---------------------------------------------------------------------------

const DRAIN_CLIENTS: usize = 50;
const DRAIN_SIZE: usize = 8 << 20;

#[test]
fn sigterm_lets_running_downloads_finish_then_exits_0() {
    let root = tree();
    write_pattern(&root.path().join("big.bin"), DRAIN_SIZE);
    let expected = Arc::new(std::fs::read(root.path().join("big.bin")).unwrap());
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("ringftpd.toml");
    std::fs::write(&conf, "[timeouts]\nshutdown_grace_secs = 20\n").unwrap();
    let server = Server::start(&args(
        root.path(),
        &conf,
        &["--passive-ports", &private_port_range(128)],
    ));
    let addr = server.addr();
    let started = Arc::new(AtomicUsize::new(0));
    let finished = Arc::new(AtomicUsize::new(0));
    let clients: Vec<_> = (0..DRAIN_CLIENTS)
        .map(|i| {
            let expected = expected.clone();
            let started = started.clone();
            let finished = finished.clone();
            std::thread::spawn(move || {
                let mut ftp = RawFtp::login(addr);
                let mut data = ftp.epsv_connect();
                assert_eq!(ftp.cmd("RETR big.bin").0, 150, "client {i}");
                data.set_read_timeout(Some(Duration::from_secs(20)))
                    .unwrap();
                let mut buf = vec![0u8; 64 * 1024];
                let mut pos = 0;
                let mut counted = false;
                loop {
                    let n = data.read(&mut buf).expect("download interrupted");
                    if n == 0 {
                        break;
                    }
                    assert!(
                        pos + n <= expected.len() && buf[..n] == expected[pos..pos + n],
                        "client {i}: wrong bytes at {pos}"
                    );
                    pos += n;
                    if !counted && pos >= 1 << 20 {
                        counted = true;
                        started.fetch_add(1, Ordering::Relaxed);
                    }
                    // A steady reader, about 6 MB/s: 8 MiB take over a second.
                    std::thread::sleep(Duration::from_millis(10));
                }
                let (code, text) = ftp.reply();
                finished.fetch_add(1, Ordering::Relaxed);
                (pos, code, text)
            })
        })
        .collect();
    let all_running = wait_until(Duration::from_secs(30), || {
        started.load(Ordering::Relaxed) == DRAIN_CLIENTS
    });
    assert!(
        all_running,
        "only {} downloads under way",
        started.load(Ordering::Relaxed)
    );
    signal(server.pid(), "TERM");
    let term_at = Instant::now();
    // New connections are refused once the signal is handled (bounded poll).
    let refused = wait_until(Duration::from_secs(5), || {
        let Ok(s) = TcpStream::connect(addr) else {
            return true;
        };
        let (_, (code, _)) = RawFtp::from_stream_or_closed(s);
        code != 220
    });
    assert!(refused, "new connections still served after SIGTERM");
    assert!(
        finished.load(Ordering::Relaxed) < DRAIN_CLIENTS,
        "the downloads ended before the drain could be observed"
    );
    for _ in 0..3 {
        if let Ok(s) = TcpStream::connect(addr) {
            let (_, (code, text)) = RawFtp::from_stream_or_closed(s);
            assert_ne!(code, 220, "served after SIGTERM: {text}");
        }
    }
    for (i, c) in clients.into_iter().enumerate() {
        let (bytes, code, text) = c.join().expect("client thread");
        assert_eq!(bytes, DRAIN_SIZE, "client {i} got {bytes} bytes");
        assert_eq!(code, 226, "client {i}: {text}");
    }
    let status = server
        .wait_exit(Duration::from_secs(25))
        .unwrap_or_else(|_| panic!("ringftpd still running 25 s after SIGTERM"));
    assert!(status.success(), "exit status {status}");
    assert!(
        term_at.elapsed() < Duration::from_secs(15),
        "the drain took {:?}, longer than the downloads",
        term_at.elapsed()
    );
}
