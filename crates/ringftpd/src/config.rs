//! The configuration file: one typed struct, read and validated once, then turned
//! into the engine's and the control plane's settings. Flags override file keys.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use ringftp_control::auth::{AnonymousPolicy, Authenticator, UsersFile};
use ringftp_control::line::DEFAULT_MAX_LINE;
use ringftp_control::policy::{ConnectionLimits, LoginGuard, SecurityPolicy};
use ringftp_control::session::SessionConfig;
use ringftp_control::vfs::Permissions;
use ringftp_dataplane::passive_ports::PortRange;
use ringftp_dataplane::transfer_log::TransferLog;
use ringftp_dataplane::EngineConfig;
use serde::{Deserialize, Serialize};

use crate::cli::Overrides;

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
    /// Pin worker N to CPU N.
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
    pub anonymous: AnonymousConfig,
    pub timeouts: TimeoutConfig,
    pub limits: LimitConfig,
    pub security: SecurityConfig,
    pub log: LogConfig,
    pub metrics: MetricsConfig,
    pub transfer: TransferConfig,
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

#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields, default)]
pub struct TransferConfig {
    pub pipe_size: usize,
    pub pipes_per_worker: usize,
    pub small_file_max: u64,
}

impl Default for FileConfig {
    fn default() -> Self {
        FileConfig {
            root: None,
            listen: vec![SocketAddr::from((Ipv4Addr::UNSPECIFIED, 2121))],
            workers: 0,
            pin_workers: true,
            passive_ports: "50000-51999".into(),
            passive_ports_per_worker: Vec::new(),
            pasv_address: None,
            active_source_port: Some(20),
            follow_symlinks_outside: false,
            atomic_uploads: true,
            banner: "ringftpd ready.".into(),
            users_file: None,
            anonymous: AnonymousConfig::default(),
            timeouts: TimeoutConfig::default(),
            limits: LimitConfig::default(),
            security: SecurityConfig::default(),
            log: LogConfig::default(),
            metrics: MetricsConfig::default(),
            transfer: TransferConfig::default(),
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
        if self.banner.contains(['\r', '\n']) {
            return Err(invalid("banner", "must be one line"));
        }
        Ok(SessionConfig {
            root,
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
        })
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
            atomic_uploads: self.atomic_uploads,
            limits,
            session: Arc::new(RwLock::new(Arc::new(session))),
            transfer_log,
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
        c.root = Some(dir.path().join("missing"));
        let err = c.session_config(guard).unwrap_err().to_string();
        assert!(err.contains("`root`"), "{err}");
    }

    #[test]
    fn permissions_parse() {
        let p = parse_permissions(&["read".into(), "mkdir".into()], "k").unwrap();
        assert!(p.read && p.mkdir && !p.write);
        assert!(parse_permissions(&["fly".into()], "k").is_err());
    }
}
