//! TLS (FTPS) in the data plane: certificates, per-session server settings, and the
//! TLS layer between a socket and its user (the control line framer, or a transfer).
//!
//! rustls does the protocol; we feed it bytes from our own io_uring reads and send
//! what it produces with our own sends ([`stream::TlsStream`]), as rustls'
//! `tlsserver-mio` example does with mio. The control plane decides when TLS starts
//! and what a data connection must present; this module only carries it out.

pub mod data;
pub mod session_cache;
pub mod stream;

use std::path::{Path, PathBuf};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use rustls::crypto::ring;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::ServerConfig;

use crate::metrics::{bump, WorkerMetrics};
use session_cache::SessionCache;
use stream::{HandshakeError, TlsStream};

/// The only ALPN protocol accepted: a client offering others (say `http/1.1`) is
/// refused, so a TLS session cannot be redirected across protocols (ALPACA).
pub const ALPN_FTP: &[u8] = b"ftp";

/// TLS 1.3 tickets issued per control handshake; a client may keep several.
const TICKETS_PER_HANDSHAKE: usize = 2;

/// Why a certificate or key cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum TlsConfigError {
    #[error("cannot read certificate chain {path}: {source}")]
    Cert {
        path: PathBuf,
        source: rustls::pki_types::pem::Error,
    },
    #[error("{0}: no certificate in the file")]
    NoCert(PathBuf),
    #[error("cannot read private key {path}: {source}")]
    Key {
        path: PathBuf,
        source: rustls::pki_types::pem::Error,
    },
    #[error("certificate and key do not fit together: {0}")]
    Rustls(#[from] rustls::Error),
}

/// The server certificate and settings every TLS session starts from; replaced as a
/// whole on reload, so running sessions keep the one they started with.
#[derive(Debug)]
pub struct TlsServer {
    base: Arc<ServerConfig>,
}

/// Where sessions find the current [`TlsServer`] (`None`: no TLS configured).
pub type TlsSlot = Arc<RwLock<Option<Arc<TlsServer>>>>;

impl TlsServer {
    /// Load a PEM certificate chain and private key, refusing a pair that does not match.
    pub fn load(cert: &Path, key: &Path) -> Result<TlsServer, TlsConfigError> {
        let chain = CertificateDer::pem_file_iter(cert)
            .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
            .map_err(|source| TlsConfigError::Cert {
                path: cert.to_path_buf(),
                source,
            })?;
        if chain.is_empty() {
            return Err(TlsConfigError::NoCert(cert.to_path_buf()));
        }
        let key = PrivateKeyDer::from_pem_file(key).map_err(|source| TlsConfigError::Key {
            path: key.to_path_buf(),
            source,
        })?;
        // ring: pure Rust + C/asm built by cc, no cmake or nasm needed to build.
        let provider = Arc::new(ring::default_provider());
        let mut config = ServerConfig::builder_with_provider(provider)
            .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])?
            .with_no_client_auth()
            .with_single_cert(chain, key)?;
        config.alpn_protocols = vec![ALPN_FTP.to_vec()];
        config.send_tls13_tickets = TICKETS_PER_HANDSHAKE;
        Ok(TlsServer {
            base: Arc::new(config),
        })
    }

    /// Settings for one FTP session: its own session cache, so only this session's
    /// data connections can resume what its control connection established.
    pub fn for_session(&self) -> SessionTls {
        let cache = Arc::new(SessionCache::default());
        let mut control = (*self.base).clone();
        control.session_storage = cache.control();
        let mut upload = (*self.base).clone();
        upload.session_storage = cache.data();
        // Uploading clients never read their data connection: an unread ticket there
        // would turn their close into a reset and lose the upload's end.
        upload.send_tls13_tickets = 0;
        let mut download = upload.clone();
        // One fresh ticket per download, for clients that use each ticket once.
        download.send_tls13_tickets = 1;
        SessionTls {
            control: Arc::new(control),
            download: Arc::new(download),
            upload: Arc::new(upload),
        }
    }
}

/// The TLS settings of one FTP session, sharing one session cache.
#[derive(Debug, Clone)]
pub struct SessionTls {
    pub control: Arc<ServerConfig>,
    /// Data connections the server sends on (RETR, listings).
    pub download: Arc<ServerConfig>,
    /// Data connections the server receives on (STOR, APPE, STOU).
    pub upload: Arc<ServerConfig>,
}

/// Read the current TLS settings from a slot.
pub fn current(slot: &TlsSlot) -> Option<Arc<TlsServer>> {
    slot.read().unwrap_or_else(|p| p.into_inner()).clone()
}

/// A handshake bounded by `limit` and counted (in progress, completed, failed, timed out).
pub async fn handshake_counted(
    stream: &TlsStream,
    limit: Duration,
    metrics: &WorkerMetrics,
) -> Result<(), HandshakeError> {
    metrics.tls_handshakes_in_progress.fetch_add(1, Relaxed);
    let result = stream.handshake_within(limit).await;
    metrics.tls_handshakes_in_progress.fetch_sub(1, Relaxed);
    match &result {
        Ok(()) => bump(&metrics.tls_handshakes),
        Err(HandshakeError::Timeout) => bump(&metrics.tls_handshake_timeouts),
        Err(_) => bump(&metrics.tls_handshake_failures),
    }
    result
}
