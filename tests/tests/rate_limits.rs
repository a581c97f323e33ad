//! Bandwidth caps end to end: per session, per client address and in total (across
//! both workers), downloads and uploads, anonymous and named users apart, and a SIGHUP
//! that changes a cap for the next transfer. Every transfer is compared byte for byte.
//!
//! Caps are asserted by lower bounds on the time a transfer takes (a cap that does not
//! hold makes loopback transfers finish in milliseconds); upper bounds are loose so a
//! slow machine cannot fail them. A bucket allows a burst of 50 ms at its cap, so a
//! transfer of N seconds' worth of bytes takes at least N - 0.05 s.

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use ringftp_tests::{
    binary, http_get, metric, metric_sum, private_port_range, require_tool, run_ok, signal,
    wait_until, write_pattern, Launch, RawFtp, Server,
};

const MIB: usize = 1 << 20;

/// Loose upper bound for any capped transfer here (none should need a tenth of it).
const AT_MOST: Duration = Duration::from_secs(120);

fn tree() -> tempfile::TempDir {
    let root = tempfile::tempdir().unwrap();
    write_pattern(&root.path().join("16m.bin"), 16 * MIB);
    write_pattern(&root.path().join("8m.bin"), 8 * MIB);
    write_pattern(&root.path().join("6m.bin"), 6 * MIB);
    write_pattern(&root.path().join("6k.bin"), 6 * 1024);
    root
}

/// `serve ROOT` on loopback with private passive ports, metrics on, and `extra`.
fn start(root: &Path, extra: &[&str]) -> (Server, SocketAddr) {
    let mut args: Vec<String> = vec![
        "serve".into(),
        root.display().to_string(),
        "--listen".into(),
        "127.0.0.1:0".into(),
        "--passive-ports".into(),
        private_port_range(16),
        "--metrics".into(),
        "127.0.0.1:0".into(),
    ];
    args.extend(extra.iter().map(|s| s.to_string()));
    let mut server = Server::launch(&args, &Launch::default());
    let metrics = server.metrics_addr();
    (server, metrics)
}

fn scrape(metrics: SocketAddr) -> String {
    let (status, body) = http_get(metrics, "/metrics");
    assert_eq!(status, 200);
    body
}

fn delayed_bytes(metrics: SocketAddr) -> f64 {
    metric_sum(&scrape(metrics), "ringftpd_rate_delayed_bytes_total", &[])
}

fn login(addr: SocketAddr, user: &str, pass: &str) -> RawFtp {
    let (mut ftp, (code, _)) = RawFtp::connect(addr);
    assert_eq!(code, 220);
    assert_eq!(ftp.cmd(&format!("USER {user}")).0, 331);
    assert_eq!(ftp.cmd(&format!("PASS {pass}")).0, 230);
    assert_eq!(ftp.cmd("TYPE I").0, 200);
    ftp
}

/// RETR over EPSV; the bytes and the time from RETR to the 226.
fn retr_timed(ftp: &mut RawFtp, name: &str) -> (Vec<u8>, Duration) {
    let mut data = ftp.epsv_connect();
    let started = Instant::now();
    assert_eq!(ftp.cmd(&format!("RETR {name}")).0, 150);
    let mut got = Vec::new();
    data.read_to_end(&mut got).unwrap();
    assert_eq!(ftp.reply().0, 226);
    (got, started.elapsed())
}

/// STOR over EPSV; the time from STOR to the 226 (the server has every byte then).
fn stor_timed(ftp: &mut RawFtp, name: &str, bytes: &[u8]) -> Duration {
    let mut data = ftp.epsv_connect();
    let started = Instant::now();
    assert_eq!(ftp.cmd(&format!("STOR {name}")).0, 150);
    data.write_all(bytes).unwrap();
    drop(data);
    assert_eq!(ftp.reply().0, 226);
    started.elapsed()
}

fn file(root: &Path, name: &str) -> Vec<u8> {
    std::fs::read(root.join(name)).unwrap()
}

