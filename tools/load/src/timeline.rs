//! The run second by second: throughput, sessions finished and latency percentiles of
//! each one-second interval, for `--plot` and for comparison charts across servers.

use serde::{Deserialize, Serialize};

use crate::progress::Snapshot;
use crate::stats::{Phase, Stats};

/// One interval of the run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Point {
    /// End of the interval, seconds from the start.
    pub t_s: f64,
    pub mib_per_s: f64,
    /// Sessions that ended (ok, failed or cut) during the interval, per second.
    pub sessions_per_s: f64,
    pub in_flight: u64,
    pub errors: u64,
    /// First-byte latency percentiles of transfers whose first byte came in the interval.
    pub first_byte_p50_ms: Option<f64>,
    pub first_byte_p99_ms: Option<f64>,
    /// Session latency percentiles of sessions that ended in the interval.
    pub session_p50_ms: Option<f64>,
    pub session_p99_ms: Option<f64>,
}

/// Builds the point of an interval of `secs` seconds ending `t_s` after the start, from
/// the live counters at both ends and the interval's histograms.
pub fn point(t_s: f64, secs: f64, before: Snapshot, after: Snapshot, interval: &Stats) -> Point {
    let secs = secs.max(1e-9);
    let pct = |phase: Phase, q: f64| {
        interval
            .histogram(phase)
            .filter(|h| !h.is_empty())
            .map(|h| h.value_at_quantile(q) as f64 / 1000.0)
    };
    Point {
        t_s,
        mib_per_s: after.bytes.saturating_sub(before.bytes) as f64 / secs / (1024.0 * 1024.0),
        sessions_per_s: after.sessions_done.saturating_sub(before.sessions_done) as f64 / secs,
        in_flight: after.in_flight,
        errors: after.errors.saturating_sub(before.errors),
        first_byte_p50_ms: pct(Phase::FirstByte, 0.5),
        first_byte_p99_ms: pct(Phase::FirstByte, 0.99),
        session_p50_ms: pct(Phase::Session, 0.5),
        session_p99_ms: pct(Phase::Session, 0.99),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn interval_rates_and_percentiles() {
        let before = Snapshot {
            sessions_done: 10,
            errors: 1,
            bytes: 1 << 20,
            in_flight: 5,
        };
        let after = Snapshot {
            sessions_done: 30,
            errors: 3,
            bytes: 5 << 20,
            in_flight: 7,
        };
        let mut s = Stats::new();
        for ms in 1..=100 {
            s.record(Phase::FirstByte, Duration::from_millis(ms));
        }
        let p = point(3.0, 2.0, before, after, &s);
        assert_eq!(p.mib_per_s, 2.0);
        assert_eq!(p.sessions_per_s, 10.0);
        assert_eq!((p.in_flight, p.errors), (7, 2));
        let p50 = p.first_byte_p50_ms.unwrap();
        let p99 = p.first_byte_p99_ms.unwrap();
        assert!((49.9..=50.1).contains(&p50), "{p50}");
        assert!((98.9..=99.1).contains(&p99), "{p99}");
        assert_eq!(p.session_p50_ms, None);
    }
}
