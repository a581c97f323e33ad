//! RFC 3659 `perm` facts for MLSD/MLST: what this user may really do with an entry,
//! which is the account's permissions and what the kernel will allow the server
//! process (the entry's mode, owner and group, and the folder holding it).

use std::fs::Metadata;
use std::os::unix::fs::MetadataExt;

use crate::vfs::Permissions;

/// Read, write and search bits, as in a mode's `rwx` triplet.
const R: u32 = 4;
const W: u32 = 2;
const X: u32 = 1;

/// The server process's credentials, which the kernel checks every access against.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub uid: u32,
    pub gid: u32,
    pub groups: Vec<u32>,
}

impl Identity {
    /// The running process's effective credentials.
    pub fn current() -> Identity {
        Identity {
            uid: rustix::process::geteuid().as_raw(),
            gid: rustix::process::getegid().as_raw(),
            groups: rustix::process::getgroups()
                .map(|g| g.into_iter().map(|g| g.as_raw()).collect())
                .unwrap_or_default(),
        }
    }
}

/// The parts of an inode the access check reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Access {
    pub mode: u32,
    pub uid: u32,
    pub gid: u32,
    pub is_dir: bool,
}

impl From<&Metadata> for Access {
    fn from(m: &Metadata) -> Access {
        Access {
            mode: m.mode(),
            uid: m.uid(),
            gid: m.gid(),
            is_dir: m.is_dir(),
        }
    }
}

impl Identity {
    /// Would the kernel grant all of `want` (R/W/X bits) on this inode?
    fn may(&self, a: &Access, want: u32) -> bool {
        if self.uid == 0 {
            // Root passes every check except executing a file with no x bit at all.
            return want & X == 0 || a.is_dir || a.mode & 0o111 != 0;
        }
        let bits = if a.uid == self.uid {
            a.mode >> 6
        } else if a.gid == self.gid || self.groups.contains(&a.gid) {
            a.mode >> 3
        } else {
            a.mode
        } & 7;
        bits & want == want
    }
}

/// Append the `perm` fact's letters for an entry held in folder `parent`.
pub fn write_perm(
    out: &mut Vec<u8>,
    entry: &Access,
    parent: Option<&Access>,
    perms: Permissions,
    who: &Identity,
) {
    // Deleting or renaming an entry changes its folder.
    let parent_w = parent.is_some_and(|p| who.may(p, W | X));
    if entry.is_dir {
        let search = who.may(entry, X);
        let change = who.may(entry, W | X);
        let letters = [
            (perms.write && change, b'c'),
            (perms.delete && parent_w, b'd'),
            (search, b'e'),
            (perms.rename && parent_w, b'f'),
            (perms.read && who.may(entry, R | X), b'l'),
            (perms.mkdir && change, b'm'),
            (perms.delete && change, b'p'),
        ];
        out.extend(letters.iter().filter(|(ok, _)| *ok).map(|(_, l)| *l));
    } else {
        let write = perms.write && who.may(entry, W);
        let letters = [
            (write, b'a'),
            (perms.delete && parent_w, b'd'),
            (perms.rename && parent_w, b'f'),
            (perms.read && who.may(entry, R), b'r'),
            (write, b'w'),
        ];
        out.extend(letters.iter().filter(|(ok, _)| *ok).map(|(_, l)| *l));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(entry: Access, parent: Access, perms: Permissions, who: &Identity) -> String {
        let mut out = Vec::new();
        write_perm(&mut out, &entry, Some(&parent), perms, who);
        String::from_utf8(out).unwrap()
    }

    fn file(mode: u32, uid: u32) -> Access {
        Access {
            mode,
            uid,
            gid: 100,
            is_dir: false,
        }
    }

    fn dir(mode: u32, uid: u32) -> Access {
        Access {
            mode,
            uid,
            gid: 100,
            is_dir: true,
        }
    }

    #[test]
    fn facts_follow_the_mode_and_the_account() {
        let user = Identity {
            uid: 1000,
            gid: 1000,
            groups: vec![],
        };
        let all = Permissions::all();
        // Own writable file in an own writable folder: everything.
        assert_eq!(
            facts(file(0o644, 1000), dir(0o755, 1000), all, &user),
            "adfrw"
        );
        // A read-only file: no append or overwrite, but still deletable via its folder.
        assert_eq!(
            facts(file(0o444, 1000), dir(0o755, 1000), all, &user),
            "dfr"
        );
        // Someone else's folder: no delete or rename.
        assert_eq!(facts(file(0o644, 1000), dir(0o755, 0), all, &user), "arw");
        // Unreadable file of another user.
        assert_eq!(facts(file(0o600, 0), dir(0o755, 0), all, &user), "");
        // Group bits apply through supplementary groups.
        let member = Identity {
            uid: 1000,
            gid: 1000,
            groups: vec![100],
        };
        assert_eq!(facts(file(0o060, 0), dir(0o755, 0), all, &member), "arw");
        // Folders: search, list, create inside.
        assert_eq!(
            facts(dir(0o755, 1000), dir(0o755, 1000), all, &user),
            "cdeflmp"
        );
        assert_eq!(facts(dir(0o555, 0), dir(0o555, 0), all, &user), "el");
        assert_eq!(facts(dir(0o711, 0), dir(0o555, 0), all, &user), "e");
        // The account's permissions limit what the mode allows.
        let ro = Permissions::read_only();
        assert_eq!(facts(file(0o666, 1000), dir(0o777, 1000), ro, &user), "r");
        assert_eq!(facts(dir(0o777, 1000), dir(0o777, 1000), ro, &user), "el");
        // Root: the mode does not stop it.
        let root = Identity {
            uid: 0,
            gid: 0,
            groups: vec![],
        };
        assert_eq!(
            facts(file(0o000, 1000), dir(0o500, 1000), all, &root),
            "adfrw"
        );
    }
}
