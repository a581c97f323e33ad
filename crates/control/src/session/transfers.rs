//! RETR, STOR, APPE, STOU and ABOR: starting transfers and finishing or aborting them.

use super::*;

impl Session {
    pub(super) fn start_transfer(
        &mut self,
        kind: TransferKind,
        target: &Resolved,
        opening: String,
    ) -> Step {
        self.transfer = TransferState::Connecting;
        self.opening = opening;
        self.rest = 0;
        Step::default().with(Action::Transfer(TransferRequest {
            kind,
            no_symlinks: target.canonical.is_some(),
            ascii: self.transfer_type == TransferType::Ascii,
            virtual_path: target.virt.as_bytes().to_vec(),
            protection: self.data_protection(),
        }))
    }

    pub(super) fn mode_word(&self) -> &'static str {
        match self.transfer_type {
            TransferType::Ascii => "ASCII",
            TransferType::Image => "BINARY",
        }
    }

    pub(super) fn retr(&mut self, path: &[u8]) -> Step {
        if !self.perms().read {
            return Step::reply(550, "Permission denied.");
        }
        let ReadTarget {
            resolved: target,
            meta,
            opened,
        } = match self.resolve_for_reading(path) {
            Ok(t) => t,
            Err(step) => return step,
        };
        let size = match meta {
            Ok(m) if m.is_file() => m.len(),
            Ok(_) => return Step::reply(550, "Failed to open file: not a plain file."),
            Err(e) => return vfs_error(&e),
        };
        if let Err(step) = self.data_ready() {
            return step;
        }
        let offset = std::mem::take(&mut self.rest);
        let opening = format!(
            "Opening {} mode data connection for {} ({} bytes).",
            self.mode_word(),
            target.virt.display(),
            size
        );
        let kind = TransferKind::Retr {
            path: target.open_path().to_path_buf(),
            offset,
            opened,
        };
        self.start_transfer(kind, &target, opening)
    }

    pub(super) fn store(&mut self, path: &[u8], append: bool) -> Step {
        if !self.perms().write {
            return Step::reply(550, "Permission denied.");
        }
        let target = match self.resolve(path) {
            Ok(t) => t,
            Err(step) => return step,
        };
        if matches!(self.logged_in().vfs.metadata(&target), Ok(m) if m.is_dir()) {
            return Step::reply(550, "Cannot store onto a directory.");
        }
        if let Err(step) = self.data_ready() {
            return step;
        }
        let mode = match (append, std::mem::take(&mut self.rest)) {
            (true, _) => StoreMode::Append,
            (false, 0) => StoreMode::Replace,
            (false, n) => StoreMode::Resume(n),
        };
        let opening = format!("Ok to send data for {}.", target.virt.display());
        let kind = TransferKind::Store {
            path: target.open_path().to_path_buf(),
            mode,
        };
        self.start_transfer(kind, &target, opening)
    }

    pub(super) fn store_unique(&mut self) -> Step {
        if !self.perms().write {
            return Step::reply(550, "Permission denied.");
        }
        let dir = match self.resolve(b".") {
            Ok(d) => d,
            Err(step) => return step,
        };
        let target = match self.logged_in().vfs.unique_name(&dir, b"upload") {
            Ok(t) => t,
            Err(e) => return vfs_error(&e),
        };
        if let Err(step) = self.data_ready() {
            return step;
        }
        self.rest = 0;
        let name = target
            .virt
            .file_name()
            .map(|n| String::from_utf8_lossy(n).into_owned());
        let opening = format!("FILE: {}", name.unwrap_or_default());
        let kind = TransferKind::Store {
            path: target.open_path().to_path_buf(),
            mode: StoreMode::Replace,
        };
        self.start_transfer(kind, &target, opening)
    }

    pub(super) fn abort(&mut self) -> Step {
        match self.transfer {
            TransferState::Idle => {
                let had_channel = self.data != DataChannel::None;
                self.data = DataChannel::None;
                let step = Step::reply(225, "No transfer to ABOR.");
                if had_channel {
                    step.with(Action::ResetDataChannel)
                } else {
                    step
                }
            }
            TransferState::Aborting => Step::default(),
            TransferState::Connecting | TransferState::Running => {
                self.transfer = TransferState::Aborting;
                Step::default().with(Action::Abort)
            }
        }
    }

    pub(super) fn abort_replies(&self) -> Step {
        Step {
            replies: vec![
                Reply::new(426, "Connection closed; transfer aborted."),
                Reply::new(226, "ABOR successful."),
            ],
            ..Step::default()
        }
    }

    pub(super) fn finish_transfer(&mut self) {
        self.transfer = TransferState::Idle;
        self.data = DataChannel::None;
        self.opening.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::*;
    use super::super::*;
    use crate::command::parse;
    use crate::vfs::Permissions;

    #[test]
    fn passive_retr_sequence() {
        let dir = tree();
        let mut s = logged_in(dir.path(), Permissions::read_only());
        assert_eq!(code(&run(&mut s, "RETR file.txt")), 425);
        let step = run(&mut s, "PASV");
        assert_eq!(step.action, Some(Action::ListenPassive));
        let step = s.on_event(Event::PassiveListening("127.0.0.1:50001".parse().unwrap()));
        assert_eq!(
            step.replies[0].to_bytes(),
            b"227 Entering Passive Mode (127,0,0,1,195,81).\r\n"
        );
        assert_eq!(code(&run(&mut s, "REST 2")), 350);
        let step = run(&mut s, "RETR file.txt");
        match step.action {
            Some(Action::Transfer(mut request)) => {
                let TransferKind::Retr {
                    offset, ref path, ..
                } = request.kind
                else {
                    panic!("expected RETR, got {:?}", request.kind);
                };
                assert_eq!(offset, 2);
                assert!(path.ends_with("file.txt"));
                assert!(!request.ascii);
                // The path check's open file goes along, once.
                let (file, size) = request.take_opened_file().expect("opened by the check");
                assert_eq!(size, file.metadata().unwrap().len());
                assert!(request.take_opened_file().is_none());
            }
            other => panic!("expected RETR transfer, got {other:?}"),
        }
        assert!(s.transfer_in_progress());
        assert_eq!(code(&s.on_event(Event::DataConnected)), 150);
        assert_eq!(code(&s.on_event(Event::TransferDone { bytes: 4 })), 226);
        assert!(!s.transfer_in_progress());
        // The passive channel was used up.
        assert_eq!(code(&run(&mut s, "RETR file.txt")), 425);
    }

    #[test]
    fn a_transfer_done_before_its_connection_was_reported_gets_150_with_its_226() {
        let dir = tree();
        let mut s = logged_in(dir.path(), Permissions::read_only());
        run(&mut s, "EPSV");
        s.on_event(Event::PassiveListening("127.0.0.1:50001".parse().unwrap()));
        run(&mut s, "RETR file.txt");
        let step = s.on_event(Event::TransferDone { bytes: 5 });
        let codes: Vec<u16> = step.replies.iter().map(Reply::code).collect();
        assert_eq!(codes, [150, 226]);
        assert!(!s.transfer_in_progress());
        // The next transfer, reported as usual, has one 150 only.
        run(&mut s, "EPSV");
        s.on_event(Event::PassiveListening("127.0.0.1:50001".parse().unwrap()));
        run(&mut s, "RETR file.txt");
        assert_eq!(code(&s.on_event(Event::DataConnected)), 150);
        let step = s.on_event(Event::TransferDone { bytes: 5 });
        let codes: Vec<u16> = step.replies.iter().map(Reply::code).collect();
        assert_eq!(codes, [226]);
    }

    #[test]
    fn abort_during_transfer_gives_426_then_226() {
        let dir = tree();
        let mut s = logged_in(dir.path(), Permissions::read_only());
        run(&mut s, "EPSV");
        let step = s.on_event(Event::PassiveListening("127.0.0.1:50001".parse().unwrap()));
        assert_eq!(
            step.replies[0].to_bytes(),
            b"229 Entering Extended Passive Mode (|||50001|)\r\n"
        );
        run(&mut s, "RETR file.txt");
        s.on_event(Event::DataConnected);
        assert!(Session::runs_during_transfer(&parse(b"ABOR")));
        assert!(!Session::runs_during_transfer(&parse(b"RETR x")));
        assert_eq!(run(&mut s, "ABOR").action, Some(Action::Abort));
        let step = s.on_event(Event::TransferAborted);
        let codes: Vec<u16> = step.replies.iter().map(Reply::code).collect();
        assert_eq!(codes, [426, 226]);
        assert_eq!(code(&run(&mut s, "ABOR")), 225);
    }
}
