//! Typed FTP replies and their wire form (RFC 959 section 4.2).

use std::fmt;

/// One FTP reply: a three-digit code and one or more text lines.
///
/// A single line is sent as `CODE text\r\n`; several lines as
/// `CODE-first\r\n`, ` middle\r\n`..., `CODE last\r\n`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    code: u16,
    lines: Vec<String>,
}

impl Reply {
    /// A one-line reply.
    pub fn new(code: u16, text: impl Into<String>) -> Self {
        Self::multi(code, vec![text.into()])
    }

    /// A multi-line reply; `lines` must not be empty.
    pub fn multi(code: u16, lines: Vec<String>) -> Self {
        debug_assert!((100..600).contains(&code));
        let lines = if lines.is_empty() {
            vec![String::new()]
        } else {
            lines
        };
        Reply { code, lines }
    }

    /// The reply code.
    pub fn code(&self) -> u16 {
        self.code
    }

    /// The text lines, first to last.
    pub fn lines(&self) -> &[String] {
        &self.lines
    }

    /// True for 1xx replies, which announce that another reply follows.
    pub fn is_preliminary(&self) -> bool {
        self.code < 200
    }

    /// Append the wire form to `out`.
    ///
    /// CR and LF inside a text line (for example from a client-supplied path) are
    /// replaced so a reply can never be split into two by its content. Middle lines
    /// that would look like a final reply line get a leading space.
    pub fn write_to(&self, out: &mut Vec<u8>) {
        let last = self.lines.len() - 1;
        for (i, line) in self.lines.iter().enumerate() {
            if i == 0 {
                let sep = if last == 0 { ' ' } else { '-' };
                out.extend_from_slice(format!("{}{}", self.code, sep).as_bytes());
            } else if i == last {
                out.extend_from_slice(format!("{} ", self.code).as_bytes());
            } else {
                out.push(b' ');
            }
            out.extend(
                line.bytes()
                    .map(|b| if b == b'\r' || b == b'\n' { b' ' } else { b }),
            );
            out.extend_from_slice(b"\r\n");
        }
    }

    /// The wire form as a new buffer.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(64);
        self.write_to(&mut out);
        out
    }
}

impl fmt::Display for Reply {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&String::from_utf8_lossy(&self.to_bytes()))
    }
}

/// Quote a client path for a reply text (RFC 959 appendix II: `"` doubled).
pub fn quote_path(path: &[u8]) -> String {
    String::from_utf8_lossy(path).replace('"', "\"\"")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn single_line() {
        assert_eq!(Reply::new(200, "OK").to_bytes(), b"200 OK\r\n");
    }

    #[test]
    fn multi_line() {
        let r = Reply::multi(211, vec!["Features:".into(), "SIZE".into(), "End".into()]);
        assert_eq!(r.to_bytes(), b"211-Features:\r\n SIZE\r\n211 End\r\n");
    }

    #[test]
    fn embedded_newlines_cannot_forge_a_reply() {
        let r = Reply::new(550, "x\r\n230 logged in");
        assert_eq!(r.to_bytes(), b"550 x  230 logged in\r\n");
    }

    #[test]
    fn quoting_doubles_quotes() {
        assert_eq!(quote_path(b"/a\"b"), "/a\"\"b");
    }
}
