//! Socket construction with socket2, and readiness-driven accept/connect/send/recv
//! on top of the io_uring ops.

use std::io;
use std::net::{IpAddr, SocketAddr, TcpListener, TcpStream};
use std::os::fd::AsRawFd;
use std::rc::Rc;

use socket2::{Domain, Protocol, SockRef, Socket, Type};

use crate::uring_ops;

fn socket_for(addr: &SocketAddr) -> io::Result<Socket> {
    let socket = Socket::new(
        Domain::for_address(*addr),
        Type::STREAM.cloexec(),
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
/// address and the kernel spread connections across them.
pub fn control_listener(addr: SocketAddr) -> io::Result<TcpListener> {
    let socket = socket_for(&addr)?;
    socket.set_reuse_address(true)?;
    socket.set_reuse_port(true)?;
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    socket.listen(4096)?;
    Ok(socket.into())
}

/// A non-blocking passive data listener on exactly `addr`. SO_REUSEADDR only (no
/// REUSEPORT), so a port someone else holds fails with EADDRINUSE.
pub fn passive_listener(addr: SocketAddr) -> io::Result<TcpListener> {
    let socket = socket_for(&addr)?;
    socket.set_reuse_address(true)?;
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    socket.listen(16)?;
    Ok(socket.into())
}

/// Shut a socket down in both directions; wakes every op waiting on it.
pub fn shutdown<F: AsRawFd + std::os::fd::AsFd>(fd: &F) {
    let _ = SockRef::from(fd).shutdown(std::net::Shutdown::Both);
}

/// Wait for and accept one connection on a non-blocking listener.
pub async fn accept(listener: &Rc<TcpListener>) -> io::Result<(TcpStream, SocketAddr)> {
    loop {
        match listener.accept() {
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
/// can be bound, `source_port`. Finish with [`finish_connect`].
pub fn start_connect(
    source_ip: IpAddr,
    source_port: Option<u16>,
    target: SocketAddr,
) -> io::Result<Rc<TcpStream>> {
    let socket = socket_for(&target)?;
    socket.set_nonblocking(true)?;
    socket.set_reuse_address(true)?;
    let bound = source_port
        .map(|p| socket.bind(&SocketAddr::new(source_ip, p).into()).is_ok())
        .unwrap_or(false);
    if !bound {
        socket.bind(&SocketAddr::new(source_ip, 0).into())?;
    }
    match socket.connect(&target.into()) {
        Ok(()) => {}
        Err(e) if e.raw_os_error() == Some(libc::EINPROGRESS) => {}
        Err(e) => return Err(e),
    }
    Ok(Rc::new(TcpStream::from(socket)))
}

/// Wait until a connect started by [`start_connect`] completes or fails.
pub async fn finish_connect(stream: &Rc<TcpStream>) -> io::Result<()> {
    uring_ops::poll(stream, libc::POLLOUT).await?;
    match SockRef::from(&**stream).take_error()? {
        Some(e) => Err(e),
        None => Ok(()),
    }
}

/// Send all of `buf`, waiting for writability when the socket is non-blocking.
pub async fn send_all<S: AsRawFd + 'static>(sock: &Rc<S>, buf: Rc<Vec<u8>>) -> io::Result<()> {
    let mut sent = 0;
    while sent < buf.len() {
        match uring_ops::send(sock, buf.clone(), sent).await {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => sent += n,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
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
