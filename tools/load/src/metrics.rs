//! Reading the server's per-core counters from a Prometheus text endpoint on loopback:
//! how evenly the server spread sessions over its cores, and how many passive ports each
//! core had leased at its busiest, to size per-core passive ranges.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::time::Duration;

use serde::Serialize;

/// Counter whose per-core values are compared.
const COUNTER: &str = "ringftpd_sessions_total";

/// Gauge of passive ports leased now, per core.
const PORTS_IN_USE: &str = "ringftpd_passive_ports_in_use";

/// Gauge of the size of each core's passive slice.
const PORTS_SLICE: &str = "ringftpd_passive_ports";

/// Headroom on the peak when suggesting a slice size: 25%.
const HEADROOM: f64 = 1.25;

/// Failures fetching or reading the metrics endpoint.
#[derive(Debug, thiserror::Error)]
pub enum MetricsError {
    #[error("metrics URL must look like http://127.0.0.1:PORT/path, got `{0}`")]
    Url(String),
    #[error("metrics URL must point at a loopback address, got {0}")]
    NotLoopback(SocketAddr),
    #[error("fetching metrics: {0}")]
    Io(#[from] std::io::Error),
    #[error("metrics endpoint answered `{0}`")]
    Status(String),
}

/// A parsed `http://host:port/path` URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetricsUrl {
    pub addr: SocketAddr,
    pub host: String,
    pub path: String,
}

/// Parses and checks a metrics URL (plain HTTP, loopback only).
pub fn parse_url(url: &str) -> Result<MetricsUrl, MetricsError> {
    let bad = || MetricsError::Url(url.to_string());
    let rest = url.strip_prefix("http://").ok_or_else(bad)?;
    let (hostport, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/metrics"),
    };
    let addr = hostport
        .to_socket_addrs()
        .map_err(|_| bad())?
        .next()
        .ok_or_else(bad)?;
    if !addr.ip().is_loopback() {
        return Err(MetricsError::NotLoopback(addr));
    }
    Ok(MetricsUrl {
        addr,
        host: hostport.to_string(),
        path: path.to_string(),
    })
}

/// Fetches the endpoint's body with one HTTP/1.0 GET.
pub fn fetch(url: &MetricsUrl) -> Result<String, MetricsError> {
    let timeout = Duration::from_secs(5);
    let mut stream = TcpStream::connect_timeout(&url.addr, timeout)?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    write!(
        stream,
        "GET {} HTTP/1.0\r\nHost: {}\r\nAccept: text/plain\r\nConnection: close\r\n\r\n",
        url.path, url.host
    )?;
    let mut response = Vec::new();
    stream.take(16 << 20).read_to_end(&mut response)?;
    let text = String::from_utf8_lossy(&response).into_owned();
    let (head, body) = text.split_once("\r\n\r\n").unwrap_or((&text, ""));
    let status = head.lines().next().unwrap_or_default();
    if status.split_whitespace().nth(1) != Some("200") {
        return Err(MetricsError::Status(status.to_string()));
    }
    Ok(body.to_string())
}

/// Per-core values of `ringftpd_sessions_total{core="N"}`, keyed by core label.
pub fn parse_sessions(text: &str) -> BTreeMap<u32, f64> {
    parse_per_core(text, COUNTER)
}

/// Per-core values of the series `name{...core="N"...}`, summed over other labels.
pub fn parse_per_core(text: &str, name: &str) -> BTreeMap<u32, f64> {
    let mut out = BTreeMap::new();
    for line in text.lines() {
        let Some(rest) = line.strip_prefix(name) else {
            continue;
        };
        if !rest.starts_with('{') {
            continue;
        }
        let Some((labels, value)) = rest.split_once('}') else {
            continue;
        };
        let Some(core) = labels
            .split(',')
            .filter_map(|kv| kv.trim_start_matches('{').split_once('='))
            .find(|(k, _)| k.trim() == "core")
            .and_then(|(_, v)| v.trim().trim_matches('"').parse::<u32>().ok())
        else {
            continue;
        };
        if let Some(v) = value
            .split_whitespace()
            .next()
            .and_then(|v| v.parse::<f64>().ok())
        {
            *out.entry(core).or_insert(0.0) += v;
        }
    }
    out
}

/// Sessions one server core took during the run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CoreShare {
    pub core: u32,
    pub sessions: f64,
    /// Share of all sessions, 0..1.
    pub share: f64,
}

