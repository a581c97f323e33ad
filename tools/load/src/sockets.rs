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

/// What a data socket is given before it connects or listens, as a client on a given
/// link would have it. Both are set before the handshake, which announces them.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DataSocketOptions {
    /// SO_RCVBUF: the receive window follows it.
    pub rcvbuf: Option<usize>,
    /// TCP_MAXSEG: the largest segment the server may send. On loopback segments are
    /// otherwise 64 KiB, so a slow reader's window opens in 64 KiB steps, where a
    /// client on an Ethernet path (1,448 bytes) opens it almost byte by byte.
    pub mss: Option<u32>,
}

impl DataSocketOptions {
    fn apply(&self, socket: &Socket) -> io::Result<()> {
        if let Some(size) = self.rcvbuf {
            socket.set_recv_buffer_size(size)?;
        }
        if let Some(mss) = self.mss {
            socket.set_tcp_mss(mss)?;
        }
        Ok(())
    }
}

/// Connects to `target`, from `source` when given (port chosen at connect time).
pub async fn connect(target: SocketAddr, source: Option<IpAddr>) -> io::Result<TcpStream> {
    connect_with(target, source, DataSocketOptions::default()).await
}

/// Connects a data connection from `source`, with `options` set before connecting.
pub async fn connect_data(
    target: SocketAddr,
    source: IpAddr,
    options: DataSocketOptions,
) -> io::Result<TcpStream> {
    connect_with(target, Some(source), options).await
}

async fn connect_with(
    target: SocketAddr,
    source: Option<IpAddr>,
    options: DataSocketOptions,
) -> io::Result<TcpStream> {
    let socket = new_socket(&target)?;
    options.apply(&socket)?;
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
/// the accepted connection inherits `options`.
pub fn listen(ip: IpAddr, options: DataSocketOptions) -> io::Result<TcpListener> {
    let addr = SocketAddr::new(ip, 0);
    let socket = new_socket(&addr)?;
    options.apply(&socket)?;
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
            let options = DataSocketOptions {
                rcvbuf: Some(64 * 1024),
                mss: Some(1448),
            };
            let listener = listen("127.0.0.1".parse().unwrap(), options).unwrap();
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
            // The listener's accepted socket announced 1,448: the client sends no larger
            // segments (on loopback it would otherwise send 65,483-byte ones).
            let client_mss = socket2::SockRef::from(&client).tcp_mss().unwrap();
            assert!(client_mss <= 1448, "{client_mss}");
            client.write_all(b"hi").await.unwrap();
            let mut buf = [0u8; 2];
            server.read_exact(&mut buf).await.unwrap();
            assert_eq!(&buf, b"hi");
        });
    }
}
