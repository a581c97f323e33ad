//! The PROXY protocol (HAProxy's `doc/proxy-protocol.txt`, v1 text and v2 binary) as
//! a sans-I/O reader: it says exactly how many more bytes to read, so the data plane
//! never reads past the header into the FTP stream, and hands the bytes to the `ppp`
//! parser once they are all there. Which peers may send a header is
//! [`TrustedProxies`]' decision; from any other peer a header is never believed.

use std::net::{IpAddr, SocketAddr};
use std::str::FromStr;

use ipnet::IpNet;

/// The v2 signature; the four bytes after it hold version/command, family and length.
const V2_SIGNATURE: &[u8; 12] = b"\r\n\r\n\0\r\nQUIT\n";
const V2_FIXED: usize = 16;
/// Longest v1 line the spec allows, CRLF included.
const V1_MAX: usize = 107;
/// Shortest header of either version (`PROXY UNKNOWN\r\n`): reading this much first can
/// never take a byte beyond the header.
const MIN_HEADER: usize = 15;
/// The v2 address block and TLVs accepted at most. HAProxy sends 12 (IPv4) or 36
/// (IPv6) bytes plus TLVs only when configured to; more than this is refused.
pub const MAX_V2_PAYLOAD: usize = 1024;

/// What the header says about the connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProxyHeader {
    /// Relayed for a client: `source` is the client, `destination` the address it dialled.
    Proxied {
        source: SocketAddr,
        destination: SocketAddr,
    },
    /// The proxy speaking for itself (v2 LOCAL, e.g. a health check) or a family the
    /// spec says to ignore (v1 UNKNOWN, v2 UNSPEC/UNIX): use the socket's own endpoints.
    Local,
}

impl ProxyHeader {
    /// The session's (peer, local) addresses for a connection with these socket endpoints.
    pub fn endpoints(
        self,
        socket_peer: SocketAddr,
        socket_local: SocketAddr,
    ) -> (SocketAddr, SocketAddr) {
        match self {
            ProxyHeader::Proxied {
                source,
                destination,
            } => (source, destination),
            ProxyHeader::Local => (socket_peer, socket_local),
        }
    }
}

/// Why a header was refused; the connection is then closed without a reply.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProxyError {
    #[error("not a PROXY protocol header")]
    NotAHeader,
    #[error("PROXY v1 line longer than {V1_MAX} bytes")]
    V1TooLong,
    #[error("PROXY v2 header carries {0} bytes, more than {MAX_V2_PAYLOAD}")]
    V2TooLong(usize),
    #[error("invalid PROXY header: {0}")]
    Invalid(String),
    #[error("PROXY header relays a datagram connection")]
    NotStream,
}

/// The next step of a [`HeaderReader`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Next {
    /// Read exactly this many more bytes (fewer arriving is fine: ask again).
    Read(usize),
    /// The header is complete.
    Done(ProxyHeader),
    /// The header is invalid.
    Failed(ProxyError),
}

/// Collects one header from a stream, asking only for bytes that belong to it.
#[derive(Debug, Default)]
pub struct HeaderReader {
    buf: Vec<u8>,
}

impl HeaderReader {
    /// A reader that has seen nothing yet.
    pub fn new() -> HeaderReader {
        HeaderReader::default()
    }

