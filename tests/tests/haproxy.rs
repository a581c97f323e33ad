//! Two ringftpd instances behind a real HAProxy (Debian's package) on loopback, with
//! PROXY protocol v2 on control and data connections: the balancer listens on
//! 127.0.0.1 and connects to the instances (127.0.0.2, 127.0.0.3) from 127.0.0.5, the
//! only trusted source; clients come from 127.0.0.9 and others. Each instance owns a
//! passive range that HAProxy forwards to it with the dialled port kept.

use std::io::{Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use ringftp_tests::{
    connect_from, http_get, metric_sum, private_port_range, require_tool, run_ok, signal,
    wait_until, write_pattern, Launch, RawFtp, Server,
};

const BALANCER: &str = "127.0.0.1";
const BALANCER_SOURCE: &str = "127.0.0.5";
const CLIENT: &str = "127.0.0.9";
const THIEF: &str = "127.0.0.8";

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

/// One ringftpd behind the balancer.
struct Node {
    name: String,
    server: Server,
    metrics: SocketAddr,
    xferlog: PathBuf,
    passive: String,
}

impl Node {
    fn start(name: &str, addr: &str, root: &Path, dir: &Path, extra: &[&str]) -> Node {
        let conf = dir.join(format!("{name}.toml"));
        std::fs::write(
            &conf,
            format!("banner = \"{name} ready.\"\n[limits]\nlogin_failure_delay_ms = 10\n"),
        )
        .unwrap();
        let xferlog = dir.join(format!("{name}.xferlog"));
        let passive = private_port_range(16);
        let mut args: Vec<String> = [
            "--config",
            conf.to_str().unwrap(),
            "serve",
            root.to_str().unwrap(),
            "--listen",
            &format!("{addr}:0"),
            "--passive-ports",
            &passive,
            "--workers",
            "2",
            "--proxy-from",
            &format!("{BALANCER_SOURCE}/32"),
            "--xferlog",
            xferlog.to_str().unwrap(),
            "--metrics",
            "127.0.0.1:0",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        args.extend(extra.iter().map(|s| s.to_string()));
        let launch = Launch {
            stderr_file: Some(dir.join(format!("{name}.log"))),
            log: Some("ringftpd=debug,ringftp_dataplane=debug".into()),
            ..Launch::default()
        };
        let mut server = Server::launch(&args, &launch);
        let metrics = server.metrics_addr();
        Node {
            name: name.into(),
            server,
            metrics,
            xferlog,
            passive,
        }
    }

    fn metric(&self, name: &str) -> f64 {
        let (status, body) = http_get(self.metrics, "/metrics");
        assert_eq!(status, 200);
        metric_sum(&body, name, &[])
    }

    /// Client addresses in this node's xferlog (the fourth whitespace field after the
    /// 24-character date is the host).
    fn logged_hosts(&self) -> Vec<String> {
        std::fs::read_to_string(&self.xferlog)
            .unwrap_or_default()
            .lines()
            .map(|l| l[24..].split_whitespace().nth(1).unwrap().to_string())
            .collect()
    }
}

/// HAProxy in front of the nodes, stopped by PID when dropped.
struct Balancer {
    child: Child,
    front: SocketAddr,
}

impl Balancer {
    fn start(dir: &Path, nodes: &[&Node]) -> Balancer {
        let haproxy = require_tool("haproxy");
        let front = free_port();
        let ready = free_port();
        let mut servers = String::new();
        let mut passive = String::new();
        for n in nodes {
            let addr = n.server.addr();
            servers.push_str(&format!(
                "    server {name} {addr} send-proxy-v2 check check-send-proxy inter 300ms fall 2 rise 1\n",
                name = n.name
            ));
            // No `check` here: a health check would take a passive listener's connection.
            // A port-less server line keeps the port the client dialled.
            passive.push_str(&format!(
                "listen pasv-{name}\n    bind {BALANCER}:{range}\n    server {name} {ip} send-proxy-v2\n",
                name = n.name,
                range = n.passive,
                ip = addr.ip()
            ));
        }
        let cfg = format!(
            "global\n    maxconn 4000\n\
             defaults\n    mode tcp\n    timeout connect 5s\n    timeout client 60s\n    timeout server 60s\n    timeout tunnel 1h\n    source {BALANCER_SOURCE}\n    retries 3\n    option redispatch\n\
             frontend ftp\n    bind {BALANCER}:{front}\n    default_backend nodes\n\
             backend nodes\n    balance roundrobin\n{servers}\
             {passive}\
             listen ready\n    mode http\n    bind {BALANCER}:{ready}\n    monitor-uri /ready\n",
            front = front.port(),
            ready = ready.port(),
        );
        let path = dir.join("haproxy.cfg");
        std::fs::write(&path, cfg).unwrap();
        let check = Command::new(&haproxy)
            .arg("-c")
            .arg("-f")
            .arg(&path)
            .output()
            .unwrap();
        assert!(
            check.status.success(),
            "haproxy -c: {}",
            String::from_utf8_lossy(&check.stderr)
        );
        let child = Command::new(&haproxy)
            .arg("-db")
            .arg("-f")
            .arg(&path)
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(dir.join("haproxy.log")).unwrap())
            .spawn()
            .expect("start haproxy");
        // HAProxy binds every listener before it serves any, so the monitor answering
        // means the frontend and the passive ranges are bound too.
        assert!(
            wait_until(Duration::from_secs(10), || TcpStream::connect(ready)
                .is_ok()),
            "haproxy did not start"
        );
        Balancer { child, front }
    }
}

impl Drop for Balancer {
    fn drop(&mut self) {
        signal(self.child.id(), "TERM");
        let _ = self.child.wait();
    }
}

fn free_port() -> SocketAddr {
    let range = private_port_range(1);
    let port: u16 = range.split('-').next().unwrap().parse().unwrap();
    SocketAddr::new(ip(BALANCER), port)
}

struct Cluster {
    /// Configs and logs of HAProxy and the nodes, kept until the cluster stops.
    _dir: tempfile::TempDir,
    root: tempfile::TempDir,
    nodes: Vec<Node>,
    balancer: Balancer,
}

impl Cluster {
    fn start(extra: &[&str]) -> Cluster {
        let root = tempfile::tempdir().unwrap();
        write_pattern(&root.path().join("file.bin"), 3_000_001);
        write_pattern(&root.path().join("big.bin"), 64 << 20);
        std::fs::create_dir_all(root.path().join("tree/a b")).unwrap();
        write_pattern(&root.path().join("tree/a b/one.deb"), 123_457);
        write_pattern(&root.path().join("tree/two.txt"), 70_001);
        std::fs::write(root.path().join("tree/empty"), b"").unwrap();
        let dir = tempfile::tempdir().unwrap();
        let nodes = vec![
            Node::start("n1", "127.0.0.2", root.path(), dir.path(), extra),
            Node::start("n2", "127.0.0.3", root.path(), dir.path(), extra),
        ];
        let balancer = Balancer::start(dir.path(), &nodes.iter().collect::<Vec<_>>());
        Cluster {
            _dir: dir,
            root,
            nodes,
            balancer,
        }
    }

    fn front(&self) -> SocketAddr {
        self.balancer.front
    }

    fn file(&self, name: &str) -> Vec<u8> {
        std::fs::read(self.root.path().join(name)).unwrap()
    }

    /// Log in through the balancer from `source`; returns the session and the node
    /// name its banner gave.
    fn login_from(&self, source: &str) -> (RawFtp, String) {
        let (mut ftp, (code, text)) = RawFtp::connect_from(ip(source), self.front());
        assert_eq!(code, 220, "{text}");
        let node = text[4..].split_whitespace().next().unwrap().to_string();
        assert_eq!(ftp.cmd("USER anonymous").0, 331);
        assert_eq!(ftp.cmd("PASS x@").0, 230);
        (ftp, node)
    }
}

/// Connect to the port a passive reply named, on the balancer, from `source`.
fn connect_data(source: &str, port: u16) -> TcpStream {
    connect_from(ip(source), SocketAddr::new(ip(BALANCER), port))
}

fn curl(args: &[&str]) -> Vec<u8> {
    let mut cmd = Command::new(require_tool("curl"));
    cmd.args(["-sS", "--max-time", "60", "--interface", CLIENT]);
    cmd.args(args);
    run_ok(&mut cmd)
}

#[test]
fn clients_through_the_balancer_reach_both_instances_as_themselves() {
    let c = Cluster::start(&[]);
    let url = format!("ftp://{}/file.bin", c.front());
    let want = c.file("file.bin");
    // curl: EPSV, PASV and active mode (EPRT, then PORT), twice each so that round
    // robin puts each mode on both instances.
    for _ in 0..2 {
        assert!(curl(&[&url]) == want, "curl EPSV");
        assert!(curl(&["--disable-epsv", &url]) == want, "curl PASV");
        assert!(curl(&["-P", CLIENT, &url]) == want, "curl EPRT");
        assert!(
            curl(&["-P", CLIENT, "--disable-eprt", &url]) == want,
            "curl PORT"
        );
    }

    // PASV through the balancer announces the balancer's address, not the instance's.
    let (mut ftp, _) = c.login_from(CLIENT);
    let (code, text) = ftp.cmd("PASV");
    assert_eq!(code, 227, "{text}");
    assert!(text.contains("(127,0,0,1,"), "{text}");
    assert_eq!(ftp.cmd("QUIT").0, 221);

    // lftp mirror, passive (its default) and from the client's address.
    let out = tempfile::tempdir().unwrap();
    let target = out.path().join("copy");
    let script = format!(
        "set net:max-retries 1; set net:timeout 30; set net:socket-bind-ipv4 {CLIENT}; set ftp:passive-mode true; open ftp://anonymous:x@{}; mirror --parallel=2 /tree {}; bye",
        c.front(),
        target.display()
    );
    run_ok(Command::new(require_tool("lftp")).arg("-c").arg(&script));
    for f in ["a b/one.deb", "two.txt", "empty"] {
        let got = std::fs::read(target.join(f)).unwrap();
        assert!(got == c.file(&format!("tree/{f}")), "lftp copy of {f}");
    }

    // Python ftplib from the client's address.
    let dest = out.path().join("ftplib.bin");
    let script = format!(
        "import ftplib\nftp = ftplib.FTP(source_address=('{CLIENT}', 0))\nftp.connect('{}', {}, timeout=30)\nftp.login()\nwith open('{}', 'wb') as f:\n    ftp.retrbinary('RETR file.bin', f.write)\nftp.quit()\n",
        c.front().ip(),
        c.front().port(),
        dest.display()
    );
    run_ok(Command::new(require_tool("python3")).arg("-c").arg(&script));
    assert!(std::fs::read(&dest).unwrap() == want, "ftplib copy");

    // Both instances served transfers, and both logged the real client only.
    for n in &c.nodes {
        let hosts = n.logged_hosts();
        assert!(hosts.len() >= 4, "{} logged {hosts:?}", n.name);
        assert!(hosts.iter().all(|h| h == CLIENT), "{}: {hosts:?}", n.name);
        assert!(n.metric("ringftpd_proxied_sessions_total") >= 4.0);
        assert_eq!(n.metric("ringftpd_proxy_header_failures_total"), 0.0);
    }
}

#[test]
fn a_thief_through_the_balancer_gets_nothing() {
    let c = Cluster::start(&[]);
    let (mut ftp, node) = c.login_from(CLIENT);
    let node = c.nodes.iter().find(|n| n.name == node).unwrap();
    let port = ftp.pasv().expect("PASV");
    ftp.send_raw(b"RETR file.bin\r\n");
    // The thief dials the announced port first, through the balancer as well.
    let mut thief = connect_data(THIEF, port);
    thief
        .set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    assert!(
        wait_until(Duration::from_secs(10), || node
            .metric("ringftpd_passive_foreign_refused_total")
            >= 1.0),
        "the thief's connection was not refused"
    );
    let mut stolen = Vec::new();
    let _ = thief.read_to_end(&mut stolen);
    assert!(stolen.is_empty(), "thief got {} bytes", stolen.len());
    let mut data = connect_data(CLIENT, port);
    let mut got = Vec::new();
    data.read_to_end(&mut got).unwrap();
    assert_eq!(ftp.reply().0, 150);
    assert_eq!(ftp.reply().0, 226);
    assert!(got == c.file("file.bin"), "rightful client's copy");
}

#[test]
fn the_per_address_cap_counts_the_real_client() {
    let c = Cluster::start(&["--max-sessions-per-ip", "2"]);
    // Two per instance: four sessions from one client fit, the next ones do not.
    let mut open = Vec::new();
    let mut refused = 0;
    for _ in 0..6 {
        let stream = connect_from(ip(CLIENT), c.front());
        match RawFtp::from_stream_or_closed(stream) {
            (Some(ftp), (220, _)) => open.push(ftp),
            (_, (421, text)) => {
                assert!(text.contains("your address"), "{text}");
                refused += 1;
            }
            (_, other) => panic!("unexpected greeting {other:?}"),
        }
    }
    assert_eq!((open.len(), refused), (4, 2));
    // Another client behind the same balancer is not counted with the first.
    let (mut other, _) = c.login_from("127.0.0.10");
    assert_eq!(other.cmd("NOOP").0, 200);
}

#[test]
fn a_forged_header_from_an_untrusted_peer_is_not_believed() {
    let c = Cluster::start(&[]);
    let n1 = &c.nodes[0];
    // Straight to the instance, not through the balancer: plain FTP from its real peer.
    let (mut ftp, (code, _)) = RawFtp::connect_from(ip(THIEF), n1.server.addr());
    assert_eq!(code, 220);
    let (code, _) = ftp.cmd("PROXY TCP4 198.51.100.7 127.0.0.2 40000 21");
    assert_eq!(code, 500);
    assert_eq!(ftp.cmd("USER anonymous").0, 331);
    assert_eq!(ftp.cmd("PASS x@").0, 230);
    let port = ftp.pasv().expect("PASV");
    ftp.send_raw(b"RETR file.bin\r\n");
    let mut data = connect_from(ip(THIEF), SocketAddr::new(n1.server.addr().ip(), port));
    let mut got = Vec::new();
    data.read_to_end(&mut got).unwrap();
    assert_eq!(ftp.reply().0, 150);
    assert_eq!(ftp.reply().0, 226);
    assert!(got == c.file("file.bin"));
    assert_eq!(n1.logged_hosts(), vec![THIEF.to_string()]);
    // A data connection from the trusted balancer address without a header is
    // refused: from a trusted source the header is required.
    let port = ftp.pasv().expect("PASV");
    ftp.send_raw(b"RETR file.bin\r\n");
    let before = n1.metric("ringftpd_proxy_header_failures_total");
    let mut headerless = connect_from(
        ip(BALANCER_SOURCE),
        SocketAddr::new(n1.server.addr().ip(), port),
    );
    headerless.write_all(b"not a header at all\r\n").unwrap();
    assert!(wait_until(Duration::from_secs(10), || n1
        .metric("ringftpd_proxy_header_failures_total")
        > before));
    let mut data = connect_from(ip(THIEF), SocketAddr::new(n1.server.addr().ip(), port));
    let mut got = Vec::new();
    data.read_to_end(&mut got).unwrap();
    assert_eq!(ftp.reply().0, 150);
    assert_eq!(ftp.reply().0, 226);
    assert_eq!(got.len(), c.file("file.bin").len());
}

#[test]
fn half_headers_and_silent_trusted_peers_are_closed_within_the_bound() {
    let root = tempfile::tempdir().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("n.toml");
    std::fs::write(&conf, "[proxy_protocol]\nheader_timeout_secs = 1\n").unwrap();
    let server = Server::serve(
        root.path(),
        &[
            "--config",
            conf.to_str().unwrap(),
            "--listen",
            "127.0.0.2:0",
            "--proxy-from",
            BALANCER_SOURCE,
        ],
    );
    let baseline = server.stable_fd_count();
    let mut v2 = b"\r\n\r\n\0\r\nQUIT\n\x21\x11\x00\x0c".to_vec();
    v2.extend_from_slice(&[127, 0, 0, 9, 127, 0, 0, 1]); // 8 of the 12 address bytes
    let started = Instant::now();
    let mut conns = Vec::new();
    for i in 0..30 {
        let mut s = connect_from(ip(BALANCER_SOURCE), server.addr());
        match i % 3 {
            0 => {}                                         // silent
            1 => s.write_all(&v2).unwrap(),                 // half a v2 header, then nothing
            _ => s.write_all(b"PROXY TCP4 127.0").unwrap(), // half a v1 line
        }
        s.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
        conns.push(s);
    }
    for mut s in conns {
        let mut got = Vec::new();
        // Closed without a banner: the greeting waits for the header.
        let _ = s.read_to_end(&mut got);
        assert!(got.is_empty(), "sent {:?}", String::from_utf8_lossy(&got));
    }
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(900),
        "closed after {waited:?}"
    );
    assert!(waited < Duration::from_secs(15), "closed after {waited:?}");
    // Half a header and then EOF is closed at once (no spinning on EOF).
    let mut s = connect_from(ip(BALANCER_SOURCE), server.addr());
    s.write_all(&v2).unwrap();
    s.shutdown(std::net::Shutdown::Write).unwrap();
    let mut got = Vec::new();
    let _ = s.read_to_end(&mut got);
    assert!(got.is_empty());
    let now = server.fds_settle(baseline, Duration::from_secs(10));
    assert!(now <= baseline, "fds {now} > {baseline}");
    // A complete header still gets its banner, and so does a v2 LOCAL header (what
    // HAProxy's health checks send), served as a session of the balancer itself.
    let mut s = connect_from(ip(BALANCER_SOURCE), server.addr());
    s.write_all(b"PROXY TCP4 127.0.0.9 127.0.0.2 4000 21\r\n")
        .unwrap();
    let (_, (code, _)) = RawFtp::from_stream(s);
    assert_eq!(code, 220);
    let mut s = connect_from(ip(BALANCER_SOURCE), server.addr());
    s.write_all(b"\r\n\r\n\0\r\nQUIT\n\x20\x00\x00\x00")
        .unwrap();
    let (mut ftp, (code, _)) = RawFtp::from_stream(s);
    assert_eq!(code, 220);
    let (code, text) = ftp.cmd("STAT");
    assert_eq!(code, 211);
    assert!(text.contains(BALANCER_SOURCE), "{text}");
}

