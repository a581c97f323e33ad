//! ringftpd: the daemon. Parses flags and the config file, starts the engine,
//! binds its listeners, leaves root and enters its sandbox before any other thread
//! starts, and turns signals into reloads (SIGHUP), log reopening (SIGUSR1) and
//! graceful shutdown (SIGTERM/SIGINT).

mod cli;
mod config;
mod metrics;
mod privileges;
mod rates;
mod sandbox;
mod xferlog;

use std::io::Read;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use ringftp_control::policy::ConnectionLimits;
use ringftp_dataplane::transfer_log::TransferLog;
use ringftp_dataplane::Engine;
use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM, SIGUSR1};
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
    let run_as = file.run_as_user().map_err(|e| e.to_string())?;
    // Built (and its folders checked) only when the sandbox is on.
    let plan = if file.sandbox.enabled {
        file.sandbox_plan(&session, cli.config.as_deref())
            .map_err(|e| e.to_string())?
    } else {
        sandbox::SandboxPlan::default()
    };
    // Opened only after the switch to `run_as` (see XferLog::new); its folder is
    // checked now, so that a typo fails here and in check-config.
    let xferlog = match &file.log.xferlog {
        Some(path) => {
            let folder = path.parent().filter(|p| !p.as_os_str().is_empty());
            if let Some(folder) = folder {
                if !folder.is_dir() {
                    return Err(format!(
                        "invalid `log.xferlog`: {}: no such folder",
                        folder.display()
                    ));
                }
            }
            Some(Arc::new(xferlog::XferLog::new(path)))
        }
        None => None,
    };
    let transfer_log = xferlog.clone().map(|x| x as Arc<dyn TransferLog>);
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
    let rate_limiter = engine_config.rate_limiter.clone();
    let tls_slot = engine_config.tls.clone();
    let keep = privileges::capabilities_to_keep(engine_config.active_source_port);
    // Everything that needs root happens before the switch: the listeners (ports 21
    // and metrics), then the switch, the sandbox, and only then any other thread.
    let bound = Engine::bind(engine_config).map_err(|e| e.to_string())?;
    let metrics_listener = match file.metrics.listen {
        Some(addr) => {
            Some(metrics::bind(addr).map_err(|e| format!("invalid `metrics.listen` {addr}: {e}"))?)
        }
        None => None,
    };
    let mut signals = Signals::new([SIGTERM, SIGINT, SIGHUP, SIGUSR1])
        .map_err(|e| format!("cannot install signal handlers: {e}"))?;
    privileges::drop_privileges(run_as.as_ref(), &keep).map_err(|e| e.to_string())?;
    if let Some(log) = &xferlog {
        log.reopen().map_err(|e| {
            let by = match &run_as {
                Some(user) => format!(" (opened as `run_as` user {:?})", user.name),
                None => String::new(),
            };
            format!("invalid `log.xferlog`: {}: {e}{by}", log.path().display())
        })?;
    }
    let sandbox = if file.sandbox.enabled {
        match sandbox::apply(&plan, file.sandbox.require).map_err(|e| e.to_string())? {
            sandbox::Enforcement::None => None,
            _ => {
                ringftp_dataplane::files::note_sandbox(plan.readable());
                Some(plan)
            }
        }
    } else {
        info!("filesystem sandbox off (`sandbox.enabled = false`)");
        None
    };
    let metrics_source = bound.metrics().to_vec();
    let engine = bound.start().map_err(|e| e.to_string())?;
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
    if let Some(listener) = metrics_listener {
        let bound = metrics::spawn(listener, metrics_source)
            .map_err(|e| format!("cannot serve metrics: {e}"))?;
        println!("ringftpd: metrics on http://{bound}/metrics");
        if !bound.ip().is_loopback() {
            warn!(%bound, "metrics are served beyond loopback: keep them on a management network");
        }
    }
    info!(workers = file.worker_count(), "ringftpd started");

    for signal in signals.forever() {
        match signal {
            SIGHUP => {
                match reload(
                    &cli,
                    folder.as_deref(),
                    guard.clone(),
                    &limits,
                    sandbox.as_ref(),
                ) {
                    Ok((new_file, session, tls)) => {
                        if std::env::var_os("RUST_LOG").is_none() {
                            if let Ok(filter) = EnvFilter::try_new(&new_file.log.level) {
                                let _ = log_filter.reload(filter);
                            }
                        }
                        *session_slot.write().unwrap_or_else(|p| p.into_inner()) =
                            Arc::new(session);
                        // New sessions use the new certificate; running ones keep theirs.
                        *tls_slot.write().unwrap_or_else(|p| p.into_inner()) = tls.map(Arc::new);
                        limits.set_limits(
                            new_file.limits.max_sessions,
                            new_file.limits.max_sessions_per_ip,
                        );
                        // Validated by `reload`; transfers that start from now on use them.
                        if let Ok(caps) = new_file.rate_caps() {
                            rate_limiter.set_caps(caps);
                        }
                        info!("configuration reloaded (listen addresses, workers, ports and timeouts apply after a restart)");
                    }
                    Err(e) => {
                        warn!(error = %e, "reload refused; keeping the running configuration")
                    }
                }
            }
            SIGUSR1 => match &xferlog {
                Some(log) => match log.reopen() {
                    Ok(()) => info!(path = %log.path().display(), "transfer log reopened"),
                    Err(e) => warn!(
                        path = %log.path().display(),
                        error = %e,
                        "cannot reopen the transfer log; still writing the file open before"
                    ),
                },
                None => info!("SIGUSR1: no transfer log to reopen"),
            },
            _ => {
                info!(signal, "shutting down");
                break;
            }
        }
    }
    let grace = Duration::from_secs(file.timeouts.shutdown_grace_secs);
    engine.shutdown(grace);
    info!("stopped");
    Ok(())
}

/// Read and fully validate the config again; only session-level settings, limits and
/// the log level are applied to the running server. With a sandbox in force, every
/// folder the new config needs must lie inside it (Landlock rules only ever narrow).
fn reload(
    cli: &Cli,
    folder: Option<&std::path::Path>,
    guard: Arc<ringftp_control::policy::LoginGuard>,
    limits: &Arc<ConnectionLimits>,
    sandbox: Option<&sandbox::SandboxPlan>,
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
    if let Some(running) = sandbox {
        let wanted = file
            .sandbox_plan(&check, cli.config.as_deref())
            .map_err(|e| e.to_string())?;
        if let Some((grant, access)) = running.uncovered(&wanted) {
            return Err(format!(
                "{} ({}) lies outside the sandbox set up at start ({access} access): \
                 a new root outside it needs a restart",
                grant.why,
                grant.path.display()
            ));
        }
    }
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
