//! The command line: clap's view of the arguments, validated once into a typed [`Config`].

use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;

use crate::metrics::{self, MetricsError, MetricsUrl};
use crate::pacing::Pace;
use crate::plot::{self, Latency, PlotError};
use crate::runner::{Load, RunConfig, Stop};
use crate::scenario::{DataMode, Scenario, ScenarioError};
use crate::sockets::DataSocketOptions;
use crate::source_addrs::{SourceError, SourcePool};
use crate::units::{parse_duration, parse_rate, parse_size, UnitError};

/// What Linux takes for TCP_MAXSEG (TCP_MIN_MSS to MAX_TCP_WINDOW).
const MSS_RANGE: std::ops::RangeInclusive<u32> = 88..=32767;

/// FTP load generator: drives many concurrent active and passive sessions against an FTP
/// server and reports per-phase latency percentiles, throughput and errors.
#[derive(Debug, Parser)]
#[command(
    name = "ringftp-load",
    version,
    after_help = "SCENARIO is one of:\n  \
        retr PATH            download one file\n  \
        retr-list FILE       download the paths listed in FILE (one per line), round-robin\n  \
        retr-mix FILE        download paths drawn by weight from FILE (`path weight` lines)\n  \
        replay XFERLOG       one session per transfer of an xferlog, started at its logged\n                       \
        start time (see --speedup, --strip-prefix)\n  \
        stor SIZE            upload SIZE bytes (e.g. 4KiB, 64MiB) under a unique name\n  \
        list DIR             LIST a directory\n  \
        mlsd DIR             MLSD a directory\n  \
        login-only           connect, log in, QUIT\n\n\
        Examples:\n  \
        ringftp-load 127.0.0.1:2121 retr /pub/file.iso -c 200 -d 30s\n  \
        ringftp-load 127.0.0.1:2121 retr /small.bin --mode mixed:0.5 --rate 2000 -d 60s\n  \
        ringftp-load 127.0.0.1:2121 retr /big.iso -c 2000 --read-rate 256KiB -d 60s --cut-at-end\n  \
        ringftp-load 127.0.0.1:2121 replay xferlog --strip-prefix /srv/ftp --speedup 60\n  \
        ringftp-load 127.0.0.1:2121 login-only -c 10000 -n 50000 --ramp-up 5s"
)]
pub struct Args {
    /// Server address, HOST:PORT.
    #[arg(value_name = "HOST:PORT")]
    pub target: String,

    /// What each transfer does (see below).
    #[arg(value_name = "SCENARIO", required = true, num_args = 1..=2)]
    pub scenario: Vec<String>,

    /// Login name.
    #[arg(short, long, default_value = "anonymous")]
    pub user: String,

    /// Password.
    #[arg(short, long, default_value = "ringftp-load@")]
    pub password: String,

    /// Data channel mode: passive (EPSV, PASV fallback), epsv, pasv, active|port, eprt,
    /// or mixed:RATIO (that share of sessions active, the rest passive).
    #[arg(short, long, default_value = "passive")]
    pub mode: String,

    /// Transfers per session (1 = connect, login, one transfer, QUIT).
    #[arg(short = 'k', long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
    pub transfers_per_session: u32,

    /// Closed loop: sessions running at once [default: 10].
    #[arg(short, long, conflicts_with = "rate")]
    pub concurrency: Option<u64>,

    /// Open loop: sessions started per second; latency counts from the intended start.
    #[arg(short, long)]
    pub rate: Option<f64>,

    /// Open loop: most sessions running at once; later starts wait (and count the wait).
    #[arg(long, default_value_t = 20_000)]
    pub max_in_flight: u64,

    /// Stop starting sessions after this long, ramp-up included [default: 10s].
    #[arg(short, long, conflicts_with = "count")]
    pub duration: Option<String>,

    /// Stop after this many sessions in total.
    #[arg(short = 'n', long)]
    pub count: Option<u64>,

    /// Spread session starts (closed loop) or raise the rate linearly (open loop) over this.
    #[arg(long, default_value = "0s")]
    pub ramp_up: String,

    /// Idle time after login and between transfers (holds sessions open, as slow clients do);
    /// with login-only, the time between login and QUIT. Cut short by the end of --duration.
    #[arg(long, default_value = "0s")]
    pub think_time: String,

    /// Per-phase timeout (connect, each reply, data setup, idle time during a transfer);
    /// also how long running sessions may take to finish once the duration is over.
    #[arg(long, default_value = "30s")]
    pub timeout: String,

