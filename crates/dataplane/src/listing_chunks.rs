//! A listing's lines are made on the listing threads, a chunk at a time and one chunk
//! ahead of the socket. Reading, stat'ing and formatting a folder of 100,000 entries
//! takes a tenth of a second of CPU: on the worker's event loop it would hold up every
//! other session of that core for as long, and it would keep each listing on the core
//! its session happened to land on while the other cores idle.
//!
//! The threads are few and fixed (one per worker), shared by all workers and fed from
//! one queue, chunk by chunk: a crowd listing big folders takes turns instead of
//! spawning a thread each, and a slow reader holds no thread while its chunk waits in
//! the socket. (tokio's blocking pool spawned a dozen threads for four listings, each
//! with its own allocator heap: a peak PSS of 265-330 MiB, against ~50 MiB here.)

use std::io;
use std::mem;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::{mpsc, Arc, Mutex};
use std::time::SystemTime;

use ringftp_control::listing::{ListingRequest, ListingStream};
use tokio::sync::oneshot;

type Job = Box<dyn FnOnce() + Send>;

/// The threads that make listing chunks, for all workers.
pub struct ListingThreads {
    jobs: mpsc::Sender<Job>,
}

impl ListingThreads {
    /// Start `count` threads; they end when the last handle to the pool is dropped.
    pub fn start(count: usize) -> io::Result<Arc<ListingThreads>> {
        let (jobs, queue) = mpsc::channel::<Job>();
        let queue = Arc::new(Mutex::new(queue));
        for i in 0..count.max(1) {
            let queue = queue.clone();
            std::thread::Builder::new()
                .name(format!("ringftpd-list{i}"))
                .spawn(move || loop {
                    // The lock is held only to take a job, not to run it.
                    let job = match queue.lock() {
                        Ok(queue) => queue.recv(),
                        Err(_) => return,
                    };
                    let Ok(job) = job else { return };
                    // A job that panics fails its listing (its reply channel is
                    // dropped), not the thread.
                    let _ = catch_unwind(AssertUnwindSafe(job));
                })?;
        }
        Ok(Arc::new(ListingThreads { jobs }))
    }

    /// Run `f` on a listing thread; its result comes back through the receiver.
    fn run<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> T + Send + 'static,
    ) -> oneshot::Receiver<T> {
        let (tx, rx) = oneshot::channel();
        // If every thread is gone, `tx` is dropped with the job and the receiver fails.
        let _ = self.jobs.send(Box::new(move || {
            let _ = tx.send(f());
        }));
        rx
    }
}

/// A chunk made, and the listing if more is left (a finished one is dropped on the
/// listing thread, where its names were allocated).
type Made = io::Result<(Option<Box<ListingStream>>, Vec<u8>)>;

/// What is left of the listing after the chunk in hand.
enum Rest {
    /// More to make; nothing being made.
    Idle(Box<ListingStream>),
    Making(oneshot::Receiver<Made>),
    Done,
}

/// A listing being made, chunk by chunk, off the event loop.
pub struct ListingChunks {
    threads: Arc<ListingThreads>,
    chunk: usize,
    /// The chunk handed out last; its buffer is reused once the caller is done with it.
    current: Vec<u8>,
    spare: Option<Vec<u8>>,
    ready: bool,
    rest: Rest,
}

fn gone() -> io::Error {
    io::Error::other("the listing threads are gone")
}

impl ListingChunks {
    /// Read the folder's names and make the first chunk. An error here (the folder
    /// vanished, the sandbox refused it) comes before any data connection.
    pub async fn start(
        request: ListingRequest,
        chunk: usize,
        threads: Arc<ListingThreads>,
    ) -> io::Result<ListingChunks> {
        let (listing, first) = threads
            .run(move || {
                let listing = Box::new(ListingStream::start(&request, SystemTime::now())?);
                make_chunk(listing, Vec::new(), chunk)
            })
            .await
            .map_err(|_| gone())??;
        Ok(ListingChunks {
            threads,
            chunk,
            current: first,
            spare: None,
            ready: true,
            rest: listing.map_or(Rest::Done, Rest::Idle),
        })
    }

