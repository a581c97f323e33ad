//! Parsing one control line into a typed [`Command`].
//!
//! Verbs are case-insensitive; arguments stay raw bytes because FTP paths are not
//! guaranteed to be UTF-8. Line framing and Telnet handling live in [`crate::line`].

use std::net::{SocketAddr, SocketAddrV4};

/// Representation type set by TYPE.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransferType {
    /// TYPE A (ASCII, optionally with format `N`): CRLF on the wire.
    Ascii,
    /// TYPE I / TYPE L 8: bytes as they are.
    Image,
}

/// Argument of EPSV (RFC 2428).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EpsvArg {
    /// Plain `EPSV`: any protocol the control connection uses.
    Any,
    /// `EPSV 1` (IPv4) or `EPSV 2` (IPv6).
    Protocol(u8),
    /// `EPSV ALL`: from now on refuse PORT, EPRT and PASV.
    All,
}

/// A parsed control command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    User(Vec<u8>),
    Pass(Vec<u8>),
    Acct(Vec<u8>),
    Cwd(Vec<u8>),
    Cdup,
    Quit,
    Rein,
    Port(SocketAddrV4),
    Pasv,
    Eprt(SocketAddr),
    Epsv(EpsvArg),
    Type(TransferType),
    /// STRU argument (only `F` is supported).
    Stru(u8),
    /// MODE argument (only `S` is supported).
    Mode(u8),
    Retr(Vec<u8>),
    Stor(Vec<u8>),
    Stou,
    Appe(Vec<u8>),
    Allo,
    /// `REST n`; `REST STREAM` parses as `RestStream`.
    Rest(u64),
    RestStream,
    Rnfr(Vec<u8>),
    Rnto(Vec<u8>),
    Abor,
    Dele(Vec<u8>),
    Rmd(Vec<u8>),
    Mkd(Vec<u8>),
    Pwd,
    /// LIST with its `ls` flags (`LIST -la dir`).
    List(ListArgs),
    Nlst(ListArgs),
    Site(Vec<u8>),
    Syst,
    Stat(Option<Vec<u8>>),
    Help(Option<Vec<u8>>),
    Noop,
    Feat,
    /// OPTS: the option name upper-cased and its raw value.
    Opts {
        name: String,
        value: Vec<u8>,
    },
    Size(Vec<u8>),
    Mdtm(Vec<u8>),
    Mlst(Option<Vec<u8>>),
    Mlsd(Option<Vec<u8>>),
    Host(Vec<u8>),
    /// AUTH (RFC 4217): TLS (`TLS`, `TLS-C`, `SSL`) or a mechanism we do not offer.
    Auth(AuthMechanism),
    /// PBSZ: protection buffer size (only 0 makes sense with TLS).
    Pbsz(u64),
    /// PROT: data channel protection level.
    Prot(ProtLevel),
    /// CCC: drop TLS on the control connection (always refused).
    Ccc,
    /// HASH (draft-bryan-ftpext-hash): the digest of a file, in the session's algorithm.
    Hash(Vec<u8>),
    /// XSHA256, XSHA512, XSHA1, XMD5, XCRC: the digest in that algorithm.
    XHash {
        algorithm: crate::digest::HashAlgorithm,
        path: Vec<u8>,
    },
    /// MFMT (draft-somers-ftp-mfxx): set a file's modification time (Unix seconds, UTC).
    Mfmt {
        mtime: i64,
        path: Vec<u8>,
    },
}

/// The security mechanism named by AUTH.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthMechanism {
    /// `AUTH TLS`, `AUTH TLS-C`, and `AUTH SSL` (its old alias).
    Tls,
    /// Anything else, upper-cased and shortened for the reply.
    Other(String),
}

/// Data channel protection level (RFC 2228 PROT).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProtLevel {
    /// `C`: plain data connections.
    Clear,
    /// `S`: integrity only (not offered by TLS).
    Safe,
    /// `E`: confidentiality only (not offered by TLS).
    Confidential,
    /// `P`: TLS on data connections.
    Private,
}

