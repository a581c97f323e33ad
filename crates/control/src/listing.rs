//! Directory listings: LIST in the `ls -l` form lftp, wget and curl parse, NLST
//! names, and RFC 3659 MLSD/MLST facts.
//!
//! A folder's names are read first (names only, no stat), filtered (dotfiles, a glob
//! pattern) and sorted by their bytes, as `ls` does; then entries are stat'ed and
//! formatted chunk by chunk, so a folder with 100,000 entries never becomes one string.
//!
//! A listing never describes anything outside the virtual root and never shows an
//! entry the server would refuse: a symlink leading out of the root (when the operator
//! does not allow following those) is left out and never stat'ed through. Symlinks that stay inside are shown as links in LIST, as `ls -l`
//! and vsftpd do (their text, when absolute or climbing above the root, replaced by
//! the target's path in the client's view, so no real path shows), and as what they
//! lead to in MLSD/MLST and NLST, which is what RETR and CWD give. A dangling link
//! whose text stays inside the root is shown by LIST only, as a link (clients neither
//! descend into nor fetch a link they cannot resolve); MLSD and NLST leave it out.

use std::ffi::OsStr;
use std::fs::{self, Metadata};
use std::io::{self, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};
use std::time::SystemTime;

use time::OffsetDateTime;

use crate::glob::Pattern;
use crate::perm_facts::{self, Access, Identity};
use crate::vfs::Permissions;

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

/// Folders with more entries than this are refused instead of read into memory.
pub const MAX_ENTRIES: usize = 1_000_000;

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];
/// `ls` shows the time of day for files modified within about six months.
const SIX_MONTHS_SECS: i64 = 182 * 24 * 3600 + 12 * 3600;

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

/// Sorted names of a folder, stored in one buffer.
struct Names {
    bytes: Vec<u8>,
    spans: Vec<(u32, u32)>,
    next: usize,
}

impl Names {
    fn get(&self, i: usize) -> &[u8] {
        let (start, end) = self.spans[i];
        &self.bytes[start as usize..end as usize]
    }
}

