//! One entry's line: the inode facts a listing shows, and the `ls -l` and RFC 3659
//! forms written straight into the chunk being built (no string per field: a listing
//! of 100,000 entries formats 100,000 lines, and `format!` there cost a fifth of its CPU).

use std::fs::Metadata;
use std::os::unix::fs::MetadataExt;

use time::OffsetDateTime;

use crate::perm_facts::{self, Access, Identity};
use crate::vfs::Permissions;

const MONTHS: [&[u8; 3]; 12] = [
    b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov", b"Dec",
];
/// `ls` shows the time of day for files modified within about six months.
const SIX_MONTHS_SECS: i64 = 182 * 24 * 3600 + 12 * 3600;

/// What kind of inode an entry is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Kind {
    Dir,
    File,
    Symlink,
    Other,
}

/// The parts of an inode a listing line shows, from `lstat`/`stat` by path or by
/// name relative to the folder.
#[derive(Clone, Copy, Debug)]
pub(super) struct Facts {
    pub kind: Kind,
    pub mode: u32,
    pub nlink: u64,
    pub size: u64,
    pub mtime: i64,
    pub dev: u64,
    pub ino: u64,
    pub uid: u32,
    pub gid: u32,
}

impl From<&Metadata> for Facts {
    fn from(m: &Metadata) -> Facts {
        let ft = m.file_type();
        let kind = if ft.is_dir() {
            Kind::Dir
        } else if ft.is_symlink() {
            Kind::Symlink
        } else if ft.is_file() {
            Kind::File
        } else {
            Kind::Other
        };
        Facts {
            kind,
            mode: m.mode(),
            nlink: m.nlink(),
            size: m.size(),
            mtime: m.mtime(),
            dev: m.dev(),
            ino: m.ino(),
            uid: m.uid(),
            gid: m.gid(),
        }
    }
}

impl From<&rustix::fs::Stat> for Facts {
    // The stat fields' widths differ between architectures.
    #[allow(clippy::unnecessary_cast, clippy::useless_conversion)]
    fn from(s: &rustix::fs::Stat) -> Facts {
        let kind = match rustix::fs::FileType::from_raw_mode(s.st_mode as _) {
            rustix::fs::FileType::Directory => Kind::Dir,
            rustix::fs::FileType::RegularFile => Kind::File,
            rustix::fs::FileType::Symlink => Kind::Symlink,
            _ => Kind::Other,
        };
        Facts {
            kind,
            mode: s.st_mode as u32,
            nlink: s.st_nlink as u64,
            size: s.st_size.max(0) as u64,
            mtime: s.st_mtime as i64,
            dev: s.st_dev as u64,
            ino: s.st_ino as u64,
            uid: s.st_uid as u32,
            gid: s.st_gid as u32,
        }
    }
}

impl Facts {
    pub fn access(&self) -> Access {
        Access {
            mode: self.mode,
            uid: self.uid,
            gid: self.gid,
            is_dir: self.kind == Kind::Dir,
        }
    }
}

fn mode_string(facts: &Facts) -> [u8; 10] {
    let kind = match facts.kind {
        Kind::Dir => b'd',
        Kind::Symlink => b'l',
        Kind::File => b'-',
        Kind::Other => b'?',
    };
    let mut s = [b'-'; 10];
    s[0] = kind;
    let bits = b"rwxrwxrwx";
    for i in 0..9 {
        if facts.mode & (0o400 >> i) != 0 {
            s[i + 1] = bits[i];
        }
    }
    s
}

/// `n` in decimal, right-aligned in `width` columns (as `{:>width}`; 0: no padding).
fn right_aligned(out: &mut Vec<u8>, n: u64, width: usize) {
    let mut digits = itoa::Buffer::new();
    let digits = digits.format(n).as_bytes();
    out.resize(out.len() + width.saturating_sub(digits.len()), b' ');
    out.extend_from_slice(digits);
}

/// `n` (below 100) as two digits.
fn two_digits(out: &mut Vec<u8>, n: u8) {
    out.extend_from_slice(&[b'0' + n / 10, b'0' + n % 10]);
}

fn lowercase_hex(out: &mut Vec<u8>, n: u64) {
    let mut buf = [0u8; 16];
    let mut i = buf.len();
    let mut n = n;
    loop {
        i -= 1;
        buf[i] = b"0123456789abcdef"[(n & 0xf) as usize];
        n >>= 4;
        if n == 0 {
            break;
        }
    }
    out.extend_from_slice(&buf[i..]);
}