/// LIST/NLST arguments: the `ls` flags that change the output, and the path.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListArgs {
    /// `-a`: dotfiles, `.` and `..`.
    pub all: bool,
    /// `-A`: dotfiles without `.` and `..`.
    pub almost_all: bool,
    /// `-l`: long format (NLST -l lists like LIST).
    pub long: bool,
    pub path: Option<Vec<u8>>,
}

/// Why a control line is not a valid command; each maps to one reply code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error("Empty command.")]
    Empty,
    /// The line exceeded the bound and was discarded.
    #[error("Command line too long.")]
    LineTooLong,
    #[error("Unknown command {0:?}.")]
    UnknownCommand(String),
    #[error("{0} needs an argument.")]
    MissingArgument(&'static str),
    #[error("Bad {verb} argument: {reason}.")]
    BadArgument {
        verb: &'static str,
        reason: &'static str,
    },
    #[error("{0} with that argument is not implemented.")]
    NotImplemented(&'static str),
    /// RFC 2428: an EPRT/EPSV network protocol other than 1 (IPv4) or 2 (IPv6).
    #[error("Network protocol not supported, use (1,2)")]
    UnsupportedProtocol,
}

impl ParseError {
    /// The FTP reply code for this error.
    pub fn reply_code(&self) -> u16 {
        match self {
            ParseError::Empty | ParseError::LineTooLong | ParseError::UnknownCommand(_) => 500,
            ParseError::MissingArgument(_) | ParseError::BadArgument { .. } => 501,
            ParseError::NotImplemented(_) => 504,
            ParseError::UnsupportedProtocol => 522,
        }
    }
}

/// Parse one control line (terminator and Telnet sequences already removed).
pub fn parse(line: &[u8]) -> Result<Command, ParseError> {
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let (verb, arg) = match line.iter().position(|&b| b == b' ') {
        Some(i) => (&line[..i], Some(&line[i + 1..])),
        None => (line, None),
    };
    if verb.is_empty() {
        return Err(ParseError::Empty);
    }
    if verb.len() > 8 {
        return Err(unknown(verb));
    }
    let mut upper = [0u8; 8];
    for (u, b) in upper.iter_mut().zip(verb) {
        *u = b.to_ascii_uppercase();
    }
    let verb_up = &upper[..verb.len()];
    // An argument of only spaces counts as none.
    let arg = arg.filter(|a| a.iter().any(|&b| b != b' '));
    let path = |name: &'static str| -> Result<Vec<u8>, ParseError> {
        let a = arg.ok_or(ParseError::MissingArgument(name))?;
        path_arg(name, a)
    };
    let opt_path = |name: &'static str| -> Result<Option<Vec<u8>>, ParseError> {
        arg.map(|a| path_arg(name, a)).transpose()
    };
    let none = |cmd: Command| Ok(cmd);
    match verb_up {
        b"USER" => Ok(Command::User(
            arg.ok_or(ParseError::MissingArgument("USER"))?.to_vec(),
        )),
        b"PASS" => Ok(Command::Pass(arg.unwrap_or_default().to_vec())),
        b"ACCT" => Ok(Command::Acct(
            arg.ok_or(ParseError::MissingArgument("ACCT"))?.to_vec(),
        )),
        b"CWD" | b"XCWD" => path("CWD").map(Command::Cwd),
        b"CDUP" | b"XCUP" => none(Command::Cdup),
        b"QUIT" => none(Command::Quit),
        b"REIN" => none(Command::Rein),
        b"PORT" => parse_port(arg.ok_or(ParseError::MissingArgument("PORT"))?).map(Command::Port),
        b"PASV" => none(Command::Pasv),
        b"EPRT" => parse_eprt(arg.ok_or(ParseError::MissingArgument("EPRT"))?).map(Command::Eprt),
        b"EPSV" => parse_epsv(arg).map(Command::Epsv),
        b"TYPE" => parse_type(arg.ok_or(ParseError::MissingArgument("TYPE"))?).map(Command::Type),
        b"STRU" => match single_letter(arg, "STRU")? {
            b'F' => Ok(Command::Stru(b'F')),
            _ => Err(ParseError::NotImplemented("STRU")),
        },
        b"MODE" => match single_letter(arg, "MODE")? {
            b'S' => Ok(Command::Mode(b'S')),
            _ => Err(ParseError::NotImplemented("MODE")),
        },
        b"RETR" => path("RETR").map(Command::Retr),
        b"STOR" => path("STOR").map(Command::Stor),
        b"STOU" => none(Command::Stou),
        b"APPE" => path("APPE").map(Command::Appe),
        b"ALLO" => none(Command::Allo),
        b"REST" => parse_rest(arg.ok_or(ParseError::MissingArgument("REST"))?),
        b"RNFR" => path("RNFR").map(Command::Rnfr),
        b"RNTO" => path("RNTO").map(Command::Rnto),
        b"ABOR" => none(Command::Abor),
        b"DELE" => path("DELE").map(Command::Dele),
        b"RMD" | b"XRMD" => path("RMD").map(Command::Rmd),
        b"MKD" | b"XMKD" => path("MKD").map(Command::Mkd),
        b"PWD" | b"XPWD" => none(Command::Pwd),
        b"LIST" => list_arg("LIST", arg).map(Command::List),
        b"NLST" => list_arg("NLST", arg).map(Command::Nlst),
        b"SITE" => Ok(Command::Site(
            arg.ok_or(ParseError::MissingArgument("SITE"))?.to_vec(),
        )),
        b"SYST" => none(Command::Syst),
        b"STAT" => opt_path("STAT").map(Command::Stat),
        b"HELP" => Ok(Command::Help(arg.map(<[u8]>::to_vec))),
        b"NOOP" => none(Command::Noop),
        b"FEAT" => none(Command::Feat),
        b"OPTS" => {
            let a = arg.ok_or(ParseError::MissingArgument("OPTS"))?;
            let (name, value) = match a.iter().position(|&b| b == b' ') {
                Some(i) => (&a[..i], &a[i + 1..]),
                None => (a, &b""[..]),
            };
            Ok(Command::Opts {
                name: String::from_utf8_lossy(name).to_ascii_uppercase(),
                value: value.to_vec(),
            })
        }
        b"SIZE" => path("SIZE").map(Command::Size),
        b"MDTM" => path("MDTM").map(Command::Mdtm),
        b"MLST" => opt_path("MLST").map(Command::Mlst),
        b"MLSD" => opt_path("MLSD").map(Command::Mlsd),
        b"HASH" => path("HASH").map(Command::Hash),
        b"XSHA256" | b"XSHA512" | b"XSHA1" | b"XSHA" | b"XMD5" | b"XCRC" => {
            use crate::digest::HashAlgorithm as H;
            let algorithm = match verb_up {
                b"XSHA256" => H::Sha256,
                b"XSHA512" => H::Sha512,
                b"XSHA1" | b"XSHA" => H::Sha1,
                b"XMD5" => H::Md5,
                _ => H::Crc32,
            };
            path("XHASH").map(|path| Command::XHash { algorithm, path })
        }
        b"MFMT" => parse_mfmt(arg.ok_or(ParseError::MissingArgument("MFMT"))?),
        b"HOST" => Ok(Command::Host(
            arg.ok_or(ParseError::MissingArgument("HOST"))?.to_vec(),
        )),
        b"AUTH" => parse_auth(arg.ok_or(ParseError::MissingArgument("AUTH"))?).map(Command::Auth),
        b"PBSZ" => parse_pbsz(arg.ok_or(ParseError::MissingArgument("PBSZ"))?).map(Command::Pbsz),
        b"PROT" => match single_letter(arg, "PROT")? {
            b'C' => Ok(Command::Prot(ProtLevel::Clear)),
            b'S' => Ok(Command::Prot(ProtLevel::Safe)),
            b'E' => Ok(Command::Prot(ProtLevel::Confidential)),
            b'P' => Ok(Command::Prot(ProtLevel::Private)),
            _ => Err(ParseError::BadArgument {
                verb: "PROT",
                reason: "expected C, S, E or P",
            }),
        },
        b"CCC" => none(Command::Ccc),
        _ => Err(unknown(verb)),
    }
}

