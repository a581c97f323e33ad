//! Measurements: one HDR histogram per session phase (microseconds), counters, and
//! errors tallied by phase and class. One `Stats` per worker thread, merged at the end.

use std::collections::BTreeMap;
use std::fmt;
use std::time::{Duration, Instant};

use hdrhistogram::Histogram;

/// Highest latency a histogram holds: one hour, in microseconds.
const MAX_MICROS: u64 = 3_600_000_000;

/// Highest per-session rate the rate histogram holds: 1 TiB/s, in bytes per second.
const MAX_RATE: u64 = 1 << 40;

/// A measured step of a session.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Phase {
    /// Open loop only: intended start to actual start.
    StartLag,
    /// TCP connect of the control connection.
    Connect,
    /// Connected to the 220 greeting.
    Banner,
    /// USER sent to 230 received.
    Login,
    /// PASV/EPSV sent to data connection established, or PORT/EPRT sent to the server's
    /// data connection accepted.
    DataSetup,
    /// Transfer command sent to first data byte (downloads) or to the 150 reply (uploads).
    FirstByte,
    /// Transfer command sent to 226 received.
    Transfer,
    /// Whole session, QUIT included; in open loop measured from the intended start.
    Session,
    /// QUIT sent to 221 received (errors only).
    Quit,
}

impl Phase {
    /// Phases that have latency histograms, in report order.
    pub const MEASURED: [Phase; 8] = [
        Phase::StartLag,
        Phase::Connect,
        Phase::Banner,
        Phase::Login,
        Phase::DataSetup,
        Phase::FirstByte,
        Phase::Transfer,
        Phase::Session,
    ];

    /// Name used in reports and JSON.
    pub fn name(self) -> &'static str {
        match self {
            Phase::StartLag => "start-lag",
            Phase::Connect => "connect",
            Phase::Banner => "banner",
            Phase::Login => "login",
            Phase::DataSetup => "data-setup",
            Phase::FirstByte => "first-byte",
            Phase::Transfer => "transfer",
            Phase::Session => "session",
            Phase::Quit => "quit",
        }
    }

    fn slot(self) -> Option<usize> {
        Phase::MEASURED.iter().position(|p| *p == self)
    }
}

impl fmt::Display for Phase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// Why a session step failed, coarse enough to tally.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ErrorClass {
    /// The server answered with an unexpected reply code.
    Reply(u16),
    /// The phase did not finish within `--timeout`.
    Timeout,
    /// Connection refused.
    Refused,
    /// Connection reset by the peer.
    Reset,
    /// The server closed a connection early.
    Closed,
    /// Fewer bytes than SIZE announced.
    ShortRead,
    /// More bytes than SIZE announced.
    LongRead,
    /// Downloaded bytes differ from `--verify-content`.
    ContentMismatch,
    /// SIZE after an upload or before a download disagrees.
    SizeMismatch,
    /// A reply that is not FTP, or an unusable PASV/EPSV address.
    Protocol,
    /// Local address or port exhaustion (EADDRNOTAVAIL, EMFILE and the like).
    LocalResources,
    /// Any other I/O error, by kind.
    Io(String),
}

impl fmt::Display for ErrorClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ErrorClass::Reply(code) => write!(f, "{code}"),
            ErrorClass::Timeout => f.write_str("timeout"),
            ErrorClass::Refused => f.write_str("refused"),
            ErrorClass::Reset => f.write_str("reset"),
            ErrorClass::Closed => f.write_str("closed"),
            ErrorClass::ShortRead => f.write_str("short read"),
            ErrorClass::LongRead => f.write_str("long read"),
            ErrorClass::ContentMismatch => f.write_str("content mismatch"),
            ErrorClass::SizeMismatch => f.write_str("size mismatch"),
            ErrorClass::Protocol => f.write_str("protocol"),
            ErrorClass::LocalResources => f.write_str("local resources"),
            ErrorClass::Io(kind) => write!(f, "io {kind}"),
        }
    }
}

