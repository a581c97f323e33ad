//! Directory listings of a 10,000-entry folder streamed completely, as the data plane
//! drains them: `ListingStream::next_chunk` in 64 KiB chunks until the stream ends.

use std::path::Path;
use std::time::SystemTime;

use criterion::{black_box, criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use ringftp_control::listing::{ListFormat, ListingStream};
use ringftp_control::vfs::Permissions;

const ENTRIES: u64 = 10_000;
const CHUNK: usize = 64 * 1024;

/// Streams the whole listing of `dir`; returns the bytes produced.
fn stream_all(dir: &Path, format: ListFormat, buf: &mut Vec<u8>) -> usize {
    let mut stream = ListingStream::open(dir, format, SystemTime::now(), Permissions::read_only())
        .expect("open listing");
    let mut total = 0;
    loop {
        buf.clear();
        let more = stream.next_chunk(buf, CHUNK).expect("listing chunk");
        total += black_box(&*buf).len();
        if !more {
            return total;
        }
    }
}

fn bench_listing(c: &mut Criterion) {
    // Built once, outside the timed loop: mostly files, every 100th entry a folder.
    let dir = tempfile::tempdir().expect("temp dir");
    for i in 0..ENTRIES {
        let path = dir.path().join(format!("package-{i:05}_1.0-1_amd64.deb"));
        if i % 100 == 0 {
            std::fs::create_dir(&path).expect("create folder");
        } else {
            std::fs::write(&path, i.to_le_bytes()).expect("create file");
        }
    }
    // Every entry must be listed, or the benchmark would time a short listing.
    for format in [ListFormat::List, ListFormat::Mlsd] {
        let mut stream = ListingStream::open(
            dir.path(),
            format,
            SystemTime::now(),
            Permissions::read_only(),
        )
        .expect("open listing");
        let mut all = Vec::new();
        while stream.next_chunk(&mut all, CHUNK).expect("listing chunk") {}
        let lines = all.iter().filter(|&&b| b == b'\n').count() as u64;
        assert_eq!(lines, ENTRIES, "{format:?}");
    }
    let mut buf = Vec::with_capacity(2 * CHUNK);

    let mut group = c.benchmark_group("listing_10k");
    group.throughput(Throughput::Elements(ENTRIES));
    // Each iteration stats 10,000 files; fewer samples keep the run within its time.
    group.sample_size(10);
    for (name, format) in [("LIST", ListFormat::List), ("MLSD", ListFormat::Mlsd)] {
        group.bench_with_input(BenchmarkId::from_parameter(name), &format, |b, &format| {
            b.iter(|| stream_all(dir.path(), format, &mut buf))
        });
    }
    group.finish();
}

criterion_group!(benches, bench_listing);
criterion_main!(benches);