fn parse_auth(arg: &[u8]) -> Result<AuthMechanism, ParseError> {
    let mechanism = trim(arg).to_ascii_uppercase();
    Ok(match &mechanism[..] {
        b"TLS" | b"TLS-C" | b"SSL" => AuthMechanism::Tls,
        other => AuthMechanism::Other(
            String::from_utf8_lossy(&other[..other.len().min(16)])
                .chars()
                .filter(|c| !c.is_control())
                .collect(),
        ),
    })
}

fn parse_pbsz(arg: &[u8]) -> Result<u64, ParseError> {
    let digits = trim(arg);
    if digits.is_empty() || digits.len() > 19 || !digits.iter().all(u8::is_ascii_digit) {
        return Err(ParseError::BadArgument {
            verb: "PBSZ",
            reason: "expected a decimal number",
        });
    }
    std::str::from_utf8(digits)
        .ok()
        .and_then(|d| d.parse().ok())
        .ok_or(ParseError::BadArgument {
            verb: "PBSZ",
            reason: "expected a decimal number",
        })
}

fn unknown(verb: &[u8]) -> ParseError {
    let shown: String = String::from_utf8_lossy(&verb[..verb.len().min(16)])
        .chars()
        .filter(|c| !c.is_control())
        .collect();
    ParseError::UnknownCommand(shown)
}

