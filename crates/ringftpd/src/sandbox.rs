//! The Landlock sandbox: once started, the process may read only below the served
//! roots (and `sandbox.extra_read_paths`), write only below roots where some login may
//! write, append to its own logs, and re-read its config folder (SIGHUP). It may never
//! execute a file.
//!
//! One ruleset is built from the configuration and applied once, on the main thread
//! before the workers start, so every thread inherits it. io_uring requests run with
//! the credentials of the thread that submits them, which carry the Landlock domain,
//! so opens through a ring are refused alike (tested below).

use std::path::{Path, PathBuf};

use landlock::{
    make_bitflags, Access, AccessFs, BitFlags, CompatLevel, Compatible, LandlockStatus,
    PathBeneath, PathFd, Ruleset, RulesetAttr, RulesetCreatedAttr, RulesetStatus, Scope, ABI,
};
use tracing::{info, warn};

/// The Landlock ABI the ruleset is written for (the kernel may offer less: best effort).
const TARGET_ABI: ABI = ABI::V7;

/// Why the sandbox could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    #[error("{what} {path}: {source}")]
    Path {
        what: String,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot build the Landlock ruleset: {0}")]
    Ruleset(#[from] landlock::RulesetError),
    #[error("`sandbox.require = true` but the kernel enforces no Landlock sandbox ({0})")]
    Unavailable(String),
}

/// One folder the sandbox opens up, and who needs it (for messages).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    pub path: PathBuf,
    pub why: String,
}

/// What the process may touch after start-up; every path canonical.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SandboxPlan {
    /// Read and list below (served roots, extra read paths).
    pub read: Vec<Grant>,
    /// Also create, write, rename and remove below (roots some login may write).
    pub write: Vec<Grant>,
    /// Append to and create files in (log folders).
    pub logs: Vec<Grant>,
    /// Read files in (the config and users files' folders, re-read on SIGHUP).
    pub config: Vec<Grant>,
}

fn canonical(path: &Path, what: &str) -> Result<PathBuf, SandboxError> {
    path.canonicalize().map_err(|source| SandboxError::Path {
        what: what.to_string(),
        path: path.to_path_buf(),
        source,
    })
}

fn push(list: &mut Vec<Grant>, path: PathBuf, why: String) {
    if !list.iter().any(|g| g.path == path) {
        list.push(Grant { path, why });
    }
}

impl SandboxPlan {
    /// Grant `path` for reading (`writable`: also writing) to `why`.
    pub fn add_root(&mut self, path: &Path, writable: bool, why: &str) -> Result<(), SandboxError> {
        let path = canonical(path, why)?;
        push(&mut self.read, path.clone(), why.to_string());
        if writable {
            push(&mut self.write, path, why.to_string());
        }
        Ok(())
    }

    /// Let the process append to `file` and create it again after a rotation.
    pub fn add_log(&mut self, file: &Path, why: &str) -> Result<(), SandboxError> {
        let folder = canonical(parent_of(file), why)?;
        push(&mut self.logs, folder, why.to_string());
        Ok(())
    }

    /// Let the process re-read `file` (and its replacement: editors rename over files).
    pub fn add_config(&mut self, file: &Path, why: &str) -> Result<(), SandboxError> {
        let folder = canonical(parent_of(file), why)?;
        push(&mut self.config, folder, why.to_string());
        Ok(())
    }

    /// Every folder the process may read below (for explaining refused opens).
    pub fn readable(&self) -> Vec<PathBuf> {
        self.read.iter().map(|g| g.path.clone()).collect()
    }

    /// The first grant of `wanted` (a reloaded configuration) that this sandbox, already
    /// enforced, does not cover: Landlock rules can only ever be narrowed.
    pub fn uncovered<'a>(&self, wanted: &'a SandboxPlan) -> Option<(&'a Grant, &'static str)> {
        let covered = |g: &Grant, by: &[&Vec<Grant>]| {
            by.iter()
                .any(|list| list.iter().any(|have| g.path.starts_with(&have.path)))
        };
        let checks = [
            (&wanted.read, vec![&self.read], "read"),
            (&wanted.write, vec![&self.write], "write"),
            (&wanted.logs, vec![&self.logs, &self.write], "write"),
            (&wanted.config, vec![&self.config, &self.read], "read"),
        ];
        checks.into_iter().find_map(|(grants, by, access)| {
            grants
                .iter()
                .find(|g| !covered(g, &by))
                .map(|g| (g, access))
        })
    }
}

