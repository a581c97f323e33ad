//! Admitting a new control connection: learn who the client really is (the PROXY
//! header a trusted balancer sends, read before the banner), then count that address
//! against the session caps, then hand the connection to its session.

use std::net::{SocketAddr, TcpStream};
use std::rc::Rc;

use tracing::debug;

use crate::control_conn::{self, Endpoints, Security};
use crate::metrics::bump;
use crate::proxy_header;
use crate::worker::Worker;

/// Serve or refuse one accepted control connection. On an implicit-TLS listener the
/// PROXY header (which the balancer sends in the clear) comes before the handshake.
/// `local` is the connection's local address when the listener already says it.
pub async fn admit(
    worker: Rc<Worker>,
    stream: TcpStream,
    socket_peer: SocketAddr,
    local: Option<SocketAddr>,
    security: Security,
) {
    let socket_local = match local.map_or_else(|| stream.local_addr(), Ok) {
        Ok(a) => a,
        Err(_) => return,
    };
    let trust = &worker.config.proxy;
    if !trust.trusted.trusts(socket_peer.ip()) {
        let ends = Endpoints {
            peer: socket_peer,
            dialled: socket_local,
            local: socket_local,
        };
        return start(worker, stream, ends, security).await;
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
    let ends = Endpoints {
        peer,
        dialled,
        local: socket_local,
    };
    start(worker, stream, ends, security).await
}

async fn start(worker: Rc<Worker>, stream: TcpStream, ends: Endpoints, security: Security) {
    match worker.config.limits.try_acquire(ends.peer.ip()) {
        Ok(permit) => control_conn::serve(worker, stream, ends, permit, security).await,
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
