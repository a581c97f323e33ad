//! A TLS server connection over one of our sockets: rustls' state machine fed by our
//! io_uring receives and drained by our sends (`read_tls` / `process_new_packets` /
//! `write_tls`). Used by the control connection (a reader task and a writer share
//! it) and by PROT P data connections.

use std::cell::{Cell, RefCell};
use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use rustls::{HandshakeKind, ServerConfig, ServerConnection};

use crate::net;

/// Why a handshake did not complete.
#[derive(Debug, thiserror::Error)]
pub enum HandshakeError {
    #[error("TLS handshake timed out")]
    Timeout,
    #[error("peer closed during the TLS handshake")]
    Closed,
    #[error("TLS handshake failed: {0}")]
    Tls(#[from] rustls::Error),
    #[error("I/O error during the TLS handshake: {0}")]
    Io(#[from] io::Error),
}

/// A TLS server session on a socket. Not `Send`: it lives on its worker, shared by
/// `Rc`; no `RefCell` borrow is held across an await.
pub struct TlsStream {
    sock: Rc<TcpStream>,
    conn: RefCell<ServerConnection>,
    /// Received TLS bytes not yet taken by rustls (it takes what fits its buffers).
    raw: RefCell<Vec<u8>>,
    raw_pos: Cell<usize>,
    raw_capacity: usize,
    eof: Cell<bool>,
    /// Serialises sends, so records from the reader (alerts, key updates) and the
    /// writer never interleave on the socket.
    send_lock: tokio::sync::Mutex<Vec<u8>>,
}

fn tls_error(e: rustls::Error) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, e)
}

impl TlsStream {
    /// A server session on `sock` with receive chunks of `raw_capacity` bytes.
    pub fn new(
        sock: Rc<TcpStream>,
        config: Arc<ServerConfig>,
        raw_capacity: usize,
    ) -> Result<TlsStream, rustls::Error> {
        let conn = ServerConnection::new(config)?;
        Ok(TlsStream {
            sock,
            conn: RefCell::new(conn),
            raw: RefCell::new(Vec::new()),
            raw_pos: Cell::new(0),
            raw_capacity,
            eof: Cell::new(false),
            send_lock: tokio::sync::Mutex::new(Vec::new()),
        })
    }

    /// Let up to `bytes` of encrypted output queue before [`TlsStream::write_all`]
    /// flushes: one send per file chunk instead of one per 64 KiB (rustls' default).
    pub fn set_send_buffer(&self, bytes: usize) {
        self.conn.borrow_mut().set_buffer_limit(Some(bytes));
    }

    /// The socket underneath.
    pub fn socket(&self) -> &Rc<TcpStream> {
        &self.sock
    }

    /// True if the handshake resumed an earlier session instead of a full one.
    pub fn resumed(&self) -> bool {
        self.conn.borrow().handshake_kind() == Some(HandshakeKind::Resumed)
    }

    /// Run the server handshake, giving up after `limit`: then the socket is shut
    /// down, which ends the pending receive, and the handshake unwinds.
    pub async fn handshake_within(&self, limit: Duration) -> Result<(), HandshakeError> {
        let handshake = self.handshake();
        tokio::pin!(handshake);
        tokio::select! {
            r = &mut handshake => r,
            _ = tokio::time::sleep(limit) => {
                net::shutdown(&*self.sock);
                let _ = handshake.await;
                Err(HandshakeError::Timeout)
            }
        }
    }

    async fn handshake(&self) -> Result<(), HandshakeError> {
        loop {
            self.flush().await?;
            if !self.conn.borrow().is_handshaking() {
                return Ok(());
            }
            match self.pull().await {
                Ok(true) => {}
                Ok(false) => return Err(HandshakeError::Closed),
                Err(e) => {
                    // Send the alert rustls queued, if the socket still takes it.
                    let _ = self.flush().await;
                    let tls = e
                        .get_ref()
                        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
                        .cloned();
                    return Err(match tls {
                        Some(tls) => HandshakeError::Tls(tls),
                        None => HandshakeError::Io(e),
                    });
                }
            }
        }
    }

    /// Give rustls more received bytes and process them; false at end of stream.
    async fn pull(&self) -> io::Result<bool> {
        let pending = self.raw.borrow().len() > self.raw_pos.get();
        if !pending {
            if self.eof.get() {
                return Ok(false);
            }
            let buf = std::mem::take(&mut *self.raw.borrow_mut());
            let mut buf = if buf.capacity() == 0 {
                Vec::with_capacity(self.raw_capacity)
            } else {
                buf
            };
            buf.clear();
            let (res, back) = net::recv_some(&self.sock, buf).await;
            *self.raw.borrow_mut() = back;
            self.raw_pos.set(0);
            match res {
                Ok(0) => {
                    self.eof.set(true);
                    // Tell rustls the transport ended (a later read says how cleanly).
                    let _ = self.conn.borrow_mut().read_tls(&mut &[][..]);
                    return Ok(false);
                }
                Ok(_) => {}
                Err(e) => return Err(e),
            }
        }
        let mut conn = self.conn.borrow_mut();
        let raw = self.raw.borrow();
        let mut rest = &raw[self.raw_pos.get()..];
        let before = rest.len();
        conn.read_tls(&mut rest)?;
        self.raw_pos.set(self.raw_pos.get() + before - rest.len());
        conn.process_new_packets().map_err(tls_error)?;
        Ok(true)
    }

    /// Read decrypted bytes, appending at most `max` to `out`; 0 at end of stream
    /// (close_notify, or the peer closing the socket without one, as most FTP clients
    /// do on data connections).
    pub async fn read(&self, out: &mut Vec<u8>, max: usize) -> io::Result<usize> {
        loop {
            {
                let mut conn = self.conn.borrow_mut();
                let start = out.len();
                out.resize(start + max, 0);
                let r = conn.reader().read(&mut out[start..]);
                match r {
                    Ok(n) => {
                        out.truncate(start + n);
                        return Ok(n);
                    }
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => out.truncate(start),
                    Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => {
                        out.truncate(start);
                        return Ok(0);
                    }
                    Err(e) => {
                        out.truncate(start);
                        return Err(e);
                    }
                }
            }
            let more = self.pull().await;
            // Key updates and alerts rustls wants to answer with.
            if self.conn.borrow().wants_write() {
                self.flush().await?;
            }
            if !more? {
                return Ok(0);
            }
        }
    }

    /// Encrypt and send all of `data`.
    pub async fn write_all(&self, data: &[u8]) -> io::Result<()> {
        let mut done = 0;
        while done < data.len() {
            let n = self.conn.borrow_mut().writer().write(&data[done..])?;
            done += n;
            self.flush().await?;
            if n == 0 && done < data.len() {
                return Err(io::ErrorKind::WriteZero.into());
            }
        }
        Ok(())
    }

    /// Send close_notify (the end of this direction) and flush it.
    pub async fn close(&self) -> io::Result<()> {
        self.conn.borrow_mut().send_close_notify();
        self.flush().await
    }

    /// Send every TLS record rustls has ready.
    pub async fn flush(&self) -> io::Result<()> {
        let mut out = self.send_lock.lock().await;
        loop {
            let mut buf = std::mem::take(&mut *out);
            buf.clear();
            {
                let mut conn = self.conn.borrow_mut();
                while conn.wants_write() {
                    conn.write_tls(&mut buf)?;
                }
            }
            if buf.is_empty() {
                *out = buf;
                return Ok(());
            }
            let sent = net::send_all(&self.sock, &buf).await;
            *out = buf;
            sent?;
        }
    }
}
