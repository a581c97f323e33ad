//! The configuration file: one typed struct, read and validated once, then turned
//! into the engine's and the control plane's settings. Flags override file keys.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use ringftp_control::auth::{AnonymousPolicy, Authenticator, UsersFile};
use ringftp_control::line::DEFAULT_MAX_LINE;
use ringftp_control::policy::{ConnectionLimits, LoginGuard, SecurityPolicy};
use ringftp_control::proxy::TrustedProxies;
use ringftp_control::session::{SessionConfig, TlsPolicy, TlsRequire};
use ringftp_control::vfs::Permissions;
use ringftp_dataplane::passive_ports::PortRange;
use ringftp_dataplane::proxy_header::ProxyTrust;
use ringftp_dataplane::rate_limit::{RateCaps, RateLimiter};
use ringftp_dataplane::tls::TlsServer;
use ringftp_dataplane::transfer_log::TransferLog;
use ringftp_dataplane::EngineConfig;
use serde::{Deserialize, Serialize};

use crate::cli::Overrides;
use crate::privileges::{PrivilegeError, RunAs};
use crate::rates::{self, ClassRates, RateKind};
use crate::sandbox::{SandboxError, SandboxPlan};

/// Bytes a download's socket may hold not yet sent (TCP_NOTSENT_LOWAT). The kernel
/// would otherwise queue up to the whole autotuned send buffer (4 MiB by default) for
/// every slow client; this much keeps a fast one busy between two splices.
pub const DEFAULT_UNSENT_MAX: usize = 64 * 1024;

/// Largest `transfer.pipe_size` accepted (F_SETPIPE_SZ takes an int; 64 MiB is far past any gain).
const MAX_PIPE_SIZE: usize = 64 << 20;

/// Why the configuration cannot be used; the message names the key.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("invalid `{key}`: {reason}")]
    Invalid { key: &'static str, reason: String },
}

fn invalid(key: &'static str, reason: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        key,
        reason: reason.into(),
    }
}

/// The TOML file, key for key. Every key is optional; defaults suit `serve FOLDER`.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct FileConfig {
    /// Folder served as `/`.
    pub root: Option<PathBuf>,
    /// Control listen addresses.
    pub listen: Vec<SocketAddr>,
    /// Worker threads; 0 = one per CPU.
    pub workers: usize,
    /// Pin worker N to CPU N. Off by default: where anything else runs on the
    /// machine, a pinned worker waits for its core while another sits idle; pin only
    /// cores kept for ringftpd alone.
    pub pin_workers: bool,
    /// Passive range split evenly between workers.
    pub passive_ports: String,
    /// Explicit passive slice per worker (overrides the even split).
    pub passive_ports_per_worker: Vec<String>,
    /// Address announced in PASV replies.
    pub pasv_address: Option<IpAddr>,
    /// Source port of active-mode connections (falls back to any port).
    pub active_source_port: Option<u16>,
    /// Follow symlinks that lead outside the root.
    pub follow_symlinks_outside: bool,
    /// Uploads appear only when complete (temporary name, then rename).
    pub atomic_uploads: bool,
    /// 220 greeting text.
    pub banner: String,
    /// Users file with argon2id password hashes.
    pub users_file: Option<PathBuf>,
    /// User (and its primary group) to switch to after binding, when started as root.
    pub run_as: Option<String>,
    pub anonymous: AnonymousConfig,
    pub timeouts: TimeoutConfig,
    pub limits: LimitConfig,
    pub security: SecurityConfig,
    pub log: LogConfig,
    pub metrics: MetricsConfig,
    pub transfer: TransferConfig,
    pub proxy_protocol: ProxyProtocolConfig,
    pub sandbox: SandboxConfig,
    pub tls: TlsConfig,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct SandboxConfig {
    /// Apply the Landlock filesystem sandbox after start-up.
    pub enabled: bool,
    /// Refuse to start where the kernel cannot enforce it.
    pub require: bool,
    /// Folders a symlink may lead to outside the roots (`follow_symlinks_outside`).
    pub extra_read_paths: Vec<PathBuf>,
}

impl Default for SandboxConfig {
    fn default() -> Self {
        SandboxConfig {
            enabled: true,
            require: false,
            extra_read_paths: Vec::new(),
        }
    }
}

