//! Downloads: a file's bytes into the data socket. Large files go file -> pipe ->
//! socket with splice (zero copy), one pipe for a slow client and two, double-buffered,
//! for a fast one; small files are read into a buffer and sent; TYPE A is converted on
//! the way. Every path pays the bandwidth caps before bytes leave (`Moved::pace`).

use std::cell::Cell;
use std::fs::File;
use std::io;
use std::net::TcpStream;
use std::os::fd::AsFd;
use std::rc::Rc;
use std::time::{Duration, Instant};

use ringftp_control::ascii;
use ringftp_control::session::TransferFailure;

use crate::net::{self, Ending};
use crate::page_cache::{residency, Residency};
use crate::pipes::{Pipe, PooledPipe};
use crate::rate_limit::Pacer;
use crate::sys;
use crate::transfer::{lost, set_unsent_max, Announce, Moved, CHUNK};
use crate::uring_ops;
use crate::worker::Worker;
use crate::writable::Writable;

/// The first read of a file that is not in the page cache asks the disk for this much,
/// the second for `SECOND_DISK_READ`, each later one for twice the one before, up to a
/// whole pipe: the first bytes leave after one short read instead of after a pipe's
/// worth (1 MiB) of disk reads. The kernel's read-ahead turns a first read of 16 KiB
/// into 64 KiB from the disk, one of 64 KiB into 256 KiB: with eight cold files opened
/// at once the p99 first byte was 6.6 ms against 8.8 (three alternating runs).
const FIRST_DISK_READ: u32 = 16 * 1024;

/// The second read of a cold file: large again at once, so the short first read costs
/// no throughput (doubling from 16 KiB took more reads to reach a pipe's worth).
const SECOND_DISK_READ: u32 = 256 * 1024;

/// The first chunk of every download is this short, cached or not, so the first bytes
/// reach the socket after a 64 KiB splice instead of a whole pipe's (1 MiB of page
/// references takes tens of microseconds to splice); later chunks fill the pipe.
const FIRST_CHUNK: u32 = 64 * 1024;

/// Send `file` (`size` bytes when opened) from `offset` to its end into `sock`; the
/// bytes sent. `announce` hears of a wait for the client before it starts.
pub(crate) async fn send_file(
    worker: &Worker,
    sock: &Rc<TcpStream>,
    file: &Rc<File>,
    offset: u64,
    size: u64,
    moved: &Moved<'_>,
    announce: &Announce<'_>,
) -> Result<u64, TransferFailure> {
    if offset >= size {
        return Ok(0);
    }
    if size - offset <= worker.config.small_file_max {
        return send_buffered(sock, file, offset, size, moved, announce).await;
    }
    // One pipe to start with: a chunk is spliced from the file into it, then from it
    // into the socket. Once a chunk drains faster than READ_AHEAD_RATE the transfer
    // takes a second pipe and double-buffers: while one drains into the socket the next
    // chunk is spliced from the file, so a fast socket never waits for the disk side.
    // A slow client keeps one pipe, which halves the fds and pipe memory of thousands
    // of slow downloads. Chunks already in the page cache are spliced on the worker
    // itself; others go through io_uring (an io-wq hop), so a disk read never blocks
    // the worker.
    let mut current = worker.pipes.take().map_err(|_| TransferFailure::Local)?;
    let chunk = moved.chunk(current.capacity()) as u64;
    // Cleared when the kernel will not say for this file; no use asking every chunk.
    let ask_cache = Cell::new(true);
    let disk_read = Cell::new(FIRST_DISK_READ);
    let fill = |pipe: &Pipe, pos: u64| {
        let mut want = chunk.min(pipe.capacity() as u64).min(size - pos) as u32;
        if pos == offset {
            want = want.min(FIRST_CHUNK);
        }
        let write_end = pipe.write.clone();
        let ask_cache = &ask_cache;
        let disk_read = &disk_read;
        async move {
            if want == 0 {
                return Ok(0);
            }
            let cached = ask_cache.get()
                && match residency(file.as_fd(), pos, u64::from(want)) {
                    Residency::Cached => true,
                    Residency::NotCached => false,
                    Residency::Unknown => {
                        ask_cache.set(false);
                        false
                    }
                };
            if cached {
                // Cached pages cannot block: splice them here and skip the io-wq hop.
                match sys::splice_nonblocking(
                    file.as_fd(),
                    Some(pos),
                    write_end.as_fd(),
                    want as usize,
                ) {
                    Ok(0) => return Err(TransferFailure::Local),
                    Ok(n) => return Ok(n),
                    // Nothing could move without waiting: io_uring takes it from here.
                    Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                    Err(_) => return Err(TransferFailure::Local),
                }
            }
            // From the disk (or not known to be cached): short reads first, then
            // larger ones. What lies ahead is left to the kernel's own read-ahead,
            // which keeps the disk busy while a chunk is sent (and reads partly into
            // large folios, where POSIX_FADV_WILLNEED reads single pages): asking for
            // the next chunks with WILLNEED cost twice the CPU per GiB, moved cold
            // files more slowly and delayed other files' first bytes.
            let want = want.min(disk_read.get());
            disk_read.set(next_disk_read(disk_read.get()));
            match uring_ops::splice(file, Some(pos), &write_end, None, want).await {
                // The file shrank under us: fail rather than send a short file as complete.
                Ok(0) => Err(TransferFailure::Local),
                Ok(n) => Ok(n),
                Err(_) => Err(TransferFailure::Local),
            }
        }
    };
    let mut spare: Option<PooledPipe> = None;
    let mut writable = Writable::new(sock);
    // A cap sets the socket's limit itself (`held_unsent_limit`).
    let unsent_max = if moved.is_capped() {
        0
    } else {
        worker.config.unsent_max
    };
    let mut slow = SlowClient::new(unsent_max);
    let mut in_pipe = fill(&current, offset).await?;
    let mut pos = offset + in_pipe as u64;
    while in_pipe > 0 {
        match spare.take() {
            Some(next) => {
                // join! polls both to completion, so no splice is ever dropped
                // mid-flight. A cap delays the drain, never the read-ahead: the next
                // chunk waits in its pipe.
                let drain = async {
                    moved.pace_chunk(in_pipe, pos == size).await?;
                    drain_pipe(&current, &mut writable, &mut slow, in_pipe, moved).await
                };
                let (filled, drained) = tokio::join!(fill(&next, pos), drain);
                drained?;
                in_pipe = filled?;
                spare = Some(std::mem::replace(&mut current, next));
            }
            None => {
                moved.pace_chunk(in_pipe, pos == size).await?;
                let started = Instant::now();
                drain_pipe(&current, &mut writable, &mut slow, in_pipe, moved).await?;
                // The short first chunk (the one that started at `offset`) fits the
                // socket at once: it says nothing of the client's speed.
                let first_chunk = pos - offset == in_pipe as u64;
                if !first_chunk && drains_fast(in_pipe, started.elapsed()) {
                    // Without a second pipe the transfer still works, one chunk at a time.
                    spare = worker.pipes.take().ok();
                }
                in_pipe = fill(&current, pos).await?;
            }
        }
        pos += in_pipe as u64;
    }
    Ok(pos - offset)
}