enum Source {
    Dir {
        names: Names,
        parent: Option<Access>,
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
            let names = read_names(&request.path, request)?;
            let parent = Some(Access::from(&meta));
            (Source::Dir { names, parent }, request.path.clone())
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
                        self.entry(&path, &name, parent.as_ref(), out);
                    }
                    None => return Ok(false),
                },
                Source::Dir { names, parent } => {
                    if names.next >= names.spans.len() {
                        return Ok(false);
                    }
                    let i = names.next;
                    names.next += 1;
                    let name = names.get(i).to_vec();
                    let parent = *parent;
                    let path = self.dir.join(OsStr::from_bytes(&name));
                    self.entry(&path, &name, parent.as_ref(), out);
                }
            }
        }
        Ok(true)
    }

    /// Metadata to show for an entry: the entry itself, or for a symlink its target
    /// if that exists and (when confined) lies inside the root. `None`: leave it out.
    fn inspect(&self, path: &Path, name: &[u8]) -> Option<Inspected> {
        if name == b".." {
            // The parent of the root is outside: show the root itself, as a chroot does.
            let real = path.canonicalize().ok()?;
            let shown = if real.starts_with(&self.request.root) {
                real
            } else {
                self.request.root.clone()
            };
            let meta = fs::metadata(shown).ok()?;
            return Some(Inspected {
                shown: Some(meta.clone()),
                own: meta,
                link: None,
            });
        }
        let own = fs::symlink_metadata(path).ok()?;
        if !own.file_type().is_symlink() {
            return Some(Inspected {
                shown: Some(own.clone()),
                own,
                link: None,
            });
        }
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
                shown: fs::metadata(&target).ok(),
                own,
                link: Some(text.as_os_str().as_bytes().to_vec()),
            });
        }
        let inside = target.strip_prefix(&self.request.root).ok()?;
        let shown = fs::metadata(&target).ok()?;
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

    fn entry(&self, path: &Path, name: &[u8], parent: Option<&Access>, out: &mut Vec<u8>) {
        if self.request.format == ListFormat::Nlst {
            // NLST still checks links, so it never names an entry RETR refuses.
            if self.inspect(path, name).and_then(|e| e.shown).is_none() {
                return;
            }
            out.extend_from_slice(&self.request.prefix);
            out.extend_from_slice(name);
            out.extend_from_slice(b"\r\n");
            return;
        }
        let Some(entry) = self.inspect(path, name) else {
            return;
        };
        match self.request.format {
            ListFormat::List => {
                let meta = match (&entry.link, &entry.shown) {
                    (None, Some(shown)) => shown,
                    _ => &entry.own,
                };
                list_line(meta, name, entry.link.as_deref(), self.now, out);
            }
            _ => {
                // MLSD facts describe what the client gets: no facts, no entry.
                let Some(shown) = &entry.shown else { return };
                mlsx_facts(shown, parent, self.request.perms, &self.who, out);
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
    shown: Option<Metadata>,
    /// The entry itself (lstat).
    own: Metadata,
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

fn read_names(dir: &Path, request: &ListingRequest) -> io::Result<Names> {
    let mut names = Names {
        bytes: Vec::new(),
        spans: Vec::new(),
        next: 0,
    };
    let push = |names: &mut Names, n: &[u8]| {
        let start = names.bytes.len() as u32;
        names.bytes.extend_from_slice(n);
        names.spans.push((start, names.bytes.len() as u32));
    };
    if request.hidden == Hidden::All {
        for dot in [&b"."[..], b".."] {
            if request.pattern.as_ref().is_none_or(|p| p.matches(dot)) {
                push(&mut names, dot);
            }
        }
    }
    let mut scanned = 0usize;
    for entry in fs::read_dir(dir)? {
        scanned += 1;
        if scanned > MAX_ENTRIES {
            return Err(io::Error::other("folder has too many entries to list"));
        }
        // An entry that vanished or cannot be read is skipped.
        let Ok(entry) = entry else { continue };
        let name = entry.file_name();
        let name = name.as_bytes();
        // A pattern decides on dotfiles itself: only one starting with `.` matches them.
        let shown = match &request.pattern {
            Some(p) => p.matches(name),
            None => request.hidden != Hidden::Skip || name.first() != Some(&b'.'),
        };
        if !shown {
            continue;
        }
        push(&mut names, name);
    }
    let bytes = &names.bytes;
    names.spans.sort_unstable_by(|a, b| {
        bytes[a.0 as usize..a.1 as usize].cmp(&bytes[b.0 as usize..b.1 as usize])
    });
    Ok(names)
}

fn unix_secs(t: SystemTime) -> i64 {
    match t.duration_since(SystemTime::UNIX_EPOCH) {
        Ok(d) => d.as_secs() as i64,
        Err(e) => -(e.duration().as_secs() as i64),
    }
}

fn mode_string(meta: &Metadata) -> [u8; 10] {
    let ft = meta.file_type();
    let mode = meta.permissions().mode();
    let kind = if ft.is_dir() {
        b'd'
    } else if ft.is_symlink() {
        b'l'
    } else if ft.is_file() {
        b'-'
    } else {
        b'?'
    };
    let mut s = [b'-'; 10];
    s[0] = kind;
    let bits = b"rwxrwxrwx";
    for i in 0..9 {
        if mode & (0o400 >> i) != 0 {
            s[i + 1] = bits[i];
        }
    }
    s
}

fn list_line(meta: &Metadata, name: &[u8], target: Option<&[u8]>, now: i64, out: &mut Vec<u8>) {
    let mtime = meta.mtime();
    let dt = OffsetDateTime::from_unix_timestamp(mtime).unwrap_or(OffsetDateTime::UNIX_EPOCH);
    let month = MONTHS[usize::from(u8::from(dt.month())) - 1];
    let recent = mtime > now - SIX_MONTHS_SECS && mtime < now + 3600;
    out.extend_from_slice(&mode_string(meta));
    // Owner and group are hidden behind `ftp`, as vsftpd's hide_ids: no uid leaks.
    let _ = write!(
        out,
        " {:>4} ftp      ftp      {:>12} {} {:>2} ",
        meta.nlink(),
        meta.len(),
        month,
        dt.day()
    );
    if recent {
        let _ = write!(out, "{:02}:{:02} ", dt.hour(), dt.minute());
    } else {
        let _ = write!(out, " {} ", dt.year());
    }
    out.extend_from_slice(name);
    if let Some(t) = target {
        out.extend_from_slice(b" -> ");
        out.extend_from_slice(t);
    }
}

fn mlsx_facts(
    meta: &Metadata,
    parent: Option<&Access>,
    perms: Permissions,
    who: &Identity,
    out: &mut Vec<u8>,
) {
    let is_dir = meta.is_dir();
    out.extend_from_slice(if is_dir { b"type=dir;" } else { b"type=file;" });
    if !is_dir {
        let _ = write!(out, "size={};", meta.len());
    }
    let _ = write!(out, "modify={};perm=", timestamp(meta.mtime()));
    perm_facts::write_perm(out, &Access::from(meta), parent, perms, who);
    let _ = write!(out, ";unique={:x}h{:x};", meta.dev(), meta.ino());
}

fn timestamp(secs: i64) -> String {
    let dt = OffsetDateTime::from_unix_timestamp(secs).unwrap_or(OffsetDateTime::UNIX_EPOCH);
    format!(
        "{:04}{:02}{:02}{:02}{:02}{:02}",
        dt.year(),
        u8::from(dt.month()),
        dt.day(),
        dt.hour(),
        dt.minute(),
        dt.second()
    )
}

/// MDTM's `YYYYMMDDHHMMSS` (UTC).
pub fn mdtm_string(t: SystemTime) -> String {
    timestamp(unix_secs(t))
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
    mlsx_facts(
        &meta,
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
