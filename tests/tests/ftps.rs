//! FTPS end to end: explicit (AUTH TLS) and implicit TLS with curl, lftp and Python's
//! ftplib against a self-signed certificate made by the openssl CLI; PROT P session
//! reuse, `tls.require`, plaintext pipelined behind AUTH TLS, ALPN, certificate
//! reload, and half-done handshakes.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use ringftp_tests::{
    http_get, metric_sum, require_tool, run_ok, signal, wait_until, write_pattern, Launch, RawFtp,
    Server,
};

/// A self-signed certificate and key for 127.0.0.1 in `dir`, as `NAME.pem`/`NAME.key`.
fn self_signed(dir: &Path, name: &str) -> (PathBuf, PathBuf) {
    let cert = dir.join(format!("{name}.pem"));
    let key = dir.join(format!("{name}.key"));
    run_ok(
        Command::new(require_tool("openssl"))
            .args([
                "req",
                "-x509",
                "-newkey",
                "ec",
                "-pkeyopt",
                "ec_paramgen_curve:P-256",
            ])
            .args(["-nodes", "-days", "2", "-subj", "/CN=127.0.0.1"])
            .args(["-addext", "subjectAltName=IP:127.0.0.1"])
            .arg("-keyout")
            .arg(&key)
            .arg("-out")
            .arg(&cert),
    );
    (cert, key)
}

struct Ftps {
    server: Server,
    root: tempfile::TempDir,
    conf: tempfile::TempDir,
    cert: PathBuf,
}

impl Ftps {
    /// ringftpd with a fresh certificate, one explicit and one implicit listener.
    fn start(extra: &[&str]) -> Ftps {
        let root = tempfile::tempdir().unwrap();
        write_pattern(&root.path().join("data.bin"), 3 << 20);
        std::fs::create_dir(root.path().join("sub")).unwrap();
        write_pattern(&root.path().join("sub/small.bin"), 10_000);
        let conf = tempfile::tempdir().unwrap();
        let (cert, key) = self_signed(conf.path(), "server");
        let mut args = vec![
            "--tls-cert",
            cert.to_str().unwrap(),
            "--tls-key",
            key.to_str().unwrap(),
            "--tls-listen",
            "127.0.0.1:0",
        ];
        args.extend_from_slice(extra);
        let server = Server::serve(root.path(), &args);
        Ftps {
            server,
            root,
            conf,
            cert,
        }
    }

    fn explicit(&self) -> SocketAddr {
        self.server.addrs[0]
    }

    fn implicit(&self) -> SocketAddr {
        self.server.addrs[1]
    }

    fn data(&self) -> Vec<u8> {
        std::fs::read(self.root.path().join("data.bin")).unwrap()
    }
}

fn curl() -> Command {
    let mut c = Command::new(require_tool("curl"));
    // --cacert: the test's own certificate is the trust anchor, so curl verifies it.
    c.args(["--silent", "--show-error", "--max-time", "60"]);
    c
}

fn python_check(mode: &str, addr: SocketAddr, root: Option<&Path>) -> String {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("clients/ftps_checks.py");
    let mut cmd = Command::new(require_tool("python3"));
    cmd.arg(script)
        .arg(mode)
        .arg(addr.ip().to_string())
        .arg(addr.port().to_string());
    if let Some(root) = root {
        cmd.arg(root);
    }
    String::from_utf8_lossy(&run_ok(&mut cmd))
        .trim()
        .to_string()
}

#[test]
fn curl_explicit_and_implicit_downloads_over_tls_1_3_and_1_2() {
    let ftps = Ftps::start(&[]);
    let expected = ftps.data();
    let cacert = ftps.cert.to_str().unwrap();
    let explicit = format!("ftp://{}/data.bin", ftps.explicit());
    let got = run_ok(
        curl()
            .args(["--ssl-reqd", "--cacert", cacert])
            .arg(&explicit),
    );
    assert_eq!(got, expected, "explicit AUTH TLS, PROT P");
    let got = run_ok(
        curl()
            .args([
                "--ssl-reqd",
                "--cacert",
                cacert,
                "--tlsv1.2",
                "--tls-max",
                "1.2",
            ])
            .arg(&explicit),
    );
    assert_eq!(got, expected, "TLS 1.2");
    let implicit = format!("ftps://{}/data.bin", ftps.implicit());
    let got = run_ok(curl().args(["--cacert", cacert]).arg(&implicit));
    assert_eq!(got, expected, "implicit TLS");
    let listing = run_ok(
        curl()
            .args(["--ssl-reqd", "--cacert", cacert, "--list-only"])
            .arg(format!("ftp://{}/sub/", ftps.explicit())),
    );
    assert_eq!(String::from_utf8_lossy(&listing).trim(), "small.bin");
}