/// How much a capped download's socket may hold unsent (TCP_NOTSENT_LOWAT) once a cap
/// has held it (made it wait): one chunk of the cap (a sixteenth of a second at the
/// tightest cap, at most a pipe), if that is more than `unsent_max`; `None` to keep
/// `unsent_max` (or the kernel's default, `unsent_max` 0). Each chunk the caps release
/// then goes into the socket in one splice and leaves at the kernel's pacing rate, and
/// the transfer wakes once per chunk, when its cap's timer fires, on the same tick as
/// the worker's other capped transfers. With the smaller limit a chunk took a dozen
/// splices, each after its own wake-up for POLLOUT, and sockets paced at different
/// shares of a shared cap woke the worker one by one. The cap bounds what this adds
/// (a chunk is what the cap moves in 1/16 s); a transfer that its caps never hold (a
/// client slower than them) keeps `unsent_max`, as uncapped ones do.
pub(crate) fn held_unsent_limit(
    unsent_max: usize,
    pacer: &Pacer,
    pipe_size: usize,
) -> Option<usize> {
    let chunk = pacer.chunk(pipe_size);
    (unsent_max > 0 && pacer.is_capped() && chunk > unsent_max).then_some(chunk)
}

/// The size of the disk read after one of `read` bytes (before the pipe caps it).
fn next_disk_read(read: u32) -> u32 {
    if read == FIRST_DISK_READ {
        SECOND_DISK_READ
    } else {
        read.saturating_mul(2)
    }
}

/// A client that takes bytes at least this fast gets a second pipe for reading ahead;
/// below it, reading the next chunk while the socket waits gains nothing.
const READ_AHEAD_RATE: f64 = 64.0 * 1024.0 * 1024.0;

/// True if `bytes` drained into the socket in `took` at READ_AHEAD_RATE or faster.
fn drains_fast(bytes: usize, took: std::time::Duration) -> bool {
    took.as_secs_f64() * READ_AHEAD_RATE <= bytes as f64
}

/// A client slower than this gets half of `unsent_max` (see [`SlowClient`]).
const SLOW_CLIENT_RATE: f64 = 128.0 * 1024.0;

/// How long a download's socket takes bytes before its client's speed is judged.
const SLOW_CLIENT_AFTER: Duration = Duration::from_secs(1);

