//! Prometheus text exposition of the workers' counters over a minimal HTTP endpoint
//! (off unless configured; a bare `--metrics PORT` binds loopback). Each scrape reads the atomics and encodes a fresh registry.

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::Duration;

use prometheus_client::encoding::text::encode;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use ringftp_dataplane::metrics::WorkerMetrics;
use ringftp_dataplane::rate_limit::CapKind;
use tracing::{debug, warn};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Core {
    core: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CoreDirection {
    core: String,
    direction: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CoreKind {
    core: String,
    kind: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CoreCap {
    core: String,
    cap: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct Code {
    code: String,
}

fn per_core_counter(
    registry: &mut Registry,
    name: &str,
    help: &str,
    workers: &[Arc<WorkerMetrics>],
    pick: impl Fn(&WorkerMetrics) -> &AtomicU64,
) {
    let family = Family::<Core, Counter>::default();
    for (i, w) in workers.iter().enumerate() {
        family
            .get_or_create(&Core {
                core: i.to_string(),
            })
            .inc_by(pick(w).load(Relaxed));
    }
    registry.register(name, help, family);
}

fn per_core_gauge(
    registry: &mut Registry,
    name: &str,
    help: &str,
    workers: &[Arc<WorkerMetrics>],
    pick: impl Fn(&WorkerMetrics) -> &AtomicU64,
) {
    let family = Family::<Core, Gauge>::default();
    for (i, w) in workers.iter().enumerate() {
        family
            .get_or_create(&Core {
                core: i.to_string(),
            })
            .set(pick(w).load(Relaxed) as i64);
    }
    registry.register(name, help, family);
}

/// Render all metrics in the Prometheus text format.
pub fn render(workers: &[Arc<WorkerMetrics>]) -> String {
    let mut r = Registry::default();
    per_core_gauge(
        &mut r,
        "ringftpd_sessions_open",
        "Control sessions open now",
        workers,
        |w| &w.sessions_open,
    );
    per_core_counter(
        &mut r,
        "ringftpd_sessions",
        "Control sessions accepted",
        workers,
        |w| &w.sessions_total,
    );
    per_core_counter(
        &mut r,
        "ringftpd_tls_handshakes",
        "TLS handshakes completed (control and data connections)",
        workers,
        |w| &w.tls_handshakes,
    );
    per_core_counter(
        &mut r,
        "ringftpd_tls_handshake_failures",
        "TLS handshakes that failed (bad client hello, ALPN other than ftp, peer closed)",
        workers,
        |w| &w.tls_handshake_failures,
    );
    per_core_counter(
        &mut r,
        "ringftpd_tls_handshake_timeouts",
        "TLS handshakes not finished within tls.handshake_timeout_secs",
        workers,
        |w| &w.tls_handshake_timeouts,
    );
    per_core_gauge(
        &mut r,
        "ringftpd_tls_handshakes_in_progress",
        "TLS handshakes running now",
        workers,
        |w| &w.tls_handshakes_in_progress,
    );
    per_core_counter(
        &mut r,
        "ringftpd_tls_data_not_resumed",
        "PROT P data connections refused for not resuming the control connection's TLS session",
        workers,
        |w| &w.tls_data_not_resumed,
    );
    per_core_counter(
        &mut r,
        "ringftpd_tls_plaintext_discarded_bytes",
        "Plaintext bytes sent behind AUTH TLS and discarded unread",
        workers,
        |w| &w.tls_plaintext_discarded,
    );
    per_core_counter(
        &mut r,
        "ringftpd_sessions_refused",
        "Connections refused by session limits",
        workers,
        |w| &w.sessions_refused,
    );
    per_core_counter(
        &mut r,
        "ringftpd_transfers_failed",
        "File transfers that failed",
        workers,
        |w| &w.transfers_failed,
    );
    per_core_counter(
        &mut r,
        "ringftpd_transfers_aborted",
        "File transfers aborted by ABOR",
        workers,
        |w| &w.transfers_aborted,
    );
    per_core_counter(
        &mut r,
        "ringftpd_listings",
        "Directory listings sent",
        workers,
        |w| &w.listings,
    );
    per_core_gauge(
        &mut r,
        "ringftpd_passive_ports",
        "Passive ports in this core's slice",
        workers,
        |w| &w.passive_size,
    );
    per_core_gauge(
        &mut r,
        "ringftpd_passive_ports_in_use",
        "Passive ports leased now",
        workers,
        |w| &w.passive_in_use,
    );
    per_core_counter(
        &mut r,
        "ringftpd_passive_exhausted",
        "PASV/EPSV refused because the core's slice was empty",
        workers,
        |w| &w.passive_exhausted,
    );
    per_core_counter(
        &mut r,
        "ringftpd_passive_foreign_refused",
        "Data connections refused because they came from another address",
        workers,
        |w| &w.passive_foreign_refused,
    );
    per_core_counter(
        &mut r,
        "ringftpd_login_failures",
        "Failed logins",
        workers,
        |w| &w.login_failures,
    );
    per_core_counter(
        &mut r,
        "ringftpd_proxied_sessions",
        "Sessions whose client address came from a PROXY protocol header",
        workers,
        |w| &w.proxied_sessions,
    );
    per_core_counter(
        &mut r,
        "ringftpd_proxy_header_failures",
        "Connections from trusted proxies dropped for a missing, invalid or late PROXY header",
        workers,
        |w| &w.proxy_header_failures,
    );

    let transfers = Family::<CoreDirection, Counter>::default();
    let bytes = Family::<CoreDirection, Counter>::default();
    let timeouts = Family::<CoreKind, Counter>::default();
    for (i, w) in workers.iter().enumerate() {
        let core = i.to_string();
        for (direction, t, b) in [
            ("out", &w.transfers_out, &w.bytes_out),
            ("in", &w.transfers_in, &w.bytes_in),
        ] {
            let labels = CoreDirection {
                core: core.clone(),
                direction,
            };
            transfers.get_or_create(&labels).inc_by(t.load(Relaxed));
            bytes.get_or_create(&labels).inc_by(b.load(Relaxed));
        }
        for (kind, c) in [("idle", &w.idle_timeouts), ("data", &w.data_timeouts)] {
            timeouts
                .get_or_create(&CoreKind {
                    core: core.clone(),
                    kind,
                })
                .inc_by(c.load(Relaxed));
        }
    }
    r.register("ringftpd_transfers", "Completed file transfers", transfers);
    r.register("ringftpd_bytes", "Bytes moved on data connections", bytes);
    r.register(
        "ringftpd_timeouts",
        "Idle control and stalled data timeouts",
        timeouts,
    );
    register_rate_delays(&mut r, workers);

    let errors = Family::<Code, Counter>::default();
    for w in workers {
        for (code, n) in w.error_replies.snapshot() {
            errors
                .get_or_create(&Code {
                    code: code.to_string(),
                })
                .inc_by(n);
        }
    }
    r.register(
        "ringftpd_error_replies",
        "Error replies (4xx, 5xx) by code",
        errors,
    );

    let mut out = String::new();
    // Writing into a String cannot fail.
    let _ = encode(&mut out, &r);
    out
}

/// Bytes and time held back by bandwidth caps, by the cap that held them longest.
fn register_rate_delays(r: &mut Registry, workers: &[Arc<WorkerMetrics>]) {
    let delayed = Family::<CoreCap, Counter>::default();
    let delay = Family::<CoreCap, Counter<f64, AtomicU64>>::default();
    for (i, w) in workers.iter().enumerate() {
        for kind in CapKind::ALL {
            let labels = CoreCap {
                core: i.to_string(),
                cap: kind.label(),
            };
            delayed
                .get_or_create(&labels)
                .inc_by(w.rate_delayed_bytes[kind.index()].load(Relaxed));
            delay
                .get_or_create(&labels)
                .inc_by(w.rate_delay_micros[kind.index()].load(Relaxed) as f64 / 1e6);
        }
    }
    r.register(
        "ringftpd_rate_delayed_bytes",
        "Bytes that waited for a bandwidth cap (cap = session, address or total)",
        delayed,
    );
    r.register(
        "ringftpd_rate_delay_seconds",
        "Time transfers waited for bandwidth caps",
        delay,
    );
}

/// Bind the metrics listener (before leaving root: the port may be privileged).
pub fn bind(addr: SocketAddr) -> std::io::Result<TcpListener> {
    TcpListener::bind(addr)
}

/// Serve `GET /metrics` on `listener` from a background thread.
pub fn spawn(
    listener: TcpListener,
    workers: Vec<Arc<WorkerMetrics>>,
) -> std::io::Result<SocketAddr> {
    let local = listener.local_addr()?;
    std::thread::Builder::new()
        .name("ringftpd-metrics".into())
        .spawn(move || {
            for stream in listener.incoming() {
                match stream {
                    Ok(s) => {
                        if let Err(e) = answer(s, &workers) {
                            debug!(error = %e, "metrics request failed");
                        }
                    }
                    Err(e) => warn!(error = %e, "metrics accept failed"),
                }
            }
        })?;
    Ok(local)
}

fn answer(stream: TcpStream, workers: &[Arc<WorkerMetrics>]) -> std::io::Result<()> {
    stream.set_read_timeout(Some(Duration::from_secs(5)))?;
    stream.set_write_timeout(Some(Duration::from_secs(5)))?;
    let mut reader = BufReader::new(stream.try_clone()?);
    let mut request = String::new();
    reader.read_line(&mut request)?;
    // Skip the headers (bounded: a few KiB at most).
    let mut header = String::new();
    for _ in 0..100 {
        header.clear();
        if reader.read_line(&mut header)? == 0 || header == "\r\n" || header == "\n" {
            break;
        }
    }
    let mut stream = stream;
    let path = request.split_whitespace().nth(1).unwrap_or("");
    if request.starts_with("GET ") && (path == "/metrics" || path == "/") {
        let body = render(workers);
        write!(
            stream,
            "HTTP/1.1 200 OK\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
            body.len()
        )
    } else {
        stream
            .write_all(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
    }
}
