//! Leaving root and the sandbox, end to end: ringftpd started as root on port 21 with
//! `run_as = "nobody"` (every thread's credentials and capabilities read from
//! /proc/PID/task), downloads in both modes from port 20, symlinks leaving the root
//! against the Landlock sandbox, a SIGHUP reload that would widen the sandbox, and
//! the transfer log reopened on SIGUSR1.
//!
//! The port-21 tests need root (CI runs as root) and the fixed port: they fail with a
//! clear message when either is missing, and take turns on the port.

use std::io::Read;
use std::net::{TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Mutex;
use std::time::Duration;

use ringftp_tests::{
    private_port_range, signal, wait_until, write_pattern, Launch, RawFtp, Server,
};

/// Only one test at a time may listen on 127.0.0.1:21.
static PORT_21: Mutex<()> = Mutex::new(());

const NOBODY: u32 = 65534;
const CAP_NET_BIND_SERVICE: u64 = 1 << 10;
const BIG: usize = 3 << 20;

fn is_root() -> bool {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let euid = status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|v| v.split_whitespace().nth(1))
        .unwrap()
        .to_string();
    euid == "0"
}

fn require_root() {
    assert!(
        is_root(),
        "this test starts ringftpd as root to check that it leaves root: run it as root (CI does)"
    );
}

/// Take the port-21 turn, and fail clearly when something else holds the port.
fn port_21() -> std::sync::MutexGuard<'static, ()> {
    let turn = PORT_21.lock().unwrap_or_else(|p| p.into_inner());
    if let Err(e) = TcpListener::bind("127.0.0.1:21") {
        panic!("127.0.0.1:21 is not free ({e}): stop what listens there, this test needs port 21");
    }
    turn
}

/// A temporary folder others can read (tempfile makes them 0700): served to `nobody`.
fn world_readable_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    dir
}

/// Served tree: `small.txt`, `big.bin` (spliced, larger than the small-file path).
fn served_tree() -> tempfile::TempDir {
    let root = world_readable_dir();
    std::fs::write(root.path().join("small.txt"), b"hello from the root\n").unwrap();
    write_pattern(&root.path().join("big.bin"), BIG);
    for f in ["small.txt", "big.bin"] {
        let p = root.path().join(f);
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o644)).unwrap();
    }
    root
}

fn user_entry(name: &str, hash: &str, root: &Path, perms: &str) -> String {
    format!(
        "[[user]]\nname = {name:?}\npassword = {hash:?}\nroot = {:?}\npermissions = [{perms}]\n",
        root.display().to_string()
    )
}

/// Write `ringftpd.toml` into `dir` and start the server with it, its log in a file.
fn start(dir: &Path, toml: &str) -> (Server, PathBuf) {
    let conf = dir.join("ringftpd.toml");
    std::fs::write(&conf, toml).unwrap();
    let log = dir.join("stderr.log");
    let launch = Launch {
        stderr_file: Some(log.clone()),
        log: Some("info".into()),
        ..Launch::default()
    };
    let server = Server::launch(&["--config".into(), conf.display().to_string()], &launch);
    (server, log)
}

fn log_has(log: &Path, needle: &str) -> bool {
    wait_until(Duration::from_secs(10), || {
        std::fs::read_to_string(log).is_ok_and(|t| t.contains(needle))
    })
}

/// RETR over EPSV; the reply code of the RETR and the bytes received.
fn retr_passive(ftp: &mut RawFtp, path: &str) -> (u16, Vec<u8>) {
    let mut data = ftp.epsv_connect();
    let (code, text) = ftp.cmd(&format!("RETR {path}"));
    if code != 150 {
        return (code, text.into_bytes());
    }
    let mut got = Vec::new();
    data.read_to_end(&mut got).unwrap();
    assert_eq!(ftp.reply().0, 226);
    (code, got)
}

/// RETR in active mode (PORT to our own listener): the bytes and the server's source port.
fn retr_active(ftp: &mut RawFtp, path: &str) -> (Vec<u8>, u16) {
    let own = TcpListener::bind("127.0.0.1:0").unwrap();
    let p = own.local_addr().unwrap().port();
    assert_eq!(
        ftp.cmd(&format!("PORT 127,0,0,1,{},{}", p >> 8, p & 255)).0,
        200
    );
    assert_eq!(ftp.cmd(&format!("RETR {path}")).0, 150);
    let (mut data, from): (TcpStream, _) = own.accept().unwrap();
    let mut got = Vec::new();
    data.read_to_end(&mut got).unwrap();
    assert_eq!(ftp.reply().0, 226);
    (got, from.port())
}

/// One thread's credentials from /proc/PID/task/TID/status.
#[derive(Debug)]
struct ThreadCreds {
    name: String,
    uids: Vec<u32>,
    gids: Vec<u32>,
    groups: String,
    cap_eff: u64,
    cap_prm: u64,
    cap_inh: u64,
    cap_amb: u64,
    no_new_privs: bool,
}

