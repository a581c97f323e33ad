//! ringftp-load against ringftpd at small scale: every session and transfer must
//! succeed, with the exact counts, in passive, active and mixed modes and for uploads.

use std::process::Command;

use ringftp_tests::{binary, run_ok, write_pattern, Server};
use serde_json::Value;

fn load(server: &Server, args: &[&str]) -> Value {
    let out = run_ok(
        Command::new(binary("ringftp-load"))
            .arg(server.addr().to_string())
            .args(args)
            .args(["--json", "--quiet", "--timeout", "20s", "--threads", "2"]),
    );
    serde_json::from_slice(&out).expect("ringftp-load --json output")
}

fn assert_clean(report: &Value, sessions: u64, transfers: u64) {
    assert_eq!(report["errors"], Value::Array(vec![]), "{report:#}");
    assert_eq!(report["sessions"]["ok"], sessions, "{report:#}");
    assert_eq!(report["sessions"]["failed"], 0, "{report:#}");
    assert_eq!(report["transfers_ok"], transfers, "{report:#}");
}

fn tree() -> tempfile::TempDir {
    let root = tempfile::tempdir().unwrap();
    write_pattern(&root.path().join("f4k"), 4096);
    write_pattern(&root.path().join("f1m"), 1 << 20);
    root
}

#[test]
fn two_hundred_passive_sessions() {
    let root = tree();
    let server = Server::serve(root.path(), &["--passive-ports", "42000-42999"]);
    let report = load(
        &server,
        &["retr", "f4k", "-c", "50", "-n", "200", "--mode", "passive"],
    );
    assert_clean(&report, 200, 200);
    assert_eq!(report["bytes_down"], 200 * 4096);
}

#[test]
fn two_hundred_active_sessions_with_content_check() {
    let root = tree();
    let server = Server::serve(root.path(), &[]);
    let content = root.path().join("f1m");
    let report = load(
        &server,
        &[
            "retr",
            "f1m",
            "-c",
            "50",
            "-n",
            "200",
            "--mode",
            "active",
            "--verify-content",
            content.to_str().unwrap(),
        ],
    );
    assert_clean(&report, 200, 200);
    assert_eq!(report["bytes_down"], 200u64 << 20);
}

#[test]
fn mixed_sessions_with_reuse_and_uploads() {
    let root = tree();
    let server = Server::serve(
        root.path(),
        &["--anonymous-write", "--passive-ports", "43000-43999"],
    );
    let report = load(
        &server,
        &[
            "retr",
            "f4k",
            "-c",
            "40",
            "-n",
            "100",
            "-k",
            "3",
            "--mode",
            "mixed:0.5",
        ],
    );
    assert_clean(&report, 100, 300);
    let report = load(
        &server,
        &[
            "stor",
            "64KiB",
            "-c",
            "20",
            "-n",
            "60",
            "--verify-size",
            "--delete-uploads",
        ],
    );
    assert_clean(&report, 60, 60);
    assert_eq!(report["bytes_up"], 60 * 65536);
}

#[test]
fn server_metrics_report_peak_passive_ports_per_core() {
    let root = tree();
    // Bigger than the socket buffers (a 4 MiB send buffer plus the client's 64 KiB), so
    // the server is still sending, with its port leased, while the client reads.
    write_pattern(&root.path().join("f12m"), 12 << 20);
    let mut server = Server::serve(
        root.path(),
        &["--metrics", "127.0.0.1:0", "--passive-ports", "44100-44199"],
    );
    let metrics = server.metrics_addr();
    // 20 paced sessions of 12 MiB at 6 MiB/s: each holds its passive port for over a
    // second, so the 100 ms scrapes see ports leased.
    let report = load(
        &server,
        &[
            "retr",
            "f12m",
            "-c",
            "20",
            "-n",
            "20",
            "--rcvbuf",
            "64KiB",
            "--read-rate",
            "6MiB",
            "--mode",
            "passive",
            "--server-metrics",
            &format!("http://{metrics}/metrics"),
        ],
    );
    assert_clean(&report, 20, 20);
    let ports = report["passive_ports"].as_array().expect("passive_ports");
    let slices: u64 = ports.iter().map(|p| p["slice"].as_u64().unwrap()).sum();
    assert_eq!(slices, 100, "{report:#}");
    let peak: u64 = ports
        .iter()
        .map(|p| p["peak_in_use"].as_u64().unwrap())
        .sum();
    assert!((1..=20).contains(&peak), "{report:#}");
    for p in ports {
        let in_use = p["peak_in_use"].as_u64().unwrap();
        assert_eq!(p["suggested"].as_u64().unwrap(), (in_use * 5).div_ceil(4));
    }
}