fn date_time(secs: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp(secs).unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

/// An `ls -l` line without its CRLF; `target` is a link's text.
pub(super) fn list_line(
    facts: &Facts,
    name: &[u8],
    target: Option<&[u8]>,
    now: i64,
    out: &mut Vec<u8>,
) {
    let dt = date_time(facts.mtime);
    let recent = facts.mtime > now - SIX_MONTHS_SECS && facts.mtime < now + 3600;
    out.extend_from_slice(&mode_string(facts));
    out.push(b' ');
    right_aligned(out, facts.nlink, 4);
    // Owner and group are hidden behind `ftp`, as vsftpd's hide_ids: no uid leaks.
    out.extend_from_slice(b" ftp      ftp      ");
    right_aligned(out, facts.size, 12);
    out.push(b' ');
    out.extend_from_slice(MONTHS[usize::from(u8::from(dt.month())) - 1]);
    out.push(b' ');
    right_aligned(out, u64::from(dt.day()), 2);
    out.push(b' ');
    if recent {
        two_digits(out, dt.hour());
        out.push(b':');
        two_digits(out, dt.minute());
    } else {
        // `ls` keeps the column five wide: " 2025".
        out.push(b' ');
        let year = dt.year();
        if year < 0 {
            out.push(b'-');
        }
        right_aligned(out, u64::from(year.unsigned_abs()), 0);
    }
    out.push(b' ');
    out.extend_from_slice(name);
    if let Some(t) = target {
        out.extend_from_slice(b" -> ");
        out.extend_from_slice(t);
    }
}

/// RFC 3659 facts (`type=...;...;unique=...;`) of an entry held in `parent`.
pub(super) fn mlsx_facts(
    facts: &Facts,
    parent: Option<&Access>,
    perms: Permissions,
    who: &Identity,
    out: &mut Vec<u8>,
) {
    let is_dir = facts.kind == Kind::Dir;
    out.extend_from_slice(if is_dir { b"type=dir;" } else { b"type=file;" });
    if !is_dir {
        out.extend_from_slice(b"size=");
        right_aligned(out, facts.size, 0);
        out.push(b';');
    }
    out.extend_from_slice(b"modify=");
    timestamp(facts.mtime, out);
    out.extend_from_slice(b";perm=");
    perm_facts::write_perm(out, &facts.access(), parent, perms, who);
    out.extend_from_slice(b";unique=");
    lowercase_hex(out, facts.dev);
    out.push(b'h');
    lowercase_hex(out, facts.ino);
    out.push(b';');
}

/// `YYYYMMDDHHMMSS` in UTC, as MDTM and MLSD's `modify` give it.
pub(super) fn timestamp(secs: i64, out: &mut Vec<u8>) {
    let dt = date_time(secs);
    // Years outside 0..=9999 cannot come from a file system `time` accepts; clamp
    // rather than write a fact of the wrong width.
    let year = dt.year().clamp(0, 9999) as u16;
    two_digits(out, (year / 100) as u8);
    two_digits(out, (year % 100) as u8);
    two_digits(out, u8::from(dt.month()));
    two_digits(out, dt.day());
    two_digits(out, dt.hour());
    two_digits(out, dt.minute());
    two_digits(out, dt.second());
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(size: u64, mtime: i64) -> Facts {
        Facts {
            kind: Kind::File,
            mode: 0o100644,
            nlink: 1,
            size,
            mtime,
            dev: 0x803,
            ino: 0x1a2b,
            uid: 0,
            gid: 0,
        }
    }

    #[test]
    fn list_lines_pad_as_ls_does() {
        // 2025-11-25 04:14:00 UTC
        let now = 1_764_044_040;
        let mut out = Vec::new();
        list_line(
            &file(123_456_789_012, now - 60),
            b"big.iso",
            None,
            now,
            &mut out,
        );
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "-rw-r--r--    1 ftp      ftp      123456789012 Nov 25 04:13 big.iso"
        );
        let mut out = Vec::new();
        let mut facts = file(7, 0);
        facts.kind = Kind::Symlink;
        facts.mode = 0o120777;
        facts.nlink = 12345;
        list_line(&facts, b"l", Some(b"t"), now, &mut out);
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "lrwxrwxrwx 12345 ftp      ftp                 7 Jan  1  1970 l -> t"
        );
    }

    #[test]
    fn facts_and_timestamps_are_fixed_width() {
        let mut out = Vec::new();
        mlsx_facts(
            &file(3, 1_764_044_040),
            None,
            Permissions::read_only(),
            &Identity {
                uid: 1000,
                gid: 1000,
                groups: vec![],
            },
            &mut out,
        );
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "type=file;size=3;modify=20251125041400;perm=r;unique=803h1a2b;"
        );
        let mut out = Vec::new();
        timestamp(0, &mut out);
        timestamp(-1, &mut out);
        assert_eq!(out, b"1970010100000019691231235959");
        let mut out = Vec::new();
        lowercase_hex(&mut out, 0);
        lowercase_hex(&mut out, u64::MAX);
        assert_eq!(out, b"0ffffffffffffffff");
    }
}
