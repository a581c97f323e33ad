//! End-to-end: the real `ringftp-load` binary against the in-memory example server.

#[allow(dead_code)]
#[path = "../examples/mini_ftpd.rs"]
mod mini_ftpd;

use std::net::SocketAddr;
use std::process::Command;
use std::sync::Arc;

use serde_json::Value;

/// Starts the example server on a free loopback port in a background thread.
fn start_server() -> SocketAddr {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let listener = mini_ftpd::bind("127.0.0.1:0".parse().unwrap()).unwrap();
            tx.send(listener.local_addr().unwrap()).unwrap();
            mini_ftpd::serve(listener, Arc::new(mini_ftpd::State::sample())).await;
        });
    });
    rx.recv().unwrap()
}

/// Runs the binary with `--json` and returns its exit code and report.
fn load(addr: SocketAddr, args: &str) -> (i32, Value) {
    let out = Command::new(env!("CARGO_BIN_EXE_ringftp-load"))
        .arg(addr.to_string())
        .args(args.split_whitespace())
        .args(["--json", "--timeout", "10s"])
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    let report = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("no JSON report ({e}); stderr:\n{stderr}"));
    (out.status.code().unwrap_or(-1), report)
}

fn phase<'a>(report: &'a Value, name: &str) -> &'a Value {
    report["latency_us"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["phase"] == name)
        .unwrap_or_else(|| panic!("no phase {name} in {report}"))
}

#[test]
fn passive_active_and_mixed_downloads_verify() {
    let addr = start_server();
    let content = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(content.path(), mini_ftpd::pattern(1 << 20)).unwrap();
    let verify = format!("--verify-content {}", content.path().display());
    for mode in ["passive", "pasv", "epsv", "active", "eprt", "mixed:0.5"] {
        let (code, r) = load(
            addr,
            &format!("retr /f1m -c 4 -n 12 -k 2 --mode {mode} {verify}"),
        );
        assert_eq!(code, 0, "{mode}: {r}");
        assert_eq!(r["sessions"]["ok"], 12, "{mode}: {r}");
        assert_eq!(r["transfers_ok"], 24, "{mode}: {r}");
        assert_eq!(r["bytes_down"], 24u64 << 20, "{mode}: {r}");
        assert_eq!(r["errors"].as_array().unwrap().len(), 0, "{mode}: {r}");
        for p in [
            "connect",
            "banner",
            "login",
            "data-setup",
            "first-byte",
            "transfer",
        ] {
            assert!(phase(&r, p)["count"].as_u64().unwrap() >= 12, "{mode} {p}");
        }
    }
    let (_, mixed) = load(addr, "retr /f4k -c 4 -n 20 --mode mixed:0.5");
    assert_eq!(mixed["sessions"]["active"], 10);
    assert_eq!(mixed["sessions"]["passive"], 10);
}

#[test]
fn uploads_listings_and_open_loop() {
    let addr = start_server();
    let (code, r) = load(
        addr,
        "stor 100KiB -c 3 -n 6 --verify-size --delete-uploads --mode mixed:0.5",
    );
    assert_eq!(code, 0, "{r}");
    assert_eq!(r["bytes_up"], 6 * 100 * 1024);
    let (code, r) = load(addr, "list / -n 3 -c 1");
    assert_eq!(code, 0, "{r}");
    assert!(r["bytes_down"].as_u64().unwrap() > 0);
    let (code, r) = load(addr, "login-only --rate 200 -d 500ms");
    assert_eq!(code, 0, "{r}");
    assert_eq!(r["load"], "open");
    assert!(
        phase(&r, "start-lag")["count"].as_u64().unwrap() >= 90,
        "{r}"
    );
}

#[test]
fn errors_are_classified_by_phase_and_code() {
    let addr = start_server();
    let (code, r) = load(addr, "login-only -n 3 -c 1 --password bad");
    assert_eq!(code, 1);
    assert_eq!(r["sessions"]["failed"], 3);
    assert_eq!(
        r["errors"],
        serde_json::json!([{"phase": "login", "class": "530", "count": 3}])
    );
    let wrong = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(wrong.path(), vec![0u8; 4096]).unwrap();
    let (_, r) = load(
        addr,
        &format!(
            "retr /f4k -n 2 -c 1 --verify-content {}",
            wrong.path().display()
        ),
    );
    assert_eq!(r["errors"][0]["class"], "content mismatch", "{r}");
}