    /// Worker threads, one current-thread runtime each [default: available cores].
    #[arg(short, long)]
    pub threads: Option<usize>,

    /// Do not pin worker threads to cores.
    #[arg(long)]
    pub no_pin: bool,

    /// Local source addresses (`127.0.0.2-127.0.0.9`, `a,b,c`, or `none`)
    /// [default: 127.0.0.2-127.0.0.9 for an IPv4 loopback target, else none].
    #[arg(long)]
    pub source_ips: Option<String>,

    /// Ask SIZE before every download and after every upload (downloads are always checked
    /// against a SIZE asked once per path at start).
    #[arg(long)]
    pub verify_size: bool,

    /// Compare every download byte for byte with this local file (read into memory once).
    #[arg(long, value_name = "FILE")]
    pub verify_content: Option<PathBuf>,

    /// Remote directory for uploads.
    #[arg(long, value_name = "DIR")]
    pub upload_dir: Option<String>,

    /// DELE each upload once it is verified.
    #[arg(long)]
    pub delete_uploads: bool,

    /// Print the report as JSON on stdout (the table then goes to stderr).
    #[arg(long)]
    pub json: bool,

    /// Write per-second HDR interval histograms (one per phase) to this file.
    #[arg(long, value_name = "FILE")]
    pub hdr_log: Option<PathBuf>,

    /// Prometheus text endpoint of the server (loopback) to read per-core session
    /// counters from before and after the run.
    #[arg(long, value_name = "URL")]
    pub server_metrics: Option<String>,

    /// Each session reads its data connections no faster than this (e.g. `200KiB`,
    /// `1MB/s`), as a client behind a slow link.
    #[arg(long, value_name = "RATE")]
    pub read_rate: Option<String>,

    /// Each session writes its uploads no faster than this.
    #[arg(long, value_name = "RATE")]
    pub write_rate: Option<String>,

    /// Receive buffer (SO_RCVBUF) of data sockets, e.g. `64KiB`; set before connecting.
    #[arg(long, value_name = "BYTES")]
    pub rcvbuf: Option<String>,

    /// Largest TCP segment data connections announce (TCP_MAXSEG, 88 to 32767), e.g.
    /// `1448` for a client on an Ethernet path; set before connecting. On loopback
    /// segments are otherwise 64 KiB, so a slow reader's window opens in 64 KiB steps.
    #[arg(long, value_name = "BYTES")]
    pub mss: Option<u32>,

    /// When --duration ends, close transfers still running and count their sessions as
    /// cut (their achieved rates still count) instead of waiting --timeout for them.
    #[arg(long)]
    pub cut_at_end: bool,

    /// replay: start transfers this many times faster than logged.
    #[arg(long, default_value_t = 1.0)]
    pub speedup: f64,

    /// replay: cut this prefix from logged paths (the server's root as the log names it).
    #[arg(long, value_name = "PREFIX", default_value = "")]
    pub strip_prefix: String,

    /// Add per-second throughput and latency intervals to the report.
    #[arg(long)]
    pub timeline: bool,

    /// Draw throughput and p50/p99 latency per second into this file (.svg or .png).
    #[arg(long, value_name = "FILE")]
    pub plot: Option<PathBuf>,

    /// Latency the chart shows: first-byte or session [default: first-byte; session for
    /// login-only].
    #[arg(long, value_name = "PHASE")]
    pub plot_latency: Option<String>,

    /// Never draw the live progress line.
    #[arg(short, long)]
    pub quiet: bool,

    /// FTPS: AUTH TLS, PBSZ 0 and PROT P (data connections resume the control
    /// connection's TLS session). Needs --tls-trust.
    #[arg(long, requires = "tls_trust")]
    pub tls: bool,

    /// The server's certificate (PEM), trusted exactly (e.g. a self-signed one).
    #[arg(long, value_name = "FILE")]
    pub tls_trust: Option<PathBuf>,
}