fn path_arg(verb: &'static str, arg: &[u8]) -> Result<Vec<u8>, ParseError> {
    if arg.contains(&0) {
        return Err(ParseError::BadArgument {
            verb,
            reason: "path contains NUL",
        });
    }
    if arg.iter().any(|&b| b == b'\r' || b == b'\n') {
        return Err(ParseError::BadArgument {
            verb,
            reason: "path contains CR or LF",
        });
    }
    Ok(arg.to_vec())
}

/// LIST/NLST: leading `-options` words are ls flags, not paths; `a`, `A` and `l`
/// change the output, other letters (`-R`, `-t`, ...) are accepted and ignored.
fn list_arg(verb: &'static str, arg: Option<&[u8]>) -> Result<ListArgs, ParseError> {
    let (mut args, rest) = list_flags(arg.unwrap_or_default());
    if !rest.is_empty() {
        args.path = Some(path_arg(verb, rest)?);
    }
    Ok(args)
}

/// `ls` flags and path of an already checked argument (STAT with a path).
pub fn list_args(arg: &[u8]) -> ListArgs {
    let (mut args, rest) = list_flags(arg);
    if !rest.is_empty() {
        args.path = Some(rest.to_vec());
    }
    args
}

fn list_flags(arg: &[u8]) -> (ListArgs, &[u8]) {
    let mut args = ListArgs::default();
    let mut rest = arg;
    while rest.first() == Some(&b'-') {
        let end = rest.iter().position(|&b| b == b' ').unwrap_or(rest.len());
        for &flag in &rest[1..end] {
            match flag {
                b'a' => args.all = true,
                b'A' => args.almost_all = true,
                b'l' => args.long = true,
                _ => {}
            }
        }
        rest = &rest[end..];
        while rest.first() == Some(&b' ') {
            rest = &rest[1..];
        }
    }
    (args, rest)
}

