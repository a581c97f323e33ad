//! The virtual root: client paths resolved against a session's cwd, normalised
//! lexically so they never climb above `/`, then mapped under the real root with
//! symlinks that lead outside it refused (unless the operator allows them).

use std::ffi::OsStr;
use std::fs::Metadata;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

use rustix::fs::{Mode, OFlags, ResolveFlags, CWD};
use rustix::io::Errno;

/// A normalised client-visible absolute path: starts with `/`, no `.`, `..` or
/// empty components, no trailing slash except the root itself.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct VirtualPath(Vec<u8>);

/// Why a path cannot be used; each maps to a reply.
#[derive(Debug, thiserror::Error)]
pub enum VfsError {
    #[error("no such file or directory")]
    NotFound,
    #[error("path leaves the served folder")]
    Escape,
    #[error("invalid path")]
    InvalidPath,
    #[error("permission denied")]
    PermissionDenied,
    #[error("not a directory")]
    NotADirectory,
    #[error("is a directory")]
    IsADirectory,
    #[error("already exists")]
    AlreadyExists,
    #[error("directory not empty")]
    NotEmpty,
    #[error("I/O error: {0}")]
    Io(io::Error),
}

impl From<io::Error> for VfsError {
    fn from(e: io::Error) -> Self {
        match e.kind() {
            io::ErrorKind::NotFound => VfsError::NotFound,
            io::ErrorKind::PermissionDenied => VfsError::PermissionDenied,
            io::ErrorKind::AlreadyExists => VfsError::AlreadyExists,
            _ => match e.raw_os_error() {
                Some(libc::ENOTEMPTY) => VfsError::NotEmpty,
                Some(libc::ENOTDIR) => VfsError::NotADirectory,
                Some(libc::EISDIR) => VfsError::IsADirectory,
                Some(libc::ELOOP) => VfsError::Escape,
                Some(libc::ENAMETOOLONG) => VfsError::InvalidPath,
                _ => VfsError::Io(e),
            },
        }
    }
}

impl VfsError {
    /// The FTP reply code.
    pub fn reply_code(&self) -> u16 {
        match self {
            VfsError::InvalidPath => 553,
            VfsError::Io(_) => 451,
            _ => 550,
        }
    }

    /// Short reply text.
    pub fn reply_text(&self) -> &'static str {
        match self {
            VfsError::NotFound => "No such file or directory.",
            VfsError::Escape => "Permission denied.",
            VfsError::InvalidPath => "File name not allowed.",
            VfsError::PermissionDenied => "Permission denied.",
            VfsError::NotADirectory => "Not a directory.",
            VfsError::IsADirectory => "Is a directory.",
            VfsError::AlreadyExists => "File exists.",
            VfsError::NotEmpty => "Directory not empty.",
            VfsError::Io(_) => "Local error in processing.",
        }
    }
}

impl VirtualPath {
    /// `/`.
    pub fn root() -> VirtualPath {
        VirtualPath(b"/".to_vec())
    }

    /// The path's bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// Lossy text form for replies and logs.
    pub fn display(&self) -> String {
        String::from_utf8_lossy(&self.0).into_owned()
    }

    fn components(&self) -> impl Iterator<Item = &[u8]> {
        self.0.split(|&b| b == b'/').filter(|c| !c.is_empty())
    }

    /// The containing folder; the root's parent is the root.
    pub fn parent(&self) -> VirtualPath {
        match self.0.iter().rposition(|&b| b == b'/') {
            Some(0) | None => VirtualPath::root(),
            Some(i) => VirtualPath(self.0[..i].to_vec()),
        }
    }

    /// The last component, `None` for the root.
    pub fn file_name(&self) -> Option<&[u8]> {
        self.components().last()
    }

    /// Resolve a client argument against this path, lexically: `.` dropped, `..`
    /// pops but never above `/`, repeated slashes collapsed. `%2e` is not decoded.
    pub fn join_client(&self, arg: &[u8]) -> Result<VirtualPath, VfsError> {
        if arg.contains(&0) {
            return Err(VfsError::InvalidPath);
        }
        let mut parts: Vec<&[u8]> = if arg.first() == Some(&b'/') {
            Vec::new()
        } else {
            self.components().collect()
        };
        for c in arg.split(|&b| b == b'/') {
            match c {
                b"" | b"." => {}
                b".." => {
                    parts.pop();
                }
                other => parts.push(other),
            }
        }
        let mut out = Vec::with_capacity(arg.len() + self.0.len() + 1);
        for p in &parts {
            out.push(b'/');
            out.extend_from_slice(p);
        }
        if out.is_empty() {
            out.push(b'/');
        }
        Ok(VirtualPath(out))
    }
}

