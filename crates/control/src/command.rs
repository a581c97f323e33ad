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
    /// LIST with `-` options stripped (`LIST -la dir` becomes `List(Some(b"dir"))`).
    List(Option<Vec<u8>>),
    Nlst(Option<Vec<u8>>),
    Site(Vec<u8>),
    Syst,
    Stat(Option<Vec<u8>>),
    Help(Option<Vec<u8>>),
    Noop,
    Feat,
    /// OPTS: the option name upper-cased and its raw value.
    Opts { name: String, value: Vec<u8> },
    Size(Vec<u8>),
    Mdtm(Vec<u8>),
    Mlst(Option<Vec<u8>>),
    Mlsd(Option<Vec<u8>>),
    Host(Vec<u8>),
}
