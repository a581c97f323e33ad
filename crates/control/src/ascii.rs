//! TYPE A line-ending conversion (RFC 959 3.1.1.1): the wire uses CRLF, files use LF.
//! Both converters are streaming: a chunk boundary may fall anywhere.

/// File to wire: every LF not already preceded by CR becomes CRLF.
#[derive(Debug, Default)]
pub struct ToWire {
    last_was_cr: bool,
}

impl ToWire {
    /// Append the converted form of `input` to `out`.
    pub fn convert(&mut self, input: &[u8], out: &mut Vec<u8>) {
        out.reserve(input.len() + input.len() / 32);
        for &b in input {
            if b == b'\n' && !self.last_was_cr {
                out.push(b'\r');
            }
            out.push(b);
            self.last_was_cr = b == b'\r';
        }
    }
}

/// Wire to file: CRLF becomes LF; a lone CR stays.
#[derive(Debug, Default)]
pub struct FromWire {
    pending_cr: bool,
}

impl FromWire {
    /// Append the converted form of `input` to `out`.
    pub fn convert(&mut self, input: &[u8], out: &mut Vec<u8>) {
        out.reserve(input.len());
        for &b in input {
            if self.pending_cr {
                self.pending_cr = false;
                if b != b'\n' {
                    out.push(b'\r');
                }
            }
            if b == b'\r' {
                self.pending_cr = true;
            } else {
                out.push(b);
            }
        }
    }

    /// Flush a trailing CR at the end of the stream.
    pub fn finish(&mut self, out: &mut Vec<u8>) {
        if std::mem::take(&mut self.pending_cr) {
            out.push(b'\r');
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn to_wire(chunks: &[&[u8]]) -> Vec<u8> {
        let mut c = ToWire::default();
        let mut out = Vec::new();
        for ch in chunks {
            c.convert(ch, &mut out);
        }
        out
    }

    #[test]
    fn lf_becomes_crlf_once() {
        assert_eq!(to_wire(&[b"a\nb\r\nc"]), b"a\r\nb\r\nc");
        assert_eq!(to_wire(&[b"a\r", b"\nb\n"]), b"a\r\nb\r\n");
    }

    #[test]
    fn crlf_becomes_lf_across_chunks() {
        let mut c = FromWire::default();
        let mut out = Vec::new();
        c.convert(b"a\r", &mut out);
        c.convert(b"\nb\rc\r", &mut out);
        c.finish(&mut out);
        assert_eq!(out, b"a\nb\rc\r");
    }

    proptest! {
        #[test]
        fn round_trip_of_lf_text(text in proptest::collection::vec(prop_oneof![Just(b'\n'), Just(b'x'), Just(b' ')], 0..200), split in 0usize..200) {
            let split = split.min(text.len());
            let wire = to_wire(&[&text[..split], &text[split..]]);
            let mut back = Vec::new();
            let mut c = FromWire::default();
            c.convert(&wire, &mut back);
            c.finish(&mut back);
            prop_assert_eq!(back, text);
        }
    }
}
