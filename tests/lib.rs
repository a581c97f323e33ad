//! Helpers shared by the end-to-end tests: start the real `ringftpd` on loopback,
//! learn its port from the line it prints, stop it by PID, and find client tools.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdout, Command, Stdio};
use std::time::Duration;

/// Directory holding the workspace's built binaries (`cargo build --workspace --bins`).
pub fn bin_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../target"));
    let profile = if cfg!(debug_assertions) {
        "debug"
    } else {
        "release"
    };
    target.join(profile)
}

/// Path of a workspace binary; panics with the command to build it if missing.
pub fn binary(name: &str) -> PathBuf {
    let path = bin_dir().join(name);
    assert!(
        path.exists(),
        "{} not found: run `cargo build --workspace --bins` before the tests (the README's test command does)",
        path.display()
    );
    path
}

/// A client program the test needs; CI installs it, so a missing one is a failure.
pub fn require_tool(name: &str) -> PathBuf {
    let out = Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {name}"))
        .output()
        .expect("sh runs");
    let path = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert!(
        out.status.success() && !path.is_empty(),
        "{name} is required by this test (.ci/run installs it)"
    );
    PathBuf::from(path)
}

/// A running ringftpd, stopped (SIGTERM, then SIGKILL) when dropped.
pub struct Server {
    child: Child,
    /// Control addresses it listens on, as it printed them.
    pub addrs: Vec<SocketAddr>,
    _stdout: BufReader<ChildStdout>,
}

impl Server {
    /// Start `ringftpd serve ROOT` on 127.0.0.1 port 0 with extra flags.
    pub fn serve(root: &Path, extra: &[&str]) -> Server {
        let mut args: Vec<String> = vec!["serve".into(), root.display().to_string()];
        if !extra.contains(&"--listen") {
            args.extend(["--listen".into(), "127.0.0.1:0".into()]);
        }
        if !extra.contains(&"--passive-ports") {
            args.extend(["--passive-ports".into(), free_port_range(64)]);
        }
        args.extend(extra.iter().map(|s| s.to_string()));
        Server::start(&args)
    }

    /// Start ringftpd with exactly these arguments; waits for its "serving" lines.
    pub fn start(args: &[String]) -> Server {
        Server::launch(args, &Launch::default())
    }

    /// The first control address.
    pub fn addr(&self) -> SocketAddr {
        self.addrs[0]
    }

    /// Process id, for /proc inspection.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Open file descriptors of the server right now.
    pub fn fd_count(&self) -> usize {
        std::fs::read_dir(format!("/proc/{}/fd", self.pid()))
            .map(|d| d.count())
            .unwrap_or(0)
    }

