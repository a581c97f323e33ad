//! Whether a file range is already in the page cache.
//!
//! A splice from cached pages cannot block on the disk, so the worker may run it
//! itself instead of paying the io-wq hop of `IORING_OP_SPLICE` (which io_uring
//! always punts to a kernel worker thread). Answered by cachestat(2) (Linux 6.5+);
//! where that is missing or refused, every range counts as not cached and the
//! io_uring path is used.

use std::os::fd::BorrowedFd;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed};

use crate::sys;

/// Cleared for good the first time the kernel says it has no cachestat.
static CACHESTAT_PRESENT: AtomicBool = AtomicBool::new(true);

/// What cachestat says of one range.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Residency {
    /// Every page of the range is cached.
    Cached,
    /// Some page would have to be read from disk.
    NotCached,
    /// The kernel will not tell for this file (no cachestat, or the file is neither
    /// owned nor writable by the server's user); asking again will not help.
    Unknown,
}

/// Ask whether `len` bytes at `offset` of `file` are all in the page cache.
pub fn residency(file: BorrowedFd<'_>, offset: u64, len: u64) -> Residency {
    if len == 0 || !CACHESTAT_PRESENT.load(Relaxed) {
        return Residency::Unknown;
    }
    match sys::cached_pages(file, offset, len) {
        Ok(cached) if cached >= pages_spanned(offset, len, page_size()) => Residency::Cached,
        Ok(_) => Residency::NotCached,
        Err(e) => {
            if e.raw_os_error() == Some(libc::ENOSYS) {
                CACHESTAT_PRESENT.store(false, Relaxed);
            }
            Residency::Unknown
        }
    }
}

fn page_size() -> u64 {
    rustix::param::page_size() as u64
}

/// Pages touched by `len` bytes at `offset`.
fn pages_spanned(offset: u64, len: u64, page: u64) -> u64 {
    (offset + len).div_ceil(page) - offset / page
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::os::fd::AsFd;

    #[test]
    fn pages_spanned_counts_partial_pages() {
        assert_eq!(pages_spanned(0, 4096, 4096), 1);
        assert_eq!(pages_spanned(0, 4097, 4096), 2);
        assert_eq!(pages_spanned(4095, 2, 4096), 2);
        assert_eq!(pages_spanned(8192, 1, 4096), 1);
    }

    #[test]
    fn freshly_written_pages_are_cached_and_a_hole_past_them_is_not() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("f");
        let mut file = std::fs::File::create(&path).unwrap();
        file.write_all(&vec![7u8; 256 * 1024]).unwrap();
        let file = std::fs::File::open(&path).unwrap();
        let answer = residency(file.as_fd(), 0, 256 * 1024);
        if sys::cached_pages(file.as_fd(), 0, 1).is_ok() {
            assert_eq!(answer, Residency::Cached);
            // A range past the end of the file has no pages in the cache.
            assert_eq!(residency(file.as_fd(), 1 << 30, 4096), Residency::NotCached);
        } else {
            assert_eq!(answer, Residency::Unknown);
        }
    }
}
