//! Socket construction with socket2, and readiness-driven accept/connect/send/recv
//! on top of the io_uring ops.

use std::io;
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream};
use std::os::fd::{AsFd, AsRawFd};
use std::rc::Rc;

use nix::sys::socket::{setsockopt, sockopt::IpBindAddressNoPort};
use socket2::{Domain, Protocol, SockRef, Socket, Type};

use crate::sys;
use crate::uring_ops;

/// A TCP socket for `addr`'s family, non-blocking from the start (SOCK_NONBLOCK: no
/// pair of fcntl calls after, two system calls per active-mode transfer fewer).
fn socket_for(addr: &SocketAddr) -> io::Result<Socket> {
    let socket = Socket::new(
        Domain::for_address(*addr),
        Type::STREAM.nonblocking().cloexec(),
        Some(Protocol::TCP),
    )?;
    if addr.is_ipv6() {
        // Keep [::] from also claiming IPv4, so 0.0.0.0 can be listed separately.
        socket.set_only_v6(true)?;
    }
    Ok(socket)
}

/// Fail with EADDRINUSE if anything already listens on `addr`. SO_REUSEPORT would
/// otherwise let a second server (same user) silently share the port with us.
pub fn ensure_port_free(addr: SocketAddr) -> io::Result<()> {
    if addr.port() == 0 {
        return Ok(());
    }
    let probe = socket_for(&addr)?;
    probe.set_reuse_address(true)?;
    probe.bind(&addr.into())
}

/// A non-blocking control listener; SO_REUSEPORT lets every worker bind the same
/// address and the kernel spread connections across them. TCP_NODELAY (replies leave
/// at once) and SO_OOBINLINE (clients send ABOR's Telnet Synch as urgent data, which
/// Linux would otherwise pull out of the stream) are set here: Linux copies a
/// listener's options into each connection it accepts, two system calls per session
/// fewer.
pub fn control_listener(addr: SocketAddr) -> io::Result<TcpListener> {
    let socket = socket_for(&addr)?;
    socket.set_reuse_address(true)?;
    socket.set_reuse_port(true)?;
    socket.set_tcp_nodelay(true)?;
    socket.set_out_of_band_inline(true)?;
    socket.bind(&addr.into())?;
    socket.listen(4096)?;
    Ok(socket.into())
}

/// A non-blocking passive data listener on exactly `addr`. SO_REUSEADDR only (no
/// REUSEPORT), so a port someone else holds fails with EADDRINUSE. Its connections
/// inherit TCP_NODELAY (a file's last bytes leave at once).
pub fn passive_listener(addr: SocketAddr) -> io::Result<TcpListener> {
    let socket = socket_for(&addr)?;
    socket.set_reuse_address(true)?;
    socket.set_tcp_nodelay(true)?;
    socket.bind(&addr.into())?;
    socket.listen(16)?;
    Ok(socket.into())
}

/// Shut a socket down in both directions; wakes every op waiting on it.
pub fn shutdown<F: AsRawFd + std::os::fd::AsFd>(fd: &F) {
    let _ = SockRef::from(fd).shutdown(std::net::Shutdown::Both);
}

/// Send the FIN now (bytes held by [`Ending::WithFin`] leave with it); reads go on.
pub fn shutdown_write<F: AsRawFd + std::os::fd::AsFd>(fd: &F) -> io::Result<()> {
    SockRef::from(fd).shutdown(std::net::Shutdown::Write)
}

/// Wait for and accept one connection on a non-blocking listener; the connection is
/// blocking (io_uring ops on it wait in the kernel).
pub async fn accept(listener: &Rc<TcpListener>) -> io::Result<(TcpStream, SocketAddr)> {
    accept_with(listener, TcpListener::accept).await
}

/// [`accept`], the connection non-blocking from the start (no ioctl after).
pub async fn accept_nonblocking(listener: &Rc<TcpListener>) -> io::Result<(TcpStream, SocketAddr)> {
    accept_with(listener, |l| sys::accept_nonblocking(l.as_fd())).await
}

