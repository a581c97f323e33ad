//! Raising the open-file limit, since every session holds one to three sockets.

use std::io;

use rlimit::Resource;

/// The open-file limit before and after raising it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NofileLimit {
    /// Soft limit before.
    pub before: u64,
    /// Soft limit now in force.
    pub now: u64,
}

/// Raises the soft limit to the hard limit; when `wanted` exceeds the hard limit, first
/// tries to raise the hard limit too (allowed with CAP_SYS_RESOURCE, capped by nr_open).
pub fn raise(wanted: u64) -> io::Result<NofileLimit> {
    let (before, hard) = Resource::NOFILE.get()?;
    if wanted > hard {
        let nr_open = std::fs::read_to_string("/proc/sys/fs/nr_open")
            .ok()
            .and_then(|s| s.trim().parse::<u64>().ok())
            .unwrap_or(hard);
        let target = wanted.min(nr_open);
        if target > hard && Resource::NOFILE.set(target, target).is_ok() {
            return Ok(NofileLimit {
                before,
                now: target,
            });
        }
    }
    Resource::NOFILE.set(hard, hard)?;
    Ok(NofileLimit { before, now: hard })
}