/// Assert that `bytes` moved in `elapsed` did not beat `cap` bytes/s beyond the
/// 50 ms burst (with 2% for clocks), and took less than the loose upper bound.
fn assert_capped(what: &str, bytes: usize, elapsed: Duration, cap: usize) {
    let floor = (bytes as f64 / cap as f64 - 0.05) * 0.98;
    assert!(
        elapsed.as_secs_f64() >= floor,
        "{what}: {bytes} bytes in {elapsed:?} beat {cap} bytes/s (at least {floor:.2} s)"
    );
    assert!(elapsed < AT_MOST, "{what}: {elapsed:?}");
}

#[test]
fn session_cap_holds_a_curl_download_to_its_rate() {
    let curl = require_tool("curl");
    let root = tree();
    let (server, metrics) = start(root.path(), &["--session-rate", "4MiB"]);
    let out = tempfile::tempdir().unwrap();
    let target = out.path().join("16m.bin");
    let started = Instant::now();
    run_ok(
        Command::new(&curl)
            .args(["-s", "-S", "--max-time", "120", "-o"])
            .arg(&target)
            .arg(format!("ftp://{}/16m.bin", server.addr())),
    );
    let elapsed = started.elapsed();
    // The bound the cap promises: 16 MiB at 4 MiB/s is 4 s, less the burst.
    assert!(
        elapsed >= Duration::from_millis(3400),
        "16 MiB at --session-rate 4MiB took only {elapsed:?}"
    );
    assert!(elapsed < AT_MOST, "{elapsed:?}");
    assert!(std::fs::read(&target).unwrap() == file(root.path(), "16m.bin"));
    let m = scrape(metrics);
    let session = metric_sum(
        &m,
        "ringftpd_rate_delayed_bytes_total",
        &[("cap", "session")],
    );
    assert!(
        session > 0.0,
        "no bytes counted as delayed by the session cap:\n{m}"
    );
    assert_eq!(
        metric_sum(&m, "ringftpd_rate_delayed_bytes_total", &[("cap", "total")]),
        0.0
    );
}