    /// Send SIGTERM and wait for the exit status.
    pub fn terminate(mut self) -> std::process::ExitStatus {
        signal(self.child.id(), libc_sigterm());
        let status = self.child.wait().expect("wait ringftpd");
        std::mem::forget(self);
        status
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        signal(self.child.id(), libc_sigterm());
        for _ in 0..100 {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn libc_sigterm() -> &'static str {
    "TERM"
}

/// Send a signal by name to one PID we started.
pub fn signal(pid: u32, name: &str) {
    let _ = Command::new("kill")
        .arg(format!("-{name}"))
        .arg(pid.to_string())
        .status();
}

/// A range of `n` ports, different for each test process and call, for passive pools.
pub fn free_port_range(n: u16) -> String {
    use std::sync::atomic::{AtomicU16, Ordering};
    static NEXT: AtomicU16 = AtomicU16::new(0);
    let slot = NEXT.fetch_add(1, Ordering::Relaxed);
    let spread = (std::process::id() % 200) * 150 + u32::from(slot) * u32::from(n);
    let base = 20000 + spread % 30000;
    format!("{}-{}", base, base + u32::from(n) - 1)
}

/// Write `size` bytes of a repeatable pattern to `path`.
pub fn write_pattern(path: &Path, size: usize) {
    use std::io::Write;
    let mut f = std::io::BufWriter::new(std::fs::File::create(path).expect("create"));
    let mut x: u32 = 0x1234_5678;
    let mut left = size;
    let mut chunk = vec![0u8; 1 << 16];
    while left > 0 {
        for b in chunk.iter_mut() {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            *b = x as u8;
        }
        let n = left.min(chunk.len());
        f.write_all(&chunk[..n]).expect("write");
        left -= n;
    }
}

/// Run a command and return stdout, asserting success with its stderr on failure.
pub fn run_ok(cmd: &mut Command) -> Vec<u8> {
    let out = cmd.output().expect("run client");
    assert!(
        out.status.success(),
        "{cmd:?} failed ({}): {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

/// A minimal raw FTP control client for protocol-level tests.
pub struct RawFtp {
    reader: BufReader<std::net::TcpStream>,
    writer: std::net::TcpStream,
}

impl RawFtp {
    /// Connect and read the greeting.
    pub fn connect(addr: SocketAddr) -> (RawFtp, (u16, String)) {
        RawFtp::from_stream(std::net::TcpStream::connect(addr).expect("connect control"))
    }

    /// Connect and log in anonymously.
    pub fn login(addr: SocketAddr) -> RawFtp {
        let (mut ftp, (code, _)) = RawFtp::connect(addr);
        assert_eq!(code, 220);
        assert_eq!(ftp.cmd("USER anonymous").0, 331);
        assert_eq!(ftp.cmd("PASS test@").0, 230);
        ftp
    }

    /// Send raw bytes on the control connection.
    pub fn send_raw(&mut self, bytes: &[u8]) {
        use std::io::Write;
        self.writer.write_all(bytes).expect("write control");
    }

    /// Send bytes as TCP urgent data (MSG_OOB), as clients do around ABOR.
    pub fn send_urgent(&mut self, bytes: &[u8]) {
        let sent = socket2::SockRef::from(&self.writer)
            .send_out_of_band(bytes)
            .expect("send urgent data");
        assert_eq!(sent, bytes.len());
    }

    /// Send one command line and read its reply.
    pub fn cmd(&mut self, line: &str) -> (u16, String) {
        self.send_raw(format!("{line}\r\n").as_bytes());
        self.reply()
    }

    /// Read one (possibly multi-line) reply: code and full text.
    pub fn reply(&mut self) -> (u16, String) {
        let mut text = String::new();
        let mut first = String::new();
        let n = self.reader.read_line(&mut first).expect("read reply");
        assert!(n > 0, "control connection closed while waiting for a reply");
        text.push_str(&first);
        let code: u16 = first
            .get(..3)
            .and_then(|c| c.parse().ok())
            .unwrap_or_else(|| panic!("bad reply line {first:?}"));
        if first.as_bytes().get(3) == Some(&b'-') {
            loop {
                let mut line = String::new();
                if self.reader.read_line(&mut line).expect("read reply") == 0 {
                    break;
                }
                text.push_str(&line);
                if line.starts_with(&format!("{code} ")) {
                    break;
                }
            }
        }
        (code, text)
    }

    /// True if the server closed the connection (EOF on read).
    pub fn is_closed(&mut self) -> bool {
        let mut line = String::new();
        matches!(self.reader.read_line(&mut line), Ok(0) | Err(_))
    }

    /// EPSV and connect to the announced port.
    pub fn epsv_connect(&mut self) -> std::net::TcpStream {
        let (code, text) = self.cmd("EPSV");
        assert_eq!(code, 229, "{text}");
        let port: u16 = text
            .split("|||")
            .nth(1)
            .and_then(|s| s.split('|').next())
            .and_then(|p| p.parse().ok())
            .expect("EPSV port");
        let ip = self.writer.peer_addr().unwrap().ip();
        std::net::TcpStream::connect((ip, port)).expect("connect data")
    }
}

// ---------------------------------------------------------------------------
// Helpers for the hardening and operations tests.
// ---------------------------------------------------------------------------

/// Poll `f` every 20 ms until it is true or `timeout` passes; returns the last result.
/// For waiting on asynchronous effects (closing, reloads), never as a fixed delay.
pub fn wait_until(timeout: Duration, mut f: impl FnMut() -> bool) -> bool {
    let deadline = std::time::Instant::now() + timeout;
    loop {
        if f() {
            return true;
        }
        if std::time::Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A range of `n` free ports below the kernel's ephemeral range (so client sockets
/// cannot take them), distinct for each call in this process; every port is checked
/// to be bindable on 127.0.0.1 when handed out.
pub fn private_port_range(n: u16) -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    const LOW: u32 = 10_000;
    const HIGH: u32 = 32_000;
    let start = LOW + (std::process::id() % 100) * 200;
    for _ in 0..200 {
        let offset = NEXT.fetch_add(u32::from(n), Ordering::Relaxed);
        let first = LOW + (start - LOW + offset) % (HIGH - LOW - u32::from(n));
        let free = (first..first + u32::from(n))
            .all(|p| std::net::TcpListener::bind(("127.0.0.1", p as u16)).is_ok());
        if free {
            return format!("{}-{}", first, first + u32::from(n) - 1);
        }
    }
    panic!("no {n} free consecutive ports below 32000");
}

/// How to start a server beyond its arguments.
#[derive(Debug, Default, Clone)]
pub struct Launch {
    /// Shell code run before `exec ringftpd ...` (e.g. `ulimit -f 64`), by `sh -c`.
    pub shell_prelude: Option<String>,
    /// Write the server's stderr (its diagnostic log) to this file.
    pub stderr_file: Option<PathBuf>,
    /// `RUST_LOG` for the server (default: `RINGFTPD_TEST_LOG` or `warn`).
    pub log: Option<String>,
}

impl Server {
    /// Start ringftpd with these arguments and launch options; waits for its
    /// "serving" lines (they tell the port, also with port 0).
    pub fn launch(args: &[String], launch: &Launch) -> Server {
        let listen_count = args.iter().filter(|a| *a == "--listen").count().max(1)
            + args.iter().filter(|a| *a == "--tls-listen").count();
        let mut command = match &launch.shell_prelude {
            Some(prelude) => {
                let mut c = Command::new("sh");
                c.arg("-c")
                    .arg(format!("{prelude}\nexec \"$0\" \"$@\""))
                    .arg(binary("ringftpd"));
                c
            }
            None => Command::new(binary("ringftpd")),
        };
        let log = launch.log.clone().unwrap_or_else(|| {
            std::env::var("RINGFTPD_TEST_LOG").unwrap_or_else(|_| "warn".into())
        });
        command
            .args(args)
            .env("RUST_LOG", log)
            .stdout(Stdio::piped());
        match &launch.stderr_file {
            Some(path) => command.stderr(std::fs::File::create(path).expect("create stderr file")),
            None => command.stderr(Stdio::inherit()),
        };
        let mut child = command.spawn().expect("start ringftpd");
        let mut stdout = BufReader::new(child.stdout.take().expect("stdout piped"));
        let mut addrs = Vec::new();
        while addrs.len() < listen_count {
            let mut line = String::new();
            let n = stdout.read_line(&mut line).expect("read ringftpd stdout");
            assert!(
                n > 0,
                "ringftpd exited before listening (status {:?})",
                child.try_wait()
            );
            if let Some(addr) = line
                .trim()
                .rsplit(" on ")
                .next()
                .and_then(|a| a.parse().ok())
            {
                addrs.push(addr);
            }
        }
        Server {
            child,
            addrs,
            _stdout: stdout,
        }
    }

    /// Read the `ringftpd: metrics on http://ADDR/metrics` line the server prints after
    /// its "serving" lines when started with `--metrics` (call once).
    pub fn metrics_addr(&mut self) -> SocketAddr {
        loop {
            let mut line = String::new();
            let n = self
                ._stdout
                .read_line(&mut line)
                .expect("read ringftpd stdout");
            assert!(n > 0, "ringftpd printed no metrics line");
            if let Some(rest) = line.trim().strip_prefix("ringftpd: metrics on http://") {
                let addr = rest.trim_end_matches("/metrics");
                return addr.parse().expect("metrics address");
            }
        }
    }

    /// Resident memory of the server in KiB (`VmRSS` in /proc/PID/status).
    pub fn rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid()))
            .expect("read /proc/PID/status");
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("VmRSS in /proc/PID/status")
    }

    /// Listening sockets the server holds other than its control listener: passive
    /// listeners, which stay open ("parked", a bounded number per worker) after their
    /// data connection for the next PASV on the same address (and a metrics or second
    /// control listener, if the server has one: a constant).
    pub fn passive_listener_count(&self) -> usize {
        let mut listening = std::collections::HashSet::new();
        for table in ["tcp", "tcp6"] {
            let text = std::fs::read_to_string(format!("/proc/{}/net/{table}", self.pid()))
                .unwrap_or_default();
            for line in text.lines().skip(1) {
                let f: Vec<&str> = line.split_whitespace().collect();
                // local_address is ADDR:PORT in hex; st 0A is LISTEN; inode is field 9.
                let port = f.get(1).and_then(|a| a.rsplit(':').next());
                let port = port.and_then(|p| u16::from_str_radix(p, 16).ok());
                if f.get(3) == Some(&"0A") && port != Some(self.addr().port()) {
                    listening.extend(f.get(9).map(|i| format!("socket:[{i}]")));
                }
            }
        }
        self.fd_targets()
            .iter()
            .filter(|t| listening.contains(*t))
            .count()
    }

    /// What the server's fds point at (`socket:[INODE]`, paths), sorted.
    pub fn fd_targets(&self) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(format!("/proc/{}/fd", self.pid()))
            .map(|d| {
                d.filter_map(|e| e.ok())
                    .filter_map(|e| std::fs::read_link(e.path()).ok())
                    .map(|t| t.display().to_string())
                    .collect()
            })
            .unwrap_or_default();
        v.sort();
        v
    }

    /// Open fds that sessions hold: every fd but the parked passive listeners (a
    /// bounded cache of the workers, like their pooled pipes, that a leak check must
    /// not count).
    pub fn held_fd_count(&self) -> usize {
        self.fd_count()
            .saturating_sub(self.passive_listener_count())
    }

    /// The held fd count ([`Server::held_fd_count`]) once it stops changing (workers
    /// set up lazily, and sessions that just ended close asynchronously).
    pub fn stable_fd_count(&self) -> usize {
        let mut last = self.held_fd_count();
        let mut same = 0;
        wait_until(Duration::from_secs(5), || {
            let now = self.held_fd_count();
            same = if now == last { same + 1 } else { 0 };
            last = now;
            same >= 5
        });
        last
    }

    /// Poll the held fd count until it is at most `baseline` (closing is
    /// asynchronous), for at most `timeout`; returns the last count seen.
    pub fn fds_settle(&self, baseline: usize, timeout: Duration) -> usize {
        let mut now = self.held_fd_count();
        wait_until(timeout, || {
            now = self.held_fd_count();
            now <= baseline
        });
        now
    }

    /// Wait up to `timeout` for the process to exit on its own (after a signal the
    /// test sent). On exit the server is consumed (nothing is signalled later); if it
    /// is still running it is handed back.
    pub fn wait_exit(mut self, timeout: Duration) -> Result<std::process::ExitStatus, Server> {
        let mut status = None;
        wait_until(timeout, || {
            status = self.child.try_wait().ok().flatten();
            status.is_some()
        });
        match status {
            Some(status) => {
                // Reaped: its PID may be reused, so Drop must not signal it.
                std::mem::forget(self);
                Ok(status)
            }
            None => Err(self),
        }
    }
}

/// `GET path` over HTTP/1.1 on loopback; returns the status code and the body.
pub fn http_get(addr: SocketAddr, path: &str) -> (u16, String) {
    use std::io::{Read, Write};
    let mut s = std::net::TcpStream::connect(addr).expect("connect metrics");
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut response = String::new();
    s.read_to_string(&mut response).expect("read HTTP response");
    let status = response
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("bad HTTP response {response:?}"));
    let body = response
        .split_once("\r\n\r\n")
        .map(|(_, b)| b.to_string())
        .unwrap_or_default();
    (status, body)
}

