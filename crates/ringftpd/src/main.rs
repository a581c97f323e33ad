//! ringftpd: the daemon. Parses flags and the config file, starts the engine,
//! and turns signals into reloads (SIGHUP) and graceful shutdown (SIGTERM/SIGINT).

mod cli;
mod config;
mod metrics;
mod xferlog;

use std::io::Read;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use ringftp_control::policy::ConnectionLimits;
use ringftp_dataplane::transfer_log::TransferLog;
use ringftp_dataplane::Engine;
use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
use signal_hook::iterator::Signals;
use tracing::{error, info, warn};
use tracing_subscriber::EnvFilter;

use crate::cli::{Cli, CommandLine};
use crate::config::FileConfig;

/// mimalloc instead of glibc malloc: glibc keeps one arena per worker thread and does
/// not hand freed space back while long-lived session objects sit between transient
/// transfer buffers, so a long soak showed RSS creeping up (about 1.5 MiB a minute)
/// with a small live heap; mimalloc's per-thread pages are purged when they empty.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("ringftpd: {message}");
            ExitCode::FAILURE
        }
    }
}

fn load_config(cli: &Cli, folder: Option<&std::path::Path>) -> Result<FileConfig, String> {
    let mut file = match &cli.config {
        Some(path) => FileConfig::load(path).map_err(|e| e.to_string())?,
        None => FileConfig::default(),
    };
    file.apply(&cli.overrides, folder);
    Ok(file)
}

fn run(cli: Cli) -> Result<(), String> {
    let folder = match &cli.command {
        Some(CommandLine::HashPassword) => return hash_password(),
        Some(CommandLine::Serve { folder }) => Some(folder.clone()),
        Some(CommandLine::CheckConfig) | None => None,
    };
    if cli.command.is_none() && cli.config.is_none() {
        return Err(
            "nothing to serve: use `ringftpd serve FOLDER` or `ringftpd --config FILE`".into(),
        );
    }
    let file = load_config(&cli, folder.as_deref())?;
    let guard = Arc::new(file.login_guard());
    let session = file
        .session_config(guard.clone())
        .map_err(|e| e.to_string())?;
    let limits = Arc::new(ConnectionLimits::new(
        file.limits.max_sessions,
        file.limits.max_sessions_per_ip,
    ));
    let transfer_log: Option<Arc<dyn TransferLog>> = match &file.log.xferlog {
        Some(path) => {
            Some(Arc::new(xferlog::XferLog::open(path).map_err(|e| {
                format!("invalid `log.xferlog`: {}: {e}", path.display())
            })?))
        }
        None => None,
    };
    let engine_config = file
        .engine_config(session, limits.clone(), transfer_log)
        .map_err(|e| e.to_string())?;
    if let Some(CommandLine::CheckConfig) = cli.command {
        println!(
            "{}",
            toml::to_string_pretty(&file).map_err(|e| e.to_string())?
        );
        return Ok(());
    }
    let log_filter = init_logging(&file.log.level)?;
    // Every session holds a control socket and often a data socket and a pipe.
    match rlimit::increase_nofile_limit(u64::MAX) {
        Ok(n) => info!(open_files = n, "open-file limit"),
        Err(e) => warn!(error = %e, "cannot raise the open-file limit"),
    }
    let session_slot = engine_config.session.clone();
    let tls_slot = engine_config.tls.clone();
    let engine = Engine::start(engine_config).map_err(|e| e.to_string())?;
    let root = file
        .root
        .as_deref()
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    for addr in engine.local_addrs() {
        // Scripts and tests read this line to learn the port (also with port 0).
        println!("ringftpd: serving {root} on {addr}");
    }
    for addr in engine.tls_local_addrs() {
        println!("ringftpd: serving {root} with implicit TLS on {addr}");
    }
    if let Some(addr) = file.metrics.listen {
        let bound = metrics::spawn(addr, engine.metrics().to_vec())
            .map_err(|e| format!("invalid `metrics.listen` {addr}: {e}"))?;
        println!("ringftpd: metrics on http://{bound}/metrics");
        if !bound.ip().is_loopback() {
            warn!(%bound, "metrics are served beyond loopback: keep them on a management network");
        }
    }
    info!(workers = file.worker_count(), "ringftpd started");

    let mut signals = Signals::new([SIGTERM, SIGINT, SIGHUP])
        .map_err(|e| format!("cannot install signal handlers: {e}"))?;
    for signal in signals.forever() {
        if signal == SIGHUP {
            match reload(&cli, folder.as_deref(), guard.clone(), &limits) {
                Ok((new_file, session, tls)) => {
                    if std::env::var_os("RUST_LOG").is_none() {
                        if let Ok(filter) = EnvFilter::try_new(&new_file.log.level) {
                            let _ = log_filter.reload(filter);
                        }
                    }
                    *session_slot.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(session);
                    // New sessions use the new certificate; running ones keep theirs.
                    *tls_slot.write().unwrap_or_else(|p| p.into_inner()) = tls.map(Arc::new);
                    limits.set_limits(
                        new_file.limits.max_sessions,
                        new_file.limits.max_sessions_per_ip,
                    );
                    info!("configuration reloaded (listen addresses, workers, ports and timeouts apply after a restart)");
                }
                Err(e) => warn!(error = %e, "reload refused; keeping the running configuration"),
            }
            continue;
        }
        info!(signal, "shutting down");
        break;
    }
    let grace = Duration::from_secs(file.timeouts.shutdown_grace_secs);
    engine.shutdown(grace);
    info!("stopped");
    Ok(())
}

