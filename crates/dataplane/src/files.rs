//! Opening the files a transfer reads and writes without following a symlink the
//! virtual root did not check.
//!
//! The control plane resolves a client path and checks that it stays below the root,
//! then hands over the symlink-free (canonical) path. Between that check and the open a
//! local user could swap a symlink into the path; opening with `RESOLVE_NO_SYMLINKS`
//! (openat2) makes such a swap fail the open instead of leading out of the root. Uploads
//! keep their folder open, so the temporary file, the final rename and the cleanup all
//! happen in the folder that was checked, whatever happens to its path meanwhile.

use std::ffi::OsStr;
use std::fs::File;
use std::io;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use rustix::fs::{openat, openat2, renameat, unlinkat, AtFlags, Mode, OFlags, ResolveFlags, CWD};

/// Open `path` with `flags` (and `mode` when creating), refusing any symlink on the
/// way when `no_symlinks` is set.
pub fn open(path: &Path, flags: OFlags, mode: u32, no_symlinks: bool) -> io::Result<File> {
    open_fd(path, flags, mode, no_symlinks).map(File::from)
}

fn open_fd(path: &Path, flags: OFlags, mode: u32, no_symlinks: bool) -> io::Result<OwnedFd> {
    let flags = flags | OFlags::CLOEXEC;
    let mode = Mode::from_raw_mode(mode);
    if !no_symlinks {
        return Ok(openat(CWD, path, flags, mode)?);
    }
    match openat2(CWD, path, flags, mode, ResolveFlags::NO_SYMLINKS) {
        // openat2 is Linux 5.6+ (io_uring splice needs 5.7), but a seccomp filter may
        // hide it: the virtual root's check then stands alone, as on other servers.
        Err(rustix::io::Errno::NOSYS) => Ok(openat(CWD, path, flags, mode)?),
        other => Ok(other?),
    }
}

/// Whether an open failed because a symlink was in the way.
pub fn is_symlink_refusal(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::ELOOP) | Some(libc::EXDEV))
}

/// Folders the process's sandbox lets it read below, once one is enforced.
static SANDBOX_READS: OnceLock<Vec<PathBuf>> = OnceLock::new();

/// Record the folders an enforced sandbox allows reading below, so that a refused open
/// can be logged with its reason.
pub fn note_sandbox(reads: Vec<PathBuf>) {
    let _ = SANDBOX_READS.set(reads);
}

/// Whether an open of `path` failed because the sandbox does not reach it: permission
/// denied, and the path (its symlinks resolved) lies below no folder the sandbox allows.
pub fn is_sandbox_refusal(path: &Path, e: &io::Error) -> bool {
    let Some(reads) = SANDBOX_READS.get() else {
        return false;
    };
    if e.raw_os_error() != Some(libc::EACCES) {
        return false;
    }
    // Resolving a path needs no Landlock right (lookups are not file opens).
    let real = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    !reads.iter().any(|r| real.starts_with(r))
}

/// A folder held open: names inside it are single components, resolved from the
/// folder itself and never through its path again.
#[derive(Debug)]
pub struct Folder {
    fd: OwnedFd,
}

impl Folder {
    /// Open the folder at `path` (refusing symlinks on the way when asked).
    pub fn open(path: &Path, no_symlinks: bool) -> io::Result<Folder> {
        let flags = OFlags::PATH | OFlags::DIRECTORY;
        Ok(Folder {
            fd: open_fd(path, flags, 0, no_symlinks)?,
        })
    }

    /// Create `name` for writing; fails if anything (a symlink included) has that name.
    pub fn create_new(&self, name: &OsStr, mode: u32) -> io::Result<File> {
        let flags = OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::CLOEXEC;
        Ok(File::from(openat(
            &self.fd,
            name,
            flags,
            Mode::from_raw_mode(mode),
        )?))
    }

    /// Rename `from` to `to`, both in this folder.
    pub fn rename(&self, from: &OsStr, to: &OsStr) -> io::Result<()> {
        Ok(renameat(&self.fd, from, &self.fd, to)?)
    }

    /// Remove the file `name` from this folder.
    pub fn remove(&self, name: &OsStr) -> io::Result<()> {
        Ok(unlinkat(&self.fd, name, AtFlags::empty())?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::os::unix::fs::symlink;

    #[test]
    fn a_symlink_anywhere_in_the_path_is_refused_only_when_asked() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().canonicalize().unwrap();
        std::fs::create_dir(root.join("real")).unwrap();
        std::fs::write(root.join("real/file"), b"data").unwrap();
        symlink(root.join("real"), root.join("link")).unwrap();
        symlink(root.join("real/file"), root.join("file-link")).unwrap();

        let mut got = String::new();
        open(&root.join("real/file"), OFlags::RDONLY, 0, true)
            .unwrap()
            .read_to_string(&mut got)
            .unwrap();
        assert_eq!(got, "data");
        for through_link in ["link/file", "file-link"] {
            let err = open(&root.join(through_link), OFlags::RDONLY, 0, true).unwrap_err();
            assert!(is_symlink_refusal(&err), "{through_link}: {err}");
            assert!(open(&root.join(through_link), OFlags::RDONLY, 0, false).is_ok());
        }
        let err = Folder::open(&root.join("link"), true).unwrap_err();
        assert!(is_symlink_refusal(&err), "{err}");
    }

    #[test]
    fn a_held_folder_keeps_its_files_where_it_was_checked() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().canonicalize().unwrap();
        std::fs::create_dir(root.join("up")).unwrap();
        std::fs::create_dir(root.join("elsewhere")).unwrap();
        let folder = Folder::open(&root.join("up"), true).unwrap();
        // The folder's path now leads elsewhere: a symlink in place of the folder.
        std::fs::rename(root.join("up"), root.join("up-moved")).unwrap();
        symlink(root.join("elsewhere"), root.join("up")).unwrap();

        let mut f = folder.create_new(OsStr::new(".part"), 0o644).unwrap();
        f.write_all(b"upload").unwrap();
        assert!(folder.create_new(OsStr::new(".part"), 0o644).is_err());
        folder
            .rename(OsStr::new(".part"), OsStr::new("file"))
            .unwrap();
        assert_eq!(
            std::fs::read(root.join("up-moved/file")).unwrap(),
            b"upload"
        );
        assert!(!root.join("elsewhere/file").exists());
        folder.remove(OsStr::new("file")).unwrap();
        assert!(!root.join("up-moved/file").exists());
    }
}
