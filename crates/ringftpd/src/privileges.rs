//! Leaving root once the listeners are bound: switch to the `run_as` user and its
//! primary group (supplementary groups dropped), keep at most CAP_NET_BIND_SERVICE,
//! and set NO_NEW_PRIVS.
//!
//! Linux keeps credentials, capabilities and NO_NEW_PRIVS per thread, and a thread
//! inherits them when it is created. So this runs on the main thread before any other
//! thread exists (the engine is bound, not started), and every worker, blocking-pool
//! and io_uring worker thread starts out unprivileged.

use caps::{CapSet, Capability, CapsHashSet};
use nix::unistd::{Gid, Uid, User};
use tracing::{info, warn};

/// Why the switch to the unprivileged user failed; the process must not serve then.
#[derive(Debug, thiserror::Error)]
pub enum PrivilegeError {
    #[error("invalid `run_as`: no user named {0:?}")]
    NoSuchUser(String),
    #[error("invalid `run_as`: cannot look up {name:?}: {source}")]
    Lookup { name: String, source: nix::Error },
    #[error("invalid `run_as`: {0:?} is root; name an unprivileged user")]
    Root(String),
    #[error("`run_as` = {name:?} needs ringftpd to start as root (it runs as uid {uid})")]
    NotRoot { name: String, uid: u32 },
    #[error("cannot switch to user {name:?}: {step} failed: {source}")]
    Switch {
        name: String,
        step: &'static str,
        source: nix::Error,
    },
    #[error("cannot set capabilities ({step}): {source}")]
    Caps {
        step: &'static str,
        source: caps::errors::CapsError,
    },
    #[error("cannot set PR_SET_NO_NEW_PRIVS: {0}")]
    NoNewPrivs(nix::Error),
}

/// The user the daemon runs as after start-up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunAs {
    pub name: String,
    pub uid: Uid,
    pub gid: Gid,
}

impl RunAs {
    /// Look the user up (before the sandbox: NSS may read files anywhere).
    pub fn lookup(name: &str) -> Result<RunAs, PrivilegeError> {
        match User::from_name(name) {
            Ok(Some(user)) if user.uid.is_root() => Err(PrivilegeError::Root(name.into())),
            Ok(Some(user)) => Ok(RunAs {
                name: name.into(),
                uid: user.uid,
                gid: user.gid,
            }),
            Ok(None) => Err(PrivilegeError::NoSuchUser(name.into())),
            Err(source) => Err(PrivilegeError::Lookup {
                name: name.into(),
                source,
            }),
        }
    }
}

/// The capabilities kept after the switch: binding an active-mode source port below
/// 1024 (RFC 959's port 20) needs CAP_NET_BIND_SERVICE; nothing else needs any.
pub fn capabilities_to_keep(active_source_port: Option<u16>) -> CapsHashSet {
    let mut keep = CapsHashSet::new();
    if matches!(active_source_port, Some(port) if port > 0 && port < 1024) {
        keep.insert(Capability::CAP_NET_BIND_SERVICE);
    }
    keep
}

/// Switch to `run_as` (when given and started as root), keep only `keep`, and set
/// NO_NEW_PRIVS. Without `run_as` a root process stays root, with a warning.
pub fn drop_privileges(run_as: Option<&RunAs>, keep: &CapsHashSet) -> Result<(), PrivilegeError> {
    let euid = Uid::effective();
    match run_as {
        None if euid.is_root() => warn!(
            "running as root without `run_as`: every session's parser, path check and \
             io_uring ring runs with full privileges, so a bug in any of them hands a \
             remote client the whole machine; set `run_as` (or --run-as USER)"
        ),
        None => {}
        // Already that user (started unprivileged): nothing to switch.
        Some(user) if !euid.is_root() && user.uid == euid => {}
        Some(user) if !euid.is_root() => {
            return Err(PrivilegeError::NotRoot {
                name: user.name.clone(),
                uid: euid.as_raw(),
            })
        }
        Some(user) => switch_user(user, keep)?,
    }
    nix::sys::prctl::set_no_new_privs().map_err(PrivilegeError::NoNewPrivs)
}

