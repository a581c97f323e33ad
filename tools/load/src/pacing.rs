//! Rate limits on a session's data connection, as a client behind a slow link has: the
//! bytes a transfer may have moved by a given moment, and how long to wait before the next
//! read or write.

use std::time::Duration;

/// How much time's worth of data a paced read or write moves at once: a transfer never
/// runs ahead of its rate by more than this, and a session wakes about ten times a
/// second, so 10,000 paced sessions cost the load generator little.
const GRANULE: Duration = Duration::from_millis(100);

/// Smallest chunk a paced transfer moves at once.
const MIN_CHUNK: usize = 1024;

/// A transfer rate cap in bytes per second.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Pace {
    bytes_per_s: f64,
}

impl Pace {
    /// A cap of `bytes_per_s` (must be > 0).
    pub fn new(bytes_per_s: u64) -> Self {
        Self {
            bytes_per_s: bytes_per_s.max(1) as f64,
        }
    }

    /// Bytes per second.
    pub fn bytes_per_s(&self) -> f64 {
        self.bytes_per_s
    }

    /// The largest chunk to move at once: about `GRANULE` worth at this rate, at most `max`.
    pub fn chunk(&self, max: usize) -> usize {
        let granule = (self.bytes_per_s * GRANULE.as_secs_f64()) as usize;
        granule.clamp(MIN_CHUNK.min(max), max)
    }

    /// How long after the transfer's start it may have moved `done` bytes: `done / rate`.
    /// A transfer waits until then before it moves its next chunk, so over any stretch of
    /// time it moves at most the rate plus one chunk.
    pub fn due(&self, done: u64) -> Duration {
        Duration::from_secs_f64(done as f64 / self.bytes_per_s)
    }
}

/// Achieved rate of a transfer that moved `bytes` in `took`, bytes per second.
pub fn achieved(bytes: u64, took: Duration) -> f64 {
    let secs = took.as_secs_f64();
    if secs <= 0.0 {
        return 0.0;
    }
    bytes as f64 / secs
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn due_follows_the_rate() {
        let p = Pace::new(256 * 1024);
        assert_eq!(p.due(0), Duration::ZERO);
        assert_eq!(p.due(256 * 1024), Duration::from_secs(1));
        assert_eq!(p.due(64 * 1024), Duration::from_millis(250));
    }

    #[test]
    fn chunks_are_a_granule_of_the_rate() {
        // 256 KiB/s: 100 ms is 26,214 bytes.
        assert_eq!(Pace::new(256 * 1024).chunk(256 * 1024), 26_214);
        // Slow rates still move at least 1 KiB at once; fast ones at most the buffer.
        assert_eq!(Pace::new(1000).chunk(256 * 1024), 1024);
        assert_eq!(Pace::new(1 << 40).chunk(256 * 1024), 256 * 1024);
        assert_eq!(Pace::new(1000).chunk(512), 512);
    }

    #[test]
    fn a_paced_transfer_never_runs_ahead() {
        // Simulate a transfer that moves a chunk whenever it is due: by any moment t it has
        // moved at most rate * t + one chunk.
        let p = Pace::new(100_000);
        let chunk = p.chunk(256 * 1024) as u64;
        let mut done = 0u64;
        let mut now = Duration::ZERO;
        while now < Duration::from_secs(10) {
            now = now.max(p.due(done));
            done += chunk;
            // (One byte of slack for rounding to whole nanoseconds.)
            assert!(done as f64 <= 100_000.0 * now.as_secs_f64() + chunk as f64 + 1.0);
        }
        // Like the transfers, wait for the last chunk's time before finishing.
        now = now.max(p.due(done));
        let rate = achieved(done, now);
        assert!((rate - 100_000.0).abs() / 100_000.0 < 0.01, "{rate}");
    }

    #[test]
    fn achieved_rate() {
        assert_eq!(achieved(1 << 20, Duration::from_secs(2)), 524_288.0);
        assert_eq!(achieved(5, Duration::ZERO), 0.0);
    }
}