#[test]
fn curl_upload_with_prot_p() {
    let ftps = Ftps::start(&["--anonymous-write"]);
    let src = ftps.conf.path().join("up.bin");
    write_pattern(&src, 2 << 20);
    run_ok(
        curl()
            .args(["--ssl-reqd", "--cacert", ftps.cert.to_str().unwrap(), "-T"])
            .arg(&src)
            .arg(format!("ftp://{}/up.bin", ftps.explicit())),
    );
    assert_eq!(
        std::fs::read(ftps.root.path().join("up.bin")).unwrap(),
        std::fs::read(&src).unwrap()
    );
}

#[test]
fn lftp_mirror_with_ssl_force_and_protected_data() {
    let ftps = Ftps::start(&[]);
    let out = tempfile::tempdir().unwrap();
    let target = out.path().join("copy");
    let script = format!(
        "set ssl:ca-file {}; set ftp:ssl-force yes; set ftp:ssl-protect-data yes; \
         set ftp:ssl-protect-list yes; set net:max-retries 1; set net:timeout 20; \
         mirror / {}; quit",
        ftps.cert.display(),
        target.display()
    );
    run_ok(
        Command::new(require_tool("lftp"))
            .args(["-u", "anonymous,test@", "-e", &script])
            .arg(format!("ftp://{}", ftps.explicit())),
    );
    assert_eq!(std::fs::read(target.join("data.bin")).unwrap(), ftps.data());
    assert_eq!(
        std::fs::read(target.join("sub/small.bin")).unwrap(),
        std::fs::read(ftps.root.path().join("sub/small.bin")).unwrap()
    );
}

#[test]
fn ftplib_prot_p_reusing_the_session_and_refused_without_it() {
    let mut ftps = Ftps::start(&["--anonymous-write", "--metrics", "127.0.0.1:0"]);
    let metrics = ftps.server.metrics_addr();
    assert_eq!(
        python_check("reuse", ftps.explicit(), Some(ftps.root.path())),
        "ok"
    );
    assert_eq!(python_check("no-reuse", ftps.explicit(), None), "ok");
    let (_, text) = http_get(metrics, "/metrics");
    assert_eq!(
        metric_sum(&text, "ringftpd_tls_data_not_resumed_total", &[]),
        1.0
    );
    assert!(metric_sum(&text, "ringftpd_tls_handshakes_total", &[]) >= 7.0);
}

#[test]
fn session_reuse_can_be_switched_off() {
    let conf = tempfile::tempdir().unwrap();
    let config = conf.path().join("ringftpd.toml");
    std::fs::write(&config, "[tls]\nrequire_session_reuse = false\n").unwrap();
    let ftps = Ftps::start(&["--config", config.to_str().unwrap()]);
    assert_eq!(python_check("fresh", ftps.explicit(), None), "ok");
}

#[test]
fn require_login_refuses_a_plain_login_for_named_users() {
    let conf = tempfile::tempdir().unwrap();
    let users = conf.path().join("users.toml");
    let hash = hash_password("s3cret");
    std::fs::write(
        &users,
        format!("[[user]]\nname = \"alice\"\npassword = \"{hash}\"\n"),
    )
    .unwrap();
    let ftps = Ftps::start(&["--tls-require", "login", "--users", users.to_str().unwrap()]);
    let (mut ftp, _) = RawFtp::connect(ftps.explicit());
    let (code, text) = ftp.cmd("USER alice");
    assert_eq!(code, 530, "{text}");
    assert_eq!(ftp.cmd("PASS s3cret").0, 503);
    assert_eq!(ftp.cmd("USER anonymous").0, 331, "anonymous may stay plain");
    let got = run_ok(
        curl()
            .args(["--ssl-reqd", "--cacert", ftps.cert.to_str().unwrap()])
            .args(["--user", "alice:s3cret"])
            .arg(format!("ftp://{}/sub/small.bin", ftps.explicit())),
    );
    assert_eq!(got.len(), 10_000, "alice logs in over TLS");
}

/// Open network socket descriptors of a process: its listeners and connections, not
/// the signal handler's Unix socket pair, which appears as the server finishes starting.
fn socket_fds(pid: u32) -> usize {
    let unix: std::collections::HashSet<String> =
        std::fs::read_to_string(format!("/proc/{pid}/net/unix"))
            .unwrap_or_default()
            .lines()
            .skip(1)
            .filter_map(|line| line.split_whitespace().nth(6))
            .map(|inode| format!("socket:[{inode}]"))
            .collect();
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|dir| {
            dir.filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
                .map(|target| target.to_string_lossy().into_owned())
                .filter(|target| target.starts_with("socket:") && !unix.contains(target))
                .count()
        })
        .unwrap_or(0)
}