/// Read and write permissions of an account.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Deserialize)]
pub struct Permissions {
    pub read: bool,
    pub write: bool,
    pub delete: bool,
    pub mkdir: bool,
    pub rename: bool,
}

impl Permissions {
    /// Download and list only: the anonymous default.
    pub fn read_only() -> Permissions {
        Permissions {
            read: true,
            ..Permissions::default()
        }
    }

    /// Permissions from config names: `read`, `write`, `delete`, `mkdir`, `rename`.
    pub fn from_names<S: AsRef<str>>(names: &[S]) -> Result<Permissions, String> {
        let mut p = Permissions::default();
        for n in names {
            match n.as_ref() {
                "read" => p.read = true,
                "write" => p.write = true,
                "delete" => p.delete = true,
                "mkdir" => p.mkdir = true,
                "rename" => p.rename = true,
                other => return Err(format!("unknown permission {other:?}")),
            }
        }
        Ok(p)
    }

    /// Everything.
    pub fn all() -> Permissions {
        Permissions {
            read: true,
            write: true,
            delete: true,
            mkdir: true,
            rename: true,
        }
    }
}

/// A resolved path: the client's view and the real one to open.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    pub virt: VirtualPath,
    pub real: PathBuf,
    /// `real` with every symlink resolved (for a missing file: its folder's, plus the
    /// name), when this view keeps symlinks inside the root. File data is opened through
    /// this path with symlinks refused, so a link swapped in after the check fails the
    /// open instead of escaping the root.
    pub canonical: Option<PathBuf>,
}

impl Resolved {
    /// The path the data plane opens: the checked symlink-free one when there is one.
    pub fn open_path(&self) -> &Path {
        self.canonical.as_deref().unwrap_or(&self.real)
    }
}

/// A handle on what `path` names (a folder when `dir`) when it exists and is reached
/// without crossing a symlink. Such a path, absolute and free of `.`, `..` and repeated
/// slashes, is its own canonical form, so the common case costs one `openat2`
/// (`O_PATH`, `RESOLVE_NO_SYMLINKS`) and a close instead of realpath's readlink per
/// component, and a stat through the handle walks no path again. `ENOENT` means no
/// symlink came before the missing component (a symlink, dangling or not, is `ELOOP`);
/// any other failure (no permission, openat2 hidden by a seccomp filter) leaves the
/// caller to the full resolution.
fn reached_without_symlinks(path: &Path, dir: bool) -> Result<std::fs::File, Errno> {
    let mut flags = OFlags::PATH;
    if dir {
        flags |= OFlags::DIRECTORY;
    }
    open_without_symlinks(path, flags)
}

/// openat2 of `path` with `flags` (and close-on-exec), refusing any symlink on the way.
fn open_without_symlinks(path: &Path, flags: OFlags) -> Result<std::fs::File, Errno> {
    let flags = flags | OFlags::CLOEXEC;
    let fd = rustix::fs::openat2(CWD, path, flags, Mode::empty(), ResolveFlags::NO_SYMLINKS)?;
    Ok(std::fs::File::from(fd))
}

/// How the fast check opens what the path names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Probe {
    /// A path-only handle: nothing is opened for I/O (no device or FIFO side effects).
    Path,
    /// Opened for reading, for RETR: non-blocking, so a FIFO or a device that would
    /// wait for a writer or a carrier does not hold up the worker's event loop, and
    /// without taking a terminal as the controlling one.
    Read,
}