/// Halves the unsent limit of a socket whose client reads slower than SLOW_CLIENT_RATE.
/// A socket holds up to `unsent_max` unsent (64 KiB), and most of a slow download's
/// kernel memory is that; the limit is as large as it is because each refill wakes
/// the worker, and a smaller one took 1.3x the CPU per GiB for clients at 256 KiB/s.
/// For a client at 50 KiB/s the refills are five times rarer, so half the limit costs
/// little CPU per second and saves a third of the socket's memory. Judged once, a
/// second after the first bytes went in.
struct SlowClient {
    /// 0: nothing to judge (no limit, or a cap sets it).
    unsent_max: usize,
    started: Option<Instant>,
    taken: u64,
}

impl SlowClient {
    fn new(unsent_max: usize) -> SlowClient {
        SlowClient {
            unsent_max,
            started: None,
            taken: 0,
        }
    }

    /// The socket took `n` more bytes.
    fn took(&mut self, n: usize, sock: &TcpStream) {
        if self.unsent_max == 0 {
            return;
        }
        let now = Instant::now();
        let started = *self.started.get_or_insert(now);
        self.taken += n as u64;
        let elapsed = now - started;
        if elapsed < SLOW_CLIENT_AFTER {
            return;
        }
        if reads_slowly(self.taken, elapsed) {
            set_unsent_max(sock, self.unsent_max / 2);
        }
        self.unsent_max = 0;
    }
}

/// True if a socket that took `taken` bytes in `elapsed` drains slower than
/// SLOW_CLIENT_RATE.
fn reads_slowly(taken: u64, elapsed: Duration) -> bool {
    (taken as f64) < SLOW_CLIENT_RATE * elapsed.as_secs_f64()
}

/// Move `len` bytes from a pipe into `writable`'s socket, waiting for room as needed.
async fn drain_pipe(
    pipe: &Pipe,
    writable: &mut Writable,
    slow: &mut SlowClient,
    len: usize,
    moved: &Moved<'_>,
) -> Result<(), TransferFailure> {
    let mut in_pipe = len;
    while in_pipe > 0 {
        // The socket side never blocks (both ends are non-blocking), so a direct
        // splice avoids an io-wq round trip; only the disk side goes through io_uring.
        let sock = writable.socket().as_fd();
        match sys::splice_nonblocking(pipe.read.as_fd(), None, sock, in_pipe) {
            Ok(0) => return Err(TransferFailure::ConnectionLost),
            Ok(n) => {
                in_pipe -= n;
                moved.add(n);
                slow.took(n, writable.socket());
                if in_pipe > 0 {
                    // The socket took less than the pipe held: mostly it is full (its
                    // unsent bytes reached `unsent_max`), so wait until it drains rather
                    // than try again at once (a slow client's socket is full after every
                    // refill, and the retry was a splice failing with EAGAIN each time).
                    // Either way the worker's other sessions get a turn first, so a
                    // command that arrives is not answered only after a whole pipe.
                    writable.after_short_write().await.map_err(lost)?;
                }
            }
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                writable.after_full().await.map_err(lost)?;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(lost(e)),
        }
    }
    Ok(())
}

async fn send_buffered(
    sock: &Rc<TcpStream>,
    file: &Rc<File>,
    offset: u64,
    size: u64,
    moved: &Moved<'_>,
    announce: &Announce<'_>,
) -> Result<u64, TransferFailure> {
    let mut pos = offset;
    let step = moved.chunk(CHUNK);
    let mut buf = Vec::with_capacity(((size - offset) as usize).min(step));
    while pos < size {
        let (res, back) = read_chunk(file, buf, pos).await;
        let n = res.map_err(|_| TransferFailure::Local)?;
        if n == 0 {
            return Err(TransferFailure::Local);
        }
        moved.pace(n).await?;
        // The file's last bytes wait for the FIN below and leave in its segment.
        let ending = if pos + n as u64 >= size {
            Ending::WithFin
        } else {
            Ending::Push
        };
        net::send_all_then(sock, &back, ending, || announce.now())
            .await
            .map_err(lost)?;
        moved.add(n);
        pos += n as u64;
        buf = back;
    }
    net::shutdown_write(&**sock).map_err(lost)?;
    Ok(pos - offset)
}

/// Read `file` from `pos` into `buf` (emptied first): straight from the page cache when it
/// holds the bytes (one system call; the download goes on without a turn of the
/// worker's loop), through io_uring otherwise, so a disk read never blocks the worker.
async fn read_chunk(file: &Rc<File>, mut buf: Vec<u8>, pos: u64) -> (io::Result<usize>, Vec<u8>) {
    buf.clear();
    match sys::read_cached_at(file.as_fd(), &mut buf, pos) {
        Err(e)
            if matches!(
                e.raw_os_error(),
                Some(libc::EAGAIN) | Some(libc::EOPNOTSUPP) | Some(libc::EINVAL)
            ) =>
        {
            uring_ops::read_at(file, buf, pos).await
        }
        result => (result, buf),
    }
}