    /// The next chunk, the one after it being made meanwhile; `None` at the end.
    pub async fn next(&mut self) -> io::Result<Option<&[u8]>> {
        if self.ready {
            self.ready = false;
            self.make_next();
            return Ok(Some(&self.current));
        }
        let spent = mem::take(&mut self.current);
        if spent.capacity() > 0 {
            self.spare = Some(spent);
        }
        self.make_next();
        let Rest::Making(pending) = mem::replace(&mut self.rest, Rest::Done) else {
            return Ok(None);
        };
        let (listing, out) = pending.await.map_err(|_| gone())??;
        self.current = out;
        if let Some(listing) = listing {
            self.rest = Rest::Idle(listing);
            self.make_next();
        }
        Ok(Some(&self.current))
    }

    /// Start making the next chunk, if there is more and none is being made.
    fn make_next(&mut self) {
        if !matches!(self.rest, Rest::Idle(_)) {
            return;
        }
        let Rest::Idle(listing) = mem::replace(&mut self.rest, Rest::Done) else {
            unreachable!("checked just above");
        };
        let chunk = self.chunk;
        let buf = self
            .spare
            .take()
            .unwrap_or_else(|| Vec::with_capacity(chunk + 1024));
        self.rest = Rest::Making(self.threads.run(move || make_chunk(listing, buf, chunk)));
    }
}

fn make_chunk(mut listing: Box<ListingStream>, mut out: Vec<u8>, chunk: usize) -> Made {
    out.clear();
    // A line is at most a name (255 bytes) and its facts past the limit.
    out.reserve(chunk + 1024);
    let more = listing.next_chunk(&mut out, chunk)?;
    Ok((more.then_some(listing), out))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ringftp_control::listing::ListFormat;
    use ringftp_control::vfs::Permissions;
    use std::path::Path;

    fn request(dir: &Path) -> ListingRequest {
        ListingRequest::new(dir, dir, ListFormat::Nlst, Permissions::read_only())
    }

    fn runtime() -> tokio::runtime::Runtime {
        tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap()
    }

    #[test]
    fn chunks_come_in_order_and_whole() {
        let dir = tempfile::tempdir().unwrap();
        for i in 0..3000 {
            std::fs::write(dir.path().join(format!("f{i:05}")), b"").unwrap();
        }
        let threads = ListingThreads::start(2).unwrap();
        let names = runtime().block_on(async {
            let mut chunks = ListingChunks::start(request(dir.path()), 1024, threads)
                .await
                .unwrap();
            let mut all = Vec::new();
            let mut count = 0;
            while let Some(chunk) = chunks.next().await.unwrap() {
                assert!(chunk.len() < 1024 + 300);
                all.extend_from_slice(chunk);
                count += 1;
            }
            assert!(count > 10, "{count} chunks");
            assert!(
                chunks.next().await.unwrap().is_none(),
                "the end stays the end"
            );
            String::from_utf8(all).unwrap()
        });
        let expected: String = (0..3000).map(|i| format!("f{i:05}\r\n")).collect();
        assert_eq!(names, expected);
    }

    #[test]
    fn a_missing_folder_fails_at_the_start_and_the_threads_go_on() {
        let dir = tempfile::tempdir().unwrap();
        let threads = ListingThreads::start(1).unwrap();
        let rt = runtime();
        let err = rt
            .block_on(ListingChunks::start(
                request(&dir.path().join("gone")),
                1024,
                threads.clone(),
            ))
            .err()
            .unwrap();
        assert_eq!(err.kind(), io::ErrorKind::NotFound);
        let empty = rt.block_on(async {
            let mut chunks = ListingChunks::start(request(dir.path()), 1024, threads)
                .await
                .unwrap();
            let first = chunks.next().await.unwrap().map(<[u8]>::to_vec);
            (first, chunks.next().await.unwrap().is_none())
        });
        assert_eq!(empty, (Some(Vec::new()), true));
    }
}