fn hash_password(password: &str) -> String {
    ringftp_tests::fixtures::hash_password(password)
}

#[test]
fn plaintext_pipelined_after_auth_tls_is_not_executed() {
    let ftps = Ftps::start(&["--anonymous-write"]);
    assert_eq!(python_check("pipelined", ftps.explicit(), None), "ok");
    assert!(!ftps.root.path().join("evil").exists());
}

#[test]
fn alpn_other_than_ftp_is_refused() {
    let ftps = Ftps::start(&[]);
    assert_eq!(python_check("alpn", ftps.implicit(), None), "ok");
}

#[test]
fn certificate_reload_refuses_a_bad_file_and_takes_a_good_one() {
    let root = tempfile::tempdir().unwrap();
    let conf = tempfile::tempdir().unwrap();
    let (cert, key) = self_signed(conf.path(), "live");
    let log = conf.path().join("stderr.log");
    let args: Vec<String> = [
        "serve",
        root.path().to_str().unwrap(),
        "--listen",
        "127.0.0.1:0",
        "--tls-listen",
        "127.0.0.1:0",
        "--tls-cert",
        cert.to_str().unwrap(),
        "--tls-key",
        key.to_str().unwrap(),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let server = Server::launch(
        &args,
        &Launch {
            stderr_file: Some(log.clone()),
            log: Some("info".into()),
            ..Launch::default()
        },
    );
    let implicit = server.addrs[1];
    let first = python_check("cert", implicit, None);
    let log_has = |needle: &str, count: usize| {
        wait_until(Duration::from_secs(10), || {
            std::fs::read_to_string(&log)
                .unwrap_or_default()
                .matches(needle)
                .count()
                >= count
        })
    };
    std::fs::write(&cert, "not a certificate\n").unwrap();
    signal(server.pid(), "HUP");
    assert!(log_has("reload refused", 1), "bad certificate refused");
    assert_eq!(python_check("cert", implicit, None), first, "old one stays");

    let (new_cert, new_key) = self_signed(conf.path(), "next");
    std::fs::copy(&new_cert, &cert).unwrap();
    std::fs::copy(&new_key, &key).unwrap();
    signal(server.pid(), "HUP");
    assert!(log_has("configuration reloaded", 1));
    let second = python_check("cert", implicit, None);
    assert_ne!(second, first, "the new certificate is served");
}

#[test]
fn half_done_handshakes_are_closed_within_the_bound() {
    let conf = tempfile::tempdir().unwrap();
    let config = conf.path().join("ringftpd.toml");
    std::fs::write(&config, "[tls]\nhandshake_timeout_secs = 2\n").unwrap();
    let mut ftps = Ftps::start(&[
        "--config",
        config.to_str().unwrap(),
        "--metrics",
        "127.0.0.1:0",
    ]);
    let metrics = ftps.server.metrics_addr();
    // Network sockets only: other descriptors appear while the server finishes starting.
    let pid = ftps.server.pid();
    let baseline = socket_fds(pid);
    const EACH: usize = 10;
    let mut stalled = Vec::new();
    // Implicit: the first bytes of a ClientHello record, then silence.
    for _ in 0..EACH {
        let mut s = TcpStream::connect(ftps.implicit()).unwrap();
        s.write_all(&[0x16, 0x03, 0x01, 0x02, 0x00, 0x01]).unwrap();
        stalled.push(s);
    }
    // Explicit: AUTH TLS accepted, then no ClientHello at all.
    for _ in 0..EACH {
        let (mut ftp, (code, _)) = RawFtp::connect(ftps.explicit());
        assert_eq!(code, 220);
        assert_eq!(ftp.cmd("AUTH TLS").0, 234);
        stalled.push(ftp.into_stream());
    }
    let started = Instant::now();
    assert!(
        wait_until(Duration::from_secs(5), || socket_fds(pid)
            >= baseline + 2 * EACH),
        "the server holds the connections while they handshake"
    );
    for s in &mut stalled {
        s.set_read_timeout(Some(Duration::from_secs(15))).unwrap();
        let mut buf = [0u8; 64];
        // The server closes (EOF or reset); it never waits past the bound.
        loop {
            match s.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(_) => continue,
            }
        }
    }
    let elapsed = started.elapsed();
    assert!(
        elapsed < Duration::from_secs(2 + 6),
        "closed after {elapsed:?}, the bound is 2 s"
    );
    let mut after = socket_fds(pid);
    wait_until(Duration::from_secs(5), || {
        after = socket_fds(pid);
        after <= baseline
    });
    assert!(
        after <= baseline,
        "socket fds: {baseline} before, {after} after"
    );
    let (_, text) = http_get(metrics, "/metrics");
    assert_eq!(
        metric_sum(&text, "ringftpd_tls_handshake_timeouts_total", &[]),
        (2 * EACH) as f64
    );
    assert_eq!(
        metric_sum(&text, "ringftpd_tls_handshakes_in_progress", &[]),
        0.0
    );
}