/// `MFMT YYYYMMDDHHMMSS[.sss] path`; fractions of a second are dropped.
fn parse_mfmt(arg: &[u8]) -> Result<Command, ParseError> {
    let bad = |reason| ParseError::BadArgument {
        verb: "MFMT",
        reason,
    };
    let (stamp, path) = match arg.iter().position(|&b| b == b' ') {
        Some(i) => (&arg[..i], &arg[i + 1..]),
        None => return Err(ParseError::MissingArgument("MFMT")),
    };
    let whole = stamp.split(|&b| b == b'.').next().unwrap_or_default();
    if whole.len() != 14 || !whole.iter().all(u8::is_ascii_digit) {
        return Err(bad("expected YYYYMMDDHHMMSS"));
    }
    let num = |r: std::ops::Range<usize>| -> u32 {
        whole[r]
            .iter()
            .fold(0u32, |n, &d| n * 10 + u32::from(d - b'0'))
    };
    let month = u8::try_from(num(4..6))
        .ok()
        .and_then(|m| time::Month::try_from(m).ok())
        .ok_or(bad("bad month"))?;
    let date = time::Date::from_calendar_date(num(0..4) as i32, month, num(6..8) as u8)
        .map_err(|_| bad("bad date"))?;
    let clock = time::Time::from_hms(num(8..10) as u8, num(10..12) as u8, num(12..14) as u8)
        .map_err(|_| bad("bad time of day"))?;
    let mtime = time::PrimitiveDateTime::new(date, clock)
        .assume_utc()
        .unix_timestamp();
    if path.iter().all(|&b| b == b' ') {
        return Err(ParseError::MissingArgument("MFMT"));
    }
    Ok(Command::Mfmt {
        mtime,
        path: path_arg("MFMT", path)?,
    })
}

fn single_letter(arg: Option<&[u8]>, verb: &'static str) -> Result<u8, ParseError> {
    match arg.map(trim) {
        Some([c]) => Ok(c.to_ascii_uppercase()),
        Some(_) => Err(ParseError::BadArgument {
            verb,
            reason: "expected one letter",
        }),
        None => Err(ParseError::MissingArgument(verb)),
    }
}

fn trim(a: &[u8]) -> &[u8] {
    let start = a.iter().position(|&b| b != b' ').unwrap_or(a.len());
    let end = a.iter().rposition(|&b| b != b' ').map_or(start, |e| e + 1);
    &a[start..end]
}

fn parse_type(arg: &[u8]) -> Result<TransferType, ParseError> {
    let words: Vec<&[u8]> = trim(arg)
        .split(|&b| b == b' ')
        .filter(|w| !w.is_empty())
        .collect();
    let upper: Vec<Vec<u8>> = words.iter().map(|w| w.to_ascii_uppercase()).collect();
    match upper
        .iter()
        .map(Vec::as_slice)
        .collect::<Vec<_>>()
        .as_slice()
    {
        [b"A"] | [b"A", b"N"] => Ok(TransferType::Ascii),
        [b"I"] | [b"L", b"8"] => Ok(TransferType::Image),
        [b"A", _] | [b"E"] | [b"E", _] | [b"L", _] => Err(ParseError::NotImplemented("TYPE")),
        _ => Err(ParseError::BadArgument {
            verb: "TYPE",
            reason: "expected A, A N, I or L 8",
        }),
    }
}

fn parse_rest(arg: &[u8]) -> Result<Command, ParseError> {
    let a = trim(arg);
    if a.eq_ignore_ascii_case(b"STREAM") {
        return Ok(Command::RestStream);
    }
    std::str::from_utf8(a)
        .ok()
        .filter(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|s| s.parse().ok())
        .map(Command::Rest)
        .ok_or(ParseError::BadArgument {
            verb: "REST",
            reason: "expected a byte offset",
        })
}

