//! A per-session token bucket bounding how fast a client may send commands.
//! Over the rate, commands are not refused: the session just waits for a token,
//! so a flooding client slows itself down without costing the worker more work.

use std::time::{Duration, Instant};

/// Token bucket: `rate` tokens per second, at most `burst` saved up.
#[derive(Debug, Clone)]
pub struct CommandRate {
    rate: f64,
    burst: f64,
    tokens: f64,
    last: Instant,
}

impl CommandRate {
    /// A full bucket. `rate == 0` disables the limit.
    pub fn new(rate: u32, burst: u32, now: Instant) -> CommandRate {
        CommandRate {
            rate: f64::from(rate),
            burst: f64::from(burst.max(1)),
            tokens: f64::from(burst.max(1)),
            last: now,
        }
    }

    /// Take a token for a command at `now`; returns how long to wait first.
    pub fn take(&mut self, now: Instant) -> Duration {
        if self.rate <= 0.0 {
            return Duration::ZERO;
        }
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.last = now;
        self.tokens = (self.tokens + elapsed * self.rate).min(self.burst);
        self.tokens -= 1.0;
        if self.tokens >= 0.0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64(-self.tokens / self.rate)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn burst_then_paced() {
        let t0 = Instant::now();
        let mut b = CommandRate::new(10, 3, t0);
        for _ in 0..3 {
            assert_eq!(b.take(t0), Duration::ZERO);
        }
        let wait = b.take(t0);
        assert!(
            wait > Duration::from_millis(90) && wait <= Duration::from_millis(100),
            "{wait:?}"
        );
        // After a second the bucket is full again (capped at the burst).
        let t1 = t0 + Duration::from_secs(5);
        for _ in 0..3 {
            assert_eq!(b.take(t1), Duration::ZERO);
        }
        assert!(b.take(t1) > Duration::ZERO);
    }

    #[test]
    fn zero_rate_means_unlimited() {
        let t0 = Instant::now();
        let mut b = CommandRate::new(0, 1, t0);
        for _ in 0..1000 {
            assert_eq!(b.take(t0), Duration::ZERO);
        }
    }
}
