//! `replay`: transfers read from an xferlog (the wu-ftpd format that ringftpd, vsftpd and
//! ProFTPD write), each started at its logged start time, so an operator can replay a
//! real day against a candidate server.
//!
//! A line is a fixed 24-character date (`Tue Nov 25 04:14:00 2025`, the day padded with a
//! blank) followed by blank-separated fields: transfer seconds, client, bytes, path,
//! type, action, direction (`o` out, `i` in, `d` deleted), access mode, user, service,
//! authentication, user id and completion status. The logged time is the transfer's end.

use std::time::Duration;

use time::format_description::BorrowedFormatItem;
use time::macros::format_description;
use time::PrimitiveDateTime;

const DATE_LEN: usize = 24;

const DATE: &[BorrowedFormatItem<'_>] = format_description!(
    "[weekday repr:short] [month repr:short] [day padding:space] [hour]:[minute]:[second] [year]"
);

/// Which way a logged transfer went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// A download (`o`).
    Download,
    /// An upload (`i`).
    Upload,
}

/// One transfer to replay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    /// Start time, from the start of the first transfer.
    pub offset: Duration,
    /// How long the logged transfer took.
    pub took: Duration,
    pub direction: Direction,
    /// The path as the server should see it (after `--strip-prefix`).
    pub path: String,
    pub bytes: u64,
}

/// The transfers of a log, in start order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Replay {
    pub entries: Vec<Entry>,
    /// Distinct download paths, for the size check before the run.
    pub download_paths: Vec<String>,
    /// Lines skipped (deletions).
    pub skipped: usize,
}

/// A log that cannot be replayed.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum XferlogError {
    #[error("line {line}: date `{text}` is not like `Tue Nov 25 04:14:00 2025`")]
    Date { line: usize, text: String },
    #[error("line {line}: expected at least 7 fields after the date")]
    Fields { line: usize },
    #[error("line {line}: {what} `{text}` is not a number")]
    Number {
        line: usize,
        what: &'static str,
        text: String,
    },
    #[error("line {line}: unknown direction `{text}` (o, i or d)")]
    Direction { line: usize, text: String },
    #[error("holds no transfers")]
    Empty,
}

impl Replay {
    /// Parses a log; `strip` is removed from the front of every logged path (the
    /// server's root, so `/srv/ftp/pub/a` becomes `pub/a` with `strip = "/srv/ftp/"`).
    pub fn parse(text: &str, strip: &str) -> Result<Self, XferlogError> {
        let mut raw = Vec::new();
        let mut skipped = 0;
        for (i, l) in text.lines().enumerate() {
            let line = i + 1;
            if l.trim().is_empty() {
                continue;
            }
            let (date, rest) = match (l.get(..DATE_LEN), l.get(DATE_LEN..)) {
                (Some(d), Some(r)) => (d, r),
                _ => {
                    return Err(XferlogError::Date {
                        line,
                        text: l.to_string(),
                    })
                }
            };
            let end = PrimitiveDateTime::parse(date, DATE).map_err(|_| XferlogError::Date {
                line,
                text: date.to_string(),
            })?;
            let f: Vec<&str> = rest.split_whitespace().collect();
            if f.len() < 7 {
                return Err(XferlogError::Fields { line });
            }
            let number = |what, text: &str| {
                text.parse::<u64>().map_err(|_| XferlogError::Number {
                    line,
                    what,
                    text: text.to_string(),
                })
            };
            let secs = number("transfer time", f[0])?;
            let bytes = number("byte count", f[2])?;
            let direction = match f[6] {
                "o" => Direction::Download,
                "i" => Direction::Upload,
                "d" => {
                    skipped += 1;
                    continue;
                }
                other => {
                    return Err(XferlogError::Direction {
                        line,
                        text: other.to_string(),
                    })
                }
            };
            let start = end.assume_utc().unix_timestamp() - secs as i64;
            let path = f[3].strip_prefix(strip).unwrap_or(f[3]).to_string();
            raw.push((start, secs, direction, path, bytes));
        }
        let first = raw.iter().map(|r| r.0).min().ok_or(XferlogError::Empty)?;
        // Stable: transfers that started in the same second keep their log order.
        raw.sort_by_key(|r| r.0);
        let mut download_paths: Vec<String> = raw
            .iter()
            .filter(|r| r.2 == Direction::Download)
            .map(|r| r.3.clone())
            .collect();
        download_paths.sort();
        download_paths.dedup();
        let entries = raw
            .into_iter()
            .map(|(start, secs, direction, path, bytes)| Entry {
                offset: Duration::from_secs((start - first) as u64),
                took: Duration::from_secs(secs),
                direction,
                path,
                bytes,
            })
            .collect();
        Ok(Self {
            entries,
            download_paths,
            skipped,
        })
    }