fn parse_port(arg: &[u8]) -> Result<SocketAddrV4, ParseError> {
    let bad = |reason| ParseError::BadArgument {
        verb: "PORT",
        reason,
    };
    let mut n = [0u8; 6];
    let mut parts = arg.split(|&b| b == b',');
    for slot in n.iter_mut() {
        let part = trim(parts.next().ok_or(bad("expected h1,h2,h3,h4,p1,p2"))?);
        if part.is_empty() || part.len() > 3 || !part.iter().all(u8::is_ascii_digit) {
            return Err(bad("expected six numbers 0-255"));
        }
        let v: u16 = std::str::from_utf8(part)
            .ok()
            .and_then(|s| s.parse().ok())
            .ok_or(bad("expected six numbers 0-255"))?;
        *slot = u8::try_from(v).map_err(|_| bad("number above 255"))?;
    }
    if parts.next().is_some() {
        return Err(bad("expected exactly six numbers"));
    }
    let port = u16::from(n[4]) << 8 | u16::from(n[5]);
    if port == 0 {
        return Err(bad("port 0"));
    }
    Ok(SocketAddrV4::new(
        std::net::Ipv4Addr::new(n[0], n[1], n[2], n[3]),
        port,
    ))
}

fn parse_eprt(arg: &[u8]) -> Result<SocketAddr, ParseError> {
    let bad = |reason| ParseError::BadArgument {
        verb: "EPRT",
        reason,
    };
    let arg = trim(arg);
    let delim = *arg.first().ok_or(bad("empty"))?;
    if !(33..=126).contains(&delim) || delim.is_ascii_alphanumeric() {
        return Err(bad("bad delimiter"));
    }
    let fields: Vec<&[u8]> = arg.split(|&b| b == delim).collect();
    // |proto|addr|port| splits into ["", proto, addr, port, ""].
    if fields.len() != 5 || !fields[0].is_empty() || !fields[4].is_empty() {
        return Err(bad("expected |proto|address|port|"));
    }
    let text = |f: &[u8]| {
        std::str::from_utf8(f)
            .map(str::to_string)
            .map_err(|_| bad("not ASCII"))
    };
    let port: u16 = text(fields[3])?.parse().map_err(|_| bad("bad port"))?;
    if port == 0 {
        return Err(bad("port 0"));
    }
    let addr = text(fields[2])?;
    match fields[1] {
        b"1" => addr
            .parse::<std::net::Ipv4Addr>()
            .map(|ip| SocketAddr::new(ip.into(), port))
            .map_err(|_| bad("family 1 needs an IPv4 address")),
        b"2" => addr
            .parse::<std::net::Ipv6Addr>()
            .map(|ip| SocketAddr::new(ip.into(), port))
            .map_err(|_| bad("family 2 needs an IPv6 address")),
        _ => Err(ParseError::UnsupportedProtocol),
    }
}