fn switch_user(user: &RunAs, keep: &CapsHashSet) -> Result<(), PrivilegeError> {
    let caps_err = |step| move |source| PrivilegeError::Caps { step, source };
    let step = |step| {
        move |source| PrivilegeError::Switch {
            name: user.name.clone(),
            step,
            source,
        }
    };
    // The bounding set can shrink only with CAP_SETPCAP, which a systemd unit's
    // CapabilityBoundingSet may withhold; NO_NEW_PRIVS and empty inheritable and
    // ambient sets keep an exec from gaining anything either way.
    if caps::has_cap(None, CapSet::Effective, Capability::CAP_SETPCAP).unwrap_or(false) {
        for cap in caps::read(None, CapSet::Bounding).map_err(caps_err("read bounding set"))? {
            if !keep.contains(&cap) {
                caps::drop(None, CapSet::Bounding, cap).map_err(caps_err("bounding set"))?;
            }
        }
    }
    // Keep the permitted set across the uid change only when something must stay.
    caps::securebits::set_keepcaps(!keep.is_empty()).map_err(caps_err("PR_SET_KEEPCAPS"))?;
    nix::unistd::setgroups(&[]).map_err(step("setgroups"))?;
    nix::unistd::setresgid(user.gid, user.gid, user.gid).map_err(step("setresgid"))?;
    nix::unistd::setresuid(user.uid, user.uid, user.uid).map_err(step("setresuid"))?;
    caps::securebits::set_keepcaps(false).map_err(caps_err("PR_SET_KEEPCAPS"))?;
    // Effective first: the permitted set may not shrink below it.
    caps::set(None, CapSet::Effective, keep).map_err(caps_err("effective"))?;
    caps::set(None, CapSet::Permitted, keep).map_err(caps_err("permitted"))?;
    caps::clear(None, CapSet::Inheritable).map_err(caps_err("inheritable"))?;
    caps::clear(None, CapSet::Ambient).map_err(caps_err("ambient"))?;
    // A switch that did not take everywhere must not go unnoticed.
    let uids = nix::unistd::getresuid().map_err(step("getresuid"))?;
    let gids = nix::unistd::getresgid().map_err(step("getresgid"))?;
    if [uids.real, uids.effective, uids.saved] != [user.uid; 3]
        || [gids.real, gids.effective, gids.saved] != [user.gid; 3]
    {
        return Err(PrivilegeError::Switch {
            name: user.name.clone(),
            step: "verification",
            source: nix::Error::EPERM,
        });
    }
    let kept: Vec<String> = keep.iter().map(|c| c.to_string()).collect();
    info!(
        user = %user.name,
        uid = user.uid.as_raw(),
        gid = user.gid.as_raw(),
        capabilities = ?kept,
        "switched to the unprivileged user"
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_privileged_active_port_keeps_a_capability() {
        let bind = CapsHashSet::from([Capability::CAP_NET_BIND_SERVICE]);
        assert_eq!(capabilities_to_keep(Some(20)), bind);
        assert_eq!(capabilities_to_keep(Some(1023)), bind);
        assert!(capabilities_to_keep(Some(1024)).is_empty());
        assert!(capabilities_to_keep(Some(0)).is_empty());
        assert!(capabilities_to_keep(None).is_empty());
    }

    #[test]
    fn unknown_and_root_users_are_refused_by_name() {
        let err = RunAs::lookup("no-such-user-ringftpd")
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("`run_as`") && err.contains("no-such-user"),
            "{err}"
        );
        let err = RunAs::lookup("root").unwrap_err().to_string();
        assert!(err.contains("`run_as`") && err.contains("root"), "{err}");
    }
}
