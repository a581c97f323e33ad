//! FTP control-channel replies: assembling single- and multi-line replies from raw bytes.
//!
//! A reply is `ddd text` on one line, or `ddd-first line` followed by any lines up to one
//! that starts with the same code and a space (RFC 959 section 4.2).

use std::fmt;

/// Longest reply accepted; a server that sends more is broken or hostile.
pub const MAX_REPLY_BYTES: usize = 64 * 1024;

/// One complete server reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    /// Three-digit reply code.
    pub code: u16,
    /// Text of all lines, without codes' trailing CRLFs, lines joined by `\n`.
    pub text: String,
}

impl Reply {
    /// True for 1yz preliminary replies.
    pub fn is_preliminary(&self) -> bool {
        (100..200).contains(&self.code)
    }
}

impl fmt::Display for Reply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.code, self.text)
    }
}

/// Bytes that are not a well-formed reply.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReplyError {
    #[error("reply line does not start with a three-digit code: {0:?}")]
    BadCode(String),
    #[error("reply longer than {MAX_REPLY_BYTES} bytes")]
    TooLong,
}

/// Reads the three-digit code at the start of a line and the separator after it.
fn line_code(line: &[u8]) -> Option<(u16, u8)> {
    if line.len() < 3 || !line[..3].iter().all(u8::is_ascii_digit) {
        return None;
    }
    let code = line[..3]
        .iter()
        .fold(0u16, |acc, d| acc * 10 + u16::from(d - b'0'));
    let sep = line.get(3).copied().unwrap_or(b' ');
    Some((code, sep))
}

fn strip_eol(line: &[u8]) -> &[u8] {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    line.strip_suffix(b"\r").unwrap_or(line)
}

/// Tries to take one complete reply from the front of `buf`.
///
/// Returns the reply and how many bytes it used, or `Ok(None)` when more bytes are needed.
pub fn parse_reply(buf: &[u8]) -> Result<Option<(Reply, usize)>, ReplyError> {
    let mut pos = 0;
    let mut first: Option<u16> = None;
    let mut text = String::new();
    while let Some(nl) = buf[pos..].iter().position(|&b| b == b'\n') {
        let raw = &buf[pos..pos + nl + 1];
        let line = strip_eol(raw);
        pos += nl + 1;
        match first {
            None => {
                let (code, sep) = line_code(line)
                    .ok_or_else(|| ReplyError::BadCode(String::from_utf8_lossy(line).into()))?;
                text.push_str(&String::from_utf8_lossy(line.get(4..).unwrap_or_default()));
                if sep != b'-' {
                    return Ok(Some((Reply { code, text }, pos)));
                }
                first = Some(code);
            }
            Some(code) => {
                text.push('\n');
                match line_code(line) {
                    Some((c, b' ')) if c == code => {
                        text.push_str(&String::from_utf8_lossy(line.get(4..).unwrap_or_default()));
                        return Ok(Some((Reply { code, text }, pos)));
                    }
                    Some((c, _)) if c == code && line.len() == 3 => {
                        return Ok(Some((Reply { code, text }, pos)));
                    }
                    _ => text.push_str(&String::from_utf8_lossy(line)),
                }
            }
        }
    }
    if buf.len() > MAX_REPLY_BYTES {
        return Err(ReplyError::TooLong);
    }
    if first.is_none() && !buf.is_empty() && buf.len() >= 3 && line_code(buf).is_none() {
        return Err(ReplyError::BadCode(String::from_utf8_lossy(buf).into()));
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn one(input: &[u8]) -> (Reply, usize) {
        parse_reply(input).unwrap().unwrap()
    }

    #[test]
    fn single_line() {
        let (r, used) = one(b"220 (vsFTPd 3.0.3)\r\n");
        assert_eq!(r.code, 220);
        assert_eq!(r.text, "(vsFTPd 3.0.3)");
        assert_eq!(used, 20);
    }

    #[test]
    fn code_only_and_bare_newline() {
        let (r, used) = one(b"200\n");
        assert_eq!((r.code, r.text.as_str(), used), (200, "", 4));
    }

    #[test]
    fn incomplete_needs_more() {
        assert_eq!(parse_reply(b"22").unwrap(), None);
        assert_eq!(parse_reply(b"220 hel").unwrap(), None);
        assert_eq!(parse_reply(b"211-Features:\r\n EPSV\r\n").unwrap(), None);
    }

    #[test]
    fn multi_line() {
        let input = b"211-Features:\r\n EPSV\r\n MDTM\r\n211-not the end\r\n211 End\r\n331 next";
        let (r, used) = one(input);
        assert_eq!(r.code, 211);
        assert_eq!(r.text, "Features:\n EPSV\n MDTM\n211-not the end\nEnd");
        assert_eq!(&input[used..], b"331 next");
    }

    #[test]
    fn multi_line_with_other_codes_inside() {
        let (r, _) = one(b"230-Welcome\r\n220 not the end\r\n230 Login ok\r\n");
        assert_eq!(r.code, 230);
        assert!(r.text.ends_with("Login ok"));
    }

    #[test]
    fn two_replies_back_to_back() {
        let input = b"150 Here\r\n226 Done\r\n";
        let (a, used) = one(input);
        let (b, _) = one(&input[used..]);
        assert_eq!((a.code, b.code), (150, 226));
        assert!(a.is_preliminary());
    }

    #[test]
    fn garbage() {
        assert!(matches!(
            parse_reply(b"hello\r\n"),
            Err(ReplyError::BadCode(_))
        ));
        assert!(matches!(parse_reply(b"xyz"), Err(ReplyError::BadCode(_))));
    }

    #[test]
    fn too_long() {
        let mut input = b"220-start\r\n".to_vec();
        while input.len() <= MAX_REPLY_BYTES {
            input.extend_from_slice(b"more text that never ends\r\n");
        }
        assert_eq!(parse_reply(&input), Err(ReplyError::TooLong));
    }
}
