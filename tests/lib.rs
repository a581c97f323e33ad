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
        let listen_count = args.iter().filter(|a| *a == "--listen").count().max(1);
        let mut child = Command::new(binary("ringftpd"))
            .args(args)
            .env(
                "RUST_LOG",
                std::env::var("RINGFTPD_TEST_LOG").unwrap_or_else(|_| "warn".into()),
            )
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start ringftpd");
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
        let stream = std::net::TcpStream::connect(addr).expect("connect control");
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
