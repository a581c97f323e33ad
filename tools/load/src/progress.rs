//! Live counters shared by all worker threads, and the one-line progress view drawn on
//! stderr once a second when stderr is a terminal.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

use crate::units::format_bytes;

/// Counters every worker thread updates as sessions run.
#[derive(Debug, Default)]
pub struct Progress {
    /// Sessions finished, successfully or not.
    pub sessions_done: AtomicU64,
    /// Sessions or transfers that ended in an error.
    pub errors: AtomicU64,
    /// Data bytes moved in either direction.
    pub bytes: AtomicU64,
    /// Sessions currently running.
    pub in_flight: AtomicU64,
    /// Most sessions seen running at once.
    pub peak_in_flight: AtomicU64,
}

/// A copy of the counters at one moment.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Snapshot {
    pub sessions_done: u64,
    pub errors: u64,
    pub bytes: u64,
    pub in_flight: u64,
}

impl Progress {
    /// Reads all counters.
    pub fn snapshot(&self) -> Snapshot {
        Snapshot {
            sessions_done: self.sessions_done.load(Relaxed),
            errors: self.errors.load(Relaxed),
            bytes: self.bytes.load(Relaxed),
            in_flight: self.in_flight.load(Relaxed),
        }
    }
}

/// The progress line for the interval between `prev` and `now`.
pub fn line(elapsed: Duration, interval: Duration, prev: Snapshot, now: Snapshot) -> String {
    let secs = interval.as_secs_f64().max(1e-9);
    let sessions = (now.sessions_done - prev.sessions_done) as f64 / secs;
    let bytes = (now.bytes - prev.bytes) as f64 / secs;
    format!(
        "[{:>6.1}s] {:>9.1} sessions/s  {:>10}/s  errors {:>6}  in flight {:>6}",
        elapsed.as_secs_f64(),
        sessions,
        format_bytes(bytes),
        now.errors,
        now.in_flight
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn line_shows_rates_over_the_interval() {
        let prev = Snapshot {
            sessions_done: 100,
            errors: 1,
            bytes: 0,
            in_flight: 10,
        };
        let now = Snapshot {
            sessions_done: 600,
            errors: 3,
            bytes: 2 * 1024 * 1024,
            in_flight: 12,
        };
        let l = line(
            Duration::from_secs(5),
            Duration::from_millis(500),
            prev,
            now,
        );
        assert_eq!(
            l,
            "[   5.0s]    1000.0 sessions/s     4.0 MiB/s  errors      3  in flight     12"
        );
    }
}
