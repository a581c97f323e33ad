//! Raising the open-file limit, since every session holds one to three sockets.

use std::io;

/// The open-file limit before and after raising it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NofileLimit {
    /// Soft limit before.
    pub before: u64,
    /// Soft limit now in force.
    pub now: u64,
}

fn get() -> io::Result<libc::rlimit> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `lim` is a valid, writable rlimit for the duration of the call.
    let rc = unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) };
    if rc == 0 {
        Ok(lim)
    } else {
        Err(io::Error::last_os_error())
    }
}

fn set(lim: &libc::rlimit) -> io::Result<()> {
    // SAFETY: `lim` points to a valid rlimit that outlives the call.
    let rc = unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, lim) };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// Raises the soft limit to the hard limit; when `wanted` exceeds the hard limit, first
/// tries to raise the hard limit too (allowed with CAP_SYS_RESOURCE, capped by nr_open).
pub fn raise(wanted: u64) -> io::Result<NofileLimit> {
    let lim = get()?;
    let before = lim.rlim_cur as u64;
    if wanted > lim.rlim_max as u64 {
        let nr_open = std::fs::read_to_string("/proc/sys/fs/nr_open")
            .ok()
            .and_then(|s| s.trim().parse::<u64>().ok())
            .unwrap_or(lim.rlim_max as u64);
        let target = wanted.min(nr_open) as libc::rlim_t;
        if target > lim.rlim_max
            && set(&libc::rlimit {
                rlim_cur: target,
                rlim_max: target,
            })
            .is_ok()
        {
            return Ok(NofileLimit {
                before,
                now: target as u64,
            });
        }
    }
    set(&libc::rlimit {
        rlim_cur: lim.rlim_max,
        rlim_max: lim.rlim_max,
    })?;
    Ok(NofileLimit {
        before,
        now: lim.rlim_max as u64,
    })
}
