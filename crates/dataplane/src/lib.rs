//! ringftp-dataplane: the thread-per-core io_uring engine.
//!
//! Each worker thread runs its own tokio-uring runtime with its own control
//! listeners (SO_REUSEPORT), passive port slice and pipe pool; a session and its
//! transfers never leave the worker that accepted it. Transfers move file data with
//! splice through pooled pipes: IORING_OP_SPLICE where the disk may block, a direct
//! splice on the worker for pages already in the page cache.

pub mod admission;
pub mod buffers;
pub mod cancel;
pub mod command_rate;
pub mod config;
pub mod control_conn;
mod control_lines;
pub mod data_channel;
mod download;
pub mod files;
pub mod hash_jobs;
pub mod listing_chunks;
pub mod local_channel;
pub mod metrics;
pub mod net;
pub mod page_cache;
pub mod passive_ports;
pub mod pipes;
pub mod proxy_header;
pub mod rate_limit;
pub(crate) mod sys;
pub mod tls;
pub mod transfer;
pub mod transfer_log;
pub mod uring_ops;
pub mod worker;
mod writable;

pub use config::EngineConfig;
pub use worker::{BoundEngine, Engine, EngineError, RunState};