/// `real` checked without realpath: `Some(Some(handle))` when it exists and no symlink
/// leads to it, `Some(None)` when it does not exist (not even as a dangling symlink) in
/// a folder no symlink leads to (STOR, MKD), `None` when only the full resolution can
/// tell (for [`Probe::Read`] also when it cannot be opened for reading).
fn fast_check(real: &Path, probe: Probe) -> Option<Option<std::fs::File>> {
    let opened = match probe {
        Probe::Path => reached_without_symlinks(real, false),
        Probe::Read => {
            open_without_symlinks(real, OFlags::RDONLY | OFlags::NONBLOCK | OFlags::NOCTTY)
        }
    };
    match opened {
        Ok(handle) => Some(Some(handle)),
        Err(Errno::NOENT) => {
            let parent = real.parent()?;
            reached_without_symlinks(parent, true).ok().map(|_| None)
        }
        Err(_) => None,
    }
}

/// A file the path check opened for reading (RETR), with its size: the data plane sends
/// from it instead of walking the path and asking for its size a second time. Equal
/// only to itself.
#[derive(Debug, Clone)]
pub struct OpenedFile {
    file: Arc<std::fs::File>,
    size: u64,
}

impl PartialEq for OpenedFile {
    fn eq(&self, other: &OpenedFile) -> bool {
        Arc::ptr_eq(&self.file, &other.file)
    }
}

impl Eq for OpenedFile {}

impl OpenedFile {
    /// The file's size when it was opened.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The file, unless a clone of this handle still shares it.
    pub fn into_file(self) -> Option<std::fs::File> {
        Arc::try_unwrap(self.file).ok()
    }
}

/// What the path check found out on its way.
struct Probed {
    /// The metadata through the check's handle, or that the name does not exist;
    /// `None` when the check had no handle.
    meta: Option<Result<Metadata, VfsError>>,
    opened: Option<OpenedFile>,
}

/// A path resolved for a download.
#[derive(Debug)]
pub struct ReadTarget {
    pub resolved: Resolved,
    /// What the path names (symlinks followed).
    pub meta: Result<Metadata, VfsError>,
    /// The plain file, when the check could open it for reading.
    pub opened: Option<OpenedFile>,
}

/// A plain file opened (non-blocking) by [`Probe::Read`], made blocking again so that
/// reads of it are ordinary reads; `None` when it is not a plain file.
fn readable_plain_file(file: std::fs::File, meta: &Metadata) -> Option<OpenedFile> {
    if !meta.is_file() {
        return None;
    }
    rustix::fs::fcntl_setfl(&file, OFlags::empty()).ok()?;
    Some(OpenedFile {
        file: Arc::new(file),
        size: meta.len(),
    })
}

/// The server root's view, checked by the first login that gets it and handed to the
/// logins after it. Checking the root again at every login walked its path once more
/// per session (an `openat2` and a close) to learn what the first check already knew.
/// A root that disappears later fails the session's commands instead of its login; a
/// failed check is not kept, so the next login checks again.
#[derive(Debug, Default)]
pub struct SharedRootView(std::sync::OnceLock<Vfs>);

impl SharedRootView {
    /// The view of `root`, from the first successful check of it.
    pub fn get_or_check(
        &self,
        root: &Path,
        follow_symlinks_outside: bool,
    ) -> Result<Vfs, VfsError> {
        if let Some(vfs) = self.0.get() {
            return Ok(vfs.clone());
        }
        let vfs = Vfs::new(root, follow_symlinks_outside)?;
        let _ = self.0.set(vfs.clone());
        Ok(vfs)
    }
}

/// One account's view of the filesystem.
#[derive(Debug, Clone)]
pub struct Vfs {
    root: PathBuf,
    follow_symlinks_outside: bool,
}

impl Vfs {
    /// A view rooted at `root` (canonicalised; must be a directory).
    pub fn new(root: &Path, follow_symlinks_outside: bool) -> Result<Vfs, VfsError> {
        let lexical = root.is_absolute()
            && root
                .components()
                .all(|c| matches!(c, Component::RootDir | Component::Normal(_)));
        let root = match lexical {
            // Rebuilt from its components: repeated and trailing slashes dropped.
            true if reached_without_symlinks(root, true).is_ok() => root.components().collect(),
            _ => {
                let root = root.canonicalize()?;
                if !root.is_dir() {
                    return Err(VfsError::NotADirectory);
                }
                root
            }
        };
        Ok(Vfs {
            root,
            follow_symlinks_outside,
        })
    }

    /// The canonical real root.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Resolve a client argument relative to `cwd`.
    pub fn resolve(&self, cwd: &VirtualPath, arg: &[u8]) -> Result<Resolved, VfsError> {
        self.resolve_virtual(&cwd.join_client(arg)?)
    }