fn threads_of(pid: u32) -> Vec<ThreadCreds> {
    let mut threads = Vec::new();
    for task in std::fs::read_dir(format!("/proc/{pid}/task")).unwrap() {
        let dir = task.unwrap().path();
        // A thread may exit between listing and reading.
        let Ok(status) = std::fs::read_to_string(dir.join("status")) else {
            continue;
        };
        let field = |name: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .unwrap_or("")
                .trim()
                .to_string()
        };
        let ids = |name: &str| -> Vec<u32> {
            field(name)
                .split_whitespace()
                .map(|v| v.parse().unwrap())
                .collect()
        };
        let hex = |name: &str| u64::from_str_radix(&field(name), 16).unwrap();
        threads.push(ThreadCreds {
            name: field("Name:"),
            uids: ids("Uid:"),
            gids: ids("Gid:"),
            groups: field("Groups:"),
            cap_eff: hex("CapEff:"),
            cap_prm: hex("CapPrm:"),
            cap_inh: hex("CapInh:"),
            cap_amb: hex("CapAmb:"),
            no_new_privs: field("NoNewPrivs:") == "1",
        });
    }
    threads
}

fn assert_every_thread_is_nobody(pid: u32, caps: u64) {
    let threads = threads_of(pid);
    let names: Vec<&str> = threads.iter().map(|t| t.name.as_str()).collect();
    // The main thread, both workers, and the blocking-pool thread the password check
    // just started (tokio keeps it 10 s); io_uring's kernel workers (spliced reads)
    // too while they exist.
    assert!(
        names.iter().filter(|n| n.starts_with("ringftpd-w")).count() == 2 && threads.len() >= 4,
        "threads: {names:?}"
    );
    for t in &threads {
        assert_eq!(
            t.uids,
            vec![NOBODY; 4],
            "real/effective/saved/fs uid of {t:?}"
        );
        assert_eq!(
            t.gids,
            vec![NOBODY; 4],
            "real/effective/saved/fs gid of {t:?}"
        );
        assert_eq!(t.groups, "", "supplementary groups of {t:?}");
        assert_eq!(
            (t.cap_eff, t.cap_prm),
            (caps, caps),
            "capabilities of {t:?}"
        );
        assert_eq!((t.cap_inh, t.cap_amb), (0, 0), "capabilities of {t:?}");
        assert!(t.no_new_privs, "NO_NEW_PRIVS of {t:?}");
    }
}

/// Started as root on port 21 with `run_as = "nobody"`: downloads in both modes (from
/// port 20), a named login, the transfer log; then every thread is checked.
fn serve_as_nobody(active_source_port: u16) -> u16 {
    require_root();
    let _turn = port_21();
    let root = served_tree();
    let conf_dir = world_readable_dir();
    let logs = world_readable_dir();
    std::os::unix::fs::chown(logs.path(), Some(NOBODY), Some(NOBODY)).unwrap();
    let users = conf_dir.path().join("users.toml");
    let hash = ringftp_tests::fixtures::hash_password("s3cret");
    std::fs::write(&users, user_entry("alice", &hash, root.path(), "\"read\"")).unwrap();
    let toml = format!(
        "root = {root:?}\nlisten = [\"127.0.0.1:21\"]\nworkers = 2\nrun_as = \"nobody\"\n\
         active_source_port = {active_source_port}\npassive_ports = {ports:?}\n\
         users_file = {users:?}\n[log]\nxferlog = {xferlog:?}\n",
        root = root.path().display().to_string(),
        ports = private_port_range(16),
        users = users.display().to_string(),
        xferlog = logs.path().join("xferlog").display().to_string(),
    );
    let (server, log) = start(conf_dir.path(), &toml);
    assert_eq!(server.addr().port(), 21);
    assert!(log_has(&log, "switched to the unprivileged user"));

    let mut ftp = RawFtp::login(server.addr());
    let (code, small) = retr_passive(&mut ftp, "small.txt");
    assert_eq!(
        (code, small.as_slice()),
        (150, &b"hello from the root\n"[..])
    );
    let (code, big) = retr_passive(&mut ftp, "big.bin");
    assert_eq!(code, 150);
    assert_eq!(big, std::fs::read(root.path().join("big.bin")).unwrap());
    let (active, from_port) = retr_active(&mut ftp, "big.bin");
    assert_eq!(active.len(), BIG);
    // A named login runs its password check on the blocking pool: one more thread.
    let (mut named, _) = RawFtp::connect(server.addr());
    assert_eq!(named.cmd("USER alice").0, 331);
    assert_eq!(named.cmd("PASS s3cret").0, 230);
    let (code, _) = retr_passive(&mut named, "small.txt");
    assert_eq!(code, 150);

    let caps = if active_source_port == 20 {
        CAP_NET_BIND_SERVICE
    } else {
        0
    };
    assert_every_thread_is_nobody(server.pid(), caps);
    // The transfer log was created by the unprivileged user (so it can be created
    // again after a rotation) and holds the four transfers.
    let xferlog = logs.path().join("xferlog");
    assert!(wait_until(Duration::from_secs(5), || {
        std::fs::read_to_string(&xferlog).is_ok_and(|t| t.lines().count() == 4)
    }));
    use std::os::unix::fs::MetadataExt;
    assert_eq!(std::fs::metadata(&xferlog).unwrap().uid(), NOBODY);
    drop(server);
    from_port
}