#[test]
fn three_sessions_from_one_address_share_its_cap() {
    let root = tree();
    let (server, metrics) = start(root.path(), &["--ip-rate", "6MiB"]);
    let mut sessions: Vec<RawFtp> = (0..3)
        .map(|_| login(server.addr(), "anonymous", "me@"))
        .collect();
    let want = file(root.path(), "8m.bin");
    let started = Instant::now();
    let results: Vec<(Vec<u8>, Duration)> = std::thread::scope(|s| {
        let handles: Vec<_> = sessions
            .iter_mut()
            .map(|ftp| s.spawn(move || retr_timed(ftp, "8m.bin")))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let elapsed = started.elapsed();
    for (got, _) in &results {
        assert!(*got == want, "a download differs from the file");
    }
    // Together: 24 MiB at 6 MiB/s.
    assert_capped("3 sessions, one address", 3 * 8 * MIB, elapsed, 6 * MIB);
    // Each alone was far slower than the address cap: the cap was shared.
    for (_, took) in &results {
        assert_capped("one of 3 sessions", 8 * MIB, *took, 6 * MIB);
    }
    let address = metric_sum(
        &scrape(metrics),
        "ringftpd_rate_delayed_bytes_total",
        &[("cap", "address")],
    );
    assert!(address > 0.0);
}

/// Per-core open sessions from the metrics.
fn open_per_core(metrics: SocketAddr) -> [f64; 2] {
    let m = scrape(metrics);
    [0, 1].map(|core| {
        metric(&m, "ringftpd_sessions_open", &[("core", &core.to_string())]).unwrap_or(0.0)
    })
}

#[test]
fn total_cap_holds_across_both_workers() {
    let root = tree();
    let (server, metrics) = start(root.path(), &["--workers", "2", "--total-rate", "8MiB"]);
    // SO_REUSEPORT spreads sessions by hashing: open sessions until each worker has two
    // (the metrics tell which worker took each).
    let mut by_core: [Vec<RawFtp>; 2] = [Vec::new(), Vec::new()];
    let mut spare = Vec::new();
    for _ in 0..64 {
        if by_core.iter().all(|c| c.len() >= 2) {
            break;
        }
        let before = open_per_core(metrics);
        let ftp = login(server.addr(), "anonymous", "me@");
        let after = open_per_core(metrics);
        let core = if after[0] > before[0] { 0 } else { 1 };
        assert!(after[core] > before[core], "{before:?} -> {after:?}");
        if by_core[core].len() < 2 {
            by_core[core].push(ftp);
        } else {
            spare.push(ftp);
        }
    }
    assert!(
        by_core.iter().all(|c| c.len() == 2),
        "64 sessions did not reach both workers"
    );
    let bytes_out = |core: &str| {
        metric(
            &scrape(metrics),
            "ringftpd_bytes_total",
            &[("core", core), ("direction", "out")],
        )
        .unwrap_or(0.0)
    };
    let before = [bytes_out("0"), bytes_out("1")];
    let want = file(root.path(), "6m.bin");
    let [a, b] = &mut by_core;
    let started = Instant::now();
    let results: Vec<Vec<u8>> = std::thread::scope(|s| {
        let handles: Vec<_> = a
            .iter_mut()
            .chain(b.iter_mut())
            .map(|ftp| s.spawn(move || retr_timed(ftp, "6m.bin").0))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let elapsed = started.elapsed();
    for got in &results {
        assert!(*got == want, "a download differs from the file");
    }
    assert_capped("4 sessions on 2 workers", 4 * 6 * MIB, elapsed, 8 * MIB);
    // Both workers moved their two sessions' bytes under the one cap.
    for (core, before) in ["0", "1"].iter().zip(before) {
        let moved = bytes_out(core) - before;
        assert!(
            moved >= (2 * 6 * MIB) as f64,
            "core {core} moved {moved} bytes"
        );
    }
    drop(spare);
}

#[test]
fn uploads_are_capped_alike() {
    let root = tree();
    let (server, metrics) = start(
        root.path(),
        &["--anonymous-write", "--session-rate", "4MiB"],
    );
    let mut ftp = login(server.addr(), "anonymous", "me@");
    let body = file(root.path(), "16m.bin");
    let took = stor_timed(&mut ftp, "up.bin", &body);
    assert!(
        took >= Duration::from_millis(3400),
        "16 MiB upload at --session-rate 4MiB took only {took:?}"
    );
    assert!(took < AT_MOST);
    assert!(file(root.path(), "up.bin") == body, "upload differs");
    assert!(delayed_bytes(metrics) > 0.0);
}

/// A users file with `alice` (password `s3cret`), who may read and write.
fn users_file(dir: &Path) -> PathBuf {
    let hash = ringftp_tests::fixtures::hash_password("s3cret");
    let path = dir.join("users.toml");
    std::fs::write(
        &path,
        format!("[[user]]\nname = \"alice\"\npassword = \"{hash}\"\npermissions = [\"read\", \"write\"]\n"),
    )
    .unwrap();
    path
}

#[test]
fn anonymous_and_named_users_have_their_own_caps() {
    let root = tree();
    let dir = tempfile::tempdir().unwrap();
    let users = users_file(dir.path());
    let conf = dir.path().join("ringftpd.toml");
    // Anonymous downloads capped; named users download freely but push at 4 MiB/s.
    std::fs::write(
        &conf,
        format!(
            "users_file = {:?}\n[limits.anonymous]\nsession_rate = \"4MiB\"\n\
             [limits.users]\nsession_rate = {{ upload = \"4MiB\" }}\n",
            users.display().to_string()
        ),
    )
    .unwrap();
    let (server, metrics) = start(root.path(), &["--config", conf.to_str().unwrap()]);
    let want = file(root.path(), "16m.bin");

    let mut anon = login(server.addr(), "anonymous", "me@");
    let (got, took) = retr_timed(&mut anon, "16m.bin");
    assert!(got == want);
    assert!(
        took >= Duration::from_millis(3400),
        "anonymous 16 MiB at 4 MiB/s took only {took:?}"
    );

    let mut alice = login(server.addr(), "alice", "s3cret");
    let before = delayed_bytes(metrics);
    let (got, _) = retr_timed(&mut alice, "16m.bin");
    assert!(got == want);
    assert_eq!(
        delayed_bytes(metrics),
        before,
        "a named user's download waited for a cap"
    );
    let took = stor_timed(&mut alice, "pushed.bin", &want);
    assert!(
        took >= Duration::from_millis(3400),
        "named 16 MiB upload at 4 MiB/s took only {took:?}"
    );
    assert!(file(root.path(), "pushed.bin") == want);
    assert!(delayed_bytes(metrics) > before);
}

#[test]
fn sighup_changes_a_cap_for_the_next_transfer() {
    let root = tree();
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("ringftpd.toml");
    let write_conf = |banner: &str, rate: &str| {
        std::fs::write(
            &conf,
            format!("banner = {banner:?}\n[limits.anonymous]\nsession_rate = {rate:?}\n"),
        )
        .unwrap();
    };
    let reloaded = |server: &Server, banner: &str| {
        signal(server.pid(), "HUP");
        // The reload is asynchronous; the banner of new sessions tells when it happened.
        let ok = wait_until(Duration::from_secs(10), || {
            RawFtp::connect(server.addr()).1 .1.contains(banner)
        });
        assert!(ok, "reload to {banner:?} not seen");
    };
    write_conf("Uncapped.", "0");
    let (server, metrics) = start(root.path(), &["--config", conf.to_str().unwrap()]);
    let want = file(root.path(), "16m.bin");
    let mut ftp = login(server.addr(), "anonymous", "me@");

    let (got, _) = retr_timed(&mut ftp, "16m.bin");
    assert!(got == want);
    assert_eq!(delayed_bytes(metrics), 0.0, "no cap yet");

    write_conf("Capped.", "4MiB");
    reloaded(&server, "Capped.");
    // The same session's next transfer runs under the new cap.
    let (got, took) = retr_timed(&mut ftp, "16m.bin");
    assert!(got == want);
    assert!(
        took >= Duration::from_millis(3400),
        "after the reload 16 MiB took only {took:?}"
    );
    assert!(took < AT_MOST);

    write_conf("Uncapped again.", "0");
    reloaded(&server, "Uncapped again.");
    let before = delayed_bytes(metrics);
    let (got, _) = retr_timed(&mut ftp, "16m.bin");
    assert!(got == want);
    assert_eq!(delayed_bytes(metrics), before, "the cap was lifted");
}

#[test]
fn bad_rates_are_refused_with_their_name() {
    let root = tempfile::tempdir().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        Command::new(binary("ringftpd"))
            .arg("serve")
            .arg(root.path())
            .args(args)
            .output()
            .unwrap()
    };
    let out = run(&["--session-rate", "4parsecs"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("--session-rate") && err.contains("4parsecs"),
        "{err}"
    );

    let conf = dir.path().join("ringftpd.toml");
    std::fs::write(&conf, "[limits.users]\nip_rate = 100\n").unwrap();
    let out = Command::new(binary("ringftpd"))
        .args(["--config", conf.to_str().unwrap(), "serve"])
        .arg(root.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("limits.users.ip_rate"), "{err}");

    std::fs::write(
        &conf,
        "[limits.anonymous]\ntotal_rate = { sideways = \"1MiB\" }\n",
    )
    .unwrap();
    let out = Command::new(binary("ringftpd"))
        .args(["--config", conf.to_str().unwrap(), "check-config"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("sideways"), "{err}");

    // A good setting is printed back by check-config.
    std::fs::write(
        &conf,
        format!(
            "root = {:?}\n[limits.anonymous]\nsession_rate = \"4MiB\"\n",
            root.path().display().to_string()
        ),
    )
    .unwrap();
    let out = Command::new(binary("ringftpd"))
        .args(["--config", conf.to_str().unwrap(), "check-config"])
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains(&(4 * MIB).to_string()));
}

#[test]
fn abor_ends_a_wait_for_a_cap_at_once() {
    let root = tree();
    // 1 KiB/s shared by 8 sessions, 4 KiB per chunk: their first chunks queue for
    // 4, 8, ... 32 s. ABOR must not wait for the bucket.
    let (server, _metrics) = start(root.path(), &["--total-rate", "1KiB"]);
    let mut sessions: Vec<(RawFtp, std::net::TcpStream)> = (0..8)
        .map(|_| {
            let mut ftp = login(server.addr(), "anonymous", "me@");
            let data = ftp.epsv_connect();
            assert_eq!(ftp.cmd("RETR 6m.bin").0, 150);
            (ftp, data)
        })
        .collect();
    // All at once: without the wake-up the last would answer after about 32 s.
    let asked = Instant::now();
    for (ftp, _data) in &mut sessions {
        ftp.send_raw(b"ABOR\r\n");
    }
    for (ftp, _data) in &mut sessions {
        assert_eq!(ftp.reply().0, 426);
        assert_eq!(ftp.reply().0, 226);
    }
    let took = asked.elapsed();
    assert!(
        took < Duration::from_secs(10),
        "ABOR answered after {took:?}"
    );
    for (ftp, _data) in &mut sessions {
        assert_eq!(ftp.cmd("NOOP").0, 200);
    }
}

#[test]
fn a_wait_for_a_cap_is_not_a_stalled_transfer() {
    let root = tree();
    // 2 KiB/s in 4 KiB chunks: 6 KiB take about 3 s, three times the data timeout.
    let (server, _metrics) = start(
        root.path(),
        &["--session-rate", "2KiB", "--data-timeout", "1"],
    );
    let mut ftp = login(server.addr(), "anonymous", "me@");
    let (got, took) = retr_timed(&mut ftp, "6k.bin");
    assert!(got == file(root.path(), "6k.bin"));
    assert_capped("6 KiB at 2 KiB/s", 6 * 1024, took, 2 * 1024);
}

/// The maximum pacing rate (SO_MAX_PACING_RATE) in bits per second that `ss -ti` shows
/// for the server's end of `data` (the socket bound to the port the client connected
/// to): its `pacing_rate` field reads `RATEbps/MAXbps` when there is one. `None` if
/// it has none (the field reads `RATEbps`, or is absent where nothing paces).
fn server_max_pacing_bits(ss: &Path, data: &std::net::TcpStream) -> Option<u64> {
    let local = data.local_addr().unwrap();
    let server = data.peer_addr().unwrap();
    let filter = format!(
        "( sport = :{} and dport = :{} )",
        server.port(),
        local.port()
    );
    let out = run_ok(Command::new(ss).args(["-tinH", "state", "established", &filter]));
    let text = String::from_utf8_lossy(&out).into_owned();
    assert!(
        text.contains(&format!(":{}", local.port())),
        "ss does not show the data socket: {text:?}"
    );
    let field = text
        .split_whitespace()
        .skip_while(|w| *w != "pacing_rate")
        .nth(1)?;
    let (_, max) = field.split_once('/')?;
    Some(
        max.trim_end_matches("bps")
            .parse()
            .unwrap_or_else(|_| panic!("pacing_rate {field}")),
    )
}

#[test]
fn a_capped_download_is_paced_by_the_kernel_at_the_cap() {
    let ss = require_tool("ss");
    let root = tree();
    // The socket may send 5% faster than the cap (the buckets hold the cap itself), so
    // that a refill that comes late can catch up.
    let paced_bits = ((4 * MIB) as f64 * 1.05) as u64 * 8;
    for (cap, want) in [(Some("4MiB"), Some(paced_bits)), (None, None)] {
        let extra: Vec<&str> = cap.map(|c| vec!["--session-rate", c]).unwrap_or_default();
        let (server, _) = start(root.path(), &extra);
        let mut ftp = login(server.addr(), "anonymous", "x@");
        let mut data = ftp.epsv_connect();
        assert_eq!(ftp.cmd("RETR 16m.bin").0, 150);
        // The first bytes prove the transfer (and its socket options) has started.
        let mut first = vec![0u8; 64 * 1024];
        data.read_exact(&mut first).unwrap();
        assert_eq!(server_max_pacing_bits(&ss, &data), want, "cap {cap:?}");
        let mut rest = Vec::new();
        data.read_to_end(&mut rest).unwrap();
        first.extend(rest);
        assert_eq!(ftp.reply().0, 226);
        assert!(first == file(root.path(), "16m.bin"), "bytes differ");
    }
}
