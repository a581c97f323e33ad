//! Directory listings: LIST in the `ls -l` form lftp, wget and curl parse, NLST
//! names, and RFC 3659 MLSD/MLST facts.
//!
//! A folder's names are read first (names only, no stat) and sorted by their bytes, as
//! `ls` does (a big folder's are kept for its next listing: see `names`); then entries
//! are filtered (dotfiles, a glob pattern), stat'ed relative to the open folder and
//! formatted chunk by chunk, so a folder with 100,000 entries never becomes one string.
//!
//! A listing never describes anything outside the virtual root and never shows an
//! entry the server would refuse: a symlink leading out of the root (when the operator
//! does not allow following those) is left out and never stat'ed through. Symlinks
//! that stay inside are shown as links in LIST, as `ls -l` and vsftpd do (their text,
//! when absolute or climbing above the root, replaced by the target's path in the
//! client's view, so no real path shows), and as what they lead to in MLSD/MLST and
//! NLST, which is what RETR and CWD give. A dangling link whose text stays inside the
//! root is shown by LIST only, as a link (clients neither descend into nor fetch a
//! link they cannot resolve); MLSD and NLST leave it out.

mod lines;
mod names;

use std::ffi::OsStr;
use std::fs;
use std::io;
use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use rustix::fs::{AtFlags, Mode, OFlags};

use crate::glob::Pattern;
use crate::perm_facts::{Access, Identity};
use crate::vfs::Permissions;
use lines::{Facts, Kind};
use names::FolderNames;

/// Which listing command.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ListFormat {
    List,
    Nlst,
    Mlsd,
}

/// Which dot entries a listing shows, as `ls` (default), `ls -A` and `ls -a`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Hidden {
    /// Names starting with `.` are left out (LIST without `-a`).
    Skip,
    /// Dotfiles are shown, `.` and `..` are not (`-A`; MLSD and NLST).
    AlmostAll,
    /// Dotfiles, `.` and `..` (`-a`).
    All,
}

pub use names::MAX_ENTRIES;

/// Everything a listing needs, decided by the session and carried out by the data plane.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListingRequest {
    /// Folder (or single file) to list: the checked, symlink-free path.
    pub path: PathBuf,
    /// Name shown when `path` is a single file.
    pub name: Vec<u8>,
    pub format: ListFormat,
    pub perms: Permissions,
    pub hidden: Hidden,
    /// Only names matching this pattern.
    pub pattern: Option<Pattern>,
    /// Put before every NLST name (the folder part of a glob, as `ls dir/*` prints).
    pub prefix: Vec<u8>,
    /// The canonical virtual root.
    pub root: PathBuf,
    /// Symlinks must resolve inside `root` to be listed.
    pub confine_links: bool,
}

impl ListingRequest {
    /// Defaults for listing `path` (inside `root`) with the format's usual dot entries.
    pub fn new(path: &Path, root: &Path, format: ListFormat, perms: Permissions) -> ListingRequest {
        ListingRequest {
            path: path.to_path_buf(),
            name: path
                .file_name()
                .map(|n| n.as_bytes().to_vec())
                .unwrap_or_default(),
            format,
            perms,
            hidden: match format {
                ListFormat::List => Hidden::Skip,
                _ => Hidden::AlmostAll,
            },
            pattern: None,
            prefix: Vec::new(),
            root: root.to_path_buf(),
            confine_links: true,
        }
    }
}

enum Source {
    Dir {
        names: Arc<FolderNames>,
        /// The next name to list.
        next: usize,
        parent: Option<Access>,
        /// The folder, which its entries are stat'ed relative to: one path lookup
        /// per entry instead of one per component of its full path.
        fd: OwnedFd,
    },
    File(Option<(PathBuf, Vec<u8>)>),
}

/// A listing being produced chunk by chunk.
pub struct ListingStream {
    source: Source,
    dir: PathBuf,
    request: ListingRequest,
    now: i64,
    who: Identity,
}

impl ListingStream {
    /// Start listing a folder, or a single file (like `ls -l file`), inside `path`
    /// itself as the root.
    pub fn open(
        path: &Path,
        format: ListFormat,
        now: SystemTime,
        perms: Permissions,
    ) -> io::Result<ListingStream> {
        let root = path.canonicalize()?;
        let root = if root.is_dir() {
            root
        } else {
            root.parent().unwrap_or(Path::new("/")).to_path_buf()
        };
        ListingStream::start(&ListingRequest::new(path, &root, format, perms), now)
    }

