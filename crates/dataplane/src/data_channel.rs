//! Opening the data connection: a passive listener with port-stealing protection,
//! or an active connect back to the control peer.

use std::io;
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream};
use std::rc::Rc;
use std::time::Instant;

use tracing::debug;

use crate::cancel::CancelToken;
use crate::metrics::bump;
use crate::net;
use crate::passive_ports::PortLease;
use crate::proxy_header;
use crate::worker::Worker;

/// A passive listener and the pool port it holds; the port returns when dropped.
pub struct PassiveListener {
    pub listener: Rc<TcpListener>,
    pub addr: SocketAddr,
    pub opened: Instant,
    lease: Option<PortLease>,
}

impl PassiveListener {
    /// Open a listener on the next free port of this worker's slice, on `ip`, or take
    /// one parked there by an earlier data connection. Ports another process holds
    /// are skipped.
    pub fn open(worker: &Worker, ip: IpAddr) -> Option<PassiveListener> {
        let attempts = worker.ports.range().len();
        for _ in 0..attempts {
            let mut lease = worker.ports.lease(ip)?;
            let addr = SocketAddr::new(ip, lease.port());
            if let Some(listener) = lease.take_listener() {
                if drain_backlog(&listener).is_ok() {
                    return Some(PassiveListener {
                        listener,
                        addr,
                        opened: Instant::now(),
                        lease: Some(lease),
                    });
                }
            }
            match net::passive_listener(addr) {
                Ok(listener) => {
                    return Some(PassiveListener {
                        listener: Rc::new(listener),
                        addr,
                        opened: Instant::now(),
                        lease: Some(lease),
                    })
                }
                Err(e) => debug!(%addr, error = %e, "passive port unavailable, trying next"),
            }
        }
        worker.ports.note_exhausted();
        None
    }
}

/// Close every connection waiting on a parked listener: they came before this PASV
/// (a client's late or second connection, a scan), so none is this session's.
fn drain_backlog(listener: &TcpListener) -> io::Result<()> {
    loop {
        match listener.accept() {
            Ok((stream, peer)) => {
                net::shutdown(&stream);
                debug!(%peer, "closed a data connection made before its PASV");
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

impl Drop for PassiveListener {
    fn drop(&mut self) {
        // No data connection was made (replaced, cancelled, failed): wake any poll
        // still parked on the listener so its fd closes now. After a data connection
        // the lease holds the listener, parked for the next PASV.
        if self.lease.is_some() {
            net::shutdown(&*self.listener);
        }
    }
}

/// How the data connection will be made.
pub enum DataChannel {
    Passive(PassiveListener),
    Active(SocketAddr),
}

/// An established data connection; a passive port stays leased until it is dropped,
/// because the accepted connection still uses that local port.
pub struct DataConnection {
    pub stream: Rc<TcpStream>,
    _lease: Option<PortLease>,
}

/// Make the data connection. Passive: accept until a connection from the control
/// peer's address arrives; others are closed and counted (port stealing).
pub async fn establish(
    channel: DataChannel,
    worker: &Worker,
    control_peer: IpAddr,
    control_local: IpAddr,
    cancel: &CancelToken,
) -> io::Result<DataConnection> {
    match channel {
        DataChannel::Passive(mut passive) => {
            cancel.watch_listener(&passive.listener);
            loop {
                let (stream, socket_peer) = net::accept_nonblocking(&passive.listener).await?;
                if cancel.reason().is_some() {
                    return Err(io::ErrorKind::Interrupted.into());
                }
                let stream = Rc::new(stream);
                // Behind a balancer the real client is in the PROXY header.
                let peer = match proxy_header::client_of(&worker.config.proxy, &stream, socket_peer)
                    .await
                {
                    Ok(p) => p,
                    Err(e) => {
                        bump(&worker.metrics.proxy_header_failures);
                        debug!(%socket_peer, error = %e, "refused data connection without a valid PROXY header");
                        continue;
                    }
                };
                if cancel.reason().is_some() {
                    return Err(io::ErrorKind::Interrupted.into());
                }
                let policy = worker.config.session_config();
                if policy.policy.passive_peer_allowed(control_peer, peer.ip()) {
                    // TCP_NODELAY came with the listener (`net::passive_listener`).
                    cancel.watch_stream(&stream);
                    let mut lease = passive.lease.take();
                    if let Some(lease) = &mut lease {
                        lease.park(passive.listener.clone());
                    }
                    return Ok(DataConnection {
                        stream,
                        _lease: lease,
                    });
                }
                net::shutdown(&*stream);
                bump(&worker.metrics.passive_foreign_refused);
                debug!(%peer, %control_peer, "refused data connection from a foreign address");
            }
        }
        DataChannel::Active(target) => {
            let source_port = worker.config.active_source_port;
            let stream = net::start_connect(control_local, source_port, target)?;
            cancel.watch_stream(&stream);
            net::finish_connect(&stream).await?;
            if cancel.reason().is_some() {
                return Err(io::ErrorKind::Interrupted.into());
            }
            let _ = stream.set_nodelay(true);
            Ok(DataConnection {
                stream,
                _lease: None,
            })
        }
    }
}
