//! HASH requests: digests come from the process-wide cache, or are computed on a
//! thread of their own at the lowest CPU priority (nice 19), with at most
//! [`HASH_JOBS_PER_WORKER`] per worker at once. Hashing a 4 GiB file then never runs
//! on an event loop, and when the cores are busy the scheduler gives the event loops
//! and their transfers the CPU first. (tokio's blocking pool, where password checks
//! run, is not used: its threads are shared, and an unprivileged process could not
//! raise a thread's priority back after lowering it.)

use std::path::PathBuf;
use std::sync::{Arc, LazyLock};

use ringftp_control::digest::{digest_file, DigestCache, DigestKey};
use ringftp_control::session::Event;
use tokio::sync::Semaphore;
use tracing::debug;

use crate::local_channel::UnboundedSender;

/// Digests a worker computes at once; more requests wait for a slot.
pub const HASH_JOBS_PER_WORKER: usize = 1;

/// nice 19.
const LOWEST_PRIORITY: i32 = 19;

/// Digests remembered across sessions and cores.
const CACHED_DIGESTS: usize = 4096;

static DIGESTS: LazyLock<DigestCache> = LazyLock::new(|| DigestCache::new(CACHED_DIGESTS));

/// Answer one HASH request through `events` (spawn this on the worker).
pub async fn run(
    path: PathBuf,
    key: DigestKey,
    slots: Arc<Semaphore>,
    events: UnboundedSender<Event>,
) {
    if let Some(digest) = DIGESTS.get(&key) {
        let _ = events.send(Event::HashDone(Some(digest)));
        return;
    }
    // The semaphore is never closed, so acquiring only waits.
    let _slot = slots.acquire_owned().await;
    let (tx, rx) = tokio::sync::oneshot::channel();
    let spawned = std::thread::Builder::new()
        .name("ringftpd-hash".into())
        .spawn(move || {
            // On Linux the nice value is per thread: only this one is lowered.
            let _ = rustix::process::setpriority_process(None, LOWEST_PRIORITY);
            let digest = match digest_file(&path, &key) {
                Ok(d) => {
                    DIGESTS.insert(key, d.clone());
                    Some(d)
                }
                Err(e) => {
                    debug!(path = %path.display(), error = %e, "hashing failed");
                    None
                }
            };
            let _ = tx.send(digest);
        });
    let digest = match spawned {
        Ok(_) => rx.await.ok().flatten(),
        Err(e) => {
            debug!(error = %e, "no thread for hashing");
            None
        }
    };
    let _ = events.send(Event::HashDone(digest));
}