/// Per-core deltas between two scrapes.
pub fn balance(before: &BTreeMap<u32, f64>, after: &BTreeMap<u32, f64>) -> Vec<CoreShare> {
    let deltas: Vec<(u32, f64)> = after
        .iter()
        .map(|(core, v)| (*core, v - before.get(core).copied().unwrap_or(0.0)))
        .collect();
    let total: f64 = deltas.iter().map(|(_, d)| d).sum();
    deltas
        .into_iter()
        .map(|(core, sessions)| CoreShare {
            core,
            sessions,
            share: if total > 0.0 { sessions / total } else { 0.0 },
        })
        .collect()
}

/// Peak passive ports in use per core, folded over scrapes taken during a run.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PortPeaks {
    peak: BTreeMap<u32, f64>,
    slice: BTreeMap<u32, f64>,
    /// Scrapes folded in.
    pub samples: u64,
}

impl PortPeaks {
    /// Folds in one scrape's text.
    pub fn observe(&mut self, text: &str) {
        for (core, v) in parse_per_core(text, PORTS_IN_USE) {
            let peak = self.peak.entry(core).or_insert(0.0);
            *peak = peak.max(v);
        }
        for (core, v) in parse_per_core(text, PORTS_SLICE) {
            self.slice.insert(core, v);
        }
        self.samples += 1;
    }

    /// One line per core: peak in use, the slice it had, and the slice that would have
    /// held the peak with 25% headroom.
    pub fn sizing(&self) -> Vec<PortSizing> {
        self.peak
            .iter()
            .map(|(&core, &peak)| PortSizing {
                core,
                peak_in_use: peak as u64,
                slice: self.slice.get(&core).map(|&v| v as u64),
                suggested: (peak * HEADROOM).ceil() as u64,
            })
            .collect()
    }
}

/// Passive port use of one server core over a run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PortSizing {
    pub core: u32,
    /// Most ports leased at once among the scrapes.
    pub peak_in_use: u64,
    /// The core's slice size during the run, when the server exported it.
    pub slice: Option<u64>,
    /// Slice size that holds the peak with 25% headroom.
    pub suggested: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url() {
        let u = parse_url("http://127.0.0.1:9100/metrics").unwrap();
        assert_eq!(u.addr, "127.0.0.1:9100".parse().unwrap());
        assert_eq!(u.path, "/metrics");
        assert_eq!(parse_url("http://127.0.0.1:9100").unwrap().path, "/metrics");
        assert!(matches!(
            parse_url("https://127.0.0.1:9100/"),
            Err(MetricsError::Url(_))
        ));
        assert!(matches!(
            parse_url("http://192.0.2.1:9100/"),
            Err(MetricsError::NotLoopback(_))
        ));
    }

    #[test]
    fn passive_port_peaks_and_sizing() {
        let mut p = PortPeaks::default();
        p.observe(
            "ringftpd_passive_ports{core=\"0\"} 500\n\
             ringftpd_passive_ports{core=\"1\"} 500\n\
             ringftpd_passive_ports_in_use{core=\"0\"} 40\n\
             ringftpd_passive_ports_in_use{core=\"1\"} 7\n",
        );
        p.observe(
            "ringftpd_passive_ports_in_use{core=\"0\"} 12\n\
             ringftpd_passive_ports_in_use{core=\"1\"} 61\n",
        );
        assert_eq!(p.samples, 2);
        assert_eq!(
            p.sizing(),
            vec![
                PortSizing {
                    core: 0,
                    peak_in_use: 40,
                    slice: Some(500),
                    suggested: 50
                },
                PortSizing {
                    core: 1,
                    peak_in_use: 61,
                    slice: Some(500),
                    suggested: 77
                },
            ]
        );
        // The slice gauge's name is a prefix of the in-use gauge's: neither leaks into
        // the other.
        assert_eq!(
            parse_per_core("ringftpd_passive_ports_in_use{core=\"0\"} 3\n", PORTS_SLICE).len(),
            0
        );
    }

    #[test]
    fn parse_and_balance() {
        let before = parse_sessions(
            "# HELP ringftpd_sessions_total Sessions\n\
             # TYPE ringftpd_sessions_total counter\n\
             ringftpd_sessions_total{core=\"0\"} 10\n\
             ringftpd_sessions_total{core=\"1\"} 20\n\
             ringftpd_sessions_created 5\n",
        );
        assert_eq!(before.len(), 2);
        let after = parse_sessions(
            "ringftpd_sessions_total{mode=\"passive\",core=\"0\"} 70\n\
             ringftpd_sessions_total{core=\"1\"} 60 1700000000\n\
             ringftpd_sessions_total{core=\"x\"} 5\n",
        );
        assert_eq!(after[&0], 70.0);
        let b = balance(&before, &after);
        assert_eq!(b.len(), 2);
        assert_eq!(b[0].sessions, 60.0);
        assert_eq!(b[1].sessions, 40.0);
        assert!((b[0].share - 0.6).abs() < 1e-9);
    }
}
