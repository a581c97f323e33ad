//! SITE commands: CHMOD (octal permission bits, for users who may write) and HELP.

use super::*;

/// Permission bits SITE CHMOD may set: rwx for owner, group and others, never
/// setuid, setgid or sticky.
const CHMOD_BITS: u32 = 0o777;

impl Session {
    pub(super) fn site(&mut self, arg: &[u8]) -> Step {
        let (word, rest) = match arg.iter().position(|&b| b == b' ') {
            Some(i) => (&arg[..i], &arg[i + 1..]),
            None => (arg, &b""[..]),
        };
        if word.eq_ignore_ascii_case(b"HELP") {
            return Step {
                replies: vec![Reply::multi(
                    214,
                    vec![
                        "The following SITE commands are recognized.".into(),
                        "CHMOD HELP".into(),
                        "Help OK.".into(),
                    ],
                )],
                ..Step::default()
            };
        }
        if word.eq_ignore_ascii_case(b"CHMOD") {
            return self.chmod(rest);
        }
        Step::reply(500, "Unknown SITE command.")
    }

    /// `SITE CHMOD mode path`: mode is 1-4 octal digits without setuid, setgid or sticky.
    fn chmod(&mut self, arg: &[u8]) -> Step {
        let (mode, path) = match arg.iter().position(|&b| b == b' ') {
            Some(i) => (&arg[..i], &arg[i + 1..]),
            None => return Step::reply(501, "SITE CHMOD needs a mode and a path."),
        };
        if path.is_empty() {
            return Step::reply(501, "SITE CHMOD needs a mode and a path.");
        }
        let mode = match std::str::from_utf8(mode)
            .ok()
            .filter(|m| (1..=4).contains(&m.len()))
            .and_then(|m| u32::from_str_radix(m, 8).ok())
        {
            Some(m) => m,
            None => return Step::reply(501, "SITE CHMOD needs an octal mode."),
        };
        if mode & !CHMOD_BITS != 0 {
            return Step::reply(501, "Setuid, setgid and sticky bits are not allowed.");
        }
        if !self.perms().write {
            return Step::reply(550, "Permission denied.");
        }
        let target = match self.resolve(path) {
            Ok(t) => t,
            Err(step) => return step,
        };
        match self.logged_in().vfs.set_mode(&target, mode) {
            Ok(()) => Step::reply(200, "SITE CHMOD command ok."),
            Err(e) => vfs_error(&e),
        }
    }

    /// MFMT: set a file's or folder's modification time, for users who may write.
    pub(super) fn mfmt(&mut self, mtime: i64, path: &[u8]) -> Step {
        if !self.perms().write {
            return Step::reply(550, "Permission denied.");
        }
        let target = match self.resolve(path) {
            Ok(t) => t,
            Err(step) => return step,
        };
        if target.virt == VirtualPath::root() {
            return Step::reply(550, "Permission denied: the root stays.");
        }
        match self.logged_in().vfs.set_mtime(&target, mtime) {
            Ok(()) => {
                let stamp = listing::mdtm_string(
                    SystemTime::UNIX_EPOCH + Duration::from_secs(mtime.max(0) as u64),
                );
                Step::reply(213, format!("Modify={stamp}; {}", target.virt.display()))
            }
            Err(e) => vfs_error(&e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::*;
    use crate::vfs::Permissions;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn site_chmod_needs_write_and_plain_bits() {
        let dir = tree();
        let file = dir.path().join("file.txt");
        let mode = || std::fs::metadata(&file).unwrap().permissions().mode() & 0o7777;
        let mut ro = logged_in(dir.path(), Permissions::read_only());
        assert_eq!(code(&run(&mut ro, "SITE CHMOD 600 file.txt")), 550);
        assert_eq!(code(&run(&mut ro, "SITE HELP")), 214);
        assert!(run(&mut ro, "SITE HELP").replies[0]
            .to_string()
            .contains("CHMOD"));
        let mut s = logged_in(dir.path(), Permissions::all());
        assert_eq!(code(&run(&mut s, "site chmod 640 file.txt")), 200);
        assert_eq!(mode(), 0o640);
        assert_eq!(code(&run(&mut s, "SITE CHMOD 0755 file.txt")), 200);
        assert_eq!(mode(), 0o755);
        for bad in ["4755", "2755", "1777", "800", "rwx", "77777"] {
            let step = run(&mut s, &format!("SITE CHMOD {bad} file.txt"));
            assert_eq!(code(&step), 501, "{bad}");
        }
        assert_eq!(mode(), 0o755);
        assert_eq!(code(&run(&mut s, "SITE CHMOD 644 missing")), 550);
        assert_eq!(code(&run(&mut s, "SITE CHMOD 644")), 501);
        assert_eq!(code(&run(&mut s, "SITE EXEC ls")), 500);
    }

    #[test]
    fn mfmt_sets_the_time_for_writers() {
        let dir = tree();
        let mut ro = logged_in(dir.path(), Permissions::read_only());
        assert_eq!(code(&run(&mut ro, "MFMT 20200102030405 file.txt")), 550);
        let mut s = logged_in(dir.path(), Permissions::all());
        let step = run(&mut s, "MFMT 20200102030405 file.txt");
        assert_eq!(
            step.replies[0].to_bytes(),
            b"213 Modify=20200102030405; /file.txt\r\n"
        );
        assert_eq!(
            run(&mut s, "MDTM file.txt").replies[0].to_bytes(),
            b"213 20200102030405\r\n"
        );
        assert_eq!(code(&run(&mut s, "MFMT 20200102030405 sub")), 213);
        assert_eq!(code(&run(&mut s, "MFMT 20200102030405 missing")), 550);
    }
}
