//! The record of each file transfer, written by the daemon (xferlog format).

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::{Duration, SystemTime};

/// Direction as xferlog names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// RETR: server to client (`o`).
    Outgoing,
    /// STOR/APPE/STOU: client to server (`i`).
    Incoming,
}

/// One finished (or failed) file transfer.
#[derive(Debug, Clone)]
pub struct TransferRecord {
    pub started: SystemTime,
    pub duration: Duration,
    pub peer: IpAddr,
    pub bytes: u64,
    pub path: PathBuf,
    pub ascii: bool,
    pub direction: Direction,
    pub user: String,
    pub anonymous: bool,
    pub complete: bool,
}

/// Sink for transfer records; called on the worker thread, so keep it quick.
pub trait TransferLog: Send + Sync {
    /// Record one transfer.
    fn record(&self, record: &TransferRecord);
}