fn parse_epsv(arg: Option<&[u8]>) -> Result<EpsvArg, ParseError> {
    match arg.map(trim) {
        None => Ok(EpsvArg::Any),
        Some(a) if a.eq_ignore_ascii_case(b"ALL") => Ok(EpsvArg::All),
        Some(b"1") => Ok(EpsvArg::Protocol(1)),
        Some(b"2") => Ok(EpsvArg::Protocol(2)),
        Some(a) if !a.is_empty() && a.iter().all(u8::is_ascii_digit) => {
            Err(ParseError::UnsupportedProtocol)
        }
        Some(_) => Err(ParseError::BadArgument {
            verb: "EPSV",
            reason: "expected 1, 2 or ALL",
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn p(s: &str) -> Result<Command, ParseError> {
        parse(s.as_bytes())
    }

    #[test]
    fn tls_commands() {
        assert_eq!(p("AUTH TLS"), Ok(Command::Auth(AuthMechanism::Tls)));
        assert_eq!(p("auth ssl"), Ok(Command::Auth(AuthMechanism::Tls)));
        assert_eq!(p("AUTH TLS-C"), Ok(Command::Auth(AuthMechanism::Tls)));
        assert_eq!(
            p("AUTH GSSAPI"),
            Ok(Command::Auth(AuthMechanism::Other("GSSAPI".into())))
        );
        assert_eq!(p("AUTH").unwrap_err().reply_code(), 501);
        assert_eq!(p("PBSZ 0"), Ok(Command::Pbsz(0)));
        assert_eq!(p("PBSZ -1").unwrap_err().reply_code(), 501);
        assert_eq!(
            p("PBSZ 99999999999999999999").unwrap_err().reply_code(),
            501
        );
        assert_eq!(p("PROT p"), Ok(Command::Prot(ProtLevel::Private)));
        assert_eq!(p("PROT C"), Ok(Command::Prot(ProtLevel::Clear)));
        assert_eq!(p("PROT X").unwrap_err().reply_code(), 501);
        assert_eq!(p("CCC"), Ok(Command::Ccc));
    }

    #[test]
    fn verbs_are_case_insensitive_and_keep_raw_paths() {
        assert_eq!(
            p("retr /pub/a file.iso"),
            Ok(Command::Retr(b"/pub/a file.iso".to_vec()))
        );
        assert_eq!(p("Cwd  lead"), Ok(Command::Cwd(b" lead".to_vec())));
        assert_eq!(p("XPWD"), Ok(Command::Pwd));
        assert_eq!(p("USER bob\r"), Ok(Command::User(b"bob".to_vec())));
        assert_eq!(p("PASS"), Ok(Command::Pass(Vec::new())));
        assert_eq!(p("noop"), Ok(Command::Noop));
    }

    #[test]
    fn errors_have_codes() {
        assert_eq!(p("").unwrap_err().reply_code(), 500);
        assert_eq!(p("FOOBAR x").unwrap_err().reply_code(), 500);
        assert_eq!(p("VERYLONGVERB").unwrap_err().reply_code(), 500);
        assert_eq!(p("USER").unwrap_err().reply_code(), 501);
        assert_eq!(p("RETR").unwrap_err().reply_code(), 501);
        assert_eq!(p("RETR a\0b").unwrap_err().reply_code(), 501);
        assert_eq!(p("RETR a\rb").unwrap_err().reply_code(), 501);
        assert_eq!(p("MODE B").unwrap_err().reply_code(), 504);
        assert_eq!(p("STRU R").unwrap_err().reply_code(), 504);
        assert_eq!(p("TYPE E").unwrap_err().reply_code(), 504);
        assert_eq!(p("TYPE X").unwrap_err().reply_code(), 501);
    }

    #[test]
    fn port_and_eprt() {
        assert_eq!(
            p("PORT 127,0,0,1,0,21"),
            Ok(Command::Port("127.0.0.1:21".parse().unwrap()))
        );
        assert_eq!(
            p("PORT 10, 0, 0, 1, 200, 10"),
            Ok(Command::Port("10.0.0.1:51210".parse().unwrap()))
        );
        for bad in [
            "PORT 1,2,3,4,5",
            "PORT 256,0,0,1,1,1",
            "PORT 1,2,3,4,5,6,7",
            "PORT 1,2,3,4,0,0",
            "PORT a,b,c,d,e,f",
            "PORT -1,0,0,1,1,1",
        ] {
            assert_eq!(p(bad).unwrap_err().reply_code(), 501, "{bad}");
        }
        assert_eq!(
            p("EPRT |1|132.235.1.2|6275|"),
            Ok(Command::Eprt("132.235.1.2:6275".parse().unwrap()))
        );
        assert_eq!(
            p("EPRT !2!::1!5282!"),
            Ok(Command::Eprt("[::1]:5282".parse().unwrap()))
        );
        for bad in [
            "EPRT |1|::1|5|",
            "EPRT |2|1.2.3.4|5|",
            "EPRT |1|1.2.3.4|0|",
            "EPRT |1|1.2.3.4|70000|",
            "EPRT a1a1.2.3.4a5a",
            "EPRT |1|1.2.3.4|5",
        ] {
            assert_eq!(p(bad).unwrap_err().reply_code(), 501, "{bad}");
        }
    }

    #[test]
    fn other_arguments() {
        assert_eq!(p("EPSV"), Ok(Command::Epsv(EpsvArg::Any)));
        assert_eq!(p("EPSV all"), Ok(Command::Epsv(EpsvArg::All)));
        assert_eq!(p("EPSV 2"), Ok(Command::Epsv(EpsvArg::Protocol(2))));
        assert_eq!(p("EPSV 3").unwrap_err().reply_code(), 522);
        assert_eq!(p("EPRT |3|1.2.3.4|5|").unwrap_err().reply_code(), 522);
        assert_eq!(p("EPSV x").unwrap_err().reply_code(), 501);
        assert_eq!(p("TYPE A N"), Ok(Command::Type(TransferType::Ascii)));
        assert_eq!(p("type i"), Ok(Command::Type(TransferType::Image)));
        assert_eq!(p("TYPE L 8"), Ok(Command::Type(TransferType::Image)));
        assert_eq!(p("REST 100"), Ok(Command::Rest(100)));
        assert_eq!(p("REST stream"), Ok(Command::RestStream));
        assert!(p("REST -1").is_err());
        assert!(p("REST 99999999999999999999999").is_err());
        assert_eq!(
            p("LIST -la"),
            Ok(Command::List(ListArgs {
                all: true,
                long: true,
                ..ListArgs::default()
            }))
        );
        assert_eq!(
            p("LIST -A -R /pub"),
            Ok(Command::List(ListArgs {
                almost_all: true,
                path: Some(b"/pub".to_vec()),
                ..ListArgs::default()
            }))
        );
        assert_eq!(p("NLST"), Ok(Command::Nlst(ListArgs::default())));
        assert_eq!(
            p("MFMT 20251125041400 a b.txt"),
            Ok(Command::Mfmt {
                mtime: 1_764_044_040,
                path: b"a b.txt".to_vec()
            })
        );
        assert_eq!(
            p("MFMT 20251125041400.123 x"),
            Ok(Command::Mfmt {
                mtime: 1_764_044_040,
                path: b"x".to_vec()
            })
        );
        for bad in [
            "MFMT 2025112504140 x",
            "MFMT 20251325041400 x",
            "MFMT 20251125041400",
            "MFMT 20250230000000 x",
        ] {
            assert_eq!(p(bad).unwrap_err().reply_code(), 501, "{bad}");
        }
        assert_eq!(
            p("OPTS utf8 ON"),
            Ok(Command::Opts {
                name: "UTF8".into(),
                value: b"ON".to_vec()
            })
        );
        assert_eq!(p("MLSD"), Ok(Command::Mlsd(None)));
        assert_eq!(
            p("HOST ftp.example.org"),
            Ok(Command::Host(b"ftp.example.org".to_vec()))
        );
        assert_eq!(p("STAT"), Ok(Command::Stat(None)));
    }

    proptest! {
        #[test]
        fn never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..300)) {
            let _ = parse(&bytes);
        }

        #[test]
        fn paths_round_trip(path in proptest::collection::vec(any::<u8>().prop_filter("no NUL/CR/LF", |b| ![0, b'\r', b'\n'].contains(b)), 1..100), verb in prop_oneof![Just("RETR"), Just("STOR"), Just("DELE"), Just("SIZE")]) {
            prop_assume!(path.iter().any(|&b| b != b' '));
            let mut line = verb.as_bytes().to_vec();
            line.push(b' ');
            line.extend_from_slice(&path);
            let expected = match verb {
                "RETR" => Command::Retr(path.clone()),
                "STOR" => Command::Stor(path.clone()),
                "DELE" => Command::Dele(path.clone()),
                _ => Command::Size(path.clone()),
            };
            // A trailing CR is treated as part of the terminator.
            prop_assume!(path.last() != Some(&b'\r'));
            prop_assert_eq!(parse(&line), Ok(expected));
        }
    }
}
