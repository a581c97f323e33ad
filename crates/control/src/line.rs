//! Control-connection framing: bytes in, bounded lines out.
//!
//! Lines end with CRLF (RFC 959's Telnet end of line) or, as vsftpd also accepts, a
//! bare LF. A CR left over from an `LF CR` pair is part of that line end, and a blank
//! line is no command at all: it gets no reply, so `STOR name\n\r\n` is one command
//! with one reply and the client stays in step. A CR elsewhere stays in the line (the
//! parser refuses it in paths). Telnet commands (RFC 854) are removed as RFC 959
//! asks: `IAC IAC` is a data byte 0xFF, `IAC WILL/WONT/DO/DONT x` and the other
//! two-byte commands are dropped; IP and DM (sent around ABOR) are remembered as an
//! interrupt. A line longer than the bound is discarded up to its newline and reported
//! once, so memory never exceeds the bound however long the line is.

/// Default bound on a control line, in bytes.
pub const DEFAULT_MAX_LINE: usize = 4096;

const IAC: u8 = 0xFF;
const IP: u8 = 0xF4;
const DM: u8 = 0xF2;
const WILL: u8 = 0xFB;
const DONT: u8 = 0xFE;

/// A line that could not be accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum LineError {
    #[error("Command line too long.")]
    TooLong,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Telnet {
    Data,
    /// After IAC.
    Command,
    /// After IAC WILL/WONT/DO/DONT: the option byte follows.
    Option,
}

/// Incremental line framer for one control connection.
#[derive(Debug)]
pub struct LineReader {
    max_line: usize,
    current: Vec<u8>,
    /// The current line overflowed: drop bytes until LF.
    discarding: bool,
    telnet: Telnet,
    interrupt: bool,
    /// The previous line ended with a bare LF: a CR starting this one belongs to it.
    after_bare_lf: bool,
    ready: std::collections::VecDeque<Result<Vec<u8>, LineError>>,
}

impl LineReader {
    /// A framer accepting lines of at most `max_line` bytes (without terminator).
    pub fn new(max_line: usize) -> Self {
        LineReader {
            max_line,
            current: Vec::new(),
            discarding: false,
            telnet: Telnet::Data,
            interrupt: false,
            after_bare_lf: false,
            ready: std::collections::VecDeque::new(),
        }
    }

    /// Feed received bytes.
    pub fn push(&mut self, mut bytes: &[u8]) {
        while let Some((&b, rest)) = bytes.split_first() {
            if self.telnet == Telnet::Data && b != IAC && b != b'\n' {
                // Fast path: copy the run of plain bytes up to the next LF or IAC at once.
                let run = bytes
                    .iter()
                    .position(|&c| c == IAC || c == b'\n')
                    .unwrap_or(bytes.len());
                self.plain(&bytes[..run]);
                bytes = &bytes[run..];
                continue;
            }
            bytes = rest;
            match self.telnet {
                Telnet::Command => {
                    self.telnet = Telnet::Data;
                    match b {
                        IAC => self.data(IAC),
                        WILL..=DONT => self.telnet = Telnet::Option,
                        IP | DM => self.interrupt = true,
                        _ => {}
                    }
                }
                Telnet::Option => self.telnet = Telnet::Data,
                Telnet::Data if b == IAC => self.telnet = Telnet::Command,
                Telnet::Data => self.data(b),
            }
        }
    }

    /// Append bytes that hold no LF, with the same bound as [`Self::data`].
    fn plain(&mut self, run: &[u8]) {
        if self.discarding {
            return;
        }
        if self.current.len() + run.len() > self.max_line + 1 {
            self.current = Vec::new();
            self.discarding = true;
            return;
        }
        self.current.extend_from_slice(run);
    }

    fn data(&mut self, b: u8) {
        if b == b'\n' {
            if std::mem::take(&mut self.discarding) {
                self.current.clear();
                self.ready.push_back(Err(LineError::TooLong));
                return;
            }
            let mut line = std::mem::take(&mut self.current);
            let bare_lf = line.last() != Some(&b'\r');
            if !bare_lf {
                line.pop();
            }
            if std::mem::replace(&mut self.after_bare_lf, bare_lf) && line.first() == Some(&b'\r') {
                line.remove(0);
            }
            if line.is_empty() {
                return;
            }
            // The buffer allows one byte more for the CR; without one it is too long.
            if line.len() > self.max_line {
                self.ready.push_back(Err(LineError::TooLong));
                return;
            }
            self.ready.push_back(Ok(line));
            return;
        }
        if self.discarding {
            return;
        }
        // One extra byte for a CR that may precede the LF.
        if self.current.len() > self.max_line {
            self.current = Vec::new();
            self.discarding = true;
            return;
        }
        self.current.push(b);
    }