impl ErrorClass {
    /// Classifies an I/O error.
    pub fn from_io(err: &std::io::Error) -> Self {
        use std::io::ErrorKind as K;
        match err.kind() {
            K::ConnectionRefused => ErrorClass::Refused,
            K::ConnectionReset | K::ConnectionAborted | K::BrokenPipe => ErrorClass::Reset,
            K::UnexpectedEof => ErrorClass::Closed,
            K::TimedOut => ErrorClass::Timeout,
            K::AddrNotAvailable | K::AddrInUse | K::OutOfMemory => ErrorClass::LocalResources,
            _ => match err.raw_os_error() {
                Some(libc::EMFILE | libc::ENFILE | libc::ENOBUFS) => ErrorClass::LocalResources,
                _ => ErrorClass::Io(format!("{:?}", err.kind())),
            },
        }
    }
}

/// Everything one worker thread measured.
#[derive(Debug, Clone)]
pub struct Stats {
    histograms: Vec<Histogram<u64>>,
    /// Achieved data rate of each session that moved data, bytes per second.
    rates: Histogram<u64>,
    /// Sessions still transferring at the end of the duration, closed there on purpose
    /// (`--cut-at-end`); their rates count, they are neither ok nor failed.
    pub sessions_cut: u64,
    /// Sessions that finished every step.
    pub sessions_ok: u64,
    /// Sessions that stopped at an error.
    pub sessions_failed: u64,
    /// Sessions still running when the run was stopped.
    pub sessions_aborted: u64,
    /// Transfers that completed and verified.
    pub transfers_ok: u64,
    /// Bytes received on data connections.
    pub bytes_down: u64,
    /// Bytes sent on data connections.
    pub bytes_up: u64,
    /// Sessions that used active mode.
    pub sessions_active: u64,
    /// Sessions that used passive mode.
    pub sessions_passive: u64,
    /// Error tallies by phase and class.
    pub errors: BTreeMap<(Phase, ErrorClass), u64>,
    /// When the last successful session ended.
    pub last_ok_at: Option<Instant>,
}

impl Default for Stats {
    fn default() -> Self {
        Self::new()
    }
}

impl Stats {
    /// Empty statistics.
    pub fn new() -> Self {
        let histograms = Phase::MEASURED
            .iter()
            .map(|_| {
                Histogram::new_with_bounds(1, MAX_MICROS, 3)
                    .expect("constant histogram bounds are valid")
            })
            .collect();
        Self {
            histograms,
            rates: Histogram::new_with_bounds(1, MAX_RATE, 3)
                .expect("constant histogram bounds are valid"),
            sessions_cut: 0,
            sessions_ok: 0,
            sessions_failed: 0,
            sessions_aborted: 0,
            transfers_ok: 0,
            bytes_down: 0,
            bytes_up: 0,
            sessions_active: 0,
            sessions_passive: 0,
            errors: BTreeMap::new(),
            last_ok_at: None,
        }
    }

    /// Records how long a phase took.
    pub fn record(&mut self, phase: Phase, took: Duration) {
        if let Some(slot) = phase.slot() {
            let us = u64::try_from(took.as_micros()).unwrap_or(u64::MAX).max(1);
            self.histograms[slot].saturating_record(us);
        }
    }

    /// Records a session's achieved data rate in bytes per second.
    pub fn record_rate(&mut self, bytes_per_s: f64) {
        if bytes_per_s.is_finite() && bytes_per_s >= 1.0 {
            self.rates.saturating_record(bytes_per_s as u64);
        }
    }

    /// Per-session achieved rates, bytes per second.
    pub fn rates(&self) -> &Histogram<u64> {
        &self.rates
    }

    /// Counts one error.
    pub fn error(&mut self, phase: Phase, class: ErrorClass) {
        *self.errors.entry((phase, class)).or_insert(0) += 1;
    }