#[test]
fn ringftp_load_over_tls_resumes_on_every_data_connection() {
    let ftps = Ftps::start(&[]);
    let content = ftps.root.path().join("sub/small.bin");
    let out = run_ok(
        Command::new(ringftp_tests::binary("ringftp-load"))
            .arg(ftps.explicit().to_string())
            .args(["retr", "sub/small.bin", "-c", "4", "-n", "8", "-k", "6"])
            .arg("--tls")
            .arg("--tls-trust")
            .arg(&ftps.cert)
            .arg("--verify-content")
            .arg(&content)
            .args(["--json", "--quiet", "--timeout", "20s", "--threads", "2"]),
    );
    let report: serde_json::Value = serde_json::from_slice(&out).unwrap();
    assert_eq!(report["errors"], serde_json::json!([]), "{report:#}");
    assert_eq!(report["sessions"]["ok"], 8, "{report:#}");
    assert_eq!(report["transfers_ok"], 48, "{report:#}");
    assert_eq!(report["bytes_down"], 48 * 10_000, "{report:#}");
}

#[test]
fn bandwidth_caps_hold_prot_p_transfers_too() {
    // data.bin is 3 MiB: at 1 MiB/s that is 3 s, less the bucket's 50 ms burst.
    let ftps = Ftps::start(&["--session-rate", "1MiB", "--anonymous-write"]);
    let cacert = ftps.cert.to_str().unwrap();
    let started = Instant::now();
    let got = run_ok(
        curl()
            .args(["--ssl-reqd", "--cacert", cacert])
            .arg(format!("ftp://{}/data.bin", ftps.explicit())),
    );
    let took = started.elapsed();
    assert!(got == ftps.data(), "PROT P download under a cap");
    assert!(
        took >= Duration::from_millis(2900),
        "3 MiB at --session-rate 1MiB over TLS took only {took:?}"
    );
    let src = ftps.conf.path().join("up.bin");
    write_pattern(&src, 3 << 20);
    let started = Instant::now();
    run_ok(
        curl()
            .args(["--ssl-reqd", "--cacert", cacert, "-T"])
            .arg(&src)
            .arg(format!("ftp://{}/up.bin", ftps.explicit())),
    );
    let took = started.elapsed();
    assert_eq!(
        std::fs::read(ftps.root.path().join("up.bin")).unwrap(),
        std::fs::read(&src).unwrap()
    );
    assert!(
        took >= Duration::from_millis(2900),
        "3 MiB PROT P upload at --session-rate 1MiB took only {took:?}"
    );
}

#[test]
fn implicit_tls_behind_a_balancer_reads_the_proxy_header_before_the_handshake() {
    let ftps = Ftps::start(&["--proxy-from", "127.0.0.5"]);
    // The balancer sends the header in the clear, then relays the client's handshake.
    let script = r#"
import socket, ssl, sys
host, port, cafile = sys.argv[1], int(sys.argv[2]), sys.argv[3]
s = socket.create_connection((host, port), timeout=20, source_address=("127.0.0.5", 0))
s.sendall(b"PROXY TCP4 127.0.0.9 127.0.0.1 40000 990\r\n")
ctx = ssl.create_default_context(cafile=cafile)
t = ctx.wrap_socket(s, server_hostname="127.0.0.1")
f = t.makefile("rb")
print(f.readline().decode().strip())
t.sendall(b"STAT\r\n")
while True:
    line = f.readline().decode()
    print(line.strip())
    if not line or line.startswith("211 "):
        break
"#;
    let implicit = ftps.implicit();
    let out = run_ok(
        Command::new(require_tool("python3"))
            .arg("-c")
            .arg(script)
            .arg(implicit.ip().to_string())
            .arg(implicit.port().to_string())
            .arg(&ftps.cert),
    );
    let out = String::from_utf8_lossy(&out);
    assert!(out.starts_with("220"), "{out}");
    assert!(out.contains("Connected to 127.0.0.9"), "{out}");
}