#[test]
fn stopping_one_instance_moves_new_sessions_while_its_transfers_finish() {
    let c = Cluster::start(&[]);
    // A session on n1 with a 64 MiB download under way.
    let (mut ftp, mut node) = c.login_from(CLIENT);
    let mut spare = Vec::new();
    while node != "n1" {
        spare.push(ftp);
        (ftp, node) = c.login_from(CLIENT);
    }
    drop(spare);
    let port = ftp.pasv().expect("PASV");
    ftp.send_raw(b"RETR big.bin\r\n");
    let mut data = connect_data(CLIENT, port);
    let mut got = vec![0u8; 1 << 20];
    data.read_exact(&mut got).unwrap();
    assert_eq!(ftp.reply().0, 150);

    let n1 = &c.nodes[0];
    signal(n1.server.pid(), "TERM");
    // Once n1 has closed its listener, HAProxy's connects are refused and redispatched.
    assert!(wait_until(Duration::from_secs(10), || TcpStream::connect(
        n1.server.addr()
    )
    .is_err()));
    for _ in 0..4 {
        let (mut s, node) = c.login_from(CLIENT);
        assert_eq!(node, "n2");
        assert_eq!(s.cmd("QUIT").0, 221);
    }
    // The running transfer completes, byte for byte.
    data.read_to_end(&mut got).unwrap();
    assert_eq!(ftp.reply().0, 226);
    assert!(
        got == c.file("big.bin"),
        "the download on the stopped instance"
    );
}

#[test]
fn the_shipped_example_config_is_valid() {
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../deploy/haproxy/haproxy.cfg");
    let out = Command::new(require_tool("haproxy"))
        .arg("-c")
        .arg("-f")
        .arg(&example)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "haproxy -c {}: {}",
        example.display(),
        String::from_utf8_lossy(&out.stderr)
    );
}
