//! ringftp-load: an FTP load generator that drives thousands of concurrent active and
//! passive sessions against any FTP server and reports per-phase HDR latency percentiles.
//!
//! The binary (`main.rs`) wires these modules together; each module owns one idea.

pub mod cli;
pub mod data_addr;
pub mod ftp;
pub mod hdr_log;
pub mod metrics;
pub mod mix;
pub mod nofile;
pub mod pacing;
pub mod plot;
pub mod progress;
pub mod rate;
pub mod recorder;
pub mod reply;
pub mod report;
pub mod runner;
pub mod scenario;
pub mod session;
pub mod sockets;
pub mod source_addrs;
pub mod stats;
pub mod timeline;
pub mod tls;
pub mod units;
pub mod xferlog;
