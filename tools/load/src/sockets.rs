//! Client sockets built with socket2: outgoing connections bound to a chosen source
//! address, and active-mode listeners on a session's own address.

use std::io;
use std::net::{IpAddr, SocketAddr};

use socket2::{Domain, Protocol, Socket, Type};
use tokio::net::{TcpListener, TcpSocket, TcpStream};

fn new_socket(addr: &SocketAddr) -> io::Result<Socket> {
    let socket = Socket::new(
        Domain::for_address(*addr),
        Type::STREAM,
        Some(Protocol::TCP),
    )?;
    socket.set_nonblocking(true)?;
    socket.set_cloexec(true)?;
    Ok(socket)
}

/// Lets `bind(ip, 0)` defer choosing the local port until `connect`, so the port only has
/// to be unique per 4-tuple rather than per source address.
fn set_bind_address_no_port(socket: &Socket) -> io::Result<()> {
    Ok(nix::sys::socket::setsockopt(
        socket,
        nix::sys::socket::sockopt::IpBindAddressNoPort,
        &true,
    )?)
}

/// Connects to `target`, from `source` when given (port chosen at connect time).
pub async fn connect(target: SocketAddr, source: Option<IpAddr>) -> io::Result<TcpStream> {
    connect_with(target, source, None).await
}

/// Connects a data connection from `source`, with `rcvbuf` as its receive buffer when
/// given. The size is set before connecting, so the window scale the handshake
/// announces matches it, as on a client with that buffer.
pub async fn connect_data(
    target: SocketAddr,
    source: IpAddr,
    rcvbuf: Option<usize>,
) -> io::Result<TcpStream> {
    connect_with(target, Some(source), rcvbuf).await
}

async fn connect_with(
    target: SocketAddr,
    source: Option<IpAddr>,
    rcvbuf: Option<usize>,
) -> io::Result<TcpStream> {
    let socket = new_socket(&target)?;
    if let Some(size) = rcvbuf {
        socket.set_recv_buffer_size(size)?;
    }
    if let Some(ip) = source {
        if ip.is_ipv4() {
            set_bind_address_no_port(&socket)?;
        }
        socket.bind(&SocketAddr::new(ip, 0).into())?;
    }
    let std_stream: std::net::TcpStream = socket.into();
    let stream = TcpSocket::from_std_stream(std_stream)
        .connect(target)
        .await?;
    stream.set_nodelay(true)?;
    Ok(stream)
}

/// Listens on `ip` at an ephemeral port, for the server's active-mode data connection;
/// the accepted connection inherits `rcvbuf` when given.
pub fn listen(ip: IpAddr, rcvbuf: Option<usize>) -> io::Result<TcpListener> {
    let addr = SocketAddr::new(ip, 0);
    let socket = new_socket(&addr)?;
    if let Some(size) = rcvbuf {
        socket.set_recv_buffer_size(size)?;
    }
    socket.bind(&addr.into())?;
    socket.listen(8)?;
    TcpListener::from_std(socket.into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[test]
    fn connect_from_source_and_accept() {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async {
            let listener = listen("127.0.0.1".parse().unwrap(), Some(64 * 1024)).unwrap();
            let target = listener.local_addr().unwrap();
            let source: IpAddr = "127.0.0.3".parse().unwrap();
            let (client, server) = tokio::join!(connect(target, Some(source)), listener.accept());
            let mut client = client.unwrap();
            let (mut server, peer) = server.unwrap();
            assert_eq!(peer.ip(), source);
            assert_eq!(client.local_addr().unwrap().ip(), source);
            // The kernel doubles the asked size for its bookkeeping.
            let server_buf = socket2::SockRef::from(&server).recv_buffer_size().unwrap();
            assert!(
                (64 * 1024..=128 * 1024).contains(&server_buf),
                "{server_buf}"
            );
            client.write_all(b"hi").await.unwrap();
            let mut buf = [0u8; 2];
            server.read_exact(&mut buf).await.unwrap();
            assert_eq!(&buf, b"hi");
        });
    }
}