    /// When transfer `index` starts at `speedup` times the logged pace.
    pub fn offset(&self, index: usize, speedup: f64) -> Option<Duration> {
        self.entries
            .get(index)
            .map(|e| e.offset.div_f64(speedup.max(f64::MIN_POSITIVE)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LOG: &str = "\
Tue Nov 25 04:14:10 2025 10 127.0.0.1 1234 /srv/ftp/pub/file.iso b _ o a anonymous ftp 0 * c
Tue Nov 25 04:14:00 2025 1 192.0.2.7 4096 /srv/ftp/pub/small.txt b _ o a anonymous ftp 0 * c
Tue Nov 25 04:15:00 2025 0 192.0.2.7 777 /srv/ftp/incoming/up.dat b _ i a anonymous ftp 0 * i
Tue Nov 25 04:16:00 2025 0 192.0.2.7 0 /srv/ftp/incoming/up.dat b _ d a anonymous ftp 0 * c
Mon Dec  1 04:14:00 2025 0 192.0.2.7 4096 /srv/ftp/pub/small.txt b _ o a anonymous ftp 0 * c
";

    #[test]
    fn orders_by_start_and_strips_the_root() {
        let r = Replay::parse(LOG, "/srv/ftp/").unwrap();
        assert_eq!(r.skipped, 1);
        assert_eq!(r.entries.len(), 4);
        // file.iso ended at :10 after 10 s, so it started at :00, with small.txt (which
        // ended at :00 after 1 s, so it started a second earlier).
        assert_eq!(r.entries[0].path, "pub/small.txt");
        assert_eq!(r.entries[0].offset, Duration::ZERO);
        assert_eq!(r.entries[1].path, "pub/file.iso");
        assert_eq!(r.entries[1].offset, Duration::from_secs(1));
        assert_eq!(r.entries[1].took, Duration::from_secs(10));
        assert_eq!(r.entries[2].direction, Direction::Upload);
        assert_eq!(r.entries[2].bytes, 777);
        assert_eq!(r.entries[2].offset, Duration::from_secs(61));
        // A space-padded day six days later.
        assert_eq!(r.entries[3].offset, Duration::from_secs(6 * 86_400 + 1));
        assert_eq!(r.download_paths, ["pub/file.iso", "pub/small.txt"]);
        assert_eq!(r.offset(2, 10.0), Some(Duration::from_millis(6_100)));
        assert_eq!(r.offset(9, 1.0), None);
    }

    #[test]
    fn refuses_what_it_cannot_replay() {
        assert!(matches!(
            Replay::parse("yesterday 1 h 2 /a b _ o a u ftp 0 * c", ""),
            Err(XferlogError::Date { line: 1, .. })
        ));
        assert!(matches!(
            Replay::parse("Tue Nov 25 04:14:10 2025 1 h 2 /a", ""),
            Err(XferlogError::Fields { line: 1 })
        ));
        assert!(matches!(
            Replay::parse(
                "Tue Nov 25 04:14:10 2025 1 h many /a b _ o a u ftp 0 * c",
                ""
            ),
            Err(XferlogError::Number {
                what: "byte count",
                ..
            })
        ));
        assert!(matches!(
            Replay::parse("Tue Nov 25 04:14:10 2025 1 h 2 /a b _ x a u ftp 0 * c", ""),
            Err(XferlogError::Direction { .. })
        ));
        assert_eq!(Replay::parse("\n", ""), Err(XferlogError::Empty));
    }
}
