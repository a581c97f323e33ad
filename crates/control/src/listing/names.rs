//! A folder's names, read once and sorted, and kept for the next listing of the same
//! folder while the folder is unchanged.
//!
//! On a mirror the same big folders are listed over and over (`pool/main/`, a
//! release's `by-hash/`), and reading and sorting 100,000 names costs about half of
//! such a listing's CPU (on tmpfs, concurrent readers of one folder also spin on its
//! lock). A folder's set of names changes only with its mtime or ctime, so the names
//! are kept keyed by the folder's device and inode and checked against both (with
//! nanoseconds) before reuse. Entries are still stat'ed for every listing: a file's
//! size or date changes without touching its folder.
//!
//! A folder changed within [`SETTLE`] of being read is not kept: a change in the same
//! clock tick as the read would leave the stamp as it was (the "racy" case git's index
//! knows). Only folders of at least [`CACHE_MIN_NAMES`] names are kept, at most
//! [`CACHE_BUDGET`] bytes of names in all, least recently listed dropped first.

use std::collections::HashMap;
use std::ffi::CStr;
use std::io;
use std::os::fd::OwnedFd;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

/// Folders with more entries than this are refused instead of read into memory.
pub const MAX_ENTRIES: usize = 1_000_000;

/// Folders with fewer names are read every time (it costs less than a millisecond).
pub const CACHE_MIN_NAMES: usize = 1_000;

/// Bytes of names kept in all (a 100,000-name folder takes about 2.5 MiB).
pub const CACHE_BUDGET: usize = 64 << 20;

/// How long a folder must have been unchanged for its names to be kept.
pub const SETTLE: Duration = Duration::from_secs(2);

/// A folder's names (without `.` and `..`) sorted by their bytes, in one buffer, each
/// followed by a NUL so it can be handed to the kernel as it is.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct FolderNames {
    bytes: Vec<u8>,
    spans: Vec<(u32, u32)>,
}

impl FolderNames {
    pub fn len(&self) -> usize {
        self.spans.len()
    }

    pub fn get(&self, i: usize) -> &[u8] {
        let (start, end) = self.spans[i];
        &self.bytes[start as usize..end as usize]
    }

    pub fn get_c(&self, i: usize) -> &CStr {
        let (start, end) = self.spans[i];
        CStr::from_bytes_with_nul(&self.bytes[start as usize..=end as usize])
            .expect("names hold no NUL and end with one")
    }

    pub fn push(&mut self, name: &[u8]) {
        let start = self.bytes.len() as u32;
        self.bytes.extend_from_slice(name);
        self.spans.push((start, self.bytes.len() as u32));
        self.bytes.push(0);
    }

    pub fn sort(&mut self) {
        let bytes = &self.bytes;
        self.spans.sort_unstable_by(|a, b| {
            bytes[a.0 as usize..a.1 as usize].cmp(&bytes[b.0 as usize..b.1 as usize])
        });
    }

    fn size(&self) -> usize {
        self.bytes.len() + self.spans.len() * std::mem::size_of::<(u32, u32)>()
    }
}

