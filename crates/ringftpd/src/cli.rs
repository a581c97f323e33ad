//! Command-line interface. Every flag that exists in the config file overrides it.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

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