    /// Start the listing a session asked for.
    pub fn start(request: &ListingRequest, now: SystemTime) -> io::Result<ListingStream> {
        let meta = fs::metadata(&request.path)?;
        let (source, dir) = if meta.is_dir() {
            let fd = rustix::fs::open(
                &request.path,
                OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
                Mode::empty(),
            )?;
            let mut names = names::names_of(&fd, now)?;
            if request.hidden == Hidden::All {
                let mut with_dots = (*names).clone();
                with_dots.push(b".");
                with_dots.push(b"..");
                with_dots.sort();
                names = Arc::new(with_dots);
            }
            let parent = Some(Access::from(&meta));
            let dir = Source::Dir {
                names,
                next: 0,
                parent,
                fd,
            };
            (dir, request.path.clone())
        } else {
            let dir = request
                .path
                .parent()
                .unwrap_or(Path::new("/"))
                .to_path_buf();
            (
                Source::File(Some((request.path.clone(), request.name.clone()))),
                dir,
            )
        };
        Ok(ListingStream {
            source,
            dir,
            request: request.clone(),
            now: unix_secs(now),
            who: Identity::current(),
        })
    }

    /// Append lines (CRLF-terminated) until about `max_bytes` were added or the
    /// listing ends. Returns false when nothing is left.
    pub fn next_chunk(&mut self, out: &mut Vec<u8>, max_bytes: usize) -> io::Result<bool> {
        let start = out.len();
        while out.len() - start < max_bytes {
            match &mut self.source {
                Source::File(f) => match f.take() {
                    Some((path, name)) => {
                        let parent = fs::metadata(&self.dir).ok().map(|m| Access::from(&m));
                        let entry = fs::symlink_metadata(&path)
                            .ok()
                            .and_then(|m| self.inspect(Facts::from(&m), || path.clone()));
                        self.entry(entry, &name, parent.as_ref(), out);
                    }
                    None => return Ok(false),
                },
                Source::Dir { names, next, .. } => {
                    if *next >= names.len() {
                        return Ok(false);
                    }
                    let i = *next;
                    *next += 1;
                    self.dir_entry(i, out);
                }
            }
        }
        Ok(true)
    }

    /// Append the line of the folder's `i`th name.
    fn dir_entry(&self, i: usize, out: &mut Vec<u8>) {
        let Source::Dir {
            names, parent, fd, ..
        } = &self.source
        else {
            return;
        };
        let name = names.get(i);
        if !self.shown(name) {
            return;
        }
        let entry = if name == b".." {
            self.parent_of_dir()
        } else {
            rustix::fs::statat(fd, names.get_c(i), AtFlags::SYMLINK_NOFOLLOW)
                .ok()
                .and_then(|stat| {
                    self.inspect(Facts::from(&stat), || {
                        self.dir.join(OsStr::from_bytes(name))
                    })
                })
        };
        self.entry(entry, name, parent.as_ref(), out);
    }

    /// Does the request show `name` (dot entries, a glob pattern)?
    fn shown(&self, name: &[u8]) -> bool {
        match &self.request.pattern {
            // A pattern decides on dotfiles itself: only one starting with `.` matches them.
            Some(p) => p.matches(name),
            None => self.request.hidden != Hidden::Skip || name.first() != Some(&b'.'),
        }
    }

    /// `..` of the listed folder: the parent, or the root itself where the parent is
    /// outside it, as a chroot shows.
    fn parent_of_dir(&self) -> Option<Inspected> {
        let real = self.dir.join("..").canonicalize().ok()?;
        let shown = if real.starts_with(&self.request.root) {
            real
        } else {
            self.request.root.clone()
        };
        let meta = Facts::from(&fs::metadata(shown).ok()?);
        Some(Inspected {
            shown: Some(meta),
            own: meta,
            link: None,
        })
    }

