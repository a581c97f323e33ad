//! Admitting a new control connection: learn who the client really is (the PROXY
//! header a trusted balancer sends, read before the banner), then count that address
//! against the session caps, then hand the connection to its session.

use std::net::{SocketAddr, TcpStream};
use std::rc::Rc;

use tracing::debug;

use crate::control_conn::{self, Security};
use crate::metrics::bump;
use crate::proxy_header;
use crate::worker::Worker;

/// Serve or refuse one accepted control connection. On an implicit-TLS listener the
/// PROXY header (which the balancer sends in the clear) comes before the handshake.
pub async fn admit(
    worker: Rc<Worker>,
    stream: TcpStream,
    socket_peer: SocketAddr,
    security: Security,
) {
    let socket_local = match stream.local_addr() {
        Ok(a) => a,
        Err(_) => return,
    };
    let trust = &worker.config.proxy;
    if !trust.trusted.trusts(socket_peer.ip()) {
        return start(worker, stream, socket_peer, socket_local, security).await;
    }
    let stream = Rc::new(stream);
    let header = match proxy_header::read(&stream, trust.header_timeout).await {
        Ok(h) => h,
        Err(e) => {
            bump(&worker.metrics.proxy_header_failures);
            debug!(peer = %socket_peer, error = %e, "dropping connection without a valid PROXY header");
            crate::net::shutdown(&*stream);
            return;
        }
    };
    // Every op that used the socket has completed, so this is its only owner.
    let Ok(stream) = Rc::try_unwrap(stream) else {
        return;
    };
    // The session's reads and writes expect the socket as accepted (blocking).
    if stream.set_nonblocking(false).is_err() {
        return;
    }
    bump(&worker.metrics.proxied_sessions);
    let (peer, dialled) = header.endpoints(socket_peer, socket_local);
    start(worker, stream, peer, dialled, security).await
}

async fn start(
    worker: Rc<Worker>,
    stream: TcpStream,
    peer: SocketAddr,
    dialled: SocketAddr,
    security: Security,
) {
    match worker.config.limits.try_acquire(peer.ip()) {
        Ok(permit) => control_conn::serve(worker, stream, peer, dialled, permit, security).await,
        Err(e) => {
            bump(&worker.metrics.sessions_refused);
            // The 421 is an error reply like any other session's.
            worker.metrics.error_replies.count(e.reply_code());
            // A plain reply means nothing to a client expecting TLS: just close.
            if security == Security::Plain {
                control_conn::refuse(stream, e.reply_code(), e.to_string()).await;
            }
        }
    }
}
