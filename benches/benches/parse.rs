//! Control-line hot path: the command mix a mirror client (lftp, wget, curl) sends
//! per downloaded file, framed by `LineReader` and parsed into `Command`s.

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use ringftp_control::command::{self, Command};
use ringftp_control::line::{LineReader, DEFAULT_MAX_LINE};

const FILE: &str =
    "/pub/debian/pool/main/l/linux-signed-amd64/linux-image-6.1.0-18-amd64_6.1.76-1_amd64.deb";

/// One session's worth of commands, CRLF-terminated as on the wire.
fn session_script() -> Vec<u8> {
    let lines = [
        "USER anonymous".to_string(),
        "PASS mirror@example.org".to_string(),
        "TYPE I".to_string(),
        "EPSV".to_string(),
        "PASV".to_string(),
        format!("SIZE {FILE}"),
        format!("MDTM {FILE}"),
        "REST 1048576".to_string(),
        format!("RETR {FILE}"),
        "CWD /pub/debian/dists/bookworm/main/binary-amd64".to_string(),
        "LIST -la".to_string(),
        "QUIT".to_string(),
    ];
    let mut wire = Vec::new();
    for l in &lines {
        wire.extend_from_slice(l.as_bytes());
        wire.extend_from_slice(b"\r\n");
    }
    wire
}

fn count_lines(wire: &[u8]) -> u64 {
    wire.iter().filter(|&&b| b == b'\n').count() as u64
}

fn bench_parse(c: &mut Criterion) {
    let wire = session_script();
    let commands = count_lines(&wire);
    let lines: Vec<&[u8]> = wire
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| l.strip_suffix(b"\r").unwrap_or(l))
        .collect();
    // The script must parse cleanly, or the benchmark would time error paths.
    for l in &lines {
        let cmd = command::parse(l).expect("script command parses");
        assert!(!matches!(cmd, Command::Site(_)));
    }

    let mut group = c.benchmark_group("parse");
    group.throughput(Throughput::Elements(commands));

    // Everything in one read, as with a pipelining client.
    group.bench_function("frame+parse mirror mix (one read)", |b| {
        b.iter(|| {
            let mut reader = LineReader::new(DEFAULT_MAX_LINE);
            reader.push(black_box(&wire));
            let mut n = 0usize;
            while let Some(line) = reader.next_line() {
                let cmd = command::parse(&line.expect("line within bound"));
                n += usize::from(black_box(cmd).is_ok());
            }
            n
        })
    });

    // One read per command, as with a client that waits for each reply.
    let per_command: Vec<&[u8]> = wire.split_inclusive(|&b| b == b'\n').collect();
    group.bench_function("frame+parse mirror mix (read per line)", |b| {
        b.iter(|| {
            let mut reader = LineReader::new(DEFAULT_MAX_LINE);
            let mut n = 0usize;
            for read in &per_command {
                reader.push(black_box(read));
                while let Some(line) = reader.next_line() {
                    let cmd = command::parse(&line.expect("line within bound"));
                    n += usize::from(black_box(cmd).is_ok());
                }
            }
            n
        })
    });

    // The parser alone on already-framed lines.
    group.bench_function("parse only mirror mix", |b| {
        b.iter(|| {
            let mut n = 0usize;
            for l in &lines {
                n += usize::from(black_box(command::parse(black_box(l))).is_ok());
            }
            n
        })
    });
    group.finish();
}

criterion_group!(benches, bench_parse);
criterion_main!(benches);
