//! Reading the PROXY protocol header that a trusted balancer sends first on control
//! and data connections. Only the bytes the header occupies are read (the control
//! plane's [`HeaderReader`] says how many), so nothing of the FTP stream or of an
//! upload is taken; the whole read is bounded in time, and a peer that closes or
//! stalls mid-header is dropped without a busy loop.

use std::io::{self, Read};
use std::net::{SocketAddr, TcpStream};
use std::rc::Rc;
use std::time::Duration;

use ringftp_control::proxy::{HeaderReader, Next, ProxyError, ProxyHeader, TrustedProxies};

use crate::uring_ops;

/// Which peers send headers, and how long one may take.
#[derive(Debug, Clone)]
pub struct ProxyTrust {
    /// Peers that must start every connection with a PROXY header.
    pub trusted: TrustedProxies,
    /// Time allowed for the whole header.
    pub header_timeout: Duration,
}

impl Default for ProxyTrust {
    fn default() -> Self {
        ProxyTrust {
            trusted: TrustedProxies::default(),
            header_timeout: Duration::from_secs(5),
        }
    }
}

/// Why no header was read; the connection is closed.
#[derive(Debug, thiserror::Error)]
pub enum HeaderError {
    #[error("no complete PROXY header within {0:?}")]
    Timeout(Duration),
    #[error("connection closed inside the PROXY header")]
    Closed,
    #[error(transparent)]
    Refused(#[from] ProxyError),
    #[error("reading the PROXY header: {0}")]
    Io(#[from] io::Error),
}

/// The real client of a connection: its socket peer, or the header's source when the
/// socket peer is a trusted proxy (a LOCAL header: the proxy itself).
pub async fn client_of(
    trust: &ProxyTrust,
    stream: &Rc<TcpStream>,
    socket_peer: SocketAddr,
) -> Result<SocketAddr, HeaderError> {
    if !trust.trusted.trusts(socket_peer.ip()) {
        return Ok(socket_peer);
    }
    let header = read(stream, trust.header_timeout).await?;
    Ok(header.endpoints(socket_peer, socket_peer).0)
}

/// Read one header from a stream within `limit` (the stream is made non-blocking). On a timeout the
/// socket is shut down, so the caller only has to drop it.
pub async fn read(stream: &Rc<TcpStream>, limit: Duration) -> Result<ProxyHeader, HeaderError> {
    stream.set_nonblocking(true)?;
    match tokio::time::timeout(limit, read_exact_header(stream)).await {
        Ok(result) => result,
        Err(_) => {
            // The pending poll op completes once the socket is shut down.
            crate::net::shutdown(&**stream);
            Err(HeaderError::Timeout(limit))
        }
    }
}

async fn read_exact_header(stream: &Rc<TcpStream>) -> Result<ProxyHeader, HeaderError> {
    let mut reader = HeaderReader::new();
    let mut buf = [0u8; 64];
    loop {
        let want = match reader.next() {
            Next::Read(n) => n,
            Next::Done(header) => return Ok(header),
            Next::Failed(e) => return Err(e.into()),
        };
        let chunk = want.min(buf.len());
        match (&**stream).read(&mut buf[..chunk]) {
            Ok(0) => return Err(HeaderError::Closed),
            Ok(n) => reader.push(&buf[..n]),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                // Completes on data or hang-up (then the next read returns 0), so a
                // half header followed by EOF never spins.
                uring_ops::poll(stream, libc::POLLIN).await?;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e.into()),
        }
    }
}
