//! The end-of-run report: one serialisable structure, printed as JSON for machines or as
//! a table people can paste.

use std::fmt::Write as _;
use std::time::Duration;

use serde::Serialize;

use crate::metrics::{CoreShare, PortSizing};
use crate::stats::{Phase, Stats};
use crate::timeline::Point;
use crate::units::{format_bytes, format_micros};

/// Describes the run, for the report header.
#[derive(Debug, Clone, Serialize)]
pub struct RunInfo {
    pub target: String,
    pub scenario: String,
    pub mode: String,
    /// `closed` or `open`.
    pub load: String,
    /// Concurrency (closed loop) or sessions per second (open loop).
    pub load_value: f64,
    /// E.g. `duration 30s` or `count 1000`.
    pub stop: String,
    pub threads: usize,
    pub transfers_per_session: u32,
    pub sources: String,
    pub nofile_limit: u64,
}

/// Session counts.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Sessions {
    pub ok: u64,
    pub failed: u64,
    pub aborted: u64,
    /// Closed mid-transfer at the end of the duration (`--cut-at-end`).
    pub cut: u64,
    pub active: u64,
    pub passive: u64,
    /// Most sessions running at once.
    pub peak_in_flight: u64,
}

/// Rates over the whole run.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Throughput {
    pub sessions_per_s: f64,
    pub transfers_per_s: f64,
    pub mib_per_s: f64,
}

/// Latency percentiles of one phase, microseconds.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct PhaseSummary {
    pub phase: &'static str,
    pub count: u64,
    pub mean: f64,
    pub p50: u64,
    pub p90: u64,
    pub p99: u64,
    pub p999: u64,
    pub max: u64,
}

/// Spread of the data rates sessions achieved (bytes over time spent transferring),
/// MiB/s: a low p1 next to a high p99 means the server served some clients unfairly.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct SessionRates {
    pub count: u64,
    pub p1: f64,
    pub p50: f64,
    pub p99: f64,
    pub min: f64,
    pub max: f64,
}

/// Errors of one phase and class.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct ErrorCount {
    pub phase: &'static str,
    pub class: String,
    pub count: u64,
}

/// Everything the run measured.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    #[serde(flatten)]
    pub info: RunInfo,
    /// From the start until every session ended or was aborted.
    pub elapsed_s: f64,
    /// From the start until the last successful session ended; the rates are over this
    /// window, so sessions left to time out after the load stopped do not dilute them.
    pub window_s: f64,
    pub sessions: Sessions,
    pub transfers_ok: u64,
    pub bytes_down: u64,
    pub bytes_up: u64,
    pub throughput: Throughput,
    pub latency_us: Vec<PhaseSummary>,
    pub errors: Vec<ErrorCount>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session_rates: Option<SessionRates>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub server_cores: Option<Vec<CoreShare>>,
    /// Peak passive ports in use per server core and the slice that would have sufficed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub passive_ports: Option<Vec<PortSizing>>,
    /// Per-second intervals (`--timeline`, `--plot`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub timeline: Option<Vec<Point>>,
}

impl Report {
    /// Summarises merged statistics of a run that took `elapsed`, whose last successful
    /// session ended `window` after the start.
    pub fn new(info: RunInfo, stats: &Stats, elapsed: Duration, window: Duration) -> Self {
        let secs = window.as_secs_f64().max(1e-9);
        let latency_us = Phase::MEASURED
            .iter()
            .filter_map(|&phase| {
                let h = stats.histogram(phase)?;
                (!h.is_empty()).then(|| PhaseSummary {
                    phase: phase.name(),
                    count: h.len(),
                    mean: (h.mean() * 10.0).round() / 10.0,
                    p50: h.value_at_quantile(0.5),
                    p90: h.value_at_quantile(0.9),
                    p99: h.value_at_quantile(0.99),
                    p999: h.value_at_quantile(0.999),
                    max: h.max(),
                })
            })
            .collect();
        let errors = stats
            .errors
            .iter()
            .map(|((phase, class), count)| ErrorCount {
                phase: phase.name(),
                class: class.to_string(),
                count: *count,
            })
            .collect();
        let bytes = (stats.bytes_down + stats.bytes_up) as f64;
        let rates = stats.rates();
        let mib = |v: u64| v as f64 / (1024.0 * 1024.0);
        let session_rates = (!rates.is_empty()).then(|| SessionRates {
            count: rates.len(),
            p1: mib(rates.value_at_quantile(0.01)),
            p50: mib(rates.value_at_quantile(0.5)),
            p99: mib(rates.value_at_quantile(0.99)),
            min: mib(rates.min()),
            max: mib(rates.max()),
        });
        Self {
            info,
            elapsed_s: elapsed.as_secs_f64(),
            window_s: window.as_secs_f64(),
            sessions: Sessions {
                ok: stats.sessions_ok,
                failed: stats.sessions_failed,
                aborted: stats.sessions_aborted,
                cut: stats.sessions_cut,
                active: stats.sessions_active,
                passive: stats.sessions_passive,
                peak_in_flight: 0,
            },
            transfers_ok: stats.transfers_ok,
            bytes_down: stats.bytes_down,
            bytes_up: stats.bytes_up,
            throughput: Throughput {
                sessions_per_s: stats.sessions_ok as f64 / secs,
                transfers_per_s: stats.transfers_ok as f64 / secs,
                mib_per_s: bytes / secs / (1024.0 * 1024.0),
            },
            latency_us,
            errors,
            session_rates,
            server_cores: None,
            passive_ports: None,
            timeline: None,
        }
    }

