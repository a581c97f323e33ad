//! Directory listings: LIST in the `ls -l` form lftp, wget and curl parse, NLST
//! names, and RFC 3659 MLSD/MLST facts. A listing is produced in chunks straight from
//! `ReadDir`, so a folder with 100,000 entries is never held as one string.

use std::fs::{self, Metadata, ReadDir};
use std::io::{self, Write};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::SystemTime;

use time::OffsetDateTime;

use crate::vfs::Permissions;

/// Which listing command.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ListFormat {
    List,
    Nlst,
    Mlsd,
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];
/// `ls` shows the time of day for files modified within about six months.
const SIX_MONTHS_SECS: i64 = 182 * 24 * 3600 + 12 * 3600;

enum Source {
    Dir(ReadDir),
    File(Option<PathBuf>),
}

/// A listing being produced chunk by chunk.
pub struct ListingStream {
    source: Source,
    format: ListFormat,
    now: i64,
    perms: Permissions,
}

impl ListingStream {
    /// Start listing a folder, or a single file (like `ls -l file`).
    pub fn open(
        path: &Path,
        format: ListFormat,
        now: SystemTime,
        perms: Permissions,
    ) -> io::Result<ListingStream> {
        let meta = fs::metadata(path)?;
        let source = if meta.is_dir() {
            Source::Dir(fs::read_dir(path)?)
        } else {
            Source::File(Some(path.to_path_buf()))
        };
        Ok(ListingStream {
            source,
            format,
            now: unix_secs(now),
            perms,
        })
    }

    /// Append lines (CRLF-terminated) until about `max_bytes` were added or the
    /// listing ends. Returns false when nothing is left.
    pub fn next_chunk(&mut self, out: &mut Vec<u8>, max_bytes: usize) -> io::Result<bool> {
        let start = out.len();
        while out.len() - start < max_bytes {
            let path = match &mut self.source {
                Source::File(f) => match f.take() {
                    Some(p) => p,
                    None => return Ok(false),
                },
                Source::Dir(entries) => match entries.next() {
                    Some(Ok(e)) => e.path(),
                    // An entry that vanished or cannot be read is skipped.
                    Some(Err(_)) => continue,
                    None => return Ok(false),
                },
            };
            let name = path
                .file_name()
                .map(|n| n.as_bytes().to_vec())
                .unwrap_or_default();
            self.entry(&path, &name, out);
        }
        Ok(true)
    }

    fn entry(&self, path: &Path, name: &[u8], out: &mut Vec<u8>) {
        match self.format {
            ListFormat::Nlst => {
                out.extend_from_slice(name);
                out.extend_from_slice(b"\r\n");
            }
            ListFormat::List => {
                let Ok(meta) = fs::symlink_metadata(path) else {
                    return;
                };
                let target = if meta.file_type().is_symlink() {
                    fs::read_link(path).ok()
                } else {
                    None
                };
                list_line(&meta, name, target.as_deref(), self.now, out);
                out.extend_from_slice(b"\r\n");
            }
            ListFormat::Mlsd => {
                // Facts describe what the client would get: follow symlinks, skip dangling ones.
                let Ok(meta) = fs::metadata(path) else { return };
                mlsx_facts(&meta, self.perms, out);
                out.push(b' ');
                out.extend_from_slice(name);
                out.extend_from_slice(b"\r\n");
            }
        }
    }
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

fn list_line(meta: &Metadata, name: &[u8], target: Option<&Path>, now: i64, out: &mut Vec<u8>) {
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
        out.extend_from_slice(t.as_os_str().as_bytes());
    }
}

fn mlsx_facts(meta: &Metadata, perms: Permissions, out: &mut Vec<u8>) {
    let is_dir = meta.is_dir();
    out.extend_from_slice(if is_dir { b"type=dir;" } else { b"type=file;" });
    if !is_dir {
        let _ = write!(out, "size={};", meta.len());
    }
    let _ = write!(out, "modify={};perm=", timestamp(meta.mtime()));
    if is_dir {
        out.extend_from_slice(b"el");
        if perms.write {
            out.push(b'c');
        }
        if perms.mkdir {
            out.push(b'm');
        }
        if perms.delete {
            out.push(b'p');
        }
    } else {
        if perms.read {
            out.push(b'r');
        }
        if perms.write {
            out.extend_from_slice(b"aw");
        }
        if perms.delete {
            out.push(b'd');
        }
    }
    if perms.rename {
        out.push(b'f');
    }
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

/// One MLST fact line (`facts name`, without the leading space or CRLF).
pub fn mlst_line(path: &Path, display_name: &[u8], perms: Permissions) -> io::Result<Vec<u8>> {
    let meta = fs::metadata(path)?;
    let mut out = Vec::with_capacity(128);
    mlsx_facts(&meta, perms, &mut out);
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
            line.contains("perm=rawdf;") && line.ends_with(" /a.bin"),
            "{line}"
        );
        assert_eq!(
            mdtm_string(SystemTime::UNIX_EPOCH + Duration::from_secs(1_764_044_040)),
            "20251125041400"
        );
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