    /// Resolve a client argument and stat what it names (following symlinks, as
    /// [`Vfs::metadata`]); the stat comes from the resolution's own handle when it had
    /// one, and a name the check found missing is not looked up again. Err only when
    /// the path cannot be resolved at all.
    pub fn resolve_with_metadata(
        &self,
        cwd: &VirtualPath,
        arg: &[u8],
    ) -> Result<(Resolved, Result<Metadata, VfsError>), VfsError> {
        let (resolved, probed) = self.resolve_checked(&cwd.join_client(arg)?, Some(Probe::Path))?;
        let meta = probed.meta.unwrap_or_else(|| self.metadata(&resolved));
        Ok((resolved, meta))
    }

    /// [`Vfs::resolve_with_metadata`] for a download: when the check could open the file
    /// for reading on its way (a plain file reached without symlinks), that open file
    /// comes along, so the data plane does not open the path again.
    pub fn resolve_for_reading(
        &self,
        cwd: &VirtualPath,
        arg: &[u8],
    ) -> Result<ReadTarget, VfsError> {
        let (resolved, probed) = self.resolve_checked(&cwd.join_client(arg)?, Some(Probe::Read))?;
        let meta = probed.meta.unwrap_or_else(|| self.metadata(&resolved));
        Ok(ReadTarget {
            resolved,
            meta,
            opened: probed.opened,
        })
    }

    /// Map a virtual path to the real one, checking that symlinks stay inside.
    pub fn resolve_virtual(&self, v: &VirtualPath) -> Result<Resolved, VfsError> {
        self.resolve_checked(v, None).map(|(resolved, _)| resolved)
    }

    /// [`Vfs::resolve_virtual`], plus, when a `probe` is asked, the metadata the check
    /// found out on the way (through its handle, or that the name does not exist) and,
    /// for [`Probe::Read`], the plain file it opened.
    fn resolve_checked(
        &self,
        v: &VirtualPath,
        probe: Option<Probe>,
    ) -> Result<(Resolved, Probed), VfsError> {
        let mut real = self.root.clone();
        for c in v.components() {
            real.push(OsStr::from_bytes(c));
        }
        let mut meta = None;
        let mut opened = None;
        let canonical = if self.follow_symlinks_outside {
            None
        } else if real == self.root {
            Some(self.root.clone())
        } else if let Some(handle) = fast_check(&real, probe.unwrap_or(Probe::Path)) {
            // The root is canonical and virtual components are plain names.
            if probe.is_some() {
                meta = Some(match handle {
                    Some(h) => h.metadata().map_err(VfsError::from).inspect(|m| {
                        if probe == Some(Probe::Read) {
                            opened = readable_plain_file(h, m);
                        }
                    }),
                    None => Err(VfsError::NotFound),
                });
            }
            Some(real.clone())
        } else {
            // The target if it exists, else its folder (STOR, MKD) must be inside.
            let (checked, canonical) = match real.canonicalize() {
                Ok(c) => (c.clone(), c),
                Err(e) if e.kind() == io::ErrorKind::NotFound => {
                    // A dangling symlink must not be created through either.
                    if std::fs::symlink_metadata(&real).is_ok() {
                        return Err(VfsError::Escape);
                    }
                    let parent = real.parent().unwrap_or(&self.root).canonicalize()?;
                    let name = real.file_name().unwrap_or_default();
                    (parent.clone(), parent.join(name))
                }
                Err(e) => return Err(e.into()),
            };
            if !checked.starts_with(&self.root) {
                return Err(VfsError::Escape);
            }
            Some(canonical)
        };
        let resolved = Resolved {
            virt: v.clone(),
            real,
            canonical,
        };
        Ok((resolved, Probed { meta, opened }))
    }

    /// stat, following symlinks.
    pub fn metadata(&self, r: &Resolved) -> Result<Metadata, VfsError> {
        Ok(std::fs::metadata(&r.real)?)
    }

    /// mkdir.
    pub fn make_dir(&self, r: &Resolved) -> Result<(), VfsError> {
        Ok(std::fs::create_dir(&r.real)?)
    }

    /// rmdir.
    pub fn remove_dir(&self, r: &Resolved) -> Result<(), VfsError> {
        Ok(std::fs::remove_dir(&r.real)?)
    }

