//! Where a worker thread's sessions put their measurements: the thread's own statistics,
//! the shared live counters, and (with `--hdr-log`) the shared interval histograms.

use std::cell::{Cell, RefCell};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::progress::Progress;
use crate::stats::{ErrorClass, Phase, Stats};

/// One worker thread's measurement sink; used only from that thread.
pub struct Recorder {
    stats: RefCell<Stats>,
    in_flight: Cell<u64>,
    progress: Arc<Progress>,
    interval: Option<Arc<Mutex<Stats>>>,
}

impl Recorder {
    /// A sink feeding `progress` and, when given, the interval histograms.
    pub fn new(progress: Arc<Progress>, interval: Option<Arc<Mutex<Stats>>>) -> Self {
        Self {
            stats: RefCell::new(Stats::new()),
            in_flight: Cell::new(0),
            progress,
            interval,
        }
    }

    /// Records a phase latency.
    pub fn phase(&self, phase: Phase, took: Duration) {
        self.stats.borrow_mut().record(phase, took);
        if let Some(interval) = &self.interval {
            if let Ok(mut s) = interval.lock() {
                s.record(phase, took);
            }
        }
    }

    /// Counts an error in a phase.
    pub fn error(&self, phase: Phase, class: ErrorClass) {
        self.stats.borrow_mut().error(phase, class);
        self.progress.errors.fetch_add(1, Relaxed);
    }

    /// Counts data bytes received.
    pub fn bytes_down(&self, n: u64) {
        self.stats.borrow_mut().bytes_down += n;
        self.progress.bytes.fetch_add(n, Relaxed);
    }

    /// Counts data bytes sent.
    pub fn bytes_up(&self, n: u64) {
        self.stats.borrow_mut().bytes_up += n;
        self.progress.bytes.fetch_add(n, Relaxed);
    }

    /// Counts a completed, verified transfer.
    pub fn transfer_ok(&self) {
        self.stats.borrow_mut().transfers_ok += 1;
    }

    /// Marks a session as started in `active` or passive mode.
    pub fn session_started(&self, active: bool) {
        {
            let mut s = self.stats.borrow_mut();
            if active {
                s.sessions_active += 1;
            } else {
                s.sessions_passive += 1;
            }
        }
        self.in_flight.set(self.in_flight.get() + 1);
        let now = self.progress.in_flight.fetch_add(1, Relaxed) + 1;
        self.progress.peak_in_flight.fetch_max(now, Relaxed);
    }

    /// Records the rate a session achieved: `bytes` over the time it spent transferring.
    pub fn session_rate(&self, bytes: u64, took: Duration) {
        if bytes > 0 {
            self.stats
                .borrow_mut()
                .record_rate(crate::pacing::achieved(bytes, took));
        }
    }

    /// Marks a session as closed mid-transfer at the end of the duration (`--cut-at-end`).
    pub fn session_cut(&self) {
        self.stats.borrow_mut().sessions_cut += 1;
        self.in_flight.set(self.in_flight.get().saturating_sub(1));
        self.progress.in_flight.fetch_sub(1, Relaxed);
        self.progress.sessions_done.fetch_add(1, Relaxed);
    }

    /// Marks a session as finished.
    pub fn session_finished(&self, ok: bool) {
        {
            let mut s = self.stats.borrow_mut();
            if ok {
                s.sessions_ok += 1;
                s.last_ok_at = Some(std::time::Instant::now());
            } else {
                s.sessions_failed += 1;
            }
        }
        self.in_flight.set(self.in_flight.get().saturating_sub(1));
        self.progress.in_flight.fetch_sub(1, Relaxed);
        self.progress.sessions_done.fetch_add(1, Relaxed);
    }

    /// Ends the thread's work: sessions still running count as aborted.
    pub fn finish(&self) -> Stats {
        let aborted = self.in_flight.replace(0);
        self.progress.in_flight.fetch_sub(aborted, Relaxed);
        let mut stats = self.stats.replace(Stats::new());
        stats.sessions_aborted += aborted;
        stats
    }
}