async fn accept_with(
    listener: &Rc<TcpListener>,
    accept: impl Fn(&TcpListener) -> io::Result<(TcpStream, SocketAddr)>,
) -> io::Result<(TcpStream, SocketAddr)> {
    loop {
        match accept(listener) {
            Ok(pair) => return Ok(pair),
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                uring_ops::poll(listener, libc::POLLIN).await?;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

/// Start connecting a non-blocking socket to `target`, from `source_ip` and, if it
/// can be bound, `source_port` (`None` or 0: any port). Finish with [`finish_connect`].
pub fn start_connect(
    source_ip: IpAddr,
    source_port: Option<u16>,
    target: SocketAddr,
) -> io::Result<Rc<TcpStream>> {
    let socket = socket_for(&target)?;
    let shared_port = source_port.filter(|&p| p != 0);
    let bound = shared_port.is_some_and(|p| bind_shared_port(&socket, source_ip, p).is_ok());
    if !bound {
        if shared_port.is_some() {
            // The failed attempt may have left SO_REUSEPORT on.
            let _ = socket.set_reuse_port(false);
        }
        // Let connect() choose the port: bind(port 0) would search the ephemeral range
        // for a port free of every TIME_WAIT socket, which grows costly once thousands
        // of active-mode transfers have ended. Best effort: without it, bind still works.
        let _ = setsockopt(&socket, IpBindAddressNoPort, &true);
        socket.bind(&SocketAddr::new(source_ip, 0).into())?;
    }
    match socket.connect(&target.into()) {
        Ok(()) => {}
        Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => {}
        Err(e) => return Err(e),
    }
    Ok(Rc::new(TcpStream::from(socket)))
}

/// Bind the fixed active-mode source port (20) that every active transfer shares.
/// SO_REUSEADDR lets it share the port with transfers still connected or in
/// TIME_WAIT; SO_REUSEPORT (same user only) puts the bind on the kernel's fast
/// path, which otherwise walks every socket on the port: with tens of thousands in
/// TIME_WAIT that walk cost more CPU than the transfers themselves.
fn bind_shared_port(socket: &Socket, ip: IpAddr, port: u16) -> io::Result<()> {
    socket.set_reuse_address(true)?;
    socket.set_reuse_port(true)?;
    socket.bind(&SocketAddr::new(ip, port).into())
}

/// Wait until a connect started by [`start_connect`] completes or fails. Only a
/// socket that reports an error or a hang-up is asked which error (SO_ERROR): a plain
/// POLLOUT is a made connection.
pub async fn finish_connect(stream: &Rc<TcpStream>) -> io::Result<()> {
    let revents = uring_ops::poll(stream, libc::POLLOUT).await?;
    if revents & (libc::POLLERR | libc::POLLHUP) == 0 {
        return Ok(());
    }
    match SockRef::from(&**stream).take_error()? {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// Send all of `buf`, blocking socket or not: whatever fits now, then wait for
/// POLLOUT (through io_uring) while the socket is full.
pub async fn send_all<S: AsRawFd + AsFd + 'static>(sock: &Rc<S>, buf: &[u8]) -> io::Result<()> {
    send_all_then(sock, buf, Ending::Push, || {}).await
}

/// How a send leaves its last bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ending {
    /// At once (TCP_NODELAY).
    Push,
    /// Held back (MSG_MORE) for the FIN of a shutdown or close that must follow at
    /// once: the last bytes and the FIN leave in one segment, one packet (and one
    /// wake-up of the peer) fewer per connection.
    WithFin,
}

/// [`send_all`] ending as `ending` says, calling `before_wait` each time the socket is
/// full, before waiting.
pub async fn send_all_then<S: AsRawFd + AsFd + 'static>(
    sock: &Rc<S>,
    buf: &[u8],
    ending: Ending,
    mut before_wait: impl FnMut(),
) -> io::Result<()> {
    let more = ending == Ending::WithFin;
    let mut sent = 0;
    while sent < buf.len() {
        // A reply or a small file nearly always fits in the socket at once: a direct
        // send then costs one system call, where an io_uring send costs a turn of the
        // worker's loop before the session goes on. Only a full socket waits.
        match sys::send_nonblocking(sock.as_fd(), &buf[sent..], more) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => sent += n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                before_wait();
                uring_ops::poll(sock, libc::POLLOUT).await?;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Receive some bytes (0 at end of stream), waiting for readability when needed.
pub async fn recv_some<S: AsRawFd + 'static>(
    sock: &Rc<S>,
    mut buf: Vec<u8>,
) -> (io::Result<usize>, Vec<u8>) {
    loop {
        let (res, back) = uring_ops::recv(sock, buf).await;
        buf = back;
        match res {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                if let Err(e) = uring_ops::poll(sock, libc::POLLIN).await {
                    return (Err(e), buf);
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            other => return (other, buf),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::Ipv4Addr;

    const LOOPBACK: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

    fn listener() -> TcpListener {
        TcpListener::bind((LOOPBACK, 0)).unwrap()
    }

    /// A port nothing is bound to right now.
    fn unused_port() -> u16 {
        listener().local_addr().unwrap().port()
    }

    #[test]
    fn accepted_connections_carry_the_listeners_socket_options() {
        // Sessions no longer set these per connection: they rely on Linux copying them.
        let control = control_listener((LOOPBACK, 0).into()).unwrap();
        let _client = TcpStream::connect(control.local_addr().unwrap()).unwrap();
        let (accepted, _) = control.accept().unwrap();
        assert!(SockRef::from(&control).nonblocking().unwrap());
        let sock = SockRef::from(&accepted);
        assert!(sock.tcp_nodelay().unwrap());
        assert!(sock.out_of_band_inline().unwrap());
        // Control connections stay blocking: io_uring ops on them wait in the kernel.
        assert!(!sock.nonblocking().unwrap());

        let data = passive_listener((LOOPBACK, 0).into()).unwrap();
        assert!(SockRef::from(&data).nonblocking().unwrap());
        let client = TcpStream::connect(data.local_addr().unwrap()).unwrap();
        let (accepted, peer) = sys::accept_nonblocking(data.as_fd()).unwrap();
        assert_eq!(peer, client.local_addr().unwrap());
        let sock = SockRef::from(&accepted);
        assert!(sock.tcp_nodelay().unwrap());
        assert!(sock.nonblocking().unwrap());
        let none_waiting = sys::accept_nonblocking(data.as_fd()).unwrap_err();
        assert_eq!(none_waiting.kind(), io::ErrorKind::WouldBlock);
    }

    #[test]
    fn transfers_in_flight_share_the_fixed_source_port() {
        let port = unused_port();
        let (a, b) = (listener(), listener());
        let _first = start_connect(LOOPBACK, Some(port), a.local_addr().unwrap()).unwrap();
        let _second = start_connect(LOOPBACK, Some(port), b.local_addr().unwrap()).unwrap();
        assert_eq!(a.accept().unwrap().1.port(), port);
        assert_eq!(b.accept().unwrap().1.port(), port);
    }

    #[test]
    fn port_zero_or_none_connects_from_a_port_of_the_kernels_choosing() {
        let target = listener();
        for source_port in [None, Some(0)] {
            let stream =
                start_connect(LOOPBACK, source_port, target.local_addr().unwrap()).unwrap();
            let (_accepted, peer) = target.accept().unwrap();
            assert_ne!(peer.port(), 0);
            assert_eq!(stream.local_addr().unwrap(), peer);
            assert!(SockRef::from(&*stream).nonblocking().unwrap());
            assert!(!SockRef::from(&*stream).reuse_port().unwrap());
        }
    }

    #[test]
    fn a_source_port_that_cannot_be_bound_falls_back_to_any_port() {
        // A listener (without SO_REUSEPORT) owns this port, so the shared bind fails.
        let taken = listener();
        let taken_port = taken.local_addr().unwrap().port();
        let target = listener();
        let _stream =
            start_connect(LOOPBACK, Some(taken_port), target.local_addr().unwrap()).unwrap();
        let (_accepted, peer) = target.accept().unwrap();
        assert_ne!(peer.port(), taken_port);
    }
}