    /// unlink (not for folders).
    pub fn remove_file(&self, r: &Resolved) -> Result<(), VfsError> {
        if std::fs::symlink_metadata(&r.real)?.is_dir() {
            return Err(VfsError::IsADirectory);
        }
        Ok(std::fs::remove_file(&r.real)?)
    }

    /// rename within the root.
    pub fn rename(&self, from: &Resolved, to: &Resolved) -> Result<(), VfsError> {
        if from.virt == VirtualPath::root() || to.virt == VirtualPath::root() {
            return Err(VfsError::PermissionDenied);
        }
        Ok(std::fs::rename(&from.real, &to.real)?)
    }

    /// chmod (SITE CHMOD), through the checked symlink-free path.
    pub fn set_mode(&self, r: &Resolved, mode: u32) -> Result<(), VfsError> {
        use std::os::unix::fs::PermissionsExt;
        let path = r.open_path();
        std::fs::symlink_metadata(path)?;
        Ok(std::fs::set_permissions(
            path,
            std::fs::Permissions::from_mode(mode),
        )?)
    }

    /// Set the modification time (MFMT), leaving the access time; a symlink in the
    /// checked path is not followed.
    pub fn set_mtime(&self, r: &Resolved, unix_secs: i64) -> Result<(), VfsError> {
        use rustix::fs::{AtFlags, Timespec, Timestamps, CWD, UTIME_OMIT};
        let times = Timestamps {
            last_access: Timespec {
                tv_sec: 0,
                tv_nsec: UTIME_OMIT,
            },
            last_modification: Timespec {
                tv_sec: unix_secs,
                tv_nsec: 0,
            },
        };
        rustix::fs::utimensat(CWD, r.open_path(), &times, AtFlags::SYMLINK_NOFOLLOW)
            .map_err(|e| VfsError::from(io::Error::from(e)))
    }

    /// A name in `dir` that does not exist yet, for STOU.
    pub fn unique_name(&self, dir: &Resolved, hint: &[u8]) -> Result<Resolved, VfsError> {
        let pid = std::process::id();
        for n in 0..10_000u32 {
            let mut name = hint.to_vec();
            name.extend_from_slice(format!(".{pid}.{n}").as_bytes());
            let candidate = dir.virt.join_client(&name)?;
            let resolved = self.resolve_virtual(&candidate)?;
            if std::fs::symlink_metadata(&resolved.real).is_err() {
                return Ok(resolved);
            }
        }
        Err(VfsError::AlreadyExists)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::os::unix::fs::MetadataExt;

    fn join(base: &str, arg: &str) -> String {
        let base = VirtualPath::root().join_client(base.as_bytes()).unwrap();
        base.join_client(arg.as_bytes()).unwrap().display()
    }

    #[test]
    fn lexical_normalisation() {
        assert_eq!(join("/", "../../etc/passwd"), "/etc/passwd");
        assert_eq!(join("/pub", "/../"), "/");
        assert_eq!(join("/pub", "//a///b/"), "/a/b");
        assert_eq!(join("/pub", "a/./b/../c"), "/pub/a/c");
        assert_eq!(join("/pub", "%2e%2e"), "/pub/%2e%2e");
        assert_eq!(join("/pub/x", ".."), "/pub");
        assert!(VirtualPath::root().join_client(b"a\0b").is_err());
        let p = VirtualPath::root().join_client(b"/a/b").unwrap();
        assert_eq!(p.parent().display(), "/a");
        assert_eq!(p.parent().parent(), VirtualPath::root());
        assert_eq!(p.file_name(), Some(&b"b"[..]));
        assert_eq!(VirtualPath::root().file_name(), None);
    }

    #[test]
    fn symlinks_leaving_the_root_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root");
        std::fs::create_dir_all(root.join("pub")).unwrap();
        std::fs::write(root.join("pub/f"), b"x").unwrap();
        std::os::unix::fs::symlink("/etc", root.join("etc")).unwrap();
        std::os::unix::fs::symlink("pub", root.join("inner")).unwrap();
        std::os::unix::fs::symlink("/nonexistent-target", root.join("dangling")).unwrap();
        let vfs = Vfs::new(&root, false).unwrap();
        let cwd = VirtualPath::root();
        assert!(matches!(
            vfs.resolve(&cwd, b"etc/passwd"),
            Err(VfsError::Escape)
        ));
        assert!(matches!(vfs.resolve(&cwd, b"etc"), Err(VfsError::Escape)));
        assert!(matches!(
            vfs.resolve(&cwd, b"etc/new-file"),
            Err(VfsError::Escape)
        ));
        assert!(matches!(
            vfs.resolve(&cwd, b"dangling"),
            Err(VfsError::Escape)
        ));
        let inner = vfs.resolve(&cwd, b"inner/f").unwrap();
        let real_root = root.canonicalize().unwrap();
        // The data plane opens the symlink-free path (refusing symlinks on the way).
        assert_eq!(inner.open_path(), real_root.join("pub/f"));
        assert_eq!(std::fs::read(&inner.real).unwrap(), b"x");
        let new_file = vfs.resolve(&cwd, b"inner/new-file").unwrap();
        assert_eq!(new_file.open_path(), real_root.join("pub/new-file"));
        let fresh = vfs.resolve(&cwd, b"pub/new-file").unwrap();
        assert_eq!(fresh.open_path(), real_root.join("pub/new-file"));
        assert!(matches!(
            vfs.resolve(&cwd, b"missing/new-file"),
            Err(VfsError::NotFound)
        ));
        // The stat that comes with a resolution follows symlinks, as `metadata` does.
        for (arg, len) in [
            (&b"pub/f"[..], Some(1)),
            (b"inner/f", Some(1)),
            (b"inner", None),
        ] {
            let (r, meta) = vfs.resolve_with_metadata(&cwd, arg).unwrap();
            let meta = meta.unwrap();
            assert_eq!(meta.is_file().then_some(meta.len()), len);
            assert_eq!(meta.ino(), vfs.metadata(&r).unwrap().ino());
        }
        assert!(matches!(
            vfs.resolve_with_metadata(&cwd, b"pub/missing").unwrap().1,
            Err(VfsError::NotFound)
        ));
        let open = Vfs::new(&root, true).unwrap();
        let etc = open.resolve(&cwd, b"etc").unwrap();
        assert_eq!(etc.canonical, None, "symlinks followed: opened as they are");
        assert_eq!(etc.open_path(), etc.real);
    }