    /// What to show for an entry whose own (lstat) facts are `own`: the entry itself,
    /// or for a symlink its target if that exists and (when confined) lies inside the
    /// root. `None`: leave it out. Only a link needs its path (`path`), to resolve it
    /// and check where it leads.
    fn inspect(&self, own: Facts, path: impl FnOnce() -> PathBuf) -> Option<Inspected> {
        if own.kind != Kind::Symlink {
            return Some(Inspected {
                shown: Some(own),
                own,
                link: None,
            });
        }
        let path = path();
        let path = path.as_path();
        let text = fs::read_link(path).ok()?;
        let Ok(target) = path.canonicalize() else {
            // Dangling: LIST shows it as the link it is, which clients do not descend
            // into or fetch, when its text stays inside the root; elsewhere it is left out.
            let inside = !text.is_absolute() && stays_below(&self.dir, &self.request.root, &text);
            let shown_as_link =
                self.request.format == ListFormat::List && (inside || !self.request.confine_links);
            return shown_as_link.then(|| Inspected {
                shown: None,
                own,
                link: Some(text.as_os_str().as_bytes().to_vec()),
            });
        };
        if !self.request.confine_links {
            // The operator allows links out of the root.
            return Some(Inspected {
                shown: fs::metadata(&target).ok().map(|m| Facts::from(&m)),
                own,
                link: Some(text.as_os_str().as_bytes().to_vec()),
            });
        }
        let inside = target.strip_prefix(&self.request.root).ok()?;
        let shown = Facts::from(&fs::metadata(&target).ok()?);
        let link = if text.is_absolute() || !stays_below(&self.dir, &self.request.root, &text) {
            let mut v = b"/".to_vec();
            v.extend_from_slice(inside.as_os_str().as_bytes());
            v
        } else {
            text.as_os_str().as_bytes().to_vec()
        };
        Some(Inspected {
            shown: Some(shown),
            own,
            link: Some(link),
        })
    }

    /// Append `name`'s line (if it is shown at all).
    fn entry(
        &self,
        entry: Option<Inspected>,
        name: &[u8],
        parent: Option<&Access>,
        out: &mut Vec<u8>,
    ) {
        let Some(entry) = entry else {
            return;
        };
        match self.request.format {
            ListFormat::Nlst => {
                // NLST too checks links, so it never names an entry RETR refuses.
                if entry.shown.is_none() {
                    return;
                }
                out.extend_from_slice(&self.request.prefix);
                out.extend_from_slice(name);
            }
            ListFormat::List => {
                let facts = match (&entry.link, &entry.shown) {
                    (None, Some(shown)) => shown,
                    _ => &entry.own,
                };
                lines::list_line(facts, name, entry.link.as_deref(), self.now, out);
            }
            ListFormat::Mlsd => {
                // MLSD facts describe what the client gets: no facts, no entry.
                let Some(shown) = &entry.shown else { return };
                lines::mlsx_facts(shown, parent, self.request.perms, &self.who, out);
                out.push(b' ');
                out.extend_from_slice(name);
            }
        }
        out.extend_from_slice(b"\r\n");
    }
}

struct Inspected {
    /// What the client gets when it opens the entry (a link's target); `None` for a
    /// dangling link, which only LIST shows (as a link).
    shown: Option<Facts>,
    /// The entry itself (lstat).
    own: Facts,
    /// Link text to show after `->`.
    link: Option<Vec<u8>>,
}

/// Does a relative link `text` in `dir` stay at or below `root` at every step, read
/// lexically as a client would?
fn stays_below(dir: &Path, root: &Path, text: &Path) -> bool {
    let Ok(rel) = dir.strip_prefix(root) else {
        return false;
    };
    let mut depth = rel.components().count();
    for c in text.components() {
        match c {
            Component::ParentDir => {
                if depth == 0 {
                    return false;
                }
                depth -= 1;
            }
            Component::Normal(_) => depth += 1,
            Component::CurDir => {}
            Component::RootDir | Component::Prefix(_) => return false,
        }
    }
    true
}

fn unix_secs(t: SystemTime) -> i64 {
    match t.duration_since(SystemTime::UNIX_EPOCH) {
        Ok(d) => d.as_secs() as i64,
        Err(e) => -(e.duration().as_secs() as i64),
    }
}

/// MDTM's `YYYYMMDDHHMMSS` (UTC).
pub fn mdtm_string(t: SystemTime) -> String {
    let mut out = Vec::with_capacity(14);
    lines::timestamp(unix_secs(t), &mut out);
    out.into_iter().map(char::from).collect()
}