/// What identifies a folder's set of names: its inode, and its mtime and ctime.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
struct Inode {
    dev: u64,
    ino: u64,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Stamp {
    mtime: (i64, i64),
    ctime: (i64, i64),
}

struct Kept {
    stamp: Stamp,
    names: Arc<FolderNames>,
    last_used: u64,
}

#[derive(Default)]
struct NamesCache {
    folders: HashMap<Inode, Kept>,
    bytes: usize,
    uses: u64,
}

static CACHE: Mutex<Option<NamesCache>> = Mutex::new(None);

/// The sorted names of the open folder `dir`, from the cache if it is unchanged.
pub fn names_of(dir: &OwnedFd, now: SystemTime) -> io::Result<Arc<FolderNames>> {
    // #[allow]: the stat fields' widths differ between architectures.
    #[allow(clippy::unnecessary_cast, clippy::useless_conversion)]
    let (inode, stamp) = {
        let st = rustix::fs::fstat(dir)?;
        (
            Inode {
                dev: st.st_dev as u64,
                ino: st.st_ino as u64,
            },
            Stamp {
                mtime: (st.st_mtime as i64, st.st_mtime_nsec as i64),
                ctime: (st.st_ctime as i64, st.st_ctime_nsec as i64),
            },
        )
    };
    if let Some(names) = lookup(inode, stamp) {
        return Ok(names);
    }
    let names = Arc::new(read(dir)?);
    let settled = |(secs, _): (i64, i64)| {
        let changed = SystemTime::UNIX_EPOCH + Duration::from_secs(secs.max(0) as u64);
        now.duration_since(changed).is_ok_and(|age| age >= SETTLE)
    };
    if names.len() >= CACHE_MIN_NAMES && settled(stamp.mtime) && settled(stamp.ctime) {
        keep(inode, stamp, &names);
    }
    Ok(names)
}

fn lookup(inode: Inode, stamp: Stamp) -> Option<Arc<FolderNames>> {
    let mut guard = CACHE.lock().unwrap_or_else(|e| e.into_inner());
    let cache = guard.as_mut()?;
    cache.uses += 1;
    let uses = cache.uses;
    let kept = cache.folders.get_mut(&inode)?;
    if kept.stamp != stamp {
        return None;
    }
    kept.last_used = uses;
    Some(kept.names.clone())
}

fn keep(inode: Inode, stamp: Stamp, names: &Arc<FolderNames>) {
    let size = names.size();
    if size > CACHE_BUDGET {
        return;
    }
    let mut guard = CACHE.lock().unwrap_or_else(|e| e.into_inner());
    let cache = guard.get_or_insert_with(NamesCache::default);
    cache.uses += 1;
    if let Some(old) = cache.folders.remove(&inode) {
        cache.bytes -= old.names.size();
    }
    while cache.bytes + size > CACHE_BUDGET {
        let Some((&oldest, _)) = cache.folders.iter().min_by_key(|(_, k)| k.last_used) else {
            break;
        };
        if let Some(old) = cache.folders.remove(&oldest) {
            cache.bytes -= old.names.size();
        }
    }
    cache.bytes += size;
    let last_used = cache.uses;
    cache.folders.insert(
        inode,
        Kept {
            stamp,
            names: names.clone(),
            last_used,
        },
    );
}

fn read(dir: &OwnedFd) -> io::Result<FolderNames> {
    let mut names = FolderNames::default();
    for entry in rustix::fs::Dir::read_from(dir)? {
        // A folder that cannot be read to its end fails the listing rather than
        // showing part of it as if it were all.
        let entry = entry?;
        let name = entry.file_name().to_bytes();
        if name == b"." || name == b".." {
            continue;
        }
        if names.len() >= MAX_ENTRIES {
            return Err(io::Error::other("folder has too many entries to list"));
        }
        names.push(name);
    }
    names.sort();
    Ok(names)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;
    use std::path::Path;

    fn open(dir: &Path) -> OwnedFd {
        rustix::fs::open(
            dir,
            rustix::fs::OFlags::RDONLY | rustix::fs::OFlags::DIRECTORY,
            rustix::fs::Mode::empty(),
        )
        .unwrap()
    }

    /// When `dir` last changed by its own times (the later of mtime and ctime), so
    /// the tests decide "settled" from the folder, not from the clock.
    fn changed_at(dir: &Path) -> SystemTime {
        use std::os::unix::fs::MetadataExt;
        let meta = fs::metadata(dir).unwrap();
        SystemTime::UNIX_EPOCH + Duration::from_secs(meta.mtime().max(meta.ctime()) as u64)
    }

    fn all(names: &FolderNames) -> Vec<String> {
        (0..names.len())
            .map(|i| String::from_utf8(names.get(i).to_vec()).unwrap())
            .collect()
    }

    #[test]
    fn a_settled_folder_is_read_once_and_a_changed_one_again() {
        let dir = tempfile::tempdir().unwrap();
        for i in 0..CACHE_MIN_NAMES {
            fs::write(dir.path().join(format!("n{i:05}")), b"").unwrap();
        }
        let fd = open(dir.path());
        // Seen from an hour on, the folder has long settled.
        let later = changed_at(dir.path()) + Duration::from_secs(3600);
        let first = names_of(&fd, later).unwrap();
        let again = names_of(&fd, later).unwrap();
        assert!(Arc::ptr_eq(&first, &again), "the names were read again");
        assert_eq!(first.len(), CACHE_MIN_NAMES);
        assert_eq!(first.get(0), b"n00000");
        assert_eq!(first.get_c(1).to_bytes(), b"n00001");
        // A new entry changes the folder's mtime: read again, and it is there. (The
        // mtime is also set outright, so the test does not hang on the clock having
        // ticked since the folder was filled: coarse timestamps may not have.)
        fs::write(dir.path().join("added"), b"").unwrap();
        fs::File::open(dir.path())
            .unwrap()
            .set_modified(later - Duration::from_secs(7200))
            .unwrap();
        let changed = names_of(&fd, later).unwrap();
        assert!(!Arc::ptr_eq(&first, &changed));
        assert_eq!(changed.len(), CACHE_MIN_NAMES + 1);
        assert_eq!(changed.get(0), b"added");
    }

    #[test]
    fn a_folder_changed_just_now_or_small_is_not_kept() {
        let big = tempfile::tempdir().unwrap();
        for i in 0..CACHE_MIN_NAMES {
            fs::write(big.path().join(format!("n{i:05}")), b"").unwrap();
        }
        let fd = open(big.path());
        // Read within SETTLE of its last change: a change in the same tick would not
        // show in its stamp, so it is read again next time.
        let now = changed_at(big.path());
        let first = names_of(&fd, now).unwrap();
        let again = names_of(&fd, now).unwrap();
        assert!(!Arc::ptr_eq(&first, &again));
        assert_eq!(first, again);

        let small = tempfile::tempdir().unwrap();
        fs::write(small.path().join("b"), b"").unwrap();
        fs::write(small.path().join("a"), b"").unwrap();
        let fd = open(small.path());
        let later = now + Duration::from_secs(3600);
        let first = names_of(&fd, later).unwrap();
        assert!(!Arc::ptr_eq(&first, &names_of(&fd, later).unwrap()));
        assert_eq!(all(&first), ["a", "b"]);
    }
}