    #[test]
    fn a_download_gets_the_plain_file_the_check_opened_and_nothing_else() {
        use std::os::unix::fs::MetadataExt;
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().canonicalize().unwrap();
        std::fs::create_dir(root.join("pub")).unwrap();
        std::fs::write(root.join("pub/f"), b"hello").unwrap();
        std::os::unix::fs::symlink("pub", root.join("inner")).unwrap();
        let fifo = root.join("pub/fifo");
        rustix::fs::mknodat(CWD, &fifo, rustix::fs::FileType::Fifo, Mode::from(0o644), 0).unwrap();
        let vfs = Vfs::new(&root, false).unwrap();
        let cwd = VirtualPath::root();

        let plain = vfs.resolve_for_reading(&cwd, b"pub/f").unwrap();
        let opened = plain.opened.expect("a plain file reached without symlinks");
        assert_eq!(opened.size(), 5);
        let file = opened.clone().into_file();
        assert!(file.is_none(), "a clone still shares the file");
        let file = opened.into_file().unwrap();
        assert_eq!(file.metadata().unwrap().ino(), plain.meta.unwrap().ino());
        let flags = rustix::fs::fcntl_getfl(&file).unwrap();
        assert!(
            !flags.contains(OFlags::NONBLOCK),
            "reads of it block as usual"
        );
        assert_eq!(std::io::read_to_string(&file).unwrap(), "hello");

        // A FIFO with no writer is looked at without waiting, and not handed on.
        let fifo = vfs.resolve_for_reading(&cwd, b"pub/fifo").unwrap();
        assert!(!fifo.meta.unwrap().is_file());
        assert!(fifo.opened.is_none());
        let folder = vfs.resolve_for_reading(&cwd, b"pub").unwrap();
        assert!(folder.meta.unwrap().is_dir() && folder.opened.is_none());
        // Through a symlink inside the root: checked the long way, opened by the data
        // plane through the symlink-free path.
        let linked = vfs.resolve_for_reading(&cwd, b"inner/f").unwrap();
        assert!(linked.opened.is_none());
        assert_eq!(linked.meta.unwrap().len(), 5);
        assert_eq!(linked.resolved.open_path(), root.join("pub/f"));
        let missing = vfs.resolve_for_reading(&cwd, b"pub/missing").unwrap();
        assert!(matches!(missing.meta, Err(VfsError::NotFound)));
        assert!(missing.opened.is_none());
    }