/// One MLST fact line (`facts name`, without the leading space or CRLF). `path` is
/// the checked, symlink-free path; its folder decides the delete and rename facts.
pub fn mlst_line(path: &Path, display_name: &[u8], perms: Permissions) -> io::Result<Vec<u8>> {
    let meta = fs::metadata(path)?;
    let parent = path
        .parent()
        .and_then(|p| fs::metadata(p).ok())
        .map(|m| Access::from(&m));
    let mut out = Vec::with_capacity(128);
    lines::mlsx_facts(
        &Facts::from(&meta),
        parent.as_ref(),
        perms,
        &Identity::current(),
        &mut out,
    );
    out.push(b' ');
    out.extend_from_slice(display_name);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;
    use std::time::Duration;

    fn set_mtime(path: &Path, secs: i64) {
        let f = fs::File::options().write(true).open(path).unwrap();
        f.set_modified(SystemTime::UNIX_EPOCH + Duration::from_secs(secs as u64))
            .unwrap();
    }

    fn all(path: &Path, format: ListFormat, now: SystemTime, perms: Permissions) -> String {
        let mut s = ListingStream::open(path, format, now, perms).unwrap();
        let mut out = Vec::new();
        while s.next_chunk(&mut out, 1000).unwrap() {}
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn list_lines_follow_ls() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("new file.txt");
        fs::write(&f, b"12345").unwrap();
        fs::set_permissions(&f, fs::Permissions::from_mode(0o644)).unwrap();
        // 2025-11-25 04:14:00 UTC
        let now_secs = 1_764_044_040;
        set_mtime(&f, now_secs - 3600);
        let old = dir.path().join("old.iso");
        fs::write(&old, b"").unwrap();
        fs::set_permissions(&old, fs::Permissions::from_mode(0o600)).unwrap();
        set_mtime(&old, now_secs - 200 * 24 * 3600);
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(now_secs as u64);
        let recent = all(&f, ListFormat::List, now, Permissions::read_only());
        assert_eq!(
            recent,
            "-rw-r--r--    1 ftp      ftp                 5 Nov 25 03:14 new file.txt\r\n"
        );
        let older = all(&old, ListFormat::List, now, Permissions::read_only());
        assert_eq!(
            older,
            "-rw-------    1 ftp      ftp                 0 May  9  2025 old.iso\r\n"
        );
        fs::create_dir(dir.path().join("ü dir")).unwrap();
        std::os::unix::fs::symlink("new file.txt", dir.path().join("link")).unwrap();
        let listing = all(dir.path(), ListFormat::List, now, Permissions::read_only());
        assert!(
            listing
                .lines()
                .any(|l| l.starts_with('d') && l.ends_with(" ü dir")),
            "{listing}"
        );
        assert!(
            listing
                .lines()
                .any(|l| l.starts_with("lrwxrwxrwx") && l.ends_with(" link -> new file.txt")),
            "{listing}"
        );
        assert_eq!(listing.matches("\r\n").count(), 4);
    }

    #[test]
    fn mlsd_and_mlst_facts() {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("a.bin"), b"xyz").unwrap();
        set_mtime(&dir.path().join("a.bin"), 1_764_044_040);
        fs::create_dir(dir.path().join("sub")).unwrap();
        let out = all(
            dir.path(),
            ListFormat::Mlsd,
            SystemTime::now(),
            Permissions::read_only(),
        );
        let file = out.lines().find(|l| l.ends_with(" a.bin")).unwrap();
        assert!(
            file.starts_with("type=file;size=3;modify=20251125041400;perm=r;unique="),
            "{file}"
        );
        let sub = out.lines().find(|l| l.ends_with(" sub")).unwrap();
        assert!(sub.starts_with("type=dir;modify="), "{sub}");
        assert!(sub.contains(";perm=el;"), "{sub}");
        let line = mlst_line(&dir.path().join("a.bin"), b"/a.bin", Permissions::all()).unwrap();
        let line = String::from_utf8(line).unwrap();
        assert!(
            line.contains("perm=adfrw;") && line.ends_with(" /a.bin"),
            "{line}"
        );
        assert_eq!(
            mdtm_string(SystemTime::UNIX_EPOCH + Duration::from_secs(1_764_044_040)),
            "20251125041400"
        );
    }

    fn listed(dir: &Path, root: &Path, format: ListFormat, confine: bool) -> String {
        let mut request = ListingRequest::new(dir, root, format, Permissions::read_only());
        request.confine_links = confine;
        request.hidden = Hidden::AlmostAll;
        let mut s = ListingStream::start(&request, SystemTime::now()).unwrap();
        let mut out = Vec::new();
        while s.next_chunk(&mut out, 100).unwrap() {}
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn links_out_of_the_root_are_left_out_and_dangling_ones_listed_as_links() {
        let top = tempfile::tempdir().unwrap();
        let root = top.path().join("root");
        let pub_dir = root.join("pub");
        fs::create_dir_all(pub_dir.join("debian")).unwrap();
        fs::write(top.path().join("secret"), b"outside").unwrap();
        let root = root.canonicalize().unwrap();
        let pub_dir = root.join("pub");
        std::os::unix::fs::symlink("/etc", pub_dir.join("etc-link")).unwrap();
        std::os::unix::fs::symlink("../../", pub_dir.join("up-link")).unwrap();
        std::os::unix::fs::symlink("../../secret", pub_dir.join("secret-link")).unwrap();
        std::os::unix::fs::symlink("missing", pub_dir.join("dangling")).unwrap();
        std::os::unix::fs::symlink("../../missing", pub_dir.join("dangling-out")).unwrap();
        std::os::unix::fs::symlink("debian", pub_dir.join("latest")).unwrap();
        std::os::unix::fs::symlink(pub_dir.join("debian"), pub_dir.join("absolute")).unwrap();
        std::os::unix::fs::symlink("../pub/debian", pub_dir.join("roundabout")).unwrap();
        for format in [ListFormat::List, ListFormat::Nlst, ListFormat::Mlsd] {
            let out = listed(&pub_dir, &root, format, true);
            for hidden in ["etc-link", "up-link", "secret-link", "dangling-out"] {
                assert!(!out.contains(hidden), "{format:?}: {out}");
            }
            let out: String = out
                .lines()
                .filter(|l| !l.ends_with(" dangling -> missing"))
                .map(|l| format!("{l}\n"))
                .collect();
            let names: Vec<&str> = out
                .lines()
                .map(|l| match format {
                    ListFormat::Mlsd => l.rsplit(' ').next().unwrap(),
                    ListFormat::List => l.split(" -> ").next().unwrap().rsplit(' ').next().unwrap(),
                    ListFormat::Nlst => l,
                })
                .collect();
            assert_eq!(
                names,
                ["absolute", "debian", "latest", "roundabout"],
                "{format:?}: {out}"
            );
        }
        let list = listed(&pub_dir, &root, ListFormat::List, true);
        assert!(list.contains(" latest -> debian\r\n"), "{list}");
        assert!(
            list.lines()
                .any(|l| l.starts_with('l') && l.ends_with(" dangling -> missing")),
            "a dangling link inside is listed as a link: {list}"
        );
        for format in [ListFormat::Nlst, ListFormat::Mlsd] {
            let out = listed(&pub_dir, &root, format, true);
            assert!(!out.contains("dangling"), "{format:?}: {out}");
        }
        // An absolute target is shown as a path in the client's view, never the real one.
        assert!(list.contains(" absolute -> /pub/debian\r\n"), "{list}");
        assert!(!list.contains(root.to_str().unwrap()), "{list}");
        let mlsd = listed(&pub_dir, &root, ListFormat::Mlsd, true);
        assert!(
            mlsd.lines()
                .filter(|l| !l.ends_with(" debian"))
                .all(|l| l.starts_with("type=dir;")),
            "links inside are shown as what they lead to: {mlsd}"
        );
        // Following links out is the operator's choice.
        let open = listed(&pub_dir, &root, ListFormat::List, false);
        assert!(open.contains(" etc-link -> /etc\r\n"), "{open}");
        assert!(
            open.contains(" dangling-out -> ../../missing\r\n"),
            "{open}"
        );
        let open = listed(&pub_dir, &root, ListFormat::Mlsd, false);
        assert!(!open.contains("dangling"), "{open}");
        // `..` of the root describes the root itself.
        let mut request =
            ListingRequest::new(&root, &root, ListFormat::Mlsd, Permissions::read_only());
        request.hidden = Hidden::All;
        let mut s = ListingStream::start(&request, SystemTime::now()).unwrap();
        let mut out = Vec::new();
        while s.next_chunk(&mut out, 100).unwrap() {}
        let out = String::from_utf8(out).unwrap();
        let unique = |name: &str| {
            out.lines()
                .find(|l| l.ends_with(&format!(" {name}")))
                .and_then(|l| l.split("unique=").nth(1))
                .and_then(|u| u.split(';').next())
                .map(str::to_string)
        };
        assert_eq!(unique(".."), unique("."), "{out}");
    }

    #[test]
    fn ten_thousand_entries_stream_in_bounded_chunks() {
        let dir = tempfile::tempdir().unwrap();
        for i in 0..10_000 {
            fs::write(dir.path().join(format!("file-{i:05}")), b"").unwrap();
        }
        let mut s = ListingStream::open(
            dir.path(),
            ListFormat::Nlst,
            SystemTime::now(),
            Permissions::read_only(),
        )
        .unwrap();
        let mut total = 0;
        let mut chunks = 0;
        loop {
            let mut out = Vec::new();
            let more = s.next_chunk(&mut out, 16 * 1024).unwrap();
            assert!(out.len() < 16 * 1024 + 300);
            total += out.split(|&b| b == b'\n').filter(|l| !l.is_empty()).count();
            chunks += 1;
            if !more {
                break;
            }
        }
        assert_eq!(total, 10_000);
        assert!(chunks > 5);
    }
}