#[test]
fn as_nobody_on_port_21_keeping_only_net_bind_service_for_active_port_20() {
    let from_port = serve_as_nobody(20);
    assert_eq!(from_port, 20, "active-mode data connection source port");
}

#[test]
fn as_nobody_on_port_21_with_no_capability_left_without_port_20() {
    let from_port = serve_as_nobody(0);
    assert_ne!(from_port, 20);
}

/// `follow_symlinks_outside = true` and a symlink to /etc: the sandbox refuses the
/// file (550, and the log says why) unless /etc is an extra read path.
#[test]
fn a_symlink_out_of_the_root_reaches_only_extra_read_paths() {
    let root = served_tree();
    std::os::unix::fs::symlink("/etc", root.path().join("etc")).unwrap();
    for (extra, allowed) in [
        ("", false),
        ("[sandbox]\nextra_read_paths = [\"/etc\"]\n", true),
    ] {
        let conf_dir = tempfile::tempdir().unwrap();
        let toml = format!(
            "root = {:?}\nlisten = [\"127.0.0.1:0\"]\nfollow_symlinks_outside = true\n\
             passive_ports = {:?}\n{extra}",
            root.path().display().to_string(),
            private_port_range(16),
        );
        let (server, log) = start(conf_dir.path(), &toml);
        assert!(log_has(&log, "filesystem sandbox enforced"));
        let mut ftp = RawFtp::login(server.addr());
        let (code, got) = retr_passive(&mut ftp, "etc/passwd");
        if allowed {
            assert_eq!(code, 150);
            assert_eq!(got, std::fs::read("/etc/passwd").unwrap());
        } else {
            assert_eq!(code, 550, "{}", String::from_utf8_lossy(&got));
            assert!(
                log_has(&log, "open refused by the sandbox") && log_has(&log, "/etc/passwd"),
                "{}",
                std::fs::read_to_string(&log).unwrap()
            );
            // Inside the root everything still works.
            assert_eq!(retr_passive(&mut ftp, "small.txt").0, 150);
        }
    }
}

/// A SIGHUP reload whose users file adds an upload root outside the sandbox is
/// refused, naming the folder, and the running configuration keeps serving.
#[test]
fn a_reload_adding_a_root_outside_the_sandbox_is_refused() {
    let root = served_tree();
    let outside = world_readable_dir();
    std::fs::write(outside.path().join("secret.txt"), b"outside").unwrap();
    let conf_dir = tempfile::tempdir().unwrap();
    let users = conf_dir.path().join("users.toml");
    let hash = ringftp_tests::fixtures::hash_password("pw");
    let alice = user_entry("alice", &hash, root.path(), "\"read\"");
    std::fs::write(&users, &alice).unwrap();
    let toml = format!(
        "root = {:?}\nlisten = [\"127.0.0.1:0\"]\npassive_ports = {:?}\nusers_file = {:?}\n",
        root.path().display().to_string(),
        private_port_range(16),
        users.display().to_string(),
    );
    let (server, log) = start(conf_dir.path(), &toml);
    assert!(log_has(&log, "filesystem sandbox enforced"));
    let bob = user_entry("bob", &hash, outside.path(), "\"read\", \"write\"");
    std::fs::write(&users, format!("{alice}\n{bob}")).unwrap();
    signal(server.pid(), "HUP");
    assert!(log_has(&log, "reload refused"));
    let text = std::fs::read_to_string(&log).unwrap();
    let outside_path = outside.path().canonicalize().unwrap();
    assert!(
        text.contains("the root of user \"bob\"")
            && text.contains(&outside_path.display().to_string())
            && text.contains("needs a restart"),
        "{text}"
    );
    // The old users file stays: bob is unknown, alice still downloads.
    let (mut ftp, _) = RawFtp::connect(server.addr());
    assert_eq!(ftp.cmd("USER bob").0, 331);
    assert_eq!(ftp.cmd("PASS pw").0, 530);
    let (mut ftp, _) = RawFtp::connect(server.addr());
    assert_eq!(ftp.cmd("USER alice").0, 331);
    assert_eq!(ftp.cmd("PASS pw").0, 230);
    assert_eq!(retr_passive(&mut ftp, "small.txt").0, 150);
}