/// Read and fully validate the config again; only session-level settings, limits and
/// the log level are applied to the running server.
fn reload(
    cli: &Cli,
    folder: Option<&std::path::Path>,
    guard: Arc<ringftp_control::policy::LoginGuard>,
    limits: &Arc<ConnectionLimits>,
) -> Result<
    (
        FileConfig,
        ringftp_control::session::SessionConfig,
        Option<ringftp_dataplane::tls::TlsServer>,
    ),
    String,
> {
    let file = load_config(cli, folder)?;
    EnvFilter::try_new(&file.log.level).map_err(|e| format!("invalid `log.level`: {e}"))?;
    let check = file
        .session_config(guard.clone())
        .map_err(|e| e.to_string())?;
    file.engine_config(check, limits.clone(), None)
        .map_err(|e| e.to_string())?;
    let session = file.session_config(guard).map_err(|e| e.to_string())?;
    let tls = file.tls_server().map_err(|e| e.to_string())?;
    Ok((file, session, tls))
}

type LogFilter = tracing_subscriber::reload::Handle<EnvFilter, tracing_subscriber::Registry>;

fn init_logging(level: &str) -> Result<LogFilter, String> {
    use tracing_subscriber::layer::SubscriberExt;
    use tracing_subscriber::util::SubscriberInitExt;
    let filter = match std::env::var("RUST_LOG") {
        Ok(env) if !env.is_empty() => EnvFilter::try_new(env),
        _ => EnvFilter::try_new(level),
    }
    .map_err(|e| format!("invalid `log.level` {level:?}: {e}"))?;
    let (filter, handle) = tracing_subscriber::reload::Layer::new(filter);
    tracing_subscriber::registry()
        .with(filter)
        .with(tracing_subscriber::fmt::layer().with_writer(std::io::stderr))
        .init();
    Ok(handle)
}

fn hash_password() -> Result<(), String> {
    let mut input = String::new();
    std::io::stdin()
        .read_to_string(&mut input)
        .map_err(|e| format!("cannot read password from stdin: {e}"))?;
    let password = input.trim_end_matches(['\r', '\n']);
    if password.is_empty() {
        return Err("empty password on stdin".into());
    }
    let hash = ringftp_control::auth::hash_password(password).map_err(|e| {
        error!(error = %e, "hashing failed");
        e.to_string()
    })?;
    println!("{hash}");
    Ok(())
}