fn parent_of(file: &Path) -> &Path {
    match file.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// What reading a folder's contents takes.
fn read_access() -> BitFlags<AccessFs> {
    make_bitflags!(AccessFs::{ReadFile | ReadDir})
}

/// What uploads, MKD, RNFR/RNTO, DELE and RMD take: files and folders, never devices,
/// sockets, fifos or symlinks.
fn write_access() -> BitFlags<AccessFs> {
    read_access()
        | make_bitflags!(AccessFs::{
            WriteFile | MakeReg | MakeDir | RemoveFile | RemoveDir | Refer | Truncate
        })
}

/// Whether the sandbox the kernel applied restricts the process.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Enforcement {
    Full,
    Partial,
    /// No Landlock in this kernel (or disabled): started anyway, with a warning.
    None,
}

/// Apply `plan` to the calling thread (and the threads it starts later). With
/// `require`, a kernel without Landlock is an error instead of a warning.
pub fn apply(plan: &SandboxPlan, require: bool) -> Result<Enforcement, SandboxError> {
    let abi = TARGET_ABI;
    let mut ruleset = Ruleset::default()
        .set_compatibility(CompatLevel::BestEffort)
        .handle_access(AccessFs::from_all(abi))?
        .scope(Scope::from_all(abi))?
        .create()?;
    let lists = [
        (&plan.read, read_access()),
        (&plan.write, write_access()),
        (&plan.logs, make_bitflags!(AccessFs::{WriteFile | MakeReg})),
        (&plan.config, make_bitflags!(AccessFs::ReadFile)),
    ];
    for (grants, access) in lists {
        for grant in grants {
            let fd = PathFd::new(&grant.path).map_err(|e| SandboxError::Path {
                what: grant.why.clone(),
                path: grant.path.clone(),
                source: std::io::Error::other(e.to_string()),
            })?;
            // Folder-only rights on a file would be refused by the kernel.
            let access = if grant.path.is_dir() {
                access
            } else {
                access & AccessFs::from_file(abi)
            };
            ruleset = ruleset.add_rule(PathBeneath::new(fd, access))?;
        }
    }
    let status = ruleset.restrict_self()?;
    let landlock = match status.landlock {
        LandlockStatus::NotEnabled => "Landlock is built in but not enabled".to_string(),
        LandlockStatus::NotImplemented => "the kernel has no Landlock".to_string(),
        LandlockStatus::Available { effective_abi, .. } => {
            format!("Landlock ABI {}", effective_abi as i32)
        }
    };
    match status.ruleset {
        RulesetStatus::FullyEnforced => {
            info!(%landlock, "filesystem sandbox enforced");
            Ok(Enforcement::Full)
        }
        RulesetStatus::PartiallyEnforced => {
            info!(%landlock, "filesystem sandbox enforced as far as the kernel supports");
            Ok(Enforcement::Partial)
        }
        RulesetStatus::NotEnforced if require => Err(SandboxError::Unavailable(landlock)),
        RulesetStatus::NotEnforced => {
            warn!(
                %landlock,
                "no filesystem sandbox: a compromised session could read any file the \
                 server's user can (set `sandbox.require = true` to refuse to start)"
            );
            Ok(Enforcement::None)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn grants(paths: &[&str]) -> Vec<Grant> {
        paths
            .iter()
            .map(|p| Grant {
                path: PathBuf::from(p),
                why: format!("test {p}"),
            })
            .collect()
    }

    #[test]
    fn a_reload_may_only_stay_inside_the_sandbox() {
        let running = SandboxPlan {
            read: grants(&["/srv/ftp", "/srv/up"]),
            write: grants(&["/srv/up"]),
            logs: grants(&["/var/log/ringftpd"]),
            config: grants(&["/etc/ringftpd"]),
        };
        assert_eq!(running.uncovered(&running), None);
        let narrower = SandboxPlan {
            read: grants(&["/srv/ftp/pub"]),
            write: grants(&["/srv/up/alice"]),
            ..running.clone()
        };
        assert_eq!(running.uncovered(&narrower), None);
        let new_root = SandboxPlan {
            read: grants(&["/srv/ftp", "/home/bob"]),
            ..running.clone()
        };
        let (grant, access) = running.uncovered(&new_root).unwrap();
        assert_eq!(
            (grant.path.as_path(), access),
            (Path::new("/home/bob"), "read")
        );
        // Readable is not writable.
        let writes_read_only = SandboxPlan {
            write: grants(&["/srv/ftp"]),
            ..running.clone()
        };
        let (grant, access) = running.uncovered(&writes_read_only).unwrap();
        assert_eq!(
            (grant.path.as_path(), access),
            (Path::new("/srv/ftp"), "write")
        );
        // "/srv/upload" is not below "/srv/up".
        let sibling = SandboxPlan {
            read: grants(&["/srv/upload"]),
            ..running.clone()
        };
        assert!(running.uncovered(&sibling).is_some());
    }

    #[test]
    fn plans_hold_canonical_folders_once() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("a")).unwrap();
        let mut plan = SandboxPlan::default();
        plan.add_root(&dir.path().join("a/../a"), true, "root")
            .unwrap();
        plan.add_root(&dir.path().join("a"), false, "anonymous")
            .unwrap();
        plan.add_log(&dir.path().join("a/xferlog"), "log").unwrap();
        let a = dir.path().canonicalize().unwrap().join("a");
        assert_eq!(plan.readable(), vec![a.clone()]);
        assert_eq!(plan.write.len(), 1);
        assert_eq!(plan.logs[0].path, a);
        let err = plan
            .add_root(&dir.path().join("missing"), false, "root of user \"bob\"")
            .unwrap_err()
            .to_string();
        assert!(err.contains("bob") && err.contains("missing"), "{err}");
    }

    /// In a thread of its own (Landlock restricts the calling thread and its children):
    /// a ruleset for one folder, then plain and io_uring opens inside and outside it.
    #[test]
    fn opens_through_io_uring_are_sandboxed_too() {
        let inside = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(inside.path().join("in.txt"), b"in").unwrap();
        std::fs::write(outside.path().join("out.txt"), b"out").unwrap();
        let (inside_path, outside_path) = (inside.path().to_owned(), outside.path().to_owned());
        let outcome = std::thread::spawn(move || {
            let mut plan = SandboxPlan::default();
            plan.add_root(&inside_path, false, "root").unwrap();
            let enforced = apply(&plan, true).expect("this kernel has Landlock");
            assert_ne!(enforced, Enforcement::None);
            let plain_in = std::fs::read(inside_path.join("in.txt")).map(|_| ());
            let plain_out = std::fs::read(outside_path.join("out.txt")).map(|_| ());
            let (uring_in, uring_out) = tokio_uring::start(async {
                let open = |p: PathBuf| async move {
                    let file = tokio_uring::fs::File::open(p).await?;
                    file.close().await
                };
                (
                    open(inside_path.join("in.txt")).await,
                    open(outside_path.join("out.txt")).await,
                )
            });
            (plain_in, plain_out, uring_in, uring_out)
        })
        .join()
        .unwrap();
        let (plain_in, plain_out, uring_in, uring_out) = outcome;
        assert!(
            plain_in.is_ok() && uring_in.is_ok(),
            "{plain_in:?} {uring_in:?}"
        );
        for refused in [plain_out, uring_out] {
            assert_eq!(refused.unwrap_err().raw_os_error(), Some(libc::EACCES));
        }
        // This thread was never restricted.
        assert!(std::fs::read(outside.path().join("out.txt")).is_ok());
    }
}
