//! The transfer log in the wu-ftpd `xferlog` format that vsftpd and ProFTPD write,
//! so existing mirror statistics tools read it unchanged.

use std::fs::{File, OpenOptions};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::UNIX_EPOCH;

use ringftp_dataplane::transfer_log::{Direction, TransferLog, TransferRecord};
use time::macros::format_description;
use time::OffsetDateTime;

/// Appends one line per transfer to a file, reopened on request (log rotation).
pub struct XferLog {
    path: PathBuf,
    out: Mutex<Option<BufWriter<File>>>,
}

impl XferLog {
    /// A log for `path`, opened by [`XferLog::reopen`]: the file is created by the
    /// user the server runs as, after the switch from root, so that it can also
    /// create it again after a rotation.
    pub fn new(path: &Path) -> XferLog {
        XferLog {
            path: path.to_path_buf(),
            out: Mutex::new(None),
        }
    }

    /// The file this log writes.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// (Re)open the file (append, create); records go to the new file from now on.
    /// On failure the file open before stays in use.
    pub fn reopen(&self) -> std::io::Result<()> {
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)?;
        let mut out = self.out.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(old) = out.as_mut() {
            let _ = old.flush();
        }
        *out = Some(BufWriter::new(file));
        Ok(())
    }
}

impl TransferLog for XferLog {
    fn record(&self, r: &TransferRecord) {
        let line = format_line(r);
        let mut out = self.out.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(out) = out.as_mut() {
            // One line per write and a flush, so a crash loses at most the current record.
            let _ = out.write_all(line.as_bytes());
            let _ = out.flush();
        }
    }
}

/// `DDD MMM dd hh:mm:ss YYYY secs host bytes path type _ dir mode user ftp 0 * status`.
pub fn format_line(r: &TransferRecord) -> String {
    let secs = r
        .started
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let when =
        OffsetDateTime::from_unix_timestamp(secs as i64).unwrap_or(OffsetDateTime::UNIX_EPOCH);
    let stamp = when
        .format(format_description!(
            "[weekday repr:short] [month repr:short] [day padding:space] [hour]:[minute]:[second] [year]"
        ))
        .unwrap_or_default();
    // Fields are space separated: whitespace inside a path would shift them.
    let path: String = r
        .path
        .to_string_lossy()
        .chars()
        .map(|c| if c.is_whitespace() { '_' } else { c })
        .collect();
    let user: String = r
        .user
        .chars()
        .map(|c| if c.is_whitespace() { '_' } else { c })
        .collect();
    format!(
        "{stamp} {} {} {} {path} {} _ {} {} {} ftp 0 * {}\n",
        r.duration.as_secs().max(1),
        r.peer,
        r.bytes,
        if r.ascii { 'a' } else { 'b' },
        match r.direction {
            Direction::Outgoing => 'o',
            Direction::Incoming => 'i',
        },
        if r.anonymous { 'a' } else { 'r' },
        if user.is_empty() {
            "*".to_string()
        } else {
            user
        },
        if r.complete { 'c' } else { 'i' },
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::{Duration, SystemTime};

    #[test]
    fn xferlog_line_has_the_standard_fields() {
        let r = TransferRecord {
            started: SystemTime::UNIX_EPOCH + Duration::from_secs(1_764_044_040),
            duration: Duration::from_millis(300),
            peer: "127.0.0.1".parse().unwrap(),
            bytes: 1234,
            path: "/srv/pub/my file.iso".into(),
            ascii: false,
            direction: Direction::Outgoing,
            user: "anonymous".into(),
            anonymous: true,
            complete: true,
        };
        let line = format_line(&r);
        assert_eq!(
            line,
            "Tue Nov 25 04:14:00 2025 1 127.0.0.1 1234 /srv/pub/my_file.iso b _ o a anonymous ftp 0 * c\n"
        );
        assert_eq!(line.split_whitespace().count(), 18);
    }

    #[test]
    fn one_digit_days_are_space_padded() {
        let r = TransferRecord {
            // 2026-12-01 22:01:59 UTC
            started: SystemTime::UNIX_EPOCH + Duration::from_secs(1_796_162_519),
            duration: Duration::from_secs(2),
            peer: "::1".parse().unwrap(),
            bytes: 7,
            path: "/srv/a".into(),
            ascii: true,
            direction: Direction::Incoming,
            user: "alice".into(),
            anonymous: false,
            complete: false,
        };
        let line = format_line(&r);
        assert_eq!(
            line,
            "Tue Dec  1 22:01:59 2026 2 ::1 7 /srv/a a _ i r alice ftp 0 * i\n"
        );
        // Log tools split on runs of blanks, so the padding is no extra field.
        assert_eq!(line.split_whitespace().count(), 18);
    }
}
