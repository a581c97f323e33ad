//! PROXY protocol headers as the data plane reads them: arbitrary bytes fed to
//! `HeaderReader` in pieces no larger than it asks for (the first byte picks the piece
//! size). Nothing may panic, no more than one header's bound is ever read, and a
//! finished header never consumed a byte it did not ask for.

#![no_main]

use libfuzzer_sys::fuzz_target;
use ringftp_control::proxy::{HeaderReader, Next, MAX_V2_PAYLOAD};

fuzz_target!(|data: &[u8]| {
    let (piece, input) = match data {
        [p, rest @ ..] => (usize::from(*p % 32) + 1, rest),
        [] => (1, data),
    };
    let mut reader = HeaderReader::new();
    let mut at = 0;
    loop {
        match reader.next() {
            Next::Read(n) => {
                assert!(n > 0, "asked for nothing");
                assert!(at + n <= 16 + MAX_V2_PAYLOAD, "asked past the bound");
                if at == input.len() {
                    break;
                }
                let take = n.min(piece).min(input.len() - at);
                reader.push(&input[at..at + take]);
                at += take;
            }
            Next::Done(_) | Next::Failed(_) => break,
        }
    }
    assert_eq!(reader.buffered(), at);
});
