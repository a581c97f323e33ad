//! Data-channel addresses on the wire: parsing PASV (227) and EPSV (229) replies, and
//! formatting PORT and EPRT arguments.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

/// A PASV or EPSV reply whose address could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DataAddrError {
    #[error("no h1,h2,h3,h4,p1,p2 address in PASV reply {0:?}")]
    Pasv(String),
    #[error("no (|||port|) in EPSV reply {0:?}")]
    Epsv(String),
}

/// Reads `h1,h2,h3,h4,p1,p2` from a 227 reply text (parentheses optional).
pub fn parse_pasv(text: &str) -> Result<SocketAddr, DataAddrError> {
    let err = || DataAddrError::Pasv(text.to_string());
    let bytes = text.as_bytes();
    let mut start = 0;
    // Try every run of digits as a candidate start; the first that yields six numbers wins.
    while start < bytes.len() {
        if bytes[start].is_ascii_digit() && (start == 0 || !bytes[start - 1].is_ascii_digit()) {
            if let Some(addr) = six_numbers(&text[start..]) {
                return Ok(addr);
            }
        }
        start += 1;
    }
    Err(err())
}

fn six_numbers(s: &str) -> Option<SocketAddr> {
    let end = s
        .find(|c: char| !(c.is_ascii_digit() || c == ','))
        .unwrap_or(s.len());
    let parts: Vec<&str> = s[..end].split(',').collect();
    if parts.len() < 6 {
        return None;
    }
    let mut n = [0u8; 6];
    for (slot, part) in n.iter_mut().zip(&parts[..6]) {
        *slot = part.parse().ok()?;
    }
    let ip = Ipv4Addr::new(n[0], n[1], n[2], n[3]);
    let port = u16::from(n[4]) << 8 | u16::from(n[5]);
    Some(SocketAddr::new(IpAddr::V4(ip), port))
}

/// Reads the port from a 229 reply text: `Entering Extended Passive Mode (|||port|)`.
pub fn parse_epsv(text: &str) -> Result<u16, DataAddrError> {
    let err = || DataAddrError::Epsv(text.to_string());
    let open = text.find('(').ok_or_else(err)?;
    let inner = &text[open + 1..];
    let close = inner.find(')').ok_or_else(err)?;
    let inner = &inner[..close];
    let delim = inner.chars().next().ok_or_else(err)?;
    let fields: Vec<&str> = inner.split(delim).collect();
    // "|||6446|" splits into ["", "", "", "6446", ""].
    if fields.len() != 5 {
        return Err(err());
    }
    let port: u16 = fields[3].parse().map_err(|_| err())?;
    if port == 0 {
        return Err(err());
    }
    Ok(port)
}

/// The argument of `PORT` for an IPv4 listener address.
pub fn port_argument(addr: SocketAddr) -> Option<String> {
    match addr.ip() {
        IpAddr::V4(ip) => {
            let o = ip.octets();
            let p = addr.port();
            Some(format!(
                "{},{},{},{},{},{}",
                o[0],
                o[1],
                o[2],
                o[3],
                p >> 8,
                p & 0xff
            ))
        }
        IpAddr::V6(_) => None,
    }
}

/// The argument of `EPRT` (RFC 2428) for a listener address.
pub fn eprt_argument(addr: SocketAddr) -> String {
    let proto = match addr.ip() {
        IpAddr::V4(_) => 1,
        IpAddr::V6(_) => 2,
    };
    format!("|{proto}|{}|{}|", addr.ip(), addr.port())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pasv_with_parentheses() {
        let a = parse_pasv("Entering Passive Mode (127,0,0,1,117,48).").unwrap();
        assert_eq!(a, "127.0.0.1:30000".parse().unwrap());
    }

    #[test]
    fn pasv_without_parentheses_and_with_leading_numbers() {
        let a = parse_pasv("Entering Passive Mode 2 go: 10,1,2,3,4,1").unwrap();
        assert_eq!(a, "10.1.2.3:1025".parse().unwrap());
    }

    #[test]
    fn pasv_bad() {
        assert!(parse_pasv("Entering Passive Mode (127,0,0,1,117)").is_err());
        assert!(parse_pasv("Entering Passive Mode (127,0,0,1,999,1)").is_err());
        assert!(parse_pasv("nothing").is_err());
    }

    #[test]
    fn epsv() {
        assert_eq!(
            parse_epsv("Entering Extended Passive Mode (|||6446|)"),
            Ok(6446)
        );
        assert_eq!(parse_epsv("Extended (!!!2121!)"), Ok(2121));
        assert!(parse_epsv("Entering Extended Passive Mode (|||0|)").is_err());
        assert!(parse_epsv("Entering Extended Passive Mode (||6446|)").is_err());
        assert!(parse_epsv("Entering Extended Passive Mode |||6446|").is_err());
        assert!(parse_epsv("Entering Extended Passive Mode (|||x|)").is_err());
    }

    #[test]
    fn port_and_eprt() {
        let v4: SocketAddr = "127.0.0.2:30001".parse().unwrap();
        assert_eq!(port_argument(v4).unwrap(), "127,0,0,2,117,49");
        assert_eq!(eprt_argument(v4), "|1|127.0.0.2|30001|");
        let v6: SocketAddr = "[::1]:2000".parse().unwrap();
        assert_eq!(port_argument(v6), None);
        assert_eq!(eprt_argument(v6), "|2|::1|2000|");
    }
}