    #[test]
    fn roots_are_canonical_however_they_are_given() {
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().canonicalize().unwrap().join("srv/ftp");
        std::fs::create_dir_all(&real).unwrap();
        std::fs::write(real.join("f"), b"x").unwrap();
        std::os::unix::fs::symlink(real.parent().unwrap(), dir.path().join("link")).unwrap();
        let given = [
            format!("{}//ftp/", real.parent().unwrap().display()),
            format!("{}/link/ftp", dir.path().display()),
            format!("{}/srv/../srv/ftp", dir.path().display()),
        ];
        for root in given {
            let vfs = Vfs::new(Path::new(&root), false).unwrap();
            assert_eq!(vfs.root(), real, "root given as {root}");
            let f = vfs.resolve(&VirtualPath::root(), b"f").unwrap();
            assert_eq!(f.open_path(), real.join("f"));
        }
        assert!(matches!(
            Vfs::new(&real.join("f"), false),
            Err(VfsError::NotADirectory)
        ));
    }

    #[test]
    fn operations_map_errors() {
        let dir = tempfile::tempdir().unwrap();
        let vfs = Vfs::new(dir.path(), false).unwrap();
        let cwd = VirtualPath::root();
        let d = vfs.resolve(&cwd, b"d").unwrap();
        vfs.make_dir(&d).unwrap();
        assert!(matches!(vfs.make_dir(&d), Err(VfsError::AlreadyExists)));
        assert!(matches!(vfs.remove_file(&d), Err(VfsError::IsADirectory)));
        let f = vfs.resolve(&cwd, b"d/f").unwrap();
        std::fs::write(&f.real, b"1").unwrap();
        assert!(matches!(vfs.remove_dir(&d), Err(VfsError::NotEmpty)));
        let u = vfs.unique_name(&d, b"upload").unwrap();
        assert!(!u.real.exists());
        assert!(u.virt.as_bytes().starts_with(b"/d/upload."));
        let g = vfs.resolve(&cwd, b"d/g").unwrap();
        vfs.rename(&f, &g).unwrap();
        assert!(g.real.exists());
        vfs.remove_file(&g).unwrap();
        vfs.remove_dir(&d).unwrap();
        assert!(matches!(vfs.metadata(&d), Err(VfsError::NotFound)));
        assert_eq!(VfsError::InvalidPath.reply_code(), 553);
    }

    #[test]
    fn the_shared_root_view_keeps_the_first_successful_check_only() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().canonicalize().unwrap().join("root");
        let shared = SharedRootView::default();
        assert!(shared.get_or_check(&root, false).is_err());
        std::fs::create_dir(&root).unwrap();
        let first = shared.get_or_check(&root, false).unwrap();
        assert_eq!(first.root(), root);
        // Kept: a later login does not look at the root again.
        std::fs::remove_dir(&root).unwrap();
        assert_eq!(shared.get_or_check(&root, false).unwrap().root(), root);
    }

    proptest! {
        #[test]
        fn join_stays_normalised(base in "[a-z./]{0,20}", arg in proptest::collection::vec(prop_oneof![Just(b'/'), Just(b'.'), Just(b'a'), Just(b'%'), any::<u8>()], 0..60)) {
            let base = VirtualPath::root().join_client(base.as_bytes()).unwrap();
            match base.join_client(&arg) {
                Err(_) => prop_assert!(arg.contains(&0)),
                Ok(p) => {
                    let b = p.as_bytes();
                    prop_assert_eq!(b[0], b'/');
                    prop_assert!(b == b"/" || !b.ends_with(b"/"));
                    for c in b[1..].split(|&x| x == b'/') {
                        prop_assert!(c != b".." && c != b"." && (b == b"/" || !c.is_empty()));
                    }
                    // Idempotent: resolving the result again from anywhere gives itself.
                    prop_assert_eq!(VirtualPath::root().join_client(b).unwrap(), p.clone());
                }
            }
        }
    }
}
