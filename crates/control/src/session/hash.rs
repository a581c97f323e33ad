//! HASH, OPTS HASH and the XSHA256/XSHA512/XSHA1/XMD5/XCRC aliases: file digests
//! computed by the data plane off the event loop, while the session waits (queueing
//! other commands, as during a password check).

use super::*;
use crate::digest::{DigestKey, HashAlgorithm};

/// A digest the session waits for, and how to answer with it.
pub(super) struct PendingHash {
    algorithm: HashAlgorithm,
    size: u64,
    name: String,
    /// HASH (213 with algorithm, range and name) or an X-alias (250 with the digest).
    draft_reply: bool,
}

impl Session {
    /// FEAT line: the algorithms, the session's current one marked with `*`.
    pub(super) fn hash_feature(&self) -> String {
        let names: Vec<String> = HashAlgorithm::ALL
            .iter()
            .map(|&a| {
                let mark = if a == self.hash_algorithm { "*" } else { "" };
                format!("{}{mark}", a.name())
            })
            .collect();
        format!("HASH {}", names.join(";"))
    }

    /// `OPTS HASH` tells the algorithm; `OPTS HASH name` selects it.
    pub(super) fn opts_hash(&mut self, value: &[u8]) -> Step {
        if value.is_empty() {
            return Step::reply(200, self.hash_algorithm.name());
        }
        match HashAlgorithm::from_name(value) {
            Some(a) => {
                self.hash_algorithm = a;
                Step::reply(200, a.name())
            }
            None => Step::reply(501, "Unknown algorithm; see FEAT."),
        }
    }

    pub(super) fn hash(&mut self, path: &[u8], alias: Option<HashAlgorithm>) -> Step {
        if !self.perms().read {
            return Step::reply(550, "Permission denied.");
        }
        let target = match self.resolve(path) {
            Ok(t) => t,
            Err(step) => return step,
        };
        let meta = match self.logged_in().vfs.metadata(&target) {
            Ok(m) if m.is_file() => m,
            Ok(_) => return Step::reply(550, "Not a plain file."),
            Err(e) => return vfs_error(&e),
        };
        let algorithm = alias.unwrap_or(self.hash_algorithm);
        self.hashing = Some(PendingHash {
            algorithm,
            size: meta.len(),
            name: target.virt.display(),
            draft_reply: alias.is_none(),
        });
        Step::default().with(Action::Hash {
            path: target.open_path().to_path_buf(),
            key: DigestKey::new(&meta, algorithm),
        })
    }

    pub(super) fn hash_done(&mut self, digest: Option<String>) -> Step {
        let Some(pending) = self.hashing.take() else {
            return Step::default();
        };
        match digest {
            // The range is start-end with end exclusive: the whole file.
            Some(d) if pending.draft_reply => Step::reply(
                213,
                format!(
                    "{} 0-{} {d} {}",
                    pending.algorithm.name(),
                    pending.size,
                    pending.name
                ),
            ),
            Some(d) => Step::reply(250, d),
            None => Step::reply(451, "Local error: the file could not be hashed."),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::*;
    use super::super::*;
    use crate::vfs::Permissions;

    #[test]
    fn hash_asks_the_data_plane_and_waits() {
        let dir = tree();
        let mut s = logged_in(dir.path(), Permissions::read_only());
        assert!(run(&mut s, "FEAT").replies[0]
            .to_string()
            .contains("HASH SHA-256*;SHA-512;SHA-1;MD5;CRC32"));
        assert_eq!(
            run(&mut s, "OPTS HASH md5").replies[0].to_bytes(),
            b"200 MD5\r\n"
        );
        assert_eq!(code(&run(&mut s, "OPTS HASH SHA-3")), 501);
        assert!(run(&mut s, "FEAT").replies[0]
            .to_string()
            .contains(";MD5*;"));
        let step = run(&mut s, "HASH file.txt");
        let Some(Action::Hash { key, .. }) = step.action else {
            panic!("{step:?}");
        };
        assert_eq!(key.algorithm, crate::digest::HashAlgorithm::Md5);
        assert!(step.replies.is_empty() && s.busy());
        let done = s.on_event(Event::HashDone(Some("abcd".into())));
        assert_eq!(
            done.replies[0].to_bytes(),
            b"213 MD5 0-6 abcd /file.txt\r\n"
        );
        assert!(!s.busy());
        run(&mut s, "XCRC file.txt");
        assert_eq!(
            s.on_event(Event::HashDone(Some("1234".into()))).replies[0].to_bytes(),
            b"250 1234\r\n"
        );
        run(&mut s, "XSHA256 file.txt");
        assert_eq!(code(&s.on_event(Event::HashDone(None))), 451);
        assert_eq!(code(&run(&mut s, "HASH sub")), 550);
        assert_eq!(code(&run(&mut s, "HASH missing")), 550);
    }
}
