//! CWD, CDUP and PWD: moving the working directory inside the virtual root.

use super::*;

impl Session {
    pub(super) fn change_dir(&mut self, path: &[u8]) -> Step {
        let Ok((target, meta)) = self.resolve_with_metadata(path) else {
            return Step::reply(550, "Failed to change directory.");
        };
        match meta {
            Ok(m) if m.is_dir() => {
                self.cwd = target.virt;
                Step::reply(250, "Directory successfully changed.")
            }
            _ => Step::reply(550, "Failed to change directory."),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::*;
    use super::super::*;
    use crate::vfs::Permissions;

    #[test]
    fn navigation_stays_in_the_root() {
        let dir = tree();
        let mut s = logged_in(dir.path(), Permissions::read_only());
        assert_eq!(code(&run(&mut s, "CWD sub")), 250);
        assert!(run(&mut s, "PWD").replies[0]
            .to_string()
            .contains("\"/sub\""));
        assert_eq!(code(&run(&mut s, "CDUP")), 250);
        assert_eq!(code(&run(&mut s, "CDUP")), 250);
        assert!(run(&mut s, "PWD").replies[0].to_string().contains("\"/\""));
        assert_eq!(code(&run(&mut s, "CWD ../../..")), 250);
        assert_eq!(code(&run(&mut s, "CWD file.txt")), 550);
        assert_eq!(code(&run(&mut s, "SIZE file.txt")), 213);
        assert_eq!(
            run(&mut s, "SIZE file.txt").replies[0].to_bytes(),
            b"213 6\r\n"
        );
        assert_eq!(code(&run(&mut s, "SIZE sub")), 550);
        assert_eq!(code(&run(&mut s, "SIZE ../../etc/passwd")), 550);
        assert_eq!(code(&run(&mut s, "MDTM file.txt")), 213);
        assert_eq!(code(&run(&mut s, "MLST file.txt")), 250);
        assert_eq!(code(&run(&mut s, "TYPE A")), 200);
        run(&mut s, "PASV");
        s.on_event(Event::PassiveListening("127.0.0.1:50001".parse().unwrap()));
        match run(&mut s, "LIST -la").action {
            Some(Action::Transfer(TransferRequest {
                kind: TransferKind::Listing(request),
                ascii,
                ..
            })) => {
                assert_eq!(request.format, ListFormat::List);
                assert_eq!(request.hidden, crate::listing::Hidden::All);
                assert!(ascii);
            }
            other => panic!("expected listing, got {other:?}"),
        }
    }
}