/// `[tls]`: FTPS. Off unless a certificate and key are given.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct TlsConfig {
    /// PEM certificate chain (leaf first).
    pub cert: Option<PathBuf>,
    /// PEM private key (PKCS#8, PKCS#1 or SEC1).
    pub key: Option<PathBuf>,
    /// Implicit TLS listen addresses (TLS from the first byte, the port-990 style).
    pub listen: Vec<SocketAddr>,
    /// `none`, `login` (named users log in only over TLS) or `data` (and transfer
    /// only with PROT P).
    pub require: String,
    /// PROT P data connections must resume the control connection's TLS session.
    pub require_session_reuse: bool,
    /// Longest a TLS handshake may take.
    pub handshake_timeout_secs: u64,
}

impl Default for TlsConfig {
    fn default() -> Self {
        TlsConfig {
            cert: None,
            key: None,
            listen: Vec::new(),
            require: "none".into(),
            require_session_reuse: true,
            handshake_timeout_secs: 10,
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct AnonymousConfig {
    pub enabled: bool,
    pub require_email: bool,
    pub root: Option<PathBuf>,
    pub permissions: Vec<String>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct TimeoutConfig {
    pub idle_secs: u64,
    pub data_secs: u64,
    pub passive_secs: u64,
    pub shutdown_grace_secs: u64,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitConfig {
    pub max_sessions: usize,
    pub max_sessions_per_ip: usize,
    pub max_line: usize,
    pub commands_per_sec: u32,
    pub command_burst: u32,
    pub login_failures_before_block: u32,
    pub login_block_secs: u64,
    pub login_failure_delay_ms: u64,
    /// Bandwidth caps of anonymous sessions.
    pub anonymous: ClassRates,
    /// Bandwidth caps of named users' sessions.
    pub users: ClassRates,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct SecurityConfig {
    /// Allow PORT/EPRT to addresses other than the client's (FTP bounce). Off.
    pub allow_foreign_active: bool,
    /// Allow PORT/EPRT to ports below 1024. Off.
    pub allow_privileged_active_port: bool,
    /// Accept passive data connections from other addresses than the client's. Off.
    pub allow_foreign_passive: bool,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct LogConfig {
    pub level: String,
    pub xferlog: Option<PathBuf>,
}

#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct MetricsConfig {
    pub listen: Option<SocketAddr>,
}

/// PROXY protocol (v1/v2) from balancers in front of the server.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct ProxyProtocolConfig {
    /// Addresses or CIDRs whose connections must start with a PROXY header.
    pub trusted: Vec<String>,
    /// Time a trusted peer has to send the whole header.
    pub header_timeout_secs: u64,
}

impl Default for ProxyProtocolConfig {
    fn default() -> Self {
        ProxyProtocolConfig {
            trusted: Vec::new(),
            header_timeout_secs: 5,
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct TransferConfig {
    pub pipe_size: usize,
    pub pipes_per_worker: usize,
    pub small_file_max: u64,
    pub unsent_max: usize,
}

impl Default for FileConfig {
    fn default() -> Self {
        FileConfig {
            root: None,
            listen: vec![SocketAddr::from((Ipv4Addr::UNSPECIFIED, 2121))],
            workers: 0,
            pin_workers: false,
            passive_ports: "50000-51999".into(),
            passive_ports_per_worker: Vec::new(),
            pasv_address: None,
            active_source_port: Some(20),
            follow_symlinks_outside: false,
            atomic_uploads: true,
            banner: "ringftpd ready.".into(),
            users_file: None,
            run_as: None,
            anonymous: AnonymousConfig::default(),
            timeouts: TimeoutConfig::default(),
            limits: LimitConfig::default(),
            security: SecurityConfig::default(),
            log: LogConfig::default(),
            metrics: MetricsConfig::default(),
            transfer: TransferConfig::default(),
            proxy_protocol: ProxyProtocolConfig::default(),
            sandbox: SandboxConfig::default(),
            tls: TlsConfig::default(),
        }
    }
}

impl Default for AnonymousConfig {
    fn default() -> Self {
        AnonymousConfig {
            enabled: true,
            require_email: false,
            root: None,
            permissions: vec!["read".into()],
        }
    }
}

impl Default for TimeoutConfig {
    fn default() -> Self {
        TimeoutConfig {
            idle_secs: 300,
            data_secs: 60,
            passive_secs: 30,
            shutdown_grace_secs: 30,
        }
    }
}

impl Default for LimitConfig {
    fn default() -> Self {
        LimitConfig {
            max_sessions: 20_000,
            max_sessions_per_ip: 0,
            max_line: DEFAULT_MAX_LINE,
            commands_per_sec: 500,
            command_burst: 1000,
            login_failures_before_block: 10,
            login_block_secs: 300,
            login_failure_delay_ms: 1000,
            anonymous: ClassRates::default(),
            users: ClassRates::default(),
        }
    }
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            level: "info".into(),
            xferlog: None,
        }
    }
}

impl Default for TransferConfig {
    fn default() -> Self {
        TransferConfig {
            pipe_size: 1 << 20,
            pipes_per_worker: 256,
            small_file_max: 64 * 1024,
            unsent_max: DEFAULT_UNSENT_MAX,
        }
    }
}

impl FileConfig {
    /// Read and parse a config file.
    pub fn load(path: &Path) -> Result<FileConfig, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        toml::from_str(&text).map_err(|e| ConfigError::Parse {
            path: path.to_path_buf(),
            message: e.to_string(),
        })
    }

    /// Apply command-line overrides.
    pub fn apply(&mut self, o: &Overrides, folder: Option<&Path>) {
        if let Some(f) = folder {
            self.root = Some(f.to_path_buf());
        }
        if !o.listen.is_empty() {
            self.listen = o.listen.clone();
        }
        if let Some(w) = o.workers {
            self.workers = w;
        }
        if let Some(p) = &o.passive_ports {
            self.passive_ports = p.clone();
            self.passive_ports_per_worker.clear();
        }
        if let Some(a) = o.pasv_address {
            self.pasv_address = Some(a);
        }
        if let Some(u) = &o.run_as {
            self.run_as = Some(u.clone());
        }
        if let Some(u) = &o.users {
            self.users_file = Some(u.clone());
        }
        if o.anonymous_write {
            self.anonymous.permissions = ["read", "write", "delete", "mkdir", "rename"]
                .iter()
                .map(|s| s.to_string())
                .collect();
        }
        if let Some(x) = &o.xferlog {
            self.log.xferlog = Some(x.clone());
        }
        if let Some(m) = o.metrics {
            self.metrics.listen = Some(m);
        }
        if let Some(l) = &o.log_level {
            self.log.level = l.clone();
        }
        if let Some(s) = o.idle_timeout {
            self.timeouts.idle_secs = s;
        }
        if let Some(s) = o.data_timeout {
            self.timeouts.data_secs = s;
        }
        if let Some(s) = o.passive_timeout {
            self.timeouts.passive_secs = s;
        }
        if let Some(n) = o.max_sessions {
            self.limits.max_sessions = n;
        }
        if let Some(n) = o.max_sessions_per_ip {
            self.limits.max_sessions_per_ip = n;
        }
        if !o.proxy_from.is_empty() {
            self.proxy_protocol.trusted = o.proxy_from.clone();
        }
        for (kind, rate) in [
            (RateKind::Session, o.session_rate),
            (RateKind::Ip, o.ip_rate),
            (RateKind::Total, o.total_rate),
        ] {
            if let Some(rate) = rate {
                self.limits.anonymous.set(kind, rate);
                self.limits.users.set(kind, rate);
            }
        }
        if let Some(c) = &o.tls_cert {
            self.tls.cert = Some(c.clone());
        }
        if let Some(k) = &o.tls_key {
            self.tls.key = Some(k.clone());
        }
        if !o.tls_listen.is_empty() {
            self.tls.listen = o.tls_listen.clone();
        }
        if let Some(r) = &o.tls_require {
            self.tls.require = r.clone();
        }
    }

    /// Number of workers after resolving 0 to the CPU count.
    pub fn worker_count(&self) -> usize {
        if self.workers == 0 {
            std::thread::available_parallelism()
                .map(|n| n.get())
                .unwrap_or(1)
        } else {
            self.workers
        }
    }

    /// Validate and build the control plane's settings (also used on reload).
    pub fn session_config(
        &self,
        login_guard: Arc<LoginGuard>,
    ) -> Result<SessionConfig, ConfigError> {
        let root = self.root.clone().ok_or_else(|| {
            invalid(
                "root",
                "no folder to serve: give `root` or use `ringftpd serve FOLDER`",
            )
        })?;
        let meta = std::fs::metadata(&root)
            .map_err(|e| invalid("root", format!("{}: {e}", root.display())))?;
        if !meta.is_dir() {
            return Err(invalid(
                "root",
                format!("{} is not a directory", root.display()),
            ));
        }
        let users = match &self.users_file {
            Some(path) => Some(
                UsersFile::load(path)
                    .map_err(|e| invalid("users_file", format!("{}: {e}", path.display())))?,
            ),
            None => None,
        };
        let anonymous = AnonymousPolicy {
            enabled: self.anonymous.enabled,
            require_email: self.anonymous.require_email,
            root: self.anonymous.root.clone(),
            perms: parse_permissions(&self.anonymous.permissions, "anonymous.permissions")?,
        };
        let pasv_address = match self.pasv_address {
            None => None,
            Some(IpAddr::V4(v4)) => Some(v4),
            Some(IpAddr::V6(_)) => {
                return Err(invalid(
                    "pasv_address",
                    "PASV announces IPv4 addresses only",
                ))
            }
        };
        let tls = self.tls_policy()?;
        if self.banner.contains(['\r', '\n']) {
            return Err(invalid("banner", "must be one line"));
        }
        Ok(SessionConfig {
            root,
            root_view: Default::default(),
            follow_symlinks_outside: self.follow_symlinks_outside,
            auth: Authenticator::new(users, anonymous),
            policy: SecurityPolicy {
                allow_foreign_active: self.security.allow_foreign_active,
                allow_privileged_active_port: self.security.allow_privileged_active_port,
                allow_foreign_passive: self.security.allow_foreign_passive,
            },
            login_guard,
            banner: self.banner.clone(),
            pasv_address,
            tls,
        })
    }

    /// The user to switch to, looked up now (a missing user is a config error).
    pub fn run_as_user(&self) -> Result<Option<RunAs>, PrivilegeError> {
        self.run_as.as_deref().map(RunAs::lookup).transpose()
    }

    /// The folders the sandbox opens up for this configuration: every login's root
    /// (writable where the login may change anything), the extra read paths, the
    /// transfer log's folder and the config and users files' folders.
    pub fn sandbox_plan(
        &self,
        session: &SessionConfig,
        config_file: Option<&Path>,
    ) -> Result<SandboxPlan, ConfigError> {
        let mut plan = SandboxPlan::default();
        let key_error = |key| move |e: SandboxError| invalid(key, e.to_string());
        plan.add_root(&session.root, false, "the server root")
            .map_err(key_error("root"))?;
        for (who, root, perms) in session.auth.roots() {
            let writable = perms.write || perms.delete || perms.mkdir || perms.rename;
            let (key, why) = if who == "anonymous" {
                ("anonymous.root", "the anonymous root".to_string())
            } else {
                ("users_file", format!("the root of user {who:?}"))
            };
            let root = root.as_deref().unwrap_or(&session.root);
            plan.add_root(root, writable, &why)
                .map_err(key_error(key))?;
        }
        for path in &self.sandbox.extra_read_paths {
            if !path.is_absolute() {
                return Err(invalid(
                    "sandbox.extra_read_paths",
                    format!("{} is not an absolute path", path.display()),
                ));
            }
            plan.add_root(path, false, "an extra read path")
                .map_err(key_error("sandbox.extra_read_paths"))?;
        }
        if let Some(log) = &self.log.xferlog {
            plan.add_log(log, "the transfer log's folder")
                .map_err(key_error("log.xferlog"))?;
        }
        if let Some(file) = config_file {
            plan.add_config(file, "the config file's folder")
                .map_err(key_error("config"))?;
        }
        if let Some(file) = &self.users_file {
            plan.add_config(file, "the users file's folder")
                .map_err(key_error("users_file"))?;
        }
        // Certificates are read again on SIGHUP.
        if let Some(file) = &self.tls.cert {
            plan.add_config(file, "the TLS certificate's folder")
                .map_err(key_error("tls.cert"))?;
        }
        if let Some(file) = &self.tls.key {
            plan.add_config(file, "the TLS key's folder")
                .map_err(key_error("tls.key"))?;
        }
        Ok(plan)
    }

    /// Validated bandwidth caps (also used on reload).
    pub fn rate_caps(&self) -> Result<RateCaps, ConfigError> {
        rates::rate_caps(&self.limits.anonymous, &self.limits.users)
            .map_err(|(key, reason)| invalid(key, reason))
    }

    fn tls_policy(&self) -> Result<TlsPolicy, ConfigError> {
        let require = match self.tls.require.as_str() {
            "none" => TlsRequire::None,
            "login" => TlsRequire::Login,
            "data" => TlsRequire::Data,
            other => {
                return Err(invalid(
                    "tls.require",
                    format!("{other:?}: use \"none\", \"login\" or \"data\""),
                ))
            }
        };
        let available = self.tls.cert.is_some();
        if !available && require != TlsRequire::None {
            return Err(invalid(
                "tls.require",
                "needs a certificate (`tls.cert` and `tls.key`)",
            ));
        }
        Ok(TlsPolicy {
            available,
            require,
            require_session_reuse: self.tls.require_session_reuse,
        })
    }

    /// Load the certificate and key (`None` without TLS); also used on reload, so a
    /// bad file is refused and the running certificate stays.
    pub fn tls_server(&self) -> Result<Option<TlsServer>, ConfigError> {
        match (&self.tls.cert, &self.tls.key) {
            (None, None) => {
                if !self.tls.listen.is_empty() {
                    return Err(invalid(
                        "tls.listen",
                        "implicit TLS needs `tls.cert` and `tls.key`",
                    ));
                }
                Ok(None)
            }
            (Some(_), None) => Err(invalid("tls.key", "`tls.cert` needs a key")),
            (None, Some(_)) => Err(invalid("tls.cert", "`tls.key` needs a certificate")),
            (Some(cert), Some(key)) => TlsServer::load(cert, key)
                .map(Some)
                .map_err(|e| invalid("tls.cert", e.to_string())),
        }
    }

    /// A login guard built from the limits.
    pub fn login_guard(&self) -> LoginGuard {
        LoginGuard::new(
            self.limits.login_failures_before_block,
            Duration::from_secs(self.limits.login_block_secs),
            Duration::from_millis(self.limits.login_failure_delay_ms),
        )
    }

    /// Validate everything and build the engine's settings.
    pub fn engine_config(
        &self,
        session: SessionConfig,
        limits: Arc<ConnectionLimits>,
        transfer_log: Option<Arc<dyn TransferLog>>,
    ) -> Result<EngineConfig, ConfigError> {
        let workers = self.worker_count();
        if workers > 1024 {
            return Err(invalid("workers", "at most 1024"));
        }
        if self.listen.is_empty() {
            return Err(invalid("listen", "give at least one address"));
        }
        let passive_ports = if self.passive_ports_per_worker.is_empty() {
            let range: PortRange = self.passive_ports.parse().map_err(
                |e: ringftp_dataplane::passive_ports::PortRangeError| {
                    invalid("passive_ports", e.to_string())
                },
            )?;
            range
                .split(workers)
                .map_err(|e| invalid("passive_ports", e.to_string()))?
        } else {
            if self.passive_ports_per_worker.len() != workers {
                return Err(invalid(
                    "passive_ports_per_worker",
                    format!(
                        "{} slices for {workers} workers",
                        self.passive_ports_per_worker.len()
                    ),
                ));
            }
            let slices = self
                .passive_ports_per_worker
                .iter()
                .map(|s| s.parse::<PortRange>())
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| invalid("passive_ports_per_worker", e.to_string()))?;
            check_disjoint(&slices)?;
            slices
        };
        if self.limits.max_line < 64 {
            return Err(invalid("limits.max_line", "at least 64 bytes"));
        }
        for (key, secs) in [
            ("timeouts.idle_secs", self.timeouts.idle_secs),
            ("timeouts.data_secs", self.timeouts.data_secs),
            ("timeouts.passive_secs", self.timeouts.passive_secs),
        ] {
            if secs == 0 {
                return Err(invalid(key, "must be at least 1 second"));
            }
        }
        let trusted = TrustedProxies::parse(&self.proxy_protocol.trusted)
            .map_err(|e| invalid("proxy_protocol.trusted", e.to_string()))?;
        if !(1..=60).contains(&self.proxy_protocol.header_timeout_secs) {
            return Err(invalid(
                "proxy_protocol.header_timeout_secs",
                "from 1 to 60 seconds",
            ));
        }
        let rate_caps = self.rate_caps()?;
        if !(1..=300).contains(&self.tls.handshake_timeout_secs) {
            return Err(invalid(
                "tls.handshake_timeout_secs",
                "from 1 to 300 seconds",
            ));
        }
        let tls = self.tls_server()?;
        if self.transfer.unsent_max != 0
            && !(4096..=MAX_PIPE_SIZE).contains(&self.transfer.unsent_max)
        {
            return Err(invalid(
                "transfer.unsent_max",
                "0 (the kernel's default) or from 4096 bytes to 64 MiB (67108864)",
            ));
        }
        if !(4096..=MAX_PIPE_SIZE).contains(&self.transfer.pipe_size) {
            return Err(invalid(
                "transfer.pipe_size",
                "from 4096 bytes to 64 MiB (67108864)",
            ));
        }
        Ok(EngineConfig {
            listen: self.listen.clone(),
            workers,
            pin_workers: self.pin_workers,
            passive_ports,
            active_source_port: self.active_source_port,
            idle_timeout: Duration::from_secs(self.timeouts.idle_secs),
            data_timeout: Duration::from_secs(self.timeouts.data_secs),
            passive_timeout: Duration::from_secs(self.timeouts.passive_secs),
            max_line: self.limits.max_line,
            commands_per_sec: self.limits.commands_per_sec,
            command_burst: self.limits.command_burst,
            pipe_size: self.transfer.pipe_size,
            pipes_per_worker: self.transfer.pipes_per_worker,
            small_file_max: self.transfer.small_file_max,
            unsent_max: self.transfer.unsent_max,
            atomic_uploads: self.atomic_uploads,
            limits,
            rate_limiter: Arc::new(RateLimiter::new(rate_caps)),
            session: Arc::new(RwLock::new(Arc::new(session))),
            proxy: ProxyTrust {
                trusted,
                header_timeout: Duration::from_secs(self.proxy_protocol.header_timeout_secs),
            },
            transfer_log,
            tls: Arc::new(RwLock::new(tls.map(Arc::new))),
            tls_listen: self.tls.listen.clone(),
            tls_handshake_timeout: Duration::from_secs(self.tls.handshake_timeout_secs),
        })
    }
}

fn check_disjoint(slices: &[PortRange]) -> Result<(), ConfigError> {
    let mut sorted = slices.to_vec();
    sorted.sort_by_key(|r| r.first);
    for w in sorted.windows(2) {
        if w[0].last >= w[1].first {
            return Err(invalid(
                "passive_ports_per_worker",
                format!("slices {} and {} overlap", w[0], w[1]),
            ));
        }
    }
    Ok(())
}

/// Parse permission names (`read`, `write`, `delete`, `mkdir`, `rename`).
pub fn parse_permissions(names: &[String], key: &'static str) -> Result<Permissions, ConfigError> {
    Permissions::from_names(names).map_err(|reason| invalid(key, reason))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_keys_are_named() {
        let err = toml::from_str::<FileConfig>("rooot = \"/srv\"")
            .unwrap_err()
            .to_string();
        assert!(err.contains("rooot"), "{err}");
        let err = toml::from_str::<FileConfig>("[timeouts]\nidle = 3")
            .unwrap_err()
            .to_string();
        assert!(err.contains("idle"), "{err}");
    }

    #[test]
    fn bad_values_name_their_key() {
        let dir = tempfile::tempdir().unwrap();
        let mut c = FileConfig {
            root: Some(dir.path().to_path_buf()),
            workers: 2,
            passive_ports: "60000-59000".into(),
            ..FileConfig::default()
        };
        let guard = Arc::new(c.login_guard());
        let limits = Arc::new(ConnectionLimits::new(10, 10));
        let engine_error = |c: &FileConfig| {
            let session = c.session_config(guard.clone()).unwrap();
            c.engine_config(session, limits.clone(), None)
                .err()
                .expect("config refused")
                .to_string()
        };
        let err = engine_error(&c);
        assert!(err.contains("passive_ports"), "{err}");
        c.passive_ports = "50000-50001".into();
        c.passive_ports_per_worker = vec!["50000-50010".into(), "50005-50020".into()];
        let err = engine_error(&c);
        assert!(err.contains("overlap"), "{err}");
        c.passive_ports_per_worker.clear();
        for size in [1024, MAX_PIPE_SIZE + 1] {
            c.transfer.pipe_size = size;
            let err = engine_error(&c);
            assert!(err.contains("transfer.pipe_size"), "{err}");
        }
        c.transfer.pipe_size = TransferConfig::default().pipe_size;
        for unsent in [1, 4095, MAX_PIPE_SIZE + 1] {
            c.transfer.unsent_max = unsent;
            let err = engine_error(&c);
            assert!(err.contains("transfer.unsent_max"), "{err}");
        }
        c.transfer.unsent_max = 0;
        c.proxy_protocol.trusted = vec!["127.0.0.1".into(), "10.0.0.0/40".into()];
        let err = engine_error(&c);
        assert!(
            err.contains("proxy_protocol.trusted") && err.contains("10.0.0.0/40"),
            "{err}"
        );
        c.proxy_protocol.trusted = vec!["10.0.0.0/8".into()];
        c.proxy_protocol.header_timeout_secs = 0;
        let err = engine_error(&c);
        assert!(err.contains("proxy_protocol.header_timeout_secs"), "{err}");
        c.proxy_protocol.header_timeout_secs = 5;
        let session = c.session_config(guard.clone()).unwrap();
        let engine = c.engine_config(session, limits.clone(), None).unwrap();
        assert!(engine.proxy.trusted.trusts("10.2.3.4".parse().unwrap()));
        c.transfer.pipe_size = 1 << 20;
        c.limits
            .anonymous
            .set(RateKind::Session, rates::ByteRate(512));
        let err = engine_error(&c);
        assert!(err.contains("limits.anonymous.session_rate"), "{err}");
        c.limits
            .anonymous
            .set(RateKind::Session, rates::ByteRate(0));
        c.tls.handshake_timeout_secs = 0;
        let err = engine_error(&c);
        assert!(err.contains("tls.handshake_timeout_secs"), "{err}");
        c.tls.handshake_timeout_secs = 10;
        c.tls.listen = vec!["127.0.0.1:0".parse().unwrap()];
        let err = engine_error(&c);
        assert!(err.contains("tls.listen"), "{err}");
        c.tls.listen.clear();
        c.tls.cert = Some(dir.path().join("missing.pem"));
        let err = engine_error(&c);
        assert!(err.contains("tls.key"), "{err}");
        c.tls.key = Some(dir.path().join("missing.key"));
        let err = engine_error(&c);
        assert!(
            err.contains("tls.cert") && err.contains("missing.pem"),
            "{err}"
        );
        c.tls.cert = None;
        c.tls.key = None;
        c.tls.require = "always".into();
        let err = c.session_config(guard.clone()).unwrap_err().to_string();
        assert!(
            err.contains("tls.require") && err.contains("always"),
            "{err}"
        );
        c.tls.require = "login".into();
        let err = c.session_config(guard.clone()).unwrap_err().to_string();
        assert!(
            err.contains("tls.require") && err.contains("certificate"),
            "{err}"
        );
        c.tls.require = "none".into();
        c.root = Some(dir.path().join("missing"));
        let err = c.session_config(guard).unwrap_err().to_string();
        assert!(err.contains("`root`"), "{err}");
    }

    #[test]
    fn sandbox_and_run_as_values_name_their_key() {
        let dir = tempfile::tempdir().unwrap();
        let mut c = FileConfig {
            root: Some(dir.path().to_path_buf()),
            run_as: Some("no-such-user-ringftpd".into()),
            ..FileConfig::default()
        };
        let err = c.run_as_user().unwrap_err().to_string();
        assert!(err.contains("`run_as`"), "{err}");
        let session = c.session_config(Arc::new(c.login_guard())).unwrap();
        for bad in ["etc", "/no/such/folder/ringftpd"] {
            c.sandbox.extra_read_paths = vec![bad.into()];
            let err = c.sandbox_plan(&session, None).unwrap_err().to_string();
            assert!(
                err.contains("`sandbox.extra_read_paths`") && err.contains(bad),
                "{err}"
            );
        }
        c.sandbox.extra_read_paths = vec!["/etc".into()];
        let plan = c.sandbox_plan(&session, None).unwrap();
        assert!(plan.readable().contains(&PathBuf::from("/etc")));
        // Anonymous is read-only by default: nothing is writable.
        assert!(plan.write.is_empty());
    }

    #[test]
    fn permissions_parse() {
        let p = parse_permissions(&["read".into(), "mkdir".into()], "k").unwrap();
        assert!(p.read && p.mkdir && !p.write);
        assert!(parse_permissions(&["fly".into()], "k").is_err());
    }
}
