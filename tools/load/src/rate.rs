//! When sessions are meant to start: the open-loop schedule (a fixed rate, optionally
//! ramped up linearly) and the staggered start of closed-loop workers.
//!
//! Open-loop latency is measured from these intended start times, not from when the
//! session actually started, so a stalled server cannot hide its stall by slowing the
//! generator down (coordinated omission, as wrk2 explains it).

use std::time::Duration;

/// A session start schedule at `rate` sessions per second, reached after a linear ramp.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Schedule {
    rate: f64,
    ramp: f64,
}

impl Schedule {
    /// `rate` sessions per second (must be > 0), ramping linearly from 0 over `ramp`.
    pub fn new(rate: f64, ramp: Duration) -> Self {
        Self {
            rate,
            ramp: ramp.as_secs_f64(),
        }
    }

    /// Offset from the run start at which session `index` (0-based) should start.
    ///
    /// During the ramp the rate is `rate * t / ramp`, so `index` sessions have started by
    /// `t = sqrt(2 * index * ramp / rate)`; afterwards sessions follow every `1 / rate`.
    pub fn offset(&self, index: u64) -> Duration {
        let k = index as f64;
        let ramp_sessions = self.rate * self.ramp / 2.0;
        let secs = if k < ramp_sessions {
            (2.0 * k * self.ramp / self.rate).sqrt()
        } else {
            self.ramp + (k - ramp_sessions) / self.rate
        };
        Duration::from_secs_f64(secs)
    }
}

/// When closed-loop worker `worker` of `workers` starts, spreading starts over `ramp`.
pub fn worker_start(worker: u64, workers: u64, ramp: Duration) -> Duration {
    if workers == 0 {
        return Duration::ZERO;
    }
    ramp.mul_f64(worker as f64 / workers as f64)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: Duration, b: f64) -> bool {
        (a.as_secs_f64() - b).abs() < 1e-9
    }

    #[test]
    fn steady_rate() {
        let s = Schedule::new(100.0, Duration::ZERO);
        assert_eq!(s.offset(0), Duration::ZERO);
        assert!(close(s.offset(1), 0.01));
        assert!(close(s.offset(250), 2.5));
    }

    #[test]
    fn ramp_then_steady() {
        // 10 s ramp to 100/s: 500 sessions during the ramp, then 100 per second.
        let s = Schedule::new(100.0, Duration::from_secs(10));
        assert!(close(s.offset(500), 10.0));
        assert!(close(s.offset(600), 11.0));
        // Halfway through the ramp a quarter of the ramp's sessions have started.
        assert!(close(s.offset(125), 5.0));
        // Starts are increasingly dense during the ramp.
        let gap_early = s.offset(2) - s.offset(1);
        let gap_late = s.offset(401) - s.offset(400);
        assert!(gap_early > gap_late);
    }

    #[test]
    fn offsets_are_monotonic() {
        let s = Schedule::new(37.0, Duration::from_millis(1500));
        let mut last = Duration::ZERO;
        for i in 0..1000 {
            let o = s.offset(i);
            assert!(o >= last);
            last = o;
        }
    }

    #[test]
    fn workers_spread_over_ramp() {
        let ramp = Duration::from_secs(4);
        assert_eq!(worker_start(0, 4, ramp), Duration::ZERO);
        assert_eq!(worker_start(2, 4, ramp), Duration::from_secs(2));
        assert_eq!(worker_start(3, 4, Duration::ZERO), Duration::ZERO);
        assert_eq!(worker_start(0, 0, ramp), Duration::ZERO);
    }
}
