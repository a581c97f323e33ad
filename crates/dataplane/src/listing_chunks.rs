//! A listing's lines are made on tokio's blocking pool, a chunk at a time and one chunk
//! ahead of the socket. Reading, stat'ing and formatting a folder of 100,000 entries
//! takes a tenth of a second of CPU: on the worker's event loop it would hold up every
//! other session of that core for as long, and it would keep each listing on the core
//! its session happened to land on while the other cores idle. At most
//! [`LISTING_CHUNKS_PER_WORKER`] chunks per worker are made at once, so a crowd listing
//! big folders queues (chunk by chunk, in turn) instead of spawning a thread each.

use std::io;
use std::mem;
use std::sync::Arc;
use std::time::SystemTime;

use ringftp_control::listing::{ListingRequest, ListingStream};
use tokio::sync::Semaphore;
use tokio::task::{spawn_blocking, JoinHandle};

/// Listing chunks a worker has made at once on the blocking pool.
pub const LISTING_CHUNKS_PER_WORKER: usize = 2;

type Made = io::Result<(Box<ListingStream>, Vec<u8>, bool)>;

/// What is left of the listing after the chunk in hand.
enum Rest {
    /// More to make; nothing being made.
    Idle(Box<ListingStream>),
    Making(JoinHandle<Made>),
    Done,
}

/// A listing being made, chunk by chunk, off the event loop.
pub struct ListingChunks {
    slots: Arc<Semaphore>,
    chunk: usize,
    ready: Option<Vec<u8>>,
    rest: Rest,
}

impl ListingChunks {
    /// Read the folder's names and make the first chunk. An error here (the folder
    /// vanished, the sandbox refused it) comes before any data connection.
    pub async fn start(
        request: ListingRequest,
        chunk: usize,
        slots: Arc<Semaphore>,
    ) -> io::Result<ListingChunks> {
        let permit = slots
            .clone()
            .acquire_owned()
            .await
            .map_err(io::Error::other)?;
        let (listing, first, more) = spawn_blocking(move || {
            let _permit = permit;
            let mut listing = Box::new(ListingStream::start(&request, SystemTime::now())?);
            let (out, more) = make_chunk(&mut listing, chunk)?;
            Ok::<_, io::Error>((listing, out, more))
        })
        .await
        .map_err(io::Error::other)??;
        Ok(ListingChunks {
            slots,
            chunk,
            ready: Some(first),
            rest: if more {
                Rest::Idle(listing)
            } else {
                Rest::Done
            },
        })
    }

    /// The next chunk, the one after it being made meanwhile; `None` at the end.
    pub async fn next(&mut self) -> io::Result<Option<Vec<u8>>> {
        loop {
            if let Some(out) = self.ready.take() {
                // Make the next one while this one is sent, if a slot is free now;
                // otherwise the send does not wait for one.
                self.make_next(false).await?;
                return Ok(Some(out));
            }
            match mem::replace(&mut self.rest, Rest::Done) {
                Rest::Done => return Ok(None),
                Rest::Idle(listing) => {
                    self.rest = Rest::Idle(listing);
                    self.make_next(true).await?;
                }
                Rest::Making(pending) => {
                    let (listing, out, more) = pending.await.map_err(io::Error::other)??;
                    if more {
                        self.rest = Rest::Idle(listing);
                    }
                    self.ready = Some(out);
                }
            }
        }
    }

    /// Start making the next chunk, once a slot is free (`wait`) or if one is free now.
    async fn make_next(&mut self, wait: bool) -> io::Result<()> {
        if !matches!(self.rest, Rest::Idle(_)) {
            return Ok(());
        }
        let slots = self.slots.clone();
        let permit = if wait {
            slots.acquire_owned().await.map_err(io::Error::other)?
        } else {
            match slots.try_acquire_owned() {
                Ok(permit) => permit,
                Err(_) => return Ok(()),
            }
        };
        let Rest::Idle(mut listing) = mem::replace(&mut self.rest, Rest::Done) else {
            unreachable!("checked above, and nothing else runs meanwhile");
        };
        let chunk = self.chunk;
        self.rest = Rest::Making(spawn_blocking(move || {
            let _permit = permit;
            let (out, more) = make_chunk(&mut listing, chunk)?;
            Ok((listing, out, more))
        }));
        Ok(())
    }
}

fn make_chunk(listing: &mut ListingStream, chunk: usize) -> io::Result<(Vec<u8>, bool)> {
    // A line is at most a name (255 bytes) and its facts past the limit.
    let mut out = Vec::with_capacity(chunk + 1024);
    let more = listing.next_chunk(&mut out, chunk)?;
    Ok((out, more))
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

    #[test]
    fn chunks_come_in_order_and_whole_with_one_slot() {
        let dir = tempfile::tempdir().unwrap();
        for i in 0..3000 {
            std::fs::write(dir.path().join(format!("f{i:05}")), b"").unwrap();
        }
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let names = rt.block_on(async {
            let slots = Arc::new(Semaphore::new(1));
            let mut chunks = ListingChunks::start(request(dir.path()), 1024, slots.clone())
                .await
                .unwrap();
            let mut all = Vec::new();
            let mut count = 0;
            while let Some(chunk) = chunks.next().await.unwrap() {
                assert!(chunk.len() < 1024 + 300);
                all.extend_from_slice(&chunk);
                count += 1;
            }
            assert!(count > 10, "{count} chunks");
            assert_eq!(slots.available_permits(), 1, "every slot comes back");
            String::from_utf8(all).unwrap()
        });
        let expected: String = (0..3000).map(|i| format!("f{i:05}\r\n")).collect();
        assert_eq!(names, expected);
    }

    #[test]
    fn a_missing_folder_fails_at_the_start() {
        let dir = tempfile::tempdir().unwrap();
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let slots = Arc::new(Semaphore::new(1));
        let err = rt
            .block_on(ListingChunks::start(
                request(&dir.path().join("gone")),
                1024,
                slots.clone(),
            ))
            .err()
            .unwrap();
        assert_eq!(err.kind(), io::ErrorKind::NotFound);
        assert_eq!(slots.available_permits(), 1);
    }
}