/// The value of one Prometheus sample: `name` with exactly these labels (any order).
pub fn metric(text: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .find_map(|line| {
            let (series, value) = line.rsplit_once(' ')?;
            let (n, rest) = match series.split_once('{') {
                Some((n, rest)) => (n, rest.strip_suffix('}')?),
                None => (series, ""),
            };
            if n != name {
                return None;
            }
            let mut have: Vec<(&str, &str)> = rest
                .split(',')
                .filter(|p| !p.is_empty())
                .filter_map(|p| {
                    let (k, v) = p.split_once('=')?;
                    Some((k, v.trim_matches('"')))
                })
                .collect();
            let mut want = labels.to_vec();
            have.sort();
            want.sort();
            (have == want).then(|| value.parse().ok()).flatten()
        })
}

/// Sum of a metric over all its series whose labels include these.
pub fn metric_sum(text: &str, name: &str, labels: &[(&str, &str)]) -> f64 {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|line| {
            let (series, value) = line.rsplit_once(' ')?;
            let (n, rest) = series.split_once('{').unwrap_or((series, "}"));
            if n != name {
                return None;
            }
            let rest = rest.strip_suffix('}')?;
            let matches = labels
                .iter()
                .all(|(k, v)| rest.split(',').any(|p| p == format!("{k}=\"{v}\"")));
            matches.then(|| value.parse::<f64>().ok()).flatten()
        })
        .sum()
}

