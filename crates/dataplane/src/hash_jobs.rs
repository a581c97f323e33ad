//! HASH requests: digests come from the process-wide cache, or are computed on tokio's
//! blocking pool with at most [`HASH_JOBS_PER_WORKER`] per worker at once, so hashing
//! a 4 GiB file never stalls the event loop that serves the other sessions of its core.

use std::path::PathBuf;
use std::sync::{Arc, LazyLock};

use ringftp_control::digest::{digest_file, DigestCache, DigestKey};
use ringftp_control::session::Event;
use tokio::sync::mpsc::UnboundedSender;
use tokio::sync::Semaphore;
use tracing::debug;

/// Digests a worker computes at once; more requests wait for a slot.
pub const HASH_JOBS_PER_WORKER: usize = 1;

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
    let digest = tokio::task::spawn_blocking(move || match digest_file(&path, &key) {
        Ok(d) => {
            DIGESTS.insert(key, d.clone());
            Some(d)
        }
        Err(e) => {
            debug!(path = %path.display(), error = %e, "hashing failed");
            None
        }
    })
    .await
    .ok()
    .flatten();
    let _ = events.send(Event::HashDone(digest));
}
