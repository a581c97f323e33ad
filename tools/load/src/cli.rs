//! The command line: clap's view of the arguments, validated once into a typed [`Config`].

use std::net::{SocketAddr, ToSocketAddrs};
use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;

use crate::metrics::{self, MetricsError, MetricsUrl};
use crate::runner::{Load, RunConfig, Stop};
use crate::scenario::{DataMode, Scenario, ScenarioError};
use crate::source_addrs::{SourceError, SourcePool};
use crate::units::{parse_duration, UnitError};

/// FTP load generator: drives many concurrent active and passive sessions against an FTP
/// server and reports per-phase latency percentiles, throughput and errors.
#[derive(Debug, Parser)]
#[command(
    name = "ringftp-load",
    version,
    after_help = "SCENARIO is one of:\n  \
        retr PATH            download one file\n  \
        retr-list FILE       download the paths listed in FILE (one per line), round-robin\n  \
        stor SIZE            upload SIZE bytes (e.g. 4KiB, 64MiB) under a unique name\n  \
        list DIR             LIST a directory\n  \
        login-only           connect, log in, QUIT\n\n\
        Examples:\n  \
        ringftp-load 127.0.0.1:2121 retr /pub/file.iso -c 200 -d 30s\n  \
        ringftp-load 127.0.0.1:2121 retr /small.bin --mode mixed:0.5 --rate 2000 -d 60s\n  \
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
        let scenario = Scenario::from_words(&self.scenario, |p| std::fs::read_to_string(p))?;
        if self.verify_content.is_some() && !matches!(scenario, Scenario::Retr(_)) {
            return Err(CliError::ContentNeedsRetr);
        }
        let mode = DataMode::parse(&self.mode)?;
        let timeout = duration("timeout", &self.timeout)?;
        let ramp_up = duration("ramp-up", &self.ramp_up)?;
        let think_time = duration("think-time", &self.think_time)?;
        let stop = match (self.count, &self.duration) {
            (Some(0), _) => return Err(CliError::Zero("count")),
            (Some(n), _) => Stop::Count(n),
            (None, Some(d)) => Stop::After(duration("duration", d)?),
            (None, None) => Stop::After(Duration::from_secs(10)),
        };
        let load = match (self.rate, self.concurrency) {
            (Some(r), _) if r.is_nan() || r <= 0.0 => return Err(CliError::Zero("rate")),
            (Some(rate), _) => Load::Open {
                rate,
                max_in_flight: self.max_in_flight.max(1),
            },
            (None, Some(0)) => return Err(CliError::Zero("concurrency")),
            (None, c) => Load::Closed {
                concurrency: c.unwrap_or(10),
            },
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
            transfers_per_session: self.transfers_per_session,
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
    fn non_loopback_target_uses_kernel_sources() {
        let c = config("192.0.2.1:21 login-only").unwrap();
        assert!(c.sources.addrs().is_empty());
    }
}
