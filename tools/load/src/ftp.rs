//! The client side of an FTP control connection: sending commands and reading replies,
//! every wait bounded by the phase timeout.

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use rustls::ClientConfig;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::timeout;
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;

use crate::tls::TlsClient;

use crate::data_addr::DataAddrError;
use crate::reply::{parse_reply, Reply, ReplyError};
use crate::stats::ErrorClass;

/// A failed step on the control or data connection.
#[derive(Debug, thiserror::Error)]
pub enum FtpError {
    #[error("timed out")]
    Timeout,
    #[error("server closed the connection")]
    Closed,
    #[error("i/o: {0}")]
    Io(#[from] io::Error),
    #[error("malformed reply: {0}")]
    Malformed(#[from] ReplyError),
    #[error("unexpected reply: {0}")]
    Unexpected(Reply),
    #[error("data address: {0}")]
    DataAddr(#[from] DataAddrError),
    #[error("received {got} bytes, expected {expected}")]
    Length { got: u64, expected: u64 },
    #[error("downloaded bytes differ from the local copy at offset {0}")]
    Content(u64),
    #[error("SIZE answered {got}, expected {expected}")]
    Size { got: u64, expected: u64 },
    #[error("PORT needs an IPv4 address; use --mode eprt")]
    PortNeedsIpv4,
}

impl FtpError {
    /// The class this error is tallied under.
    pub fn class(&self) -> ErrorClass {
        match self {
            FtpError::Timeout => ErrorClass::Timeout,
            FtpError::Closed => ErrorClass::Closed,
            FtpError::Io(e) => ErrorClass::from_io(e),
            FtpError::Malformed(_) | FtpError::DataAddr(_) | FtpError::PortNeedsIpv4 => {
                ErrorClass::Protocol
            }
            FtpError::Unexpected(r) => ErrorClass::Reply(r.code),
            FtpError::Length { got, expected } if got < expected => ErrorClass::ShortRead,
            FtpError::Length { .. } => ErrorClass::LongRead,
            FtpError::Content(_) => ErrorClass::ContentMismatch,
            FtpError::Size { .. } => ErrorClass::SizeMismatch,
        }
    }
}

/// Runs `fut` under `limit`, turning elapsed time into [`FtpError::Timeout`].
pub async fn bounded<T, E>(
    limit: Duration,
    fut: impl std::future::Future<Output = Result<T, E>>,
) -> Result<T, FtpError>
where
    FtpError: From<E>,
{
    match timeout(limit, fut).await {
        Ok(r) => r.map_err(FtpError::from),
        Err(_) => Err(FtpError::Timeout),
    }
}

/// The control connection's transport: plain, or TLS after AUTH TLS.
enum Transport {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
    /// Only while the handshake runs.
    Upgrading,
}

impl Transport {
    fn tcp(&self) -> io::Result<&TcpStream> {
        match self {
            Transport::Plain(s) => Ok(s),
            Transport::Tls(s) => Ok(s.get_ref().0),
            Transport::Upgrading => Err(io::ErrorKind::NotConnected.into()),
        }
    }

    async fn read_buf(&mut self, buf: &mut Vec<u8>) -> io::Result<usize> {
        match self {
            Transport::Plain(s) => s.read_buf(buf).await,
            Transport::Tls(s) => s.read_buf(buf).await,
            Transport::Upgrading => Err(io::ErrorKind::NotConnected.into()),
        }
    }

    async fn write_all(&mut self, bytes: &[u8]) -> io::Result<()> {
        match self {
            Transport::Plain(s) => s.write_all(bytes).await,
            Transport::Tls(s) => {
                // rustls may keep records it could not send yet until the next flush.
                s.write_all(bytes).await?;
                s.flush().await
            }
            Transport::Upgrading => Err(io::ErrorKind::NotConnected.into()),
        }
    }
}

/// Run a TLS client handshake on a data or control connection.
pub async fn tls_connect(
    tls: &TlsClient,
    config: Arc<ClientConfig>,
    tcp: TcpStream,
    limit: Duration,
) -> Result<TlsStream<TcpStream>, FtpError> {
    bounded(
        limit,
        TlsConnector::from(config).connect(tls.server_name.clone(), tcp),
    )
    .await
}

/// One control connection with its read buffer.
pub struct Control {
    stream: Transport,
    buf: Vec<u8>,
    limit: Duration,
    line: String,
}

impl Control {
    /// Wraps a connected control stream; every read and write is bounded by `limit`.
    pub fn new(stream: TcpStream, limit: Duration) -> Self {
        Self {
            stream: Transport::Plain(stream),
            buf: Vec::new(),
            limit,
            line: String::new(),
        }
    }

    /// The client's address on this connection.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.stream.tcp()?.local_addr()
    }

    /// The server's address on this connection.
    pub fn peer_addr(&self) -> io::Result<SocketAddr> {
        self.stream.tcp()?.peer_addr()
    }

    /// AUTH TLS, the handshake (with this FTP session's `config`), then PBSZ 0 and
    /// PROT P, so data connections are encrypted too.
    pub async fn start_tls(
        &mut self,
        tls: &TlsClient,
        config: Arc<ClientConfig>,
    ) -> Result<(), FtpError> {
        self.expect("AUTH TLS", 234).await?;
        let Transport::Plain(tcp) = std::mem::replace(&mut self.stream, Transport::Upgrading)
        else {
            return Err(FtpError::Closed);
        };
        let stream = tls_connect(tls, config, tcp, self.limit).await?;
        self.stream = Transport::Tls(Box::new(stream));
        self.expect("PBSZ 0", 200).await?;
        self.expect("PROT P", 200).await?;
        Ok(())
    }

    /// Reads the next complete reply.
    pub async fn reply(&mut self) -> Result<Reply, FtpError> {
        loop {
            if let Some((reply, used)) = parse_reply(&self.buf)? {
                self.buf.drain(..used);
                return Ok(reply);
            }
            self.buf.reserve(512);
            let n = bounded(self.limit, self.stream.read_buf(&mut self.buf)).await?;
            if n == 0 {
                return Err(FtpError::Closed);
            }
        }
    }

    /// Sends one command line (CRLF added).
    pub async fn send(&mut self, command: &str) -> Result<(), FtpError> {
        self.line.clear();
        self.line.push_str(command);
        self.line.push_str("\r\n");
        bounded(self.limit, self.stream.write_all(self.line.as_bytes())).await
    }

    /// Sends a command and reads its reply.
    pub async fn command(&mut self, command: &str) -> Result<Reply, FtpError> {
        self.send(command).await?;
        self.reply().await
    }

    /// Sends a command and fails unless the reply has code `want`.
    pub async fn expect(&mut self, command: &str, want: u16) -> Result<Reply, FtpError> {
        let reply = self.command(command).await?;
        if reply.code == want {
            Ok(reply)
        } else {
            Err(FtpError::Unexpected(reply))
        }
    }

    /// Reads replies until a final one, skipping 1yz preliminaries (e.g. `120` before `220`).
    pub async fn final_reply(&mut self) -> Result<Reply, FtpError> {
        loop {
            let reply = self.reply().await?;
            if !reply.is_preliminary() {
                return Ok(reply);
            }
        }
    }

    /// Logs in with USER and, when asked for, PASS.
    pub async fn login(&mut self, user: &str, password: &str) -> Result<(), FtpError> {
        let reply = self.command(&format!("USER {user}")).await?;
        let reply = match reply.code {
            331 => self.command(&format!("PASS {password}")).await?,
            _ => reply,
        };
        if reply.code == 230 {
            Ok(())
        } else {
            Err(FtpError::Unexpected(reply))
        }
    }

    /// Asks SIZE of a path: `Ok(None)` when the server does not implement SIZE.
    pub async fn size(&mut self, path: &str) -> Result<Option<u64>, FtpError> {
        let reply = self.command(&format!("SIZE {path}")).await?;
        match reply.code {
            213 => reply
                .text
                .trim()
                .parse()
                .map(Some)
                .map_err(|_| FtpError::Unexpected(reply)),
            500 | 502 | 504 => Ok(None),
            _ => Err(FtpError::Unexpected(reply)),
        }
    }
}