    /// Append bytes that were read (at most what [`HeaderReader::next`] asked for).
    pub fn push(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// Bytes seen so far.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// What to do next given the bytes seen so far.
    pub fn next(&self) -> Next {
        let b = &self.buf;
        if b.len() < MIN_HEADER {
            return Next::Read(MIN_HEADER - b.len());
        }
        if b.starts_with(b"PROXY ") {
            return self.next_v1();
        }
        if !b.starts_with(&V2_SIGNATURE[..]) {
            return Next::Failed(ProxyError::NotAHeader);
        }
        if b.len() < V2_FIXED {
            return Next::Read(V2_FIXED - b.len());
        }
        let payload = usize::from(u16::from_be_bytes([b[14], b[15]]));
        if payload > MAX_V2_PAYLOAD {
            return Next::Failed(ProxyError::V2TooLong(payload));
        }
        let total = V2_FIXED + payload;
        if b.len() < total {
            return Next::Read(total - b.len());
        }
        match ppp::v2::Header::try_from(&b[..total]) {
            Ok(h) => from_v2(&h),
            Err(e) => Next::Failed(ProxyError::Invalid(e.to_string())),
        }
    }

    fn next_v1(&self) -> Next {
        let b = &self.buf;
        if !b.ends_with(b"\r\n") {
            if b.contains(&b'\n') || b[..b.len() - 1].contains(&b'\r') {
                return Next::Failed(ProxyError::Invalid("stray CR or LF".into()));
            }
            if b.len() >= V1_MAX {
                return Next::Failed(ProxyError::V1TooLong);
            }
            // A CR may be the last byte read: then only its LF can be missing.
            return Next::Read(if b.ends_with(b"\r") { 1 } else { 2 });
        }
        if b[..b.len() - 2].contains(&b'\n') || b[..b.len() - 2].contains(&b'\r') {
            return Next::Failed(ProxyError::Invalid("stray CR or LF".into()));
        }
        let Ok(text) = std::str::from_utf8(b) else {
            return Next::Failed(ProxyError::Invalid("not ASCII".into()));
        };
        match ppp::v1::Header::try_from(text) {
            Ok(h) => Next::Done(match h.addresses {
                ppp::v1::Addresses::Unknown => ProxyHeader::Local,
                ppp::v1::Addresses::Tcp4(a) => ProxyHeader::Proxied {
                    source: SocketAddr::new(a.source_address.into(), a.source_port),
                    destination: SocketAddr::new(a.destination_address.into(), a.destination_port),
                },
                ppp::v1::Addresses::Tcp6(a) => ProxyHeader::Proxied {
                    source: SocketAddr::new(a.source_address.into(), a.source_port),
                    destination: SocketAddr::new(a.destination_address.into(), a.destination_port),
                },
            }),
            Err(e) => Next::Failed(ProxyError::Invalid(e.to_string())),
        }
    }
}

fn from_v2(h: &ppp::v2::Header<'_>) -> Next {
    use ppp::v2::{Addresses, Command, Protocol};
    if h.command == Command::Local {
        return Next::Done(ProxyHeader::Local);
    }
    let (source, destination) = match h.addresses {
        Addresses::IPv4(a) => (
            SocketAddr::new(a.source_address.into(), a.source_port),
            SocketAddr::new(a.destination_address.into(), a.destination_port),
        ),
        Addresses::IPv6(a) => (
            SocketAddr::new(a.source_address.into(), a.source_port),
            SocketAddr::new(a.destination_address.into(), a.destination_port),
        ),
        // The spec: unknown or local-socket families carry nothing usable.
        Addresses::Unspecified | Addresses::Unix(_) => return Next::Done(ProxyHeader::Local),
    };
    if h.protocol == Protocol::Datagram {
        return Next::Failed(ProxyError::NotStream);
    }
    Next::Done(ProxyHeader::Proxied {
        source,
        destination,
    })
}

/// Peers whose connections must start with a PROXY header (the balancers).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<IpNet>);

/// A trusted-source entry that is not an address or CIDR.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("`{0}` is not an IP address or CIDR (e.g. 10.0.0.0/8, 2001:db8::/32, 192.0.2.1)")]
pub struct BadCidr(pub String);

impl TrustedProxies {
    /// Parse addresses (a host) and CIDRs.
    pub fn parse<S: AsRef<str>>(entries: &[S]) -> Result<TrustedProxies, BadCidr> {
        entries
            .iter()
            .map(|s| {
                let s = s.as_ref().trim();
                IpNet::from_str(s)
                    .or_else(|_| IpAddr::from_str(s).map(IpNet::from))
                    .map(|n| n.trunc())
                    .map_err(|_| BadCidr(s.to_string()))
            })
            .collect::<Result<Vec<_>, _>>()
            .map(TrustedProxies)
    }

