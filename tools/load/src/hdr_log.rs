//! `--hdr-log`: per-interval latency histograms in the HdrHistogram interval-log format,
//! one tagged histogram per phase per interval, for HdrHistogram's own plotting tools.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;
use std::time::{Duration, SystemTime};

use hdrhistogram::serialization::interval_log::{IntervalLogWriterBuilder, Tag};
use hdrhistogram::serialization::V2DeflateSerializer;

use crate::stats::{Phase, Stats};

/// Failures writing the interval log.
#[derive(Debug, thiserror::Error)]
pub enum HdrLogError {
    #[error("hdr log: {0}")]
    Io(#[from] std::io::Error),
    #[error("hdr log: cannot serialise histogram: {0}")]
    Serialize(String),
}

/// An open interval log.
pub struct HdrLog {
    out: BufWriter<File>,
    serializer: V2DeflateSerializer,
}

impl HdrLog {
    /// Creates the log file and writes its header; timestamps are relative to `start`.
    pub fn create(path: &Path, start: SystemTime) -> Result<Self, HdrLogError> {
        let mut out = BufWriter::new(File::create(path)?);
        let mut serializer = V2DeflateSerializer::new();
        IntervalLogWriterBuilder::new()
            .add_comment("ringftp-load interval log; values in microseconds; tag = phase")
            .with_start_time(start)
            .with_base_time(start)
            .begin_log_with(&mut out, &mut serializer)?;
        out.flush()?;
        Ok(Self { out, serializer })
    }

    /// Writes the non-empty phase histograms of one interval.
    pub fn write_interval(
        &mut self,
        stats: &Stats,
        since_start: Duration,
        length: Duration,
    ) -> Result<(), HdrLogError> {
        let mut writer =
            IntervalLogWriterBuilder::new().begin_log_with(&mut self.out, &mut self.serializer)?;
        for phase in Phase::MEASURED {
            let Some(h) = stats.histogram(phase).filter(|h| !h.is_empty()) else {
                continue;
            };
            writer
                .write_histogram(h, since_start, length, Tag::new(phase.name()))
                .map_err(|e| HdrLogError::Serialize(e.to_string()))?;
        }
        self.out.flush()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use hdrhistogram::serialization::interval_log::{IntervalLogIterator, LogEntry};

    #[test]
    fn writes_readable_intervals() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("run.hlog");
        let mut log = HdrLog::create(&path, SystemTime::now()).unwrap();
        let mut stats = Stats::new();
        stats.record(Phase::Login, Duration::from_millis(3));
        stats.record(Phase::Session, Duration::from_millis(9));
        log.write_interval(&stats, Duration::ZERO, Duration::from_secs(1))
            .unwrap();
        drop(log);
        let text = std::fs::read(&path).unwrap();
        let tags: Vec<String> = IntervalLogIterator::new(&text)
            .filter_map(|e| match e {
                Ok(LogEntry::Interval(h)) => h.tag().map(|t| t.as_str().to_string()),
                _ => None,
            })
            .collect();
        assert_eq!(tags, vec!["login".to_string(), "session".to_string()]);
    }
}