    /// The histogram of a measured phase.
    pub fn histogram(&self, phase: Phase) -> Option<&Histogram<u64>> {
        phase.slot().map(|s| &self.histograms[s])
    }

    /// Total errors of all phases.
    pub fn error_count(&self) -> u64 {
        self.errors.values().sum()
    }

    /// Adds another thread's statistics into this one.
    pub fn merge(&mut self, other: &Stats) {
        for (mine, theirs) in self.histograms.iter_mut().zip(&other.histograms) {
            // Both histograms have the same bounds, so adding cannot fail.
            let _ = mine.add(theirs);
        }
        let _ = self.rates.add(&other.rates);
        self.sessions_cut += other.sessions_cut;
        self.sessions_ok += other.sessions_ok;
        self.sessions_failed += other.sessions_failed;
        self.sessions_aborted += other.sessions_aborted;
        self.transfers_ok += other.transfers_ok;
        self.bytes_down += other.bytes_down;
        self.bytes_up += other.bytes_up;
        self.sessions_active += other.sessions_active;
        self.sessions_passive += other.sessions_passive;
        self.last_ok_at = self.last_ok_at.max(other.last_ok_at);
        for (key, n) in &other.errors {
            *self.errors.entry(key.clone()).or_insert(0) += n;
        }
    }

    /// Clears histograms only (used for interval logs).
    pub fn reset_histograms(&mut self) {
        for h in &mut self.histograms {
            h.reset();
        }
        self.rates.reset();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn record_and_merge() {
        let mut a = Stats::new();
        a.record(Phase::Login, Duration::from_millis(2));
        a.record(Phase::Quit, Duration::from_millis(2));
        a.error(Phase::Login, ErrorClass::Reply(530));
        a.sessions_ok = 1;
        let mut b = Stats::new();
        b.record(Phase::Login, Duration::from_millis(4));
        b.error(Phase::Login, ErrorClass::Reply(530));
        b.error(Phase::DataSetup, ErrorClass::Timeout);
        b.sessions_ok = 2;
        a.merge(&b);
        let h = a.histogram(Phase::Login).unwrap();
        assert_eq!(h.len(), 2);
        assert!(h.max() >= 3_990);
        assert_eq!(a.histogram(Phase::Quit).map(|h| h.len()), None);
        assert_eq!(a.sessions_ok, 3);
        assert_eq!(a.errors[&(Phase::Login, ErrorClass::Reply(530))], 2);
        assert_eq!(a.error_count(), 3);
    }

    #[test]
    fn rates_merge_and_ignore_nonsense() {
        let mut a = Stats::new();
        a.record_rate(262_144.0);
        a.record_rate(f64::NAN);
        a.record_rate(0.0);
        let mut b = Stats::new();
        b.record_rate(131_072.0);
        b.sessions_cut = 2;
        a.merge(&b);
        assert_eq!(a.rates().len(), 2);
        assert_eq!(a.sessions_cut, 2);
        let low = a.rates().value_at_quantile(0.01);
        assert!((131_000..=131_200).contains(&low), "{low}");
    }

    #[test]
    fn zero_duration_is_recorded_as_one_microsecond() {
        let mut s = Stats::new();
        s.record(Phase::Connect, Duration::ZERO);
        assert_eq!(s.histogram(Phase::Connect).unwrap().min(), 1);
    }

    #[test]
    fn io_classes() {
        use std::io::{Error, ErrorKind};
        assert_eq!(
            ErrorClass::from_io(&Error::from(ErrorKind::ConnectionRefused)),
            ErrorClass::Refused
        );
        assert_eq!(
            ErrorClass::from_io(&Error::from_raw_os_error(libc::EMFILE)),
            ErrorClass::LocalResources
        );
        assert_eq!(
            ErrorClass::from_io(&Error::from(ErrorKind::UnexpectedEof)),
            ErrorClass::Closed
        );
        assert_eq!(ErrorClass::Reply(530).to_string(), "530");
        assert_eq!(ErrorClass::ShortRead.to_string(), "short read");
    }
}