    /// No trusted proxies: PROXY headers are never read.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Must a connection from `peer` start with a PROXY header?
    pub fn trusts(&self, peer: IpAddr) -> bool {
        let peer = peer.to_canonical();
        self.0.iter().any(|net| net.contains(&peer))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Feed `input` the way the data plane does: never more than asked for, in pieces
    /// no larger than `piece`. Returns the outcome and the bytes consumed.
    fn run(input: &[u8], piece: usize) -> (Next, usize) {
        let mut r = HeaderReader::new();
        let mut at = 0;
        loop {
            match r.next() {
                Next::Read(n) => {
                    assert!(n > 0);
                    if at == input.len() {
                        return (Next::Read(n), at);
                    }
                    let take = n.min(piece.max(1)).min(input.len() - at);
                    r.push(&input[at..at + take]);
                    at += take;
                }
                done => return (done, at),
            }
        }
    }

    fn v2(source: SocketAddr, destination: SocketAddr) -> Vec<u8> {
        ppp::v2::Builder::with_addresses(
            ppp::v2::Version::Two | ppp::v2::Command::Proxy,
            ppp::v2::Protocol::Stream,
            (source, destination),
        )
        .build()
        .unwrap()
    }

    #[test]
    fn v1_tcp4_tcp6_and_unknown() {
        let line = b"PROXY TCP4 192.0.2.9 127.0.0.1 40000 2121\r\nUSER x\r\n";
        let (next, used) = run(line, 1000);
        assert_eq!(
            next,
            Next::Done(ProxyHeader::Proxied {
                source: "192.0.2.9:40000".parse().unwrap(),
                destination: "127.0.0.1:2121".parse().unwrap(),
            })
        );
        assert_eq!(&line[used..], b"USER x\r\n");
        let (next, _) = run(b"PROXY TCP6 2001:db8::1 ::1 5 21\r\n", 7);
        assert_eq!(
            next,
            Next::Done(ProxyHeader::Proxied {
                source: "[2001:db8::1]:5".parse().unwrap(),
                destination: "[::1]:21".parse().unwrap(),
            })
        );
        assert_eq!(
            run(b"PROXY UNKNOWN\r\n", 3).0,
            Next::Done(ProxyHeader::Local)
        );
    }

    #[test]
    fn v2_proxy_and_local() {
        let src: SocketAddr = "127.0.0.9:50123".parse().unwrap();
        let dst: SocketAddr = "127.0.0.1:2121".parse().unwrap();
        let mut bytes = v2(src, dst);
        let header_len = bytes.len();
        bytes.extend_from_slice(b"STOR data follows");
        let (next, used) = run(&bytes, 1000);
        assert_eq!(
            next,
            Next::Done(ProxyHeader::Proxied {
                source: src,
                destination: dst
            })
        );
        assert_eq!(used, header_len);
        let local = ppp::v2::Builder::new(
            ppp::v2::Version::Two | ppp::v2::Command::Local,
            ppp::v2::AddressFamily::Unspecified | ppp::v2::Protocol::Unspecified,
        )
        .build()
        .unwrap();
        assert_eq!(run(&local, 1000).0, Next::Done(ProxyHeader::Local));
        assert_eq!(
            ProxyHeader::Local.endpoints(src, dst),
            (src, dst),
            "LOCAL keeps the socket's endpoints"
        );
    }

    #[test]
    fn refuses_what_is_not_a_header() {
        assert_eq!(
            run(b"USER anonymous\r\nPASS x\r\n", 1000).0,
            Next::Failed(ProxyError::NotAHeader)
        );
        let mut long = b"PROXY TCP4 ".to_vec();
        long.resize(200, b'1');
        assert_eq!(run(&long, 1000).0, Next::Failed(ProxyError::V1TooLong));
        assert!(matches!(
            run(b"PROXY TCP4 300.1.1.1 1.1.1.1 1 2\r\n", 1000).0,
            Next::Failed(ProxyError::Invalid(_))
        ));
        let mut big = V2_SIGNATURE.to_vec();
        big.extend_from_slice(&[0x21, 0x11, 0xff, 0xff]);
        assert_eq!(
            run(&big, 1000).0,
            Next::Failed(ProxyError::V2TooLong(65535))
        );
        let udp = ppp::v2::Builder::with_addresses(
            ppp::v2::Version::Two | ppp::v2::Command::Proxy,
            ppp::v2::Protocol::Datagram,
            (
                "192.0.2.1:1".parse::<SocketAddr>().unwrap(),
                "192.0.2.2:2".parse::<SocketAddr>().unwrap(),
            ),
        )
        .build()
        .unwrap();
        assert_eq!(run(&udp, 1000).0, Next::Failed(ProxyError::NotStream));
    }

    #[test]
    fn a_half_header_keeps_asking_for_more() {
        let bytes = v2(
            "127.0.0.9:1".parse().unwrap(),
            "127.0.0.1:2".parse().unwrap(),
        );
        let (next, used) = run(&bytes[..20], 1000);
        assert_eq!(next, Next::Read(bytes.len() - 20));
        assert_eq!(used, 20);
        assert_eq!(run(b"PROXY TCP4 1.2", 1000).0, Next::Read(1));
    }

    #[test]
    fn trusted_sources_by_address_and_cidr() {
        let t = TrustedProxies::parse(&["127.0.0.5", "10.1.0.0/16", "2001:db8::/32"]).unwrap();
        assert!(t.trusts("127.0.0.5".parse().unwrap()));
        assert!(!t.trusts("127.0.0.6".parse().unwrap()));
        assert!(t.trusts("10.1.200.3".parse().unwrap()));
        assert!(t.trusts("::ffff:10.1.0.1".parse().unwrap()), "IPv4-mapped");
        assert!(t.trusts("2001:db8:1::9".parse().unwrap()));
        assert!(!t.trusts("2001:db9::1".parse().unwrap()));
        assert_eq!(
            TrustedProxies::parse(&["10.0.0.0/33"]),
            Err(BadCidr("10.0.0.0/33".into()))
        );
        assert!(TrustedProxies::parse(&["proxy.example"]).is_err());
        assert!(matches!(
            run(b"PROXY TCP4 1.1.1.1 2.2.2.2 1 2\n\r\n", 1000).0,
            Next::Failed(ProxyError::Invalid(_))
        ));
        assert!(TrustedProxies::default().is_empty());
    }

    proptest! {
        /// Any bytes, any split: the reader ends (or waits) without panicking, never
        /// asks for more than a header can hold, and never consumes past `Done`.
        #[test]
        fn arbitrary_input_is_bounded(input in proptest::collection::vec(any::<u8>(), 0..2048), piece in 1usize..64) {
            let (next, used) = run(&input, piece);
            prop_assert!(used <= V2_FIXED + MAX_V2_PAYLOAD);
            if let Next::Read(n) = next {
                prop_assert_eq!(used, input.len());
                prop_assert!(used + n <= V2_FIXED + MAX_V2_PAYLOAD);
            }
        }

        /// Headers built by `ppp` come back with the same addresses whatever the read
        /// sizes, and exactly the header's bytes are consumed.
        #[test]
        fn v2_round_trips(a in any::<[u8; 16]>(), b in any::<[u8; 16]>(), sp in any::<u16>(), dp in any::<u16>(), v6 in any::<bool>(), piece in 1usize..40, tail in proptest::collection::vec(any::<u8>(), 0..64)) {
            let (src, dst): (SocketAddr, SocketAddr) = if v6 {
                ((std::net::Ipv6Addr::from(a), sp).into(), (std::net::Ipv6Addr::from(b), dp).into())
            } else {
                let v4 = |x: [u8; 16]| std::net::Ipv4Addr::new(x[0], x[1], x[2], x[3]);
                ((v4(a), sp).into(), (v4(b), dp).into())
            };
            let mut bytes = v2(src, dst);
            let len = bytes.len();
            bytes.extend_from_slice(&tail);
            let (next, used) = run(&bytes, piece);
            prop_assert_eq!(next, Next::Done(ProxyHeader::Proxied { source: src, destination: dst }));
            prop_assert_eq!(used, len);
        }

        /// v1 lines round-trip too, and the bytes after the CRLF are left alone.
        #[test]
        fn v1_round_trips(a in any::<[u8; 4]>(), b in any::<[u8; 4]>(), sp in any::<u16>(), dp in any::<u16>(), piece in 1usize..40) {
            let (src, dst) = (std::net::Ipv4Addr::from(a), std::net::Ipv4Addr::from(b));
            let line = format!("PROXY TCP4 {src} {dst} {sp} {dp}\r\n");
            let mut bytes = line.clone().into_bytes();
            bytes.extend_from_slice(b"220 x\r\n");
            let (next, used) = run(&bytes, piece);
            prop_assert_eq!(next, Next::Done(ProxyHeader::Proxied {
                source: (src, sp).into(),
                destination: (dst, dp).into(),
            }));
            prop_assert_eq!(used, line.len());
        }
    }
}