/// logrotate moves the transfer log away and sends SIGUSR1: later transfers go to a
/// new file at the configured path.
#[test]
fn the_transfer_log_is_reopened_on_sigusr1() {
    let root = served_tree();
    let conf_dir = tempfile::tempdir().unwrap();
    let xferlog = conf_dir.path().join("xferlog");
    let toml = format!(
        "root = {:?}\nlisten = [\"127.0.0.1:0\"]\npassive_ports = {:?}\n[log]\nxferlog = {:?}\n",
        root.path().display().to_string(),
        private_port_range(16),
        xferlog.display().to_string(),
    );
    let (server, log) = start(conf_dir.path(), &toml);
    if is_root() {
        // No `run_as` here: a root process says what staying root risks.
        assert!(log_has(&log, "running as root without `run_as`"));
    }
    let mut ftp = RawFtp::login(server.addr());
    assert_eq!(retr_passive(&mut ftp, "small.txt").0, 150);
    let lines = |p: &Path| {
        std::fs::read_to_string(p)
            .map(|t| t.lines().count())
            .unwrap_or(0)
    };
    assert!(wait_until(Duration::from_secs(5), || lines(&xferlog) == 1));
    let rotated = conf_dir.path().join("xferlog.1");
    std::fs::rename(&xferlog, &rotated).unwrap();
    signal(server.pid(), "USR1");
    assert!(log_has(&log, "transfer log reopened"));
    assert!(xferlog.exists(), "reopening creates the file again");
    assert_eq!(retr_passive(&mut ftp, "big.bin").0, 150);
    assert!(wait_until(Duration::from_secs(5), || lines(&xferlog) == 1));
    assert_eq!(lines(&rotated), 1);
    assert!(std::fs::read_to_string(&xferlog)
        .unwrap()
        .contains("big.bin"));
}

/// The kernel without Landlock (a seccomp filter answering ENOSYS to the Landlock calls,
/// set up by python3-seccomp before exec): ringftpd starts and warns, and with
/// `sandbox.require = true` it refuses to start, saying why.
#[test]
fn without_landlock_it_warns_or_refuses_with_sandbox_require() {
    let python = Path::new("/usr/bin/python3");
    let has_seccomp = Command::new(python)
        .args(["-c", "import seccomp"])
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        has_seccomp,
        "python3-seccomp is required by this test (tests/run.sh installs it)"
    );
    let wrapper = Path::new(env!("CARGO_MANIFEST_DIR")).join("clients/without_landlock.py");
    let root = served_tree();
    for require in [false, true] {
        let conf_dir = tempfile::tempdir().unwrap();
        let conf = conf_dir.path().join("ringftpd.toml");
        std::fs::write(
            &conf,
            format!(
                "root = {:?}\nlisten = [\"127.0.0.1:0\"]\npassive_ports = {:?}\n[sandbox]\nrequire = {require}\n",
                root.path().display().to_string(),
                private_port_range(16),
            ),
        )
        .unwrap();
        let log = conf_dir.path().join("stderr.log");
        let mut child = StopOnDrop(
            Command::new(python)
                .arg(&wrapper)
                .arg(ringftp_tests::binary("ringftpd"))
                .arg("--config")
                .arg(&conf)
                .env("RUST_LOG", "info")
                .stdout(Stdio::piped())
                .stderr(std::fs::File::create(&log).unwrap())
                .spawn()
                .unwrap(),
        );
        let child = &mut child.0;
        let mut stdout = std::io::BufReader::new(child.stdout.take().unwrap());
        let mut line = String::new();
        std::io::BufRead::read_line(&mut stdout, &mut line).unwrap();
        if require {
            let status = child.wait().unwrap();
            let text = std::fs::read_to_string(&log).unwrap();
            assert!(!status.success() && line.is_empty(), "{status} {line}");
            assert!(
                text.contains("`sandbox.require = true` but the kernel enforces no Landlock"),
                "{text}"
            );
        } else {
            assert!(line.contains("serving"), "{line}");
            let addr = line.trim().rsplit(" on ").next().unwrap().parse().unwrap();
            let mut ftp = RawFtp::login(addr);
            assert_eq!(retr_passive(&mut ftp, "small.txt").0, 150);
            assert!(log_has(&log, "no filesystem sandbox"));
            signal(child.id(), "TERM");
            assert!(child.wait().unwrap().success());
        }
    }
}

/// A server started without the test library's `Server`: stopped if a check fails.
struct StopOnDrop(std::process::Child);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        if let Ok(None) = self.0.try_wait() {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
}
