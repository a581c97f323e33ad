//! Control-connection input end to end: arbitrary bytes framed by `LineReader` (in two
//! reads, so CRLF pairs, Telnet sequences and over-long lines straddle a read
//! boundary) and every framed line parsed. Nothing may panic, and the bytes held for
//! an unfinished line stay within the bound however long the line is.

#![no_main]

use libfuzzer_sys::fuzz_target;
use ringftp_control::command;
use ringftp_control::line::{LineReader, DEFAULT_MAX_LINE};

/// The control-line bound the daemon uses by default.
const MAX_LINE: usize = DEFAULT_MAX_LINE;

fuzz_target!(|data: &[u8]| {
    // The first two bytes choose where the rest is split into two reads.
    let (cut, input) = match data {
        [a, b, rest @ ..] => {
            let seed = usize::from(*a) << 8 | usize::from(*b);
            (seed % (rest.len() + 1), rest)
        }
        _ => (0, data),
    };
    let (first, second) = input.split_at(cut);
    let mut reader = LineReader::new(MAX_LINE);
    for read in [first, second] {
        reader.push(read);
        // One byte over the bound is allowed for a CR that may precede the LF.
        assert!(
            reader.buffered_len() <= MAX_LINE + 1,
            "buffered {} bytes",
            reader.buffered_len()
        );
        while let Some(line) = reader.next_line() {
            if let Ok(line) = line {
                assert!(!line.contains(&b'\n'), "a framed line contains LF");
                if let Err(e) = command::parse(&line) {
                    // Every refusal maps to a reply code.
                    assert!(matches!(e.reply_code(), 500 | 501 | 504));
                }
            }
        }
        let _ = reader.take_interrupt();
    }
});