impl RawFtp {
    /// Wrap an already connected control stream and read the greeting.
    pub fn from_stream(stream: std::net::TcpStream) -> (RawFtp, (u16, String)) {
        stream
            .set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        let writer = stream.try_clone().unwrap();
        let mut ftp = RawFtp {
            reader: BufReader::new(stream),
            writer,
        };
        let greeting = ftp.reply();
        (ftp, greeting)
    }

    /// Connect from a chosen local address (e.g. 127.0.0.2) and read the greeting.
    pub fn connect_from(source: std::net::IpAddr, addr: SocketAddr) -> (RawFtp, (u16, String)) {
        RawFtp::from_stream(connect_from(source, addr))
    }

    /// Read timeout on the control connection.
    pub fn set_timeout(&mut self, timeout: Duration) {
        self.writer.set_read_timeout(Some(timeout)).unwrap();
    }

    /// The control socket itself, for tests that go on below FTP (TLS, stalls).
    pub fn into_stream(self) -> std::net::TcpStream {
        self.writer
    }

    /// Local address of the control connection.
    pub fn local_addr(&self) -> SocketAddr {
        self.writer.local_addr().unwrap()
    }

    /// Send PASV; the announced port, or the refusal (code, text).
    pub fn pasv(&mut self) -> Result<u16, (u16, String)> {
        let (code, text) = self.cmd("PASV");
        if code != 227 {
            return Err((code, text));
        }
        let inner = text
            .split('(')
            .nth(1)
            .and_then(|s| s.split(')').next())
            .unwrap_or_else(|| panic!("bad PASV reply {text:?}"));
        let n: Vec<u16> = inner
            .split(',')
            .map(|x| x.trim().parse().unwrap())
            .collect();
        Ok(n[4] * 256 + n[5])
    }

