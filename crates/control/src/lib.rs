//! ringftp-control: the FTP control plane as a sans-I/O state machine.
//!
//! Bytes and data-plane events go in; replies and [`session::Action`]s come out.
//! Nothing here opens a socket or runs an executor, so every rule is testable with
//! plain values. Filesystem metadata (stat, readdir, mkdir, rename, unlink) is done
//! with plain `std::fs` calls inside [`vfs`] and [`listing`]; bulk file data is moved
//! by the data plane.

pub mod ascii;
pub mod auth;
pub mod command;
pub mod digest;
pub mod glob;
pub mod line;
pub mod listing;
pub mod perm_facts;
pub mod policy;
pub mod proxy;
pub mod reply;
pub mod session;
pub mod vfs;
