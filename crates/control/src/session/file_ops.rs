//! SIZE, MDTM, RNFR/RNTO, DELE, RMD, MKD: file metadata and changes to the tree.

use super::*;

impl Session {
    pub(super) fn file_metadata(&self, path: &[u8]) -> Result<std::fs::Metadata, Step> {
        if !self.perms().read {
            return Err(Step::reply(550, "Permission denied."));
        }
        match self.resolve_with_metadata(path)?.1 {
            Ok(m) if m.is_file() => Ok(m),
            Ok(_) => Err(Step::reply(550, "Not a plain file.")),
            Err(e) => Err(vfs_error(&e)),
        }
    }

    pub(super) fn size(&mut self, path: &[u8]) -> Step {
        match self.file_metadata(path) {
            Ok(m) => Step::reply(213, m.len().to_string()),
            Err(step) => step,
        }
    }

    pub(super) fn mdtm(&mut self, path: &[u8]) -> Step {
        match self.file_metadata(path).map(|m| m.modified()) {
            Ok(Ok(t)) => Step::reply(213, listing::mdtm_string(t)),
            Ok(Err(_)) => Step::reply(550, "Modification time unavailable."),
            Err(step) => step,
        }
    }

    pub(super) fn rnfr(&mut self, path: &[u8]) -> Step {
        if !self.perms().rename {
            return Step::reply(550, "Permission denied.");
        }
        let source = match self.resolve(path) {
            Ok(s) => s,
            Err(step) => return step,
        };
        if let Err(e) = self.logged_in().vfs.metadata(&source) {
            return vfs_error(&e);
        }
        self.rename_from = Some(source);
        Step::reply(350, "Ready for RNTO.")
    }

    pub(super) fn rnto(&mut self, path: &[u8]) -> Step {
        let Some(source) = self.rename_from.take() else {
            return Step::reply(503, "RNFR required first.");
        };
        let target = match self.resolve(path) {
            Ok(t) => t,
            Err(step) => return step,
        };
        match self.logged_in().vfs.rename(&source, &target) {
            Ok(()) => Step::reply(250, "Rename successful."),
            Err(e) => vfs_error(&e),
        }
    }

    pub(super) fn modify(&mut self, path: &[u8], op: Modify) -> Step {
        let perms = self.perms();
        let allowed = match op {
            Modify::DeleteFile | Modify::RemoveDir => perms.delete,
            Modify::MakeDir => perms.mkdir,
        };
        if !allowed {
            return Step::reply(550, "Permission denied.");
        }
        let target = match self.resolve(path) {
            Ok(t) => t,
            Err(step) => return step,
        };
        if target.virt == VirtualPath::root() {
            return Step::reply(550, "Permission denied: the root stays.");
        }
        let vfs = &self.logged_in().vfs;
        let result = match op {
            Modify::DeleteFile => vfs.remove_file(&target),
            Modify::RemoveDir => vfs.remove_dir(&target),
            Modify::MakeDir => vfs.make_dir(&target),
        };
        match (result, op) {
            (Ok(()), Modify::DeleteFile) => Step::reply(250, "Delete operation successful."),
            (Ok(()), Modify::RemoveDir) => {
                Step::reply(250, "Remove directory operation successful.")
            }
            (Ok(()), Modify::MakeDir) => Step::reply(
                257,
                format!("\"{}\" created", quote_path(target.virt.as_bytes())),
            ),
            (Err(e), _) => vfs_error(&e),
        }
    }
}

#[derive(Debug, Clone, Copy)]
pub(super) enum Modify {
    DeleteFile,
    RemoveDir,
    MakeDir,
}

#[cfg(test)]
mod tests {
    use super::super::test_support::*;
    use crate::vfs::Permissions;

    #[test]
    fn rename_pairing_and_permissions() {
        let dir = tree();
        let mut s = logged_in(dir.path(), Permissions::read_only());
        assert_eq!(code(&run(&mut s, "RNTO x")), 503);
        assert_eq!(
            code(&run(&mut s, "RNFR file.txt")),
            550,
            "read-only may not rename"
        );
        assert_eq!(code(&run(&mut s, "DELE file.txt")), 550);
        assert_eq!(code(&run(&mut s, "MKD new")), 550);
        assert_eq!(code(&run(&mut s, "STOR x")), 550);

        let mut s = logged_in(dir.path(), Permissions::all());
        assert_eq!(code(&run(&mut s, "RNFR file.txt")), 350);
        assert_eq!(code(&run(&mut s, "RNTO moved.txt")), 250);
        assert!(dir.path().join("moved.txt").exists());
        assert_eq!(code(&run(&mut s, "RNFR moved.txt")), 350);
        run(&mut s, "NOOP");
        assert_eq!(
            code(&run(&mut s, "RNTO again.txt")),
            503,
            "RNTO must follow RNFR directly"
        );
        assert_eq!(code(&run(&mut s, "MKD new dir")), 257);
        assert!(dir.path().join("new dir").is_dir());
        assert_eq!(code(&run(&mut s, "RMD new dir")), 250);
        assert_eq!(code(&run(&mut s, "DELE moved.txt")), 250);
        assert_eq!(code(&run(&mut s, "RMD /")), 550);
    }
}
