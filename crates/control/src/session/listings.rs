//! LIST, NLST, MLSD, MLST and STAT with a path: directory listings and file facts.

use super::*;

impl Session {
    pub(super) fn listing(&mut self, path: Option<Vec<u8>>, format: ListFormat) -> Step {
        let perms = self.perms();
        if !perms.read {
            return Step::reply(550, "Permission denied.");
        }
        let target = match self.resolve(path.as_deref().unwrap_or(b".")) {
            Ok(t) => t,
            Err(step) => return step,
        };
        match self.logged_in().vfs.metadata(&target) {
            Ok(m) if format == ListFormat::Mlsd && !m.is_dir() => {
                return Step::reply(501, "MLSD needs a directory.")
            }
            Ok(_) => {}
            Err(e) => return vfs_error(&e),
        }
        if let Err(step) = self.data_ready() {
            return step;
        }
        let opening = "Here comes the directory listing.".to_string();
        let kind = TransferKind::Listing {
            path: target.real.clone(),
            format,
            perms,
        };
        self.start_transfer(kind, &target, opening)
    }

    pub(super) fn mlst(&mut self, path: Option<Vec<u8>>) -> Step {
        let target = match self.resolve(path.as_deref().unwrap_or(b".")) {
            Ok(t) => t,
            Err(step) => return step,
        };
        let name = target.virt.as_bytes().to_vec();
        match listing::mlst_line(&target.real, &name, self.perms()) {
            Ok(line) => Step {
                replies: vec![Reply::multi(
                    250,
                    vec![
                        format!("Listing {}", target.virt.display()),
                        String::from_utf8_lossy(&line).into_owned(),
                        "End".into(),
                    ],
                )],
                ..Step::default()
            },
            Err(e) => vfs_error(&VfsError::from(e)),
        }
    }

    pub(super) fn stat_path(&mut self, path: &[u8]) -> Step {
        let target = match self.resolve(path) {
            Ok(t) => t,
            Err(step) => return step,
        };
        let mut stream = match listing::ListingStream::open(
            &target.real,
            ListFormat::List,
            SystemTime::now(),
            self.perms(),
        ) {
            Ok(s) => s,
            Err(e) => return vfs_error(&VfsError::from(e)),
        };
        // STAT output travels on the control connection, so it is capped.
        const MAX_STAT_BYTES: usize = 256 * 1024;
        let mut out = Vec::new();
        while out.len() < MAX_STAT_BYTES {
            let room = MAX_STAT_BYTES - out.len();
            match stream.next_chunk(&mut out, room) {
                Ok(true) => {}
                Ok(false) => break,
                Err(e) => return vfs_error(&VfsError::from(e)),
            }
        }
        let mut lines = vec![format!("Status of {}:", target.virt.display())];
        lines.extend(
            String::from_utf8_lossy(&out)
                .split("\r\n")
                .filter(|l| !l.is_empty())
                .map(str::to_string),
        );
        lines.push("End of status".into());
        Step {
            replies: vec![Reply::multi(213, lines)],
            ..Step::default()
        }
    }
}