/// Arguments that do not make a runnable configuration.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    #[error("cannot resolve target `{0}`")]
    Target(String),
    #[error(transparent)]
    Scenario(#[from] ScenarioError),
    #[error("--{option}: {source}")]
    Unit {
        option: &'static str,
        source: UnitError,
    },
    #[error("--source-ips: {0}")]
    Sources(#[from] SourceError),
    #[error("--server-metrics: {0}")]
    Metrics(#[from] MetricsError),
    #[error("--{0} must be greater than zero")]
    Zero(&'static str),
    #[error("--verify-content needs the `retr PATH` scenario")]
    ContentNeedsRetr,
    #[error(transparent)]
    Tls(#[from] crate::tls::TlsError),
    #[error("replay starts sessions at the logged times: drop --concurrency, --rate and --count")]
    ReplayLoad,
    #[error("--speedup must be a positive number")]
    Speedup,
    #[error("--plot: {0}")]
    Plot(#[from] PlotError),
    #[error("--mss must be from 88 to 32767 (what Linux takes for TCP_MAXSEG), got {0}")]
    Mss(u32),
    #[error("--plot-latency must be first-byte or session, got `{0}`")]
    PlotLatency(String),
    #[error("--read-rate, --write-rate and --cut-at-end apply to plain data connections, not with --tls")]
    TlsPacing,
}

/// A validated configuration.
#[derive(Debug)]
pub struct Config {
    pub target: SocketAddr,
    pub target_text: String,
    pub user: String,
    pub password: String,
    pub scenario: Scenario,
    pub mode: DataMode,
    pub transfers_per_session: u32,
    pub timeout: Duration,
    pub sources: SourcePool,
    pub verify_size: bool,
    pub verify_content: Option<PathBuf>,
    pub upload_dir: Option<String>,
    pub delete_uploads: bool,
    pub think_time: Duration,
    pub run: RunConfig,
    pub json: bool,
    pub hdr_log: Option<PathBuf>,
    pub server_metrics: Option<MetricsUrl>,
    pub quiet: bool,
    pub tls: Option<crate::tls::TlsClient>,
    pub read_pace: Option<Pace>,
    pub write_pace: Option<Pace>,
    pub data_socket: DataSocketOptions,
    pub cut_at_end: bool,
    pub timeline: bool,
    pub plot: Option<PathBuf>,
    pub plot_latency: Latency,
}

fn pace(option: &'static str, value: Option<&str>) -> Result<Option<Pace>, CliError> {
    let Some(v) = value else {
        return Ok(None);
    };
    match parse_rate(v).map_err(|source| CliError::Unit { option, source })? {
        0 => Err(CliError::Zero(option)),
        n => Ok(Some(Pace::new(n))),
    }
}

fn stop(count: Option<u64>, duration_arg: Option<&str>) -> Result<Stop, CliError> {
    Ok(match (count, duration_arg) {
        (Some(0), _) => return Err(CliError::Zero("count")),
        (Some(n), _) => Stop::Count(n),
        (None, Some(d)) => Stop::After(duration("duration", d)?),
        (None, None) => Stop::After(Duration::from_secs(10)),
    })
}

fn load(rate: Option<f64>, concurrency: Option<u64>, max_in_flight: u64) -> Result<Load, CliError> {
    Ok(match (rate, concurrency) {
        (Some(r), _) if r.is_nan() || r <= 0.0 => return Err(CliError::Zero("rate")),
        (Some(rate), _) => Load::Open {
            rate,
            max_in_flight: max_in_flight.max(1),
        },
        (None, Some(0)) => return Err(CliError::Zero("concurrency")),
        (None, c) => Load::Closed {
            concurrency: c.unwrap_or(10),
        },
    })
}

fn duration(option: &'static str, value: &str) -> Result<Duration, CliError> {
    parse_duration(value).map_err(|source| CliError::Unit { option, source })
}

impl Args {
    /// Validates the arguments.
    pub fn into_config(self) -> Result<Config, CliError> {
        let target = self
            .target
            .to_socket_addrs()
            .ok()
            .and_then(|mut a| a.next())
            .ok_or_else(|| CliError::Target(self.target.clone()))?;
        let scenario = Scenario::from_words(
            &self.scenario,
            |p| std::fs::read_to_string(p),
            &self.strip_prefix,
        )?;
        if self.verify_content.is_some() && !matches!(scenario, Scenario::Retr(_)) {
            return Err(CliError::ContentNeedsRetr);
        }
        let mode = DataMode::parse(&self.mode)?;
        let timeout = duration("timeout", &self.timeout)?;
        let ramp_up = duration("ramp-up", &self.ramp_up)?;
        let think_time = duration("think-time", &self.think_time)?;
        let replay = match &scenario {
            Scenario::Replay(r) => Some(r.entries.len() as u64),
            _ => None,
        };
        if !(self.speedup.is_finite() && self.speedup > 0.0) {
            return Err(CliError::Speedup);
        }
        if replay.is_some()
            && (self.concurrency.is_some() || self.rate.is_some() || self.count.is_some())
        {
            return Err(CliError::ReplayLoad);
        }
        let stop = match (replay, self.duration.as_deref()) {
            (Some(n), None) => Stop::Count(n),
            (_, d) => stop(self.count, d)?,
        };
        let load = match replay {
            Some(_) => Load::Replay {
                speedup: self.speedup,
                max_in_flight: self.max_in_flight.max(1),
            },
            None => load(self.rate, self.concurrency, self.max_in_flight)?,
        };
        let read_pace = pace("read-rate", self.read_rate.as_deref())?;
        let write_pace = pace("write-rate", self.write_rate.as_deref())?;
        let rcvbuf = match self.rcvbuf.as_deref() {
            None => None,
            Some(v) => match parse_size(v).map_err(|source| CliError::Unit {
                option: "rcvbuf",
                source,
            })? {
                0 => return Err(CliError::Zero("rcvbuf")),
                n => Some(usize::try_from(n).unwrap_or(usize::MAX)),
            },
        };
        if let Some(mss) = self.mss {
            if !MSS_RANGE.contains(&mss) {
                return Err(CliError::Mss(mss));
            }
        }
        if let Some(p) = &self.plot {
            plot::format_of(p)?;
        }
        let plot_latency = match self.plot_latency.as_deref() {
            None if matches!(scenario, Scenario::LoginOnly) => Latency::Session,
            None | Some("first-byte") => Latency::FirstByte,
            Some("session") => Latency::Session,
            Some(other) => return Err(CliError::PlotLatency(other.to_string())),
        };
        let transfers_per_session = if replay.is_some() {
            1
        } else {
            self.transfers_per_session
        };
        let threads = match self.threads {
            Some(0) => return Err(CliError::Zero("threads")),
            Some(t) => t,
            None => std::thread::available_parallelism().map_or(1, usize::from),
        };
        let sources = match &self.source_ips {
            Some(spec) => SourcePool::parse(spec)?,
            None => SourcePool::default_for(target.ip()),
        };
        if self.tls && (read_pace.is_some() || write_pace.is_some() || self.cut_at_end) {
            return Err(CliError::TlsPacing);
        }
        let tls = match (self.tls, &self.tls_trust) {
            (true, Some(trust)) => Some(crate::tls::TlsClient::new(
                trust,
                rustls::pki_types::ServerName::IpAddress(target.ip().into()),
            )?),
            _ => None,
        };
        let server_metrics = self
            .server_metrics
            .as_deref()
            .map(metrics::parse_url)
            .transpose()?;
        Ok(Config {
            target,
            target_text: self.target,
            user: self.user,
            password: self.password,
            scenario,
            mode,
            transfers_per_session,
            timeout,
            sources,
            verify_size: self.verify_size,
            verify_content: self.verify_content,
            upload_dir: self.upload_dir,
            delete_uploads: self.delete_uploads,
            think_time,
            run: RunConfig {
                threads,
                load,
                stop,
                ramp_up,
                drain: timeout,
                pin: !self.no_pin,
            },
            json: self.json,
            hdr_log: self.hdr_log,
            server_metrics,
            quiet: self.quiet,
            tls,
            read_pace,
            write_pace,
            data_socket: DataSocketOptions {
                rcvbuf,
                mss: self.mss,
            },
            cut_at_end: self.cut_at_end,
            timeline: self.timeline || self.plot.is_some(),
            plot: self.plot,
            plot_latency,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(args: &str) -> Result<Config, CliError> {
        let argv = std::iter::once("ringftp-load").chain(args.split_whitespace());
        Args::try_parse_from(argv).unwrap().into_config()
    }

    #[test]
    fn defaults() {
        let c = config("127.0.0.1:2121 retr /f").unwrap();
        assert_eq!(c.user, "anonymous");
        assert_eq!(c.password, "ringftp-load@");
        assert_eq!(c.run.load, Load::Closed { concurrency: 10 });
        assert_eq!(c.run.stop, Stop::After(Duration::from_secs(10)));
        assert_eq!(c.timeout, Duration::from_secs(30));
        assert_eq!(c.sources.addrs().len(), 8);
        assert_eq!(c.transfers_per_session, 1);
    }

    #[test]
    fn open_loop_with_count_and_options_after_scenario() {
        let c =
            config("127.0.0.1:2121 stor 4KiB --rate 500 -n 1000 --mode mixed:0.5 -k 3").unwrap();
        assert_eq!(c.scenario, Scenario::Stor(4096));
        assert_eq!(c.run.stop, Stop::Count(1000));
        assert!(matches!(c.run.load, Load::Open { rate, .. } if rate == 500.0));
        assert_eq!(c.mode, DataMode::Mixed(0.5));
        assert_eq!(c.transfers_per_session, 3);
    }

    #[test]
    fn rejects() {
        assert!(matches!(
            config("127.0.0.1:2121 login-only -c 0"),
            Err(CliError::Zero("concurrency"))
        ));
        assert!(matches!(
            config("127.0.0.1:2121 login-only --timeout soon"),
            Err(CliError::Unit {
                option: "timeout",
                ..
            })
        ));
        assert!(matches!(
            config("127.0.0.1:2121 list / --verify-content x"),
            Err(CliError::ContentNeedsRetr)
        ));
        assert!(matches!(
            config("127.0.0.1:2121 login-only --source-ips 1.2.3.4-1.2.3.1"),
            Err(CliError::Sources(_))
        ));
        assert!(
            Args::try_parse_from(["ringftp-load", "h:1", "retr", "/f", "-c", "1", "-r", "1"])
                .is_err()
        );
    }

    #[test]
    fn rates_buffers_and_charts() {
        let c = config(
            "127.0.0.1:2121 retr /f --read-rate 256KiB/s --write-rate 1MB --rcvbuf 64KiB \
             --mss 1448 --cut-at-end --plot run.svg",
        )
        .unwrap();
        assert_eq!(c.read_pace, Some(Pace::new(256 * 1024)));
        assert_eq!(c.write_pace, Some(Pace::new(1_000_000)));
        assert_eq!(
            c.data_socket,
            DataSocketOptions {
                rcvbuf: Some(64 * 1024),
                mss: Some(1448)
            }
        );
        for bad in ["87", "32768"] {
            assert!(matches!(
                config(&format!("127.0.0.1:2121 retr /f --mss {bad}")),
                Err(CliError::Mss(_))
            ));
        }
        assert!(c.cut_at_end && c.timeline);
        assert_eq!(c.plot_latency, Latency::FirstByte);
        assert_eq!(
            config("127.0.0.1:2121 login-only").unwrap().plot_latency,
            Latency::Session
        );
        assert!(matches!(
            config("127.0.0.1:2121 retr /f --read-rate 0"),
            Err(CliError::Zero("read-rate"))
        ));
        assert!(matches!(
            config("127.0.0.1:2121 retr /f --write-rate slow"),
            Err(CliError::Unit {
                option: "write-rate",
                ..
            })
        ));
        assert!(matches!(
            config("127.0.0.1:2121 retr /f --rcvbuf 0"),
            Err(CliError::Zero("rcvbuf"))
        ));
        assert!(matches!(
            config("127.0.0.1:2121 retr /f --plot run.gif"),
            Err(CliError::Plot(_))
        ));
        assert!(matches!(
            config("127.0.0.1:2121 retr /f --plot-latency login"),
            Err(CliError::PlotLatency(_))
        ));
    }

    #[test]
    fn replay_takes_its_load_from_the_log() {
        let log = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(
            log.path(),
            "Tue Nov 25 04:14:10 2025 1 h 2 /srv/a b _ o a u ftp 0 * c\n\
             Tue Nov 25 04:14:20 2025 1 h 2 /srv/b b _ i a u ftp 0 * c\n",
        )
        .unwrap();
        let path = log.path().display();
        let c = config(&format!("127.0.0.1:2121 replay {path} --speedup 10 -k 3")).unwrap();
        assert_eq!(c.run.stop, Stop::Count(2));
        assert_eq!(
            c.run.load,
            Load::Replay {
                speedup: 10.0,
                max_in_flight: 20_000
            }
        );
        assert_eq!(c.transfers_per_session, 1);
        assert!(matches!(
            config(&format!("127.0.0.1:2121 replay {path} -c 5")),
            Err(CliError::ReplayLoad)
        ));
        assert!(matches!(
            config(&format!("127.0.0.1:2121 replay {path} --speedup 0")),
            Err(CliError::Speedup)
        ));
    }

    #[test]
    fn non_loopback_target_uses_kernel_sources() {
        let c = config("192.0.2.1:21 login-only").unwrap();
        assert!(c.sources.addrs().is_empty());
    }
}
