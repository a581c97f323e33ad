//! ringftp-load: an FTP load generator. See `ringftp-load --help`.

use std::collections::HashMap;
use std::io::{IsTerminal, Write};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use clap::Parser;
use ringftp_load::{metrics, nofile, plot, progress, runner, sockets, timeline};

use ringftp_load::cli::{Args, CliError, Config};
use ringftp_load::ftp::{bounded, Control, FtpError};
use ringftp_load::hdr_log::{HdrLog, HdrLogError};
use ringftp_load::metrics::{MetricsError, MetricsUrl, PortPeaks};
use ringftp_load::plot::PlotError;
use ringftp_load::progress::Progress;
use ringftp_load::report::{Report, RunInfo};
use ringftp_load::runner::{Load, RunError, Stop};
use ringftp_load::session::Plan;
use ringftp_load::stats::Stats;

/// Why a run could not be carried out.
#[derive(Debug, thiserror::Error)]
enum MainError {
    #[error(transparent)]
    Cli(#[from] CliError),
    #[error("cannot raise the open-file limit: {0}")]
    Nofile(std::io::Error),
    #[error("cannot read --verify-content file: {0}")]
    Content(std::io::Error),
    #[error("cannot build a runtime: {0}")]
    Runtime(std::io::Error),
    #[error("checking the server before the run: {0}")]
    Probe(FtpError),
    #[error("SIZE {path}: {error}")]
    ProbeSize { path: String, error: FtpError },
    #[error(transparent)]
    Run(#[from] RunError),
    #[error(transparent)]
    HdrLog(#[from] HdrLogError),
    #[error("--server-metrics: {0}")]
    Metrics(#[from] MetricsError),
    #[error("writing the report: {0}")]
    Json(#[from] serde_json::Error),
    #[error(transparent)]
    Plot(#[from] PlotError),
}

fn main() -> ExitCode {
    match run(Args::parse()) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("ringftp-load: {e}");
            ExitCode::from(2)
        }
    }
}

/// Open files to ask for: a control, a data and a listener socket per session.
fn files_wanted(config: &Config) -> u64 {
    let sessions = match config.run.load {
        Load::Closed { concurrency } => concurrency,
        Load::Open { max_in_flight, .. } | Load::Replay { max_in_flight, .. } => max_in_flight,
    };
    sessions.saturating_mul(3).saturating_add(1024)
}

fn run(args: Args) -> Result<ExitCode, MainError> {
    let config = args.into_config()?;
    let limit = nofile::raise(files_wanted(&config)).map_err(MainError::Nofile)?;
    if let Load::Closed { concurrency } = config.run.load {
        // A session holds its control socket and, while transferring, one data socket.
        let needed = concurrency.saturating_mul(2).saturating_add(256);
        if limit.now < needed {
            eprintln!(
                "ringftp-load: warning: open-file limit {} is below the {needed} that \
                 {concurrency} sessions may hold at once",
                limit.now
            );
        }
    }
    let content = match &config.verify_content {
        Some(path) => Some(Arc::<[u8]>::from(
            std::fs::read(path).map_err(MainError::Content)?,
        )),
        None => None,
    };
    let sizes = probe_sizes(&config)?;
    let metrics_before = config
        .server_metrics
        .as_ref()
        .map(|u| metrics::fetch(u).map(|t| metrics::parse_sessions(&t)))
        .transpose()?;

    let plan = Arc::new(Plan {
        target: config.target,
        user: config.user.clone(),
        password: config.password.clone(),
        scenario: config.scenario.clone(),
        mode: config.mode,
        transfers_per_session: config.transfers_per_session,
        timeout: config.timeout,
        sources: config.sources.clone(),
        sizes,
        verify_size: config.verify_size,
        content,
        upload_dir: config.upload_dir.clone(),
        delete_uploads: config.delete_uploads,
        think_time: config.think_time,
        tls: config.tls.clone(),
        run_id: format!(
            "{}-{}",
            std::process::id(),
            SystemTime::now()
                .duration_since(SystemTime::UNIX_EPOCH)
                .map_or(0, |d| d.as_secs())
        ),
        read_pace: config.read_pace,
        write_pace: config.write_pace,
        data_socket: config.data_socket,
        cut_at_end: config.cut_at_end,
    });

    let sampler = config.server_metrics.clone().map(PortSampler::start);
    let driven = drive(&config, plan)?;
    let port_peaks = sampler.map(PortSampler::stop);
    let (stats, start, elapsed, peak) = (driven.stats, driven.start, driven.elapsed, driven.peak);

    let window = stats
        .last_ok_at
        .map_or(elapsed, |t| t.saturating_duration_since(start));
    let mut report = Report::new(run_info(&config, limit.now), &stats, elapsed, window);
    report.sessions.peak_in_flight = peak;
    if let (Some(url), Some(before)) = (&config.server_metrics, metrics_before) {
        let after = metrics::parse_sessions(&metrics::fetch(url)?);
        report.server_cores = Some(metrics::balance(&before, &after));
    }
    if let Some(peaks) = port_peaks.filter(|p| p.samples > 0) {
        let sizing = peaks.sizing();
        if !sizing.is_empty() {
            report.passive_ports = Some(sizing);
        }
    }
    if config.timeline {
        report.timeline = Some(driven.timeline);
    }
    if let (Some(path), Some(points)) = (&config.plot, &report.timeline) {
        let title = format!("{} -> {}", report.info.scenario, report.info.target);
        let series = [plot::Series {
            name: report.info.target.clone(),
            points: points.clone(),
        }];
        plot::draw(path, &title, &series, config.plot_latency)?;
    }
    if config.json {
        eprint!("{}", report.table());
        let mut out = std::io::stdout().lock();
        serde_json::to_writer_pretty(&mut out, &report)?;
        let _ = writeln!(out);
    } else {
        print!("{}", report.table());
    }
    Ok(if stats.sessions_ok + stats.sessions_cut > 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// Scrapes the server's metrics every 100 ms on its own thread during the run, keeping
/// each core's peak of passive ports in use.
struct PortSampler {
    stop: Arc<AtomicBool>,
    handle: std::thread::JoinHandle<PortPeaks>,
}

impl PortSampler {
    fn start(url: MetricsUrl) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let flag = Arc::clone(&stop);
        let handle = std::thread::spawn(move || {
            let mut peaks = PortPeaks::default();
            while !flag.load(Ordering::Relaxed) {
                if let Ok(text) = metrics::fetch(&url) {
                    peaks.observe(&text);
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            peaks
        });
        Self { stop, handle }
    }

    fn stop(self) -> PortPeaks {
        self.stop.store(true, Ordering::Relaxed);
        self.handle.join().unwrap_or_default()
    }
}

/// What [`drive`] measured.
struct Driven {
    /// Merged statistics of all threads.
    stats: Stats,
    start: Instant,
    /// The run's duration.
    elapsed: Duration,
    /// Most sessions seen at once.
    peak: u64,
    /// Per-second intervals (empty unless asked for).
    timeline: Vec<timeline::Point>,
}

/// Runs the load, drawing progress and writing interval logs until every thread is done.
fn drive(config: &Config, plan: Arc<Plan>) -> Result<Driven, MainError> {
    let progress = Arc::new(Progress::default());
    let wall_start = SystemTime::now();
    let mut hdr_log = config
        .hdr_log
        .as_deref()
        .map(|p| HdrLog::create(p, wall_start))
        .transpose()?;
    let wants_intervals = hdr_log.is_some() || config.timeline;
    let interval = wants_intervals.then(|| Arc::new(Mutex::new(Stats::new())));
    let mut points = Vec::new();
    let start = Instant::now() + Duration::from_millis(20);
    let running = runner::start(
        plan,
        config.run.clone(),
        start,
        Arc::clone(&progress),
        interval.clone(),
    )?;

    let tty = !config.quiet && std::io::stderr().is_terminal();
    let tick = Duration::from_secs(1);
    let mut last_tick = start;
    let mut last_snapshot = progress.snapshot();
    while !running.is_finished() {
        std::thread::sleep(Duration::from_millis(50));
        let now = Instant::now();
        if now.saturating_duration_since(last_tick) < tick {
            continue;
        }
        let snapshot = progress.snapshot();
        if tty {
            let line = progress::line(now - start, now - last_tick, last_snapshot, snapshot);
            eprint!("\r{line}");
        }
        if let Some(interval) = &interval {
            let stats = take_interval(interval);
            if let Some(log) = hdr_log.as_mut() {
                log.write_interval(&stats, last_tick - start, now - last_tick)?;
            }
            if config.timeline {
                points.push(timeline::point(
                    (now - start).as_secs_f64(),
                    (now - last_tick).as_secs_f64(),
                    last_snapshot,
                    snapshot,
                    &stats,
                ));
            }
        }
        last_tick = now;
        last_snapshot = snapshot;
    }
    let elapsed = start.elapsed();
    if tty {
        eprint!("\r\x1b[2K");
    }
    if let Some(interval) = &interval {
        let now = Instant::now();
        let stats = take_interval(interval);
        if let Some(log) = hdr_log.as_mut() {
            log.write_interval(
                &stats,
                last_tick.saturating_duration_since(start),
                now - last_tick,
            )?;
        }
        if config.timeline && now > last_tick + Duration::from_millis(100) {
            points.push(timeline::point(
                (now - start).as_secs_f64(),
                (now - last_tick).as_secs_f64(),
                last_snapshot,
                progress.snapshot(),
                &stats,
            ));
        }
    }
    let peak = progress.peak_in_flight.load(Ordering::Relaxed);
    Ok(Driven {
        stats: running.join()?,
        start,
        elapsed,
        peak,
        timeline: points,
    })
}

/// The interval's statistics so far, leaving the shared histograms empty for the next.
fn take_interval(interval: &Mutex<Stats>) -> Stats {
    match interval.lock() {
        Ok(mut s) => {
            let copy = s.clone();
            s.reset_histograms();
            copy
        }
        Err(_) => Stats::new(),
    }
}

/// Logs in once and asks SIZE of every download path, so each download can be checked.
fn probe_sizes(config: &Config) -> Result<HashMap<String, u64>, MainError> {
    let paths = config.scenario.download_paths();
    if paths.is_empty() {
        return Ok(HashMap::new());
    }
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(MainError::Runtime)?;
    rt.block_on(async {
        let stream = bounded(
            config.timeout,
            sockets::connect(config.target, config.sources.pick(0)),
        )
        .await
        .map_err(MainError::Probe)?;
        let mut ctl = Control::new(stream, config.timeout);
        let banner = ctl.final_reply().await.map_err(MainError::Probe)?;
        if banner.code != 220 {
            return Err(MainError::Probe(FtpError::Unexpected(banner)));
        }
        if let Some(tls) = &config.tls {
            ctl.start_tls(tls, tls.for_session())
                .await
                .map_err(MainError::Probe)?;
        }
        ctl.login(&config.user, &config.password)
            .await
            .map_err(MainError::Probe)?;
        ctl.expect("TYPE I", 200).await.map_err(MainError::Probe)?;
        let mut sizes = HashMap::new();
        let mut unsupported = false;
        for path in paths {
            if unsupported || sizes.contains_key(path) {
                continue;
            }
            match ctl.size(path).await {
                Ok(Some(n)) => {
                    sizes.insert(path.clone(), n);
                }
                Ok(None) => {
                    eprintln!("ringftp-load: server has no SIZE; byte counts are not checked");
                    unsupported = true;
                }
                Err(error) => {
                    return Err(MainError::ProbeSize {
                        path: path.clone(),
                        error,
                    })
                }
            }
        }
        let _ = ctl.command("QUIT").await;
        Ok(sizes)
    })
}

fn run_info(config: &Config, nofile_limit: u64) -> RunInfo {
    let (load, load_value) = match config.run.load {
        Load::Closed { concurrency } => ("closed", concurrency as f64),
        Load::Open { rate, .. } => ("open", rate),
        Load::Replay { speedup, .. } => ("replay", speedup),
    };
    let stop = match config.run.stop {
        Stop::After(d) => format!("duration {:.1}s", d.as_secs_f64()),
        Stop::Count(n) => format!("count {n}"),
    };
    RunInfo {
        target: config.target_text.clone(),
        scenario: config.scenario.describe(),
        mode: config.mode.describe(),
        load: load.to_string(),
        load_value,
        stop,
        threads: config.run.threads,
        transfers_per_session: config.transfers_per_session,
        sources: config.sources.describe(),
        nofile_limit,
    }
}
