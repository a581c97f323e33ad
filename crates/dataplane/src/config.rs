//! The data plane's typed settings, built and validated once by the daemon.

use std::net::SocketAddr;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use ringftp_control::policy::ConnectionLimits;
use ringftp_control::session::SessionConfig;

use crate::passive_ports::PortRange;
use crate::proxy_header::ProxyTrust;
use crate::rate_limit::RateLimiter;
use crate::tls::TlsSlot;
use crate::transfer_log::TransferLog;

/// Everything the engine needs to run.
#[derive(Clone)]
pub struct EngineConfig {
    /// Control listen addresses; every worker listens on each (SO_REUSEPORT).
    pub listen: Vec<SocketAddr>,
    /// Worker threads (one io_uring runtime each).
    pub workers: usize,
    /// Pin worker N to CPU N.
    pub pin_workers: bool,
    /// Passive port slice of each worker; `len() == workers`.
    pub passive_ports: Vec<PortRange>,
    /// Source port for active-mode connections (20 by tradition); falls back to any
    /// port when it cannot be bound.
    pub active_source_port: Option<u16>,
    /// Close a control connection idle this long.
    pub idle_timeout: Duration,
    /// Abort a transfer that makes no progress this long.
    pub data_timeout: Duration,
    /// Drop a passive listener nobody used within this time.
    pub passive_timeout: Duration,
    /// Longest control line accepted.
    pub max_line: usize,
    /// Commands per second a session may send (0 = unlimited), and the burst allowed.
    pub commands_per_sec: u32,
    pub command_burst: u32,
    /// Splice pipe size (F_SETPIPE_SZ) and idle pipes kept per worker.
    pub pipe_size: usize,
    pub pipes_per_worker: usize,
    /// Files up to this size are read into a buffer and sent instead of spliced.
    pub small_file_max: u64,
    /// Most bytes a download's socket holds unsent (TCP_NOTSENT_LOWAT); 0 = the
    /// kernel's default (the whole send buffer).
    pub unsent_max: usize,
    /// Uploads go to a temporary name and are renamed into place when complete.
    pub atomic_uploads: bool,
    /// Session caps shared by all workers.
    pub limits: Arc<ConnectionLimits>,
    /// Bandwidth caps and their shared buckets; caps are replaced on reload.
    pub rate_limiter: Arc<RateLimiter>,
    /// Protocol settings; replaced as a whole on reload, read at each new session.
    pub session: Arc<RwLock<Arc<SessionConfig>>>,
    /// Balancers whose connections start with a PROXY header.
    pub proxy: ProxyTrust,
    /// Where completed and failed file transfers are recorded.
    pub transfer_log: Option<Arc<dyn TransferLog>>,
    /// Certificate and TLS settings (`None`: no TLS); replaced on reload.
    pub tls: TlsSlot,
    /// Implicit TLS listen addresses (TLS from the first byte, port-990 style).
    pub tls_listen: Vec<SocketAddr>,
    /// Longest a TLS handshake (control or data) may take.
    pub tls_handshake_timeout: Duration,
}

impl EngineConfig {
    /// The current session settings (cheap: one read lock, one Arc clone).
    pub fn session_config(&self) -> Arc<SessionConfig> {
        self.session
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }
}
