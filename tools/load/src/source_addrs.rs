//! The pool of local source addresses client sockets are spread over, so that tens of
//! thousands of connections to one server port do not run out of 4-tuples.

use std::net::{IpAddr, Ipv4Addr};

/// Most addresses one `--source-ips` value may name.
pub const MAX_SOURCES: usize = 1 << 16;

/// A `--source-ips` value that cannot be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SourceError {
    #[error("`{0}` is not an IP address")]
    BadAddress(String),
    #[error("range `{0}` runs backwards or mixes IPv4 and IPv6")]
    BadRange(String),
    #[error("source list names more than {MAX_SOURCES} addresses")]
    TooMany,
}

/// Local addresses to bind client sockets to, used round-robin.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SourcePool {
    addrs: Vec<IpAddr>,
}

impl SourcePool {
    /// No explicit source: the kernel picks one per socket.
    pub fn kernel() -> Self {
        Self::default()
    }

    /// Parses `127.0.0.2-127.0.0.9`, `127.0.0.2-9`, `a,b,c`, a single address, or `none`.
    pub fn parse(spec: &str) -> Result<Self, SourceError> {
        let spec = spec.trim();
        if spec.eq_ignore_ascii_case("none") || spec.eq_ignore_ascii_case("kernel") {
            return Ok(Self::kernel());
        }
        let mut addrs = Vec::new();
        for part in spec.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            match part.split_once('-') {
                None => addrs.push(parse_ip(part)?),
                Some((lo, hi)) => expand_range(part, lo, hi, &mut addrs)?,
            }
            if addrs.len() > MAX_SOURCES {
                return Err(SourceError::TooMany);
            }
        }
        Ok(Self { addrs })
    }

    /// The default for a target: eight loopback sources when the target is IPv4 loopback.
    pub fn default_for(target: IpAddr) -> Self {
        match target {
            IpAddr::V4(v4) if v4.is_loopback() => {
                let addrs = (2..=9)
                    .map(|last| IpAddr::V4(Ipv4Addr::new(127, 0, 0, last)))
                    .collect();
                Self { addrs }
            }
            _ => Self::kernel(),
        }
    }

    /// The source for the `n`th socket, or `None` when the kernel chooses.
    pub fn pick(&self, n: u64) -> Option<IpAddr> {
        if self.addrs.is_empty() {
            return None;
        }
        Some(self.addrs[(n % self.addrs.len() as u64) as usize])
    }

    /// All addresses in the pool.
    pub fn addrs(&self) -> &[IpAddr] {
        &self.addrs
    }

    /// Human description, e.g. `127.0.0.2..127.0.0.9 (8)`.
    pub fn describe(&self) -> String {
        match self.addrs.as_slice() {
            [] => "kernel-chosen".to_string(),
            [one] => one.to_string(),
            [first, .., last] => format!("{first}..{last} ({})", self.addrs.len()),
        }
    }
}

fn parse_ip(s: &str) -> Result<IpAddr, SourceError> {
    s.trim()
        .parse()
        .map_err(|_| SourceError::BadAddress(s.trim().to_string()))
}

fn expand_range(part: &str, lo: &str, hi: &str, out: &mut Vec<IpAddr>) -> Result<(), SourceError> {
    let lo = parse_ip(lo)?;
    // `127.0.0.2-9` replaces the last octet only.
    let hi = match (lo, hi.trim().parse::<u8>()) {
        (IpAddr::V4(v4), Ok(last)) if !hi.contains('.') => {
            let o = v4.octets();
            IpAddr::V4(Ipv4Addr::new(o[0], o[1], o[2], last))
        }
        _ => parse_ip(hi)?,
    };
    let bad = || SourceError::BadRange(part.to_string());
    match (lo, hi) {
        (IpAddr::V4(a), IpAddr::V4(b)) => {
            let (a, b) = (u32::from(a), u32::from(b));
            if b < a {
                return Err(bad());
            }
            if (b - a) as usize >= MAX_SOURCES {
                return Err(SourceError::TooMany);
            }
            out.extend((a..=b).map(|n| IpAddr::V4(Ipv4Addr::from(n))));
        }
        (IpAddr::V6(a), IpAddr::V6(b)) => {
            let (a, b) = (u128::from(a), u128::from(b));
            if b < a {
                return Err(bad());
            }
            if b - a >= MAX_SOURCES as u128 {
                return Err(SourceError::TooMany);
            }
            out.extend((a..=b).map(|n| IpAddr::V6(n.into())));
        }
        _ => return Err(bad()),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn full_range() {
        let p = SourcePool::parse("127.0.0.2-127.0.0.9").unwrap();
        assert_eq!(p.addrs().len(), 8);
        assert_eq!(p.addrs()[0], ip("127.0.0.2"));
        assert_eq!(p.addrs()[7], ip("127.0.0.9"));
        assert_eq!(p.describe(), "127.0.0.2..127.0.0.9 (8)");
    }

    #[test]
    fn short_range_list_and_single() {
        let p = SourcePool::parse("127.0.0.2-4, 127.0.1.1").unwrap();
        assert_eq!(
            p.addrs(),
            &[
                ip("127.0.0.2"),
                ip("127.0.0.3"),
                ip("127.0.0.4"),
                ip("127.0.1.1")
            ]
        );
        assert_eq!(SourcePool::parse("::1").unwrap().addrs(), &[ip("::1")]);
        let crossing = SourcePool::parse("127.0.0.255-127.0.1.0").unwrap();
        assert_eq!(crossing.addrs().len(), 2);
    }

    #[test]
    fn none_means_kernel() {
        let p = SourcePool::parse("none").unwrap();
        assert_eq!(p.pick(3), None);
        assert_eq!(p.describe(), "kernel-chosen");
    }

    #[test]
    fn errors() {
        assert!(matches!(
            SourcePool::parse("127.0.0.9-127.0.0.2"),
            Err(SourceError::BadRange(_))
        ));
        assert!(matches!(
            SourcePool::parse("127.0.0.1-::1"),
            Err(SourceError::BadRange(_))
        ));
        assert!(matches!(
            SourcePool::parse("localhost"),
            Err(SourceError::BadAddress(_))
        ));
        assert!(matches!(
            SourcePool::parse("10.0.0.0-10.255.255.255"),
            Err(SourceError::TooMany)
        ));
    }

    #[test]
    fn round_robin_and_defaults() {
        let p = SourcePool::default_for(ip("127.0.0.1"));
        assert_eq!(p.pick(0), Some(ip("127.0.0.2")));
        assert_eq!(p.pick(8), Some(ip("127.0.0.2")));
        assert_eq!(p.pick(9), Some(ip("127.0.0.3")));
        assert_eq!(SourcePool::default_for(ip("192.0.2.1")).pick(0), None);
    }
}
