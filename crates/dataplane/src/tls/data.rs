//! PROT P data connections: the one seam between a transfer and TLS on its data
//! connection.
//!
//! [`secure`] turns an established data connection into what the session asked
//! for; the send and receive functions here copy through user space (read into a
//! pooled buffer, encrypt, send), because with TLS in user space there is nothing to
//! splice. A kernel TLS (kTLS) sender would plug in at [`secure`]: after the
//! handshake, hand rustls' traffic secrets to the socket (TCP_ULP "tls" + TLS_TX)
//! and return the socket as a plain link, so the splice paths keep working.

use std::fs::File;
use std::net::TcpStream;
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use ringftp_control::ascii;
use ringftp_control::session::TransferFailure;
use rustls::ServerConfig;
use tracing::debug;

use super::stream::TlsStream;
use crate::buffers::BufferPool;
use crate::listing_chunks::ListingChunks;
use crate::metrics::{bump, WorkerMetrics};
use crate::transfer::Moved;
use crate::uring_ops;

/// Receive chunk for TLS data connections (a few 16 KiB records).
const RAW_CHUNK: usize = 64 * 1024;
/// Encrypted output queued before a send: a whole pooled file chunk plus record overhead.
const SEND_BUFFER: usize = 320 * 1024;

/// Run the TLS server handshake on a data connection and check what it presented:
/// with `require_session_reuse`, only a resumption of this FTP session's TLS session
/// is accepted (its session cache is the only one `config` knows).
pub async fn secure(
    sock: Rc<TcpStream>,
    config: Arc<ServerConfig>,
    require_session_reuse: bool,
    limit: Duration,
    metrics: &WorkerMetrics,
) -> Result<TlsStream, TransferFailure> {
    let stream = TlsStream::new(sock, config, RAW_CHUNK).map_err(|_| TransferFailure::Local)?;
    stream.set_send_buffer(SEND_BUFFER);
    super::handshake_counted(&stream, limit, metrics)
        .await
        .map_err(|e| {
            debug!(error = %e, "data connection TLS handshake failed");
            TransferFailure::TlsHandshake
        })?;
    if require_session_reuse && !stream.resumed() {
        bump(&metrics.tls_data_not_resumed);
        debug!("TLS data connection did not resume the control connection's session");
        return Err(TransferFailure::TlsSessionNotReused);
    }
    Ok(stream)
}

fn lost<E>(_: E) -> TransferFailure {
    TransferFailure::ConnectionLost
}

/// RETR over TLS: read the file into a pooled buffer, encrypt, send; TYPE A converts
/// line endings first.
pub(crate) async fn send_file(
    stream: &TlsStream,
    file: &Rc<File>,
    offset: u64,
    ascii: bool,
    pool: &BufferPool,
    moved: &Moved<'_>,
) -> Result<u64, TransferFailure> {
    let mut pos = offset;
    let mut sent = 0u64;
    let mut converter = ascii::ToWire::default();
    let mut wire = Vec::new();
    let mut buf = pool.take();
    let result = loop {
        let (res, back) = uring_ops::read_at(file, buf, pos).await;
        buf = back;
        let n = match res {
            Ok(0) => break Ok(sent),
            Ok(n) => n,
            Err(_) => break Err(TransferFailure::Local),
        };
        pos += n as u64;
        let out = if ascii {
            wire.clear();
            converter.convert(&buf, &mut wire);
            &wire
        } else {
            &buf
        };
        // Bandwidth caps: wait before the chunk goes out, as plain downloads do.
        if let Err(f) = moved.pace(out.len()).await {
            break Err(f);
        }
        if let Err(e) = stream.write_all(out).await {
            break Err(lost(e));
        }
        moved.add(out.len());
        sent += out.len() as u64;
    };
    pool.give(buf);
    result?;
    stream.close().await.map_err(lost)?;
    Ok(sent)
}

/// STOR over TLS: decrypt into a pooled buffer and write it at the upload's offset.
pub(crate) async fn receive_file(
    stream: &TlsStream,
    file: &Rc<File>,
    offset: u64,
    ascii: bool,
    pool: &BufferPool,
    moved: &Moved<'_>,
) -> Result<u64, TransferFailure> {
    let mut pos = offset;
    let mut converter = ascii::FromWire::default();
    let mut buf = pool.take();
    let capacity = buf.capacity();
    let result = loop {
        buf.clear();
        // Under a bandwidth cap, read no more than the cap lets move in one step.
        let n = match stream.read(&mut buf, moved.chunk(capacity)).await {
            Ok(n) => n,
            Err(e) => break Err(lost(e)),
        };
        if n > 0 {
            moved.add(n);
            // The client is held back by TCP flow control while this waits.
            if let Err(f) = moved.pace(n).await {
                break Err(f);
            }
        }
        let data = if ascii {
            let mut out = Vec::with_capacity(n);
            if n == 0 {
                converter.finish(&mut out);
            } else {
                converter.convert(&buf, &mut out);
            }
            out
        } else {
            std::mem::take(&mut buf)
        };
        let data = Rc::new(data);
        let written = write_all_at(file, &data, pos).await;
        let len = data.len();
        if !ascii {
            buf = Rc::try_unwrap(data).unwrap_or_else(|_| pool.take());
        }
        if let Err(f) = written {
            break Err(f);
        }
        pos += len as u64;
        if n == 0 {
            break Ok(pos - offset);
        }
    };
    pool.give(buf);
    let n = result?;
    // Answer the client's close_notify (Python's ftplib waits for it in unwrap()).
    let _ = stream.close().await;
    Ok(n)
}

async fn write_all_at(file: &Rc<File>, data: &Rc<Vec<u8>>, at: u64) -> Result<(), TransferFailure> {
    let mut done = 0;
    while done < data.len() {
        match uring_ops::write_at(file, data.clone(), done, at + done as u64).await {
            Ok(0) => return Err(TransferFailure::Local),
            Ok(n) => done += n,
            Err(e) => return Err(crate::transfer::storage_error(&e)),
        }
    }
    Ok(())
}

/// A listing over TLS.
pub(crate) async fn send_listing(
    stream: &TlsStream,
    mut chunks: ListingChunks,
    moved: &Moved<'_>,
) -> Result<u64, TransferFailure> {
    let mut total = 0u64;
    while let Some(chunk) = chunks.next().await.map_err(|_| TransferFailure::Local)? {
        if chunk.is_empty() {
            continue;
        }
        stream.write_all(chunk).await.map_err(lost)?;
        moved.add(chunk.len());
        total += chunk.len() as u64;
    }
    stream.close().await.map_err(lost)?;
    Ok(total)
}