    /// The next complete line, if any.
    pub fn next_line(&mut self) -> Option<Result<Vec<u8>, LineError>> {
        self.ready.pop_front()
    }

    /// True once after a Telnet IP or DM was seen (an urgent ABOR may follow).
    pub fn take_interrupt(&mut self) -> bool {
        std::mem::take(&mut self.interrupt)
    }

    /// Bytes held for the line being assembled.
    pub fn buffered_len(&self) -> usize {
        self.current.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn lines(r: &mut LineReader) -> Vec<Result<Vec<u8>, LineError>> {
        std::iter::from_fn(|| r.next_line()).collect()
    }

    #[test]
    fn crlf_and_bare_lf() {
        let mut r = LineReader::new(100);
        r.push(b"USER a\r\nPASS b\nNO");
        assert_eq!(
            lines(&mut r),
            vec![Ok(b"USER a".to_vec()), Ok(b"PASS b".to_vec())]
        );
        r.push(b"OP\r\n");
        assert_eq!(lines(&mut r), vec![Ok(b"NOOP".to_vec())]);
    }

    #[test]
    fn lf_cr_is_one_line_end_and_blank_lines_are_no_commands() {
        let mut r = LineReader::new(100);
        r.push(b"STOR name\n\r\nNOOP\n\rPWD\r\n\r\n\nSYST\r\n");
        assert_eq!(
            lines(&mut r),
            vec![
                Ok(b"STOR name".to_vec()),
                Ok(b"NOOP".to_vec()),
                Ok(b"PWD".to_vec()),
                Ok(b"SYST".to_vec())
            ]
        );
        // A CR after a CRLF line is not a line end: it stays (and the parser refuses it).
        r.push(b"\rX\r\n");
        assert_eq!(lines(&mut r), vec![Ok(b"\rX".to_vec())]);
    }

    #[test]
    fn telnet_sequences_split_across_pushes() {
        let mut r = LineReader::new(100);
        r.push(&[IAC]);
        r.push(&[IP, IAC]);
        r.push(&[DM]);
        r.push(b"ABOR\r\n");
        assert!(r.take_interrupt());
        assert!(!r.take_interrupt());
        assert_eq!(lines(&mut r), vec![Ok(b"ABOR".to_vec())]);
        r.push(&[b'R', IAC]);
        r.push(&[IAC, b'x', IAC, 0xFD]);
        r.push(&[0x01, b'\n']);
        assert_eq!(lines(&mut r), vec![Ok(vec![b'R', 0xFF, b'x'])]);
    }

    #[test]
    fn a_mebibyte_line_is_one_error_and_bounded() {
        let big = vec![b'A'; 1 << 20];
        let mut r = LineReader::new(4096);
        r.push(&big);
        assert!(r.buffered_len() <= 4097);
        r.push(b"\r\nNOOP\r\n");
        assert_eq!(
            lines(&mut r),
            vec![Err(LineError::TooLong), Ok(b"NOOP".to_vec())]
        );
        let mut r = LineReader::new(4096);
        for chunk in big.chunks(1000) {
            r.push(chunk);
            assert!(r.buffered_len() <= 4097);
        }
        r.push(b"\n");
        assert_eq!(lines(&mut r), vec![Err(LineError::TooLong)]);
    }

    #[test]
    fn line_at_the_bound_is_accepted() {
        let mut r = LineReader::new(10);
        r.push(b"0123456789\r\n0123456789X\r\n0123456789\n0123456789X\n");
        let ok = || Ok(b"0123456789".to_vec());
        let long = || Err(LineError::TooLong);
        assert_eq!(lines(&mut r), vec![ok(), long(), ok(), long()]);
    }

    proptest! {
        #[test]
        fn chunking_does_not_change_lines(bytes in proptest::collection::vec(any::<u8>(), 0..2000), cuts in proptest::collection::vec(0usize..2000, 0..10)) {
            let mut whole = LineReader::new(64);
            whole.push(&bytes);
            let expected = lines(&mut whole);
            let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c.min(bytes.len())).collect();
            cuts.sort();
            let mut pieces = LineReader::new(64);
            let mut start = 0;
            for c in cuts.into_iter().chain([bytes.len()]) {
                pieces.push(&bytes[start..c]);
                prop_assert!(pieces.buffered_len() <= 64 + 8);
                start = c;
            }
            let got = lines(&mut pieces);
            prop_assert_eq!(&got, &expected);
            for l in got.into_iter().flatten() {
                prop_assert!(!l.contains(&b'\n'));
                prop_assert!(l.len() <= 64);
            }
        }
    }
}
