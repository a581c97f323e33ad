//! Per-worker counters, written by one worker and read by the metrics endpoint.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// Counters of one worker. Gauges and counters are plain relaxed atomics: each is
/// written by its own worker only, so there is no contention on the hot path.
#[derive(Debug, Default)]
pub struct WorkerMetrics {
    pub sessions_open: AtomicU64,
    pub sessions_total: AtomicU64,
    pub sessions_refused: AtomicU64,
    pub transfers_out: AtomicU64,
    pub transfers_in: AtomicU64,
    pub transfers_failed: AtomicU64,
    pub transfers_aborted: AtomicU64,
    pub bytes_out: AtomicU64,
    pub bytes_in: AtomicU64,
    pub listings: AtomicU64,
    pub passive_size: AtomicU64,
    pub passive_in_use: AtomicU64,
    pub passive_exhausted: AtomicU64,
    pub passive_foreign_refused: AtomicU64,
    pub idle_timeouts: AtomicU64,
    pub data_timeouts: AtomicU64,
    pub login_failures: AtomicU64,
    /// Sessions whose client address came from a PROXY header.
    pub proxied_sessions: AtomicU64,
    /// Control or data connections from a trusted proxy dropped for a missing,
    /// invalid or late PROXY header.
    pub proxy_header_failures: AtomicU64,
    /// Bytes that waited for a bandwidth cap, and the time they waited (µs), indexed
    /// by `rate_limit::CapKind` (the cap that made the wait longest).
    pub rate_delayed_bytes: [AtomicU64; 3],
    pub rate_delay_micros: [AtomicU64; 3],
    /// TLS handshakes (control and data) completed, failed, timed out, running now.
    pub tls_handshakes: AtomicU64,
    pub tls_handshake_failures: AtomicU64,
    pub tls_handshake_timeouts: AtomicU64,
    pub tls_handshakes_in_progress: AtomicU64,
    /// PROT P data connections refused for not resuming the control's TLS session.
    pub tls_data_not_resumed: AtomicU64,
    /// Bytes of plaintext a client sent behind AUTH TLS, discarded unread.
    pub tls_plaintext_discarded: AtomicU64,
    /// Replies sent with codes 4xx/5xx, indexed by code - 400.
    pub error_replies: ErrorReplies,
}

/// Counts of error replies by code.
#[derive(Debug)]
pub struct ErrorReplies(Box<[AtomicU64]>);

impl Default for ErrorReplies {
    fn default() -> Self {
        ErrorReplies((400..600).map(|_| AtomicU64::new(0)).collect())
    }
}

impl ErrorReplies {
    /// Count one reply if it is an error.
    pub fn count(&self, code: u16) {
        if let Some(c) = code
            .checked_sub(400)
            .and_then(|i| self.0.get(usize::from(i)))
        {
            c.fetch_add(1, Relaxed);
        }
    }

    /// (code, count) for every code seen at least once.
    pub fn snapshot(&self) -> Vec<(u16, u64)> {
        self.0
            .iter()
            .enumerate()
            .filter_map(|(i, c)| {
                let n = c.load(Relaxed);
                (n > 0).then_some((400 + i as u16, n))
            })
            .collect()
    }
}

/// Increment a counter by one.
pub fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Relaxed);
}