    /// The report as a human-readable table.
    pub fn table(&self) -> String {
        let i = &self.info;
        let mut out = String::new();
        let load = match i.load.as_str() {
            "open" => format!("open loop {} sessions/s", i.load_value),
            "replay" => format!("replay at {}x the logged pace", i.load_value),
            _ => format!("closed loop, concurrency {}", i.load_value),
        };
        let _ = writeln!(
            out,
            "ringftp-load {} -> {}  ({}, mode {}, {}, {} per session)",
            i.scenario, i.target, load, i.mode, i.stop, i.transfers_per_session
        );
        let _ = writeln!(
            out,
            "threads {}, sources {}, open-file limit {}",
            i.threads, i.sources, i.nofile_limit
        );
        let s = &self.sessions;
        let _ = writeln!(
            out,
            "elapsed {:.2}s (rates over {:.2}s)  sessions {} ok, {} failed, {} aborted{} ({} active, {} passive), \
             peak {} at once",
            self.elapsed_s,
            self.window_s,
            s.ok,
            s.failed,
            s.aborted,
            if s.cut > 0 {
                format!(", {} cut at the end", s.cut)
            } else {
                String::new()
            },
            s.active,
            s.passive,
            s.peak_in_flight
        );
        let t = &self.throughput;
        let _ = writeln!(
            out,
            "throughput {:.1} sessions/s, {:.1} transfers/s, {:.1} MiB/s ({} down, {} up)",
            t.sessions_per_s,
            t.transfers_per_s,
            t.mib_per_s,
            format_bytes(self.bytes_down as f64),
            format_bytes(self.bytes_up as f64)
        );
        if let Some(r) = &self.session_rates {
            let _ = writeln!(
                out,
                "per-session rate MiB/s ({} sessions): p1 {:.3}  p50 {:.3}  p99 {:.3}  (min {:.3}, max {:.3})",
                r.count, r.p1, r.p50, r.p99, r.min, r.max
            );
        }
        let _ = writeln!(
            out,
            "\n{:<11} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9}",
            "phase", "count", "p50", "p90", "p99", "p99.9", "max"
        );
        for p in &self.latency_us {
            let _ = writeln!(
                out,
                "{:<11} {:>9} {:>9} {:>9} {:>9} {:>9} {:>9}",
                p.phase,
                p.count,
                format_micros(p.p50),
                format_micros(p.p90),
                format_micros(p.p99),
                format_micros(p.p999),
                format_micros(p.max)
            );
        }
        if self.errors.is_empty() {
            let _ = writeln!(out, "\nerrors: none");
        } else {
            let _ = writeln!(out, "\nerrors:");
            for e in &self.errors {
                let _ = writeln!(out, "  {}: {} x{}", e.phase, e.class, e.count);
            }
        }
        if let Some(cores) = &self.server_cores {
            let _ = writeln!(out, "\nserver sessions per core:");
            for c in cores {
                let _ = writeln!(
                    out,
                    "  core {:>3} {:>10.0} {:>6.1}%",
                    c.core,
                    c.sessions,
                    c.share * 100.0
                );
            }
        }
        if let Some(ports) = &self.passive_ports {
            let _ = writeln!(
                out,
                "\nserver passive ports per core (peak in use, slice, enough with 25% headroom):"
            );
            for p in ports {
                let slice = p.slice.map_or("?".to_string(), |s| s.to_string());
                let _ = writeln!(
                    out,
                    "  core {:>3} {:>8} {:>8} {:>8}",
                    p.core, p.peak_in_use, slice, p.suggested
                );
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::ErrorClass;

    fn info() -> RunInfo {
        RunInfo {
            target: "127.0.0.1:2121".into(),
            scenario: "retr /f".into(),
            mode: "passive".into(),
            load: "closed".into(),
            load_value: 2.0,
            stop: "count 3".into(),
            threads: 2,
            transfers_per_session: 1,
            sources: "127.0.0.2..127.0.0.9 (8)".into(),
            nofile_limit: 20000,
        }
    }

    fn stats() -> Stats {
        let mut s = Stats::new();
        for ms in [1, 2, 3, 4] {
            s.record(Phase::Login, Duration::from_millis(ms));
        }
        s.record(Phase::Session, Duration::from_millis(10));
        s.sessions_ok = 4;
        s.sessions_failed = 3;
        s.transfers_ok = 4;
        s.bytes_down = 4 << 20;
        s.record_rate(1_048_576.0);
        s.record_rate(2_097_152.0);
        s.sessions_cut = 1;
        s.error(Phase::Login, ErrorClass::Reply(530));
        s.error(Phase::Login, ErrorClass::Reply(530));
        s.error(Phase::Transfer, ErrorClass::ShortRead);
        s
    }

    #[test]
    fn summary_numbers() {
        let r = Report::new(
            info(),
            &stats(),
            Duration::from_secs(3),
            Duration::from_secs(2),
        );
        assert_eq!(r.throughput.sessions_per_s, 2.0);
        assert_eq!(r.throughput.mib_per_s, 2.0);
        assert_eq!(r.latency_us.len(), 2);
        let login = &r.latency_us[0];
        assert_eq!((login.phase, login.count), ("login", 4));
        assert!(login.p50 >= 1_999 && login.p50 <= 2_001);
        assert!(login.max >= 3_999 && login.max <= 4_003);
        assert_eq!(
            r.errors,
            vec![
                ErrorCount {
                    phase: "login",
                    class: "530".into(),
                    count: 2
                },
                ErrorCount {
                    phase: "transfer",
                    class: "short read".into(),
                    count: 1
                },
            ]
        );
    }

    #[test]
    fn table_lines() {
        let mut r = Report::new(
            info(),
            &stats(),
            Duration::from_secs(3),
            Duration::from_secs(2),
        );
        r.server_cores = Some(vec![CoreShare {
            core: 0,
            sessions: 7.0,
            share: 1.0,
        }]);
        let t = r.table();
        assert!(t.contains("closed loop, concurrency 2"));
        assert!(t.contains("sessions 4 ok, 3 failed, 0 aborted"));
        assert!(t.contains("throughput 2.0 sessions/s, 2.0 transfers/s, 2.0 MiB/s"));
        assert!(t.contains("login: 530 x2"));
        assert!(t.contains("transfer: short read x1"));
        assert!(t.contains("core   0          7  100.0%"));
        assert!(t.contains("1 cut at the end"), "{t}");
        assert!(
            t.contains("per-session rate MiB/s (2 sessions): p1 1.00"),
            "{t}"
        );
        r.passive_ports = Some(vec![PortSizing {
            core: 1,
            peak_in_use: 40,
            slice: Some(500),
            suggested: 50,
        }]);
        assert!(r.table().contains("core   1       40      500       50"));
        let login_row = t.lines().find(|l| l.starts_with("login ")).unwrap();
        assert!(login_row.contains("2.00ms"), "{login_row}");
    }

    #[test]
    fn json_shape() {
        let r = Report::new(
            info(),
            &stats(),
            Duration::from_secs(3),
            Duration::from_secs(2),
        );
        let v: serde_json::Value = serde_json::to_value(&r).unwrap();
        assert_eq!(v["target"], "127.0.0.1:2121");
        assert_eq!(v["sessions"]["ok"], 4);
        assert_eq!(v["latency_us"][0]["phase"], "login");
        assert!(v.get("server_cores").is_none());
        assert!(v.get("timeline").is_none());
        assert_eq!(v["session_rates"]["count"], 2);
        assert_eq!(v["sessions"]["cut"], 1);
    }
}