    /// Read one reply, or `None` if the connection closes (EOF or reset) first.
    pub fn try_reply(&mut self) -> Option<(u16, String)> {
        let mut first = String::new();
        match self.reader.read_line(&mut first) {
            Ok(0) | Err(_) => return None,
            Ok(_) => {}
        }
        let code: u16 = first.get(..3)?.parse().ok()?;
        let mut text = first.clone();
        if first.as_bytes().get(3) == Some(&b'-') {
            loop {
                let mut line = String::new();
                if self.reader.read_line(&mut line).unwrap_or(0) == 0 {
                    break;
                }
                text.push_str(&line);
                if line.starts_with(&format!("{code} ")) {
                    break;
                }
            }
        }
        Some((code, text))
    }
}

/// A TCP connection to `target` from the local address `source`.
pub fn connect_from(source: std::net::IpAddr, target: SocketAddr) -> std::net::TcpStream {
    let domain = if source.is_ipv4() {
        socket2::Domain::IPV4
    } else {
        socket2::Domain::IPV6
    };
    let socket = socket2::Socket::new(domain, socket2::Type::STREAM, None).expect("socket");
    socket
        .bind(&SocketAddr::new(source, 0).into())
        .expect("bind source address");
    socket.connect(&target.into()).expect("connect");
    socket.into()
}

impl RawFtp {
    /// Like [`RawFtp::from_stream`], but a connection closed (or reset) before any
    /// greeting gives `(None, (0, ""))` instead of a panic.
    pub fn from_stream_or_closed(stream: std::net::TcpStream) -> (Option<RawFtp>, (u16, String)) {
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let writer = stream.try_clone().unwrap();
        let mut ftp = RawFtp {
            reader: BufReader::new(stream),
            writer,
        };
        match ftp.try_reply() {
            Some(greeting) => (Some(ftp), greeting),
            None => (None, (0, String::new())),
        }
    }
}
pub mod fixtures;
