//! Command-line interface. Every flag that exists in the config file overrides it.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

use crate::rates::ByteRate;

/// ringftpd: an io_uring FTP server for mirrors.
#[derive(Debug, Parser)]
#[command(version, about, long_about = None)]
pub struct Cli {
    /// Configuration file (TOML).
    #[arg(long, short = 'c', global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,

    #[command(subcommand)]
    pub command: Option<CommandLine>,

    #[command(flatten)]
    pub overrides: Overrides,
}

/// Subcommands; with none, the server runs from `--config`.
#[derive(Debug, Subcommand)]
pub enum CommandLine {
    /// Serve FOLDER (anonymous, read-only unless configured otherwise).
    Serve {
        /// The folder to serve as the FTP root.
        folder: PathBuf,
    },
    /// Validate the configuration and print it as resolved.
    CheckConfig,
    /// Read a password on stdin and print its argon2id hash for a users file.
    HashPassword,
}

/// Flags that override configuration keys.
#[derive(Debug, Args, Default)]
pub struct Overrides {
    /// Control address to listen on (repeatable), e.g. 0.0.0.0:2121 or [::]:2121.
    #[arg(long, global = true, value_name = "ADDR")]
    pub listen: Vec<SocketAddr>,
    /// Worker threads (0 = one per CPU).
    #[arg(long, global = true)]
    pub workers: Option<usize>,
    /// Passive port range, split evenly between workers, e.g. 50000-51999.
    #[arg(long, global = true, value_name = "FIRST-LAST")]
    pub passive_ports: Option<String>,
    /// Address announced in PASV replies (behind NAT).
    #[arg(long, global = true, value_name = "IP")]
    pub pasv_address: Option<IpAddr>,
    /// Switch to this user (and its group) once the listeners are bound (started as root).
    #[arg(long, global = true, value_name = "USER")]
    pub run_as: Option<String>,
    /// Users file (TOML with argon2id hashes).
    #[arg(long, global = true, value_name = "FILE")]
    pub users: Option<PathBuf>,
    /// Let anonymous users upload, create folders, rename and delete.
    #[arg(long, global = true)]
    pub anonymous_write: bool,
    /// Transfer log in xferlog format.
    #[arg(long, global = true, value_name = "FILE")]
    pub xferlog: Option<PathBuf>,
    /// Serve Prometheus metrics (HTTP) on ADDR, e.g. 127.0.0.1:9121; a bare port
    /// means loopback (9121 = 127.0.0.1:9121). Off unless given.
    #[arg(long, global = true, value_name = "ADDR", value_parser = metrics_addr)]
    pub metrics: Option<SocketAddr>,
    /// Log level or filter (error, warn, info, debug, trace).
    #[arg(long, global = true, value_name = "LEVEL")]
    pub log_level: Option<String>,
    /// Close control connections idle this many seconds.
    #[arg(long, global = true, value_name = "SECS")]
    pub idle_timeout: Option<u64>,
    /// Abort transfers without progress for this many seconds.
    #[arg(long, global = true, value_name = "SECS")]
    pub data_timeout: Option<u64>,
    /// Wait this many seconds for a client to connect to a passive port.
    #[arg(long, global = true, value_name = "SECS")]
    pub passive_timeout: Option<u64>,
    /// Maximum concurrent sessions.
    #[arg(long, global = true)]
    pub max_sessions: Option<usize>,
    /// Maximum concurrent sessions per client address.
    #[arg(long, global = true)]
    pub max_sessions_per_ip: Option<usize>,
    /// Balancer address or CIDR (repeatable) whose control and data connections start
    /// with a PROXY protocol v1/v2 header naming the real client.
    #[arg(long, global = true, value_name = "CIDR")]
    pub proxy_from: Vec<String>,
    /// Bandwidth cap per session, bytes per second, each direction, anonymous and named
    /// users alike (e.g. 4MiB; 0 = off). `[limits.*]` in the file sets them apart.
    #[arg(long, global = true, value_name = "SIZE")]
    pub session_rate: Option<ByteRate>,
    /// Bandwidth cap per client address (IPv6: per /64), all its sessions together.
    #[arg(long, global = true, value_name = "SIZE")]
    pub ip_rate: Option<ByteRate>,
    /// Bandwidth cap of all sessions together, on all workers.
    #[arg(long, global = true, value_name = "SIZE")]
    pub total_rate: Option<ByteRate>,
    /// TLS certificate chain (PEM) for FTPS; reloaded on SIGHUP.
    #[arg(long, global = true, value_name = "FILE")]
    pub tls_cert: Option<PathBuf>,
    /// TLS private key (PEM) for FTPS; reloaded on SIGHUP.
    #[arg(long, global = true, value_name = "FILE")]
    pub tls_key: Option<PathBuf>,
    /// Implicit TLS listen address (repeatable), e.g. 0.0.0.0:990.
    #[arg(long, global = true, value_name = "ADDR")]
    pub tls_listen: Vec<SocketAddr>,
    /// What must be encrypted: none, login (named users) or data (and their transfers).
    #[arg(long, global = true, value_name = "LEVEL")]
    pub tls_require: Option<String>,
}

/// `--metrics`: an address, or a bare port on loopback (metrics stay private unless an
/// address says otherwise).
fn metrics_addr(s: &str) -> Result<SocketAddr, String> {
    if let Ok(port) = s.parse::<u16>() {
        return Ok(SocketAddr::from(([127, 0, 0, 1], port)));
    }
    s.parse()
        .map_err(|_| format!("`{s}` is neither HOST:PORT nor a port"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metrics_take_an_address_or_a_loopback_port() {
        assert_eq!(metrics_addr("9121"), Ok("127.0.0.1:9121".parse().unwrap()));
        assert_eq!(
            metrics_addr("[::1]:9121"),
            Ok("[::1]:9121".parse().unwrap())
        );
        assert!(metrics_addr("localhost").unwrap_err().contains("localhost"));
        assert!(metrics_addr("70000").is_err());
    }
}