#[test]
fn missing_file_stops_before_the_run() {
    let addr = start_server();
    let out = Command::new(env!("CARGO_BIN_EXE_ringftp-load"))
        .args([&addr.to_string(), "retr", "/nope", "-n", "1"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("SIZE /nope: unexpected reply: 550"));
}

fn rates(report: &Value) -> (u64, f64, f64) {
    let r = &report["session_rates"];
    (
        r["count"].as_u64().unwrap_or(0),
        r["p1"].as_f64().unwrap_or(0.0),
        r["p99"].as_f64().unwrap_or(f64::MAX),
    )
}

#[test]
fn read_and_write_rates_cap_every_session() {
    let addr = start_server();
    // 1 MiB at 2 MiB/s: no session can beat the cap, however fast the machine (the pacer
    // waits for each chunk's time before reading on, and before EOF).
    let (code, r) = load(addr, "retr /f1m -c 4 -n 4 --read-rate 2MiB --rcvbuf 64KiB");
    assert_eq!(code, 0, "{r}");
    assert_eq!(r["bytes_down"], 4u64 << 20, "{r}");
    let (count, p1, p99) = rates(&r);
    assert_eq!(count, 4, "{r}");
    assert!(p1 > 0.0 && p99 <= 2.0 * 1.05, "{r}");
    let (code, r) = load(
        addr,
        "stor 512KiB -c 2 -n 2 --write-rate 1MiB --verify-size",
    );
    assert_eq!(code, 0, "{r}");
    assert_eq!(r["bytes_up"], 2 * 512 * 1024, "{r}");
    let (count, _, p99) = rates(&r);
    assert_eq!(count, 2, "{r}");
    assert!(p99 <= 1.05, "{r}");
}

#[test]
fn cut_at_end_closes_slow_transfers_and_keeps_their_rates() {
    let addr = start_server();
    // 1 MiB at 128 KiB/s takes 8 s; the run lasts 1 s, so every session is cut.
    let (code, r) = load(
        addr,
        "retr /f1m -c 3 -d 1s --read-rate 128KiB --cut-at-end --timeline",
    );
    assert_eq!(code, 0, "{r}");
    assert_eq!(r["sessions"]["cut"], 3, "{r}");
    assert_eq!(r["sessions"]["ok"], 0, "{r}");
    assert_eq!(r["sessions"]["failed"], 0, "{r}");
    assert_eq!(r["sessions"]["aborted"], 0, "{r}");
    assert!(r["bytes_down"].as_u64().unwrap() < 3 << 20, "{r}");
    let (count, _, p99) = rates(&r);
    assert_eq!(count, 3, "{r}");
    assert!(p99 <= 0.125 * 1.05, "{r}");
    assert!(!r["timeline"].as_array().unwrap().is_empty(), "{r}");
}

#[test]
fn retr_mix_follows_its_weights() {
    let addr = start_server();
    let list = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(list.path(), "# hot and cold\n/f4k 3\n/f1m 1\n").unwrap();
    let mix =
        ringftp_load::mix::Mix::parse(&std::fs::read_to_string(list.path()).unwrap()).unwrap();
    let expected: u64 = (0..40)
        .map(|i| if mix.pick(i) == "/f4k" { 4096 } else { 1 << 20 })
        .sum();
    let (code, r) = load(
        addr,
        &format!("retr-mix {} -c 2 -n 40", list.path().display()),
    );
    assert_eq!(code, 0, "{r}");
    assert_eq!(r["transfers_ok"], 40, "{r}");
    assert_eq!(r["bytes_down"], expected, "{r}");
    // Both paths were used, roughly 3:1.
    assert!(
        expected > 8u64 << 20 && expected < 12u64 << 20,
        "{expected}"
    );
}

#[test]
fn replay_runs_each_logged_transfer_once() {
    let addr = start_server();
    let log = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(
        log.path(),
        "Tue Nov 25 04:14:00 2025 0 192.0.2.7 4096 /srv/ftp/f4k b _ o a anonymous ftp 0 * c\n\
         Tue Nov 25 04:14:02 2025 1 192.0.2.7 1048576 /srv/ftp/f1m b _ o a anonymous ftp 0 * c\n\
         Tue Nov 25 04:14:05 2025 0 192.0.2.7 0 /srv/ftp/up.dat b _ d a anonymous ftp 0 * c\n\
         Tue Nov 25 04:14:04 2025 0 192.0.2.8 5000 /srv/ftp/up.dat b _ i a anonymous ftp 0 * c\n\
         Tue Nov 25 04:14:04 2025 0 192.0.2.9 4096 /srv/ftp/f4k b _ o a anonymous ftp 0 * c\n",
    )
    .unwrap();
    let (code, r) = load(
        addr,
        &format!(
            "replay {} --strip-prefix /srv/ftp --speedup 20",
            log.path().display()
        ),
    );
    assert_eq!(code, 0, "{r}");
    assert_eq!(r["load"], "replay");
    assert_eq!(r["sessions"]["ok"], 4, "{r}");
    assert_eq!(r["bytes_down"], 2 * 4096 + (1 << 20), "{r}");
    assert_eq!(r["bytes_up"], 5000, "{r}");
    assert_eq!(phase(&r, "start-lag")["count"], 4, "{r}");
}

#[test]
fn mlsd_listing_and_plot() {
    let addr = start_server();
    let dir = tempfile::tempdir().unwrap();
    let svg = dir.path().join("run.svg");
    let (code, r) = load(
        addr,
        &format!("mlsd / -c 2 -d 1500ms --plot {}", svg.display()),
    );
    assert_eq!(code, 0, "{r}");
    assert!(r["bytes_down"].as_u64().unwrap() > 0, "{r}");
    let points = r["timeline"].as_array().unwrap();
    assert!(!points.is_empty(), "{r}");
    assert!(points[0]["mib_per_s"].is_number(), "{r}");
    let text = std::fs::read_to_string(&svg).unwrap();
    assert!(
        text.starts_with("<svg") && text.contains("mlsd /"),
        "{text:.200}"
    );
}

#[test]
fn bad_rates_and_logs_are_clear_cli_errors() {
    for (args, message) in [
        ("retr /f4k --read-rate fast", "--read-rate"),
        ("retr /f4k --plot x.jpg", ".svg or .png"),
        (
            "replay /nonexistent/xferlog",
            "cannot read /nonexistent/xferlog",
        ),
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_ringftp-load"))
            .arg("127.0.0.1:9")
            .args(args.split_whitespace())
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(2), "{args}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(message), "{args}: {stderr}");
    }
}

#[test]
fn ringftp_plot_draws_one_line_per_report() {
    let addr = start_server();
    let dir = tempfile::tempdir().unwrap();
    let mut specs = Vec::new();
    for name in ["first", "second"] {
        let (code, r) = load(addr, "retr /f4k -c 2 -d 1200ms --timeline");
        assert_eq!(code, 0, "{r}");
        let path = dir.path().join(format!("{name}.json"));
        std::fs::write(&path, r.to_string()).unwrap();
        specs.push(format!("{name}={}", path.display()));
    }
    let out = dir.path().join("both.svg");
    let status = Command::new(env!("CARGO_BIN_EXE_ringftp-plot"))
        .arg(&out)
        .args(&specs)
        .args(["--title", "two runs"])
        .status()
        .unwrap();
    assert!(status.success());
    let svg = std::fs::read_to_string(&out).unwrap();
    assert!(svg.contains("first") && svg.contains("second") && svg.contains("two runs"));
    let bad = Command::new(env!("CARGO_BIN_EXE_ringftp-plot"))
        .arg(&out)
        .arg("nameonly")
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("NAME=REPORT.json"));
}