/// Send `file` from `offset` as TYPE A (LF to CRLF on the wire).
pub(crate) async fn send_ascii(
    sock: &Rc<TcpStream>,
    file: &Rc<File>,
    offset: u64,
    moved: &Moved<'_>,
) -> Result<u64, TransferFailure> {
    let mut pos = offset;
    let mut converter = ascii::ToWire::default();
    let mut buf = Vec::with_capacity(moved.chunk(CHUNK));
    let mut sent = 0u64;
    loop {
        let (res, back) = uring_ops::read_at(file, buf, pos).await;
        let n = res.map_err(|_| TransferFailure::Local)?;
        if n == 0 {
            return Ok(sent);
        }
        pos += n as u64;
        let mut wire = Vec::with_capacity(n + n / 16);
        converter.convert(&back, &mut wire);
        let len = wire.len();
        moved.pace(len).await?;
        net::send_all(sock, &wire).await.map_err(lost)?;
        moved.add(len);
        sent += len as u64;
        buf = back;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cold_file_is_read_short_once_then_large_and_doubling() {
        let mut reads = vec![FIRST_DISK_READ];
        while reads.len() < 5 {
            reads.push(next_disk_read(*reads.last().unwrap()));
        }
        let kib: Vec<u32> = reads.iter().map(|r| r / 1024).collect();
        assert_eq!(kib, [16, 256, 512, 1024, 2048]);
        assert_eq!(next_disk_read(u32::MAX), u32::MAX);
    }

    #[test]
    fn a_client_under_128_kib_per_second_reads_slowly() {
        let kib = 1024;
        // 50 KiB/s and 256 KiB/s clients, as in wan10k and wan, after 1 s and 4 s.
        assert!(reads_slowly(50 * kib, Duration::from_secs(1)));
        assert!(reads_slowly(4 * 50 * kib, Duration::from_secs(4)));
        assert!(!reads_slowly(256 * kib, Duration::from_secs(1)));
        // Exactly the threshold is not slow; just under it is.
        assert!(!reads_slowly(128 * kib, Duration::from_secs(1)));
        assert!(reads_slowly(128 * kib - 1, Duration::from_secs(1)));
    }

    #[test]
    fn only_a_fast_drain_earns_a_read_ahead_pipe() {
        let mib = 1 << 20;
        // 1 MiB in 1 ms is 1 GiB/s: read ahead.
        assert!(drains_fast(mib, Duration::from_millis(1)));
        // Exactly 64 MiB/s still counts; a little slower does not.
        assert!(drains_fast(mib, Duration::from_micros(15_625)));
        assert!(!drains_fast(mib, Duration::from_micros(15_700)));
        // A client at 256 KiB/s takes 4 s per MiB.
        assert!(!drains_fast(mib, Duration::from_secs(4)));
    }

    fn pacer(session_rate: u64) -> Pacer {
        use crate::rate_limit::{ClassCaps, Flow, FlowCaps, RateCaps, RateLimiter, UserClass};
        let download = FlowCaps {
            session: session_rate,
            ..FlowCaps::default()
        };
        let caps = RateCaps {
            anonymous: ClassCaps {
                download,
                ..ClassCaps::default()
            },
            ..RateCaps::default()
        };
        RateLimiter::new(caps).pacer(
            &Rc::default(),
            "127.0.0.1".parse().unwrap(),
            UserClass::Anonymous,
            Flow::Download,
            Default::default(),
        )
    }

    #[test]
    fn a_capped_socket_may_hold_one_chunk_of_its_cap_unsent() {
        let (kib, mib) = (1 << 10, 1 << 20);
        // Uncapped, or unsent_max 0 (the kernel's default): nothing to change.
        assert_eq!(held_unsent_limit(64 * kib, &pacer(0), mib), None);
        assert_eq!(held_unsent_limit(0, &pacer(16 * mib as u64), mib), None);
        // 16 MiB/s: a chunk is 1 MiB (1/16 s), one pipe.
        assert_eq!(
            held_unsent_limit(64 * kib, &pacer(16 * mib as u64), mib),
            Some(mib)
        );
        // 64 MiB/s: still one pipe at most.
        assert_eq!(
            held_unsent_limit(64 * kib, &pacer(64 * mib as u64), mib),
            Some(mib)
        );
        // 256 KiB/s: a chunk is 16 KiB, under the configured limit, which holds.
        assert_eq!(
            held_unsent_limit(64 * kib, &pacer(256 * kib as u64), mib),
            None
        );
    }
}
