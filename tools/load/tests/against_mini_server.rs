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
