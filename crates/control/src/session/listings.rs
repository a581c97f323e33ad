//! LIST, NLST, MLSD, MLST and STAT with a path: directory listings and file facts,
//! with `ls` flags and shell patterns in the last path component.

use super::*;
use crate::command::ListArgs;
use crate::glob::{self, Pattern};
use crate::listing::{Hidden, ListingRequest};

/// STAT output travels on the control connection, so it is capped.
const MAX_STAT_BYTES: usize = 256 * 1024;

impl Session {
    pub(super) fn listing(&mut self, args: ListArgs, format: ListFormat) -> Step {
        if !self.perms().read {
            return Step::reply(550, "Permission denied.");
        }
        let format = if format == ListFormat::Nlst && args.long {
            ListFormat::List
        } else {
            format
        };
        let (target, request) = match self.listing_request(&args, format) {
            Ok(r) => r,
            Err(step) => return step,
        };
        if format == ListFormat::Mlsd && !std::fs::metadata(&request.path).is_ok_and(|m| m.is_dir())
        {
            return Step::reply(501, "MLSD needs a directory.");
        }
        if let Err(step) = self.data_ready() {
            return step;
        }
        let opening = "Here comes the directory listing.".to_string();
        self.start_transfer(TransferKind::Listing(Box::new(request)), &target, opening)
    }

    /// What to list for `args`: the path itself if it exists, else (for LIST, NLST and
    /// STAT) its last component as a pattern over its folder. Patterns never apply to
    /// earlier components, and never to RETR, STOR or DELE paths.
    fn listing_request(
        &self,
        args: &ListArgs,
        format: ListFormat,
    ) -> Result<(Resolved, ListingRequest), Step> {
        let arg = args.path.as_deref().unwrap_or(b".");
        let vfs = &self.logged_in().vfs;
        let literal = self.resolve(arg).and_then(|t| match vfs.metadata(&t) {
            Ok(_) => Ok(t),
            Err(e) => Err(vfs_error(&e)),
        });
        let (folder_part, last) = match arg.iter().rposition(|&b| b == b'/') {
            Some(i) => (&arg[..=i], &arg[i + 1..]),
            None => (&b""[..], arg),
        };
        let (target, pattern, prefix) = match literal {
            Ok(t) => (t, None, Vec::new()),
            Err(_) if format != ListFormat::Mlsd && glob::is_glob(last) => {
                let pattern = Pattern::new(last)
                    .map_err(|e| Step::reply(501, format!("Bad pattern: {e}.")))?;
                let folder = self.resolve(if folder_part.is_empty() {
                    b"."
                } else {
                    folder_part
                })?;
                match vfs.metadata(&folder) {
                    Ok(m) if m.is_dir() => {}
                    Ok(_) => return Err(Step::reply(550, "Not a directory.")),
                    Err(e) => return Err(vfs_error(&e)),
                }
                (folder, Some(pattern), folder_part.to_vec())
            }
            Err(step) => return Err(step),
        };
        let mut request = ListingRequest::new(target.open_path(), vfs.root(), format, self.perms());
        request.name = target.virt.file_name().unwrap_or(b"/").to_vec();
        request.confine_links = !self.config.follow_symlinks_outside;
        if args.all {
            request.hidden = Hidden::All;
        } else if args.almost_all {
            request.hidden = Hidden::AlmostAll;
        }
        request.pattern = pattern;
        if format == ListFormat::Nlst {
            request.prefix = prefix;
        }
        Ok((target, request))
    }

    pub(super) fn mlst(&mut self, path: Option<Vec<u8>>) -> Step {
        let target = match self.resolve(path.as_deref().unwrap_or(b".")) {
            Ok(t) => t,
            Err(step) => return step,
        };
        let name = target.virt.as_bytes().to_vec();
        match listing::mlst_line(target.open_path(), &name, self.perms()) {
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
        if !self.perms().read {
            return Step::reply(550, "Permission denied.");
        }
        let args = crate::command::list_args(path);
        let (target, request) = match self.listing_request(&args, ListFormat::List) {
            Ok(r) => r,
            Err(step) => return step,
        };
        let mut stream = match listing::ListingStream::start(&request, SystemTime::now()) {
            Ok(s) => s,
            Err(e) => return vfs_error(&VfsError::from(e)),
        };
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

#[cfg(test)]
mod tests {
    use super::super::test_support::*;
    use super::super::*;
    use crate::vfs::Permissions;

    fn stat_lines(s: &mut Session, line: &str) -> (u16, Vec<String>) {
        let step = run(s, line);
        let text = step.replies[0].to_string();
        (
            code(&step),
            text.lines()
                .skip(1)
                .filter(|l| !l.starts_with("213"))
                .map(|l| l.trim().to_string())
                .collect(),
        )
    }

    fn names(lines: &[String]) -> Vec<String> {
        lines
            .iter()
            .map(|l| l.split(' ').next_back().unwrap().to_string())
            .collect()
    }

    #[test]
    fn stat_globs_sorts_and_hides_dotfiles() {
        let dir = tree();
        for n in ["b.txt", "a.txt", "c.iso", ".hidden.txt", "[x].txt"] {
            std::fs::write(dir.path().join(n), b"x").unwrap();
        }
        let mut s = logged_in(dir.path(), Permissions::read_only());
        let (c, lines) = stat_lines(&mut s, "STAT *.txt");
        assert_eq!(c, 213);
        assert_eq!(names(&lines), ["[x].txt", "a.txt", "b.txt", "file.txt"]);
        let (_, lines) = stat_lines(&mut s, "STAT -A .");
        assert_eq!(names(&lines)[0], ".hidden.txt");
        // As in a shell, `*` does not match a leading dot; `.*` does.
        let (_, lines) = stat_lines(&mut s, "STAT .*.txt");
        assert_eq!(names(&lines), [".hidden.txt"]);
        let (_, lines) = stat_lines(&mut s, "STAT .");
        assert_eq!(
            names(&lines),
            ["[x].txt", "a.txt", "b.txt", "c.iso", "file.txt", "sub"]
        );
        // A name with glob characters that exists is taken literally.
        let (_, lines) = stat_lines(&mut s, "STAT [x].txt");
        assert_eq!(names(&lines), ["[x].txt"]);
        let (_, lines) = stat_lines(&mut s, "STAT -a sub");
        assert_eq!(names(&lines), [".", ".."]);
        let (_, lines) = stat_lines(&mut s, "STAT ?.iso");
        assert_eq!(names(&lines), ["c.iso"]);
        assert_eq!(code(&run(&mut s, "STAT nothing/*.txt")), 550);
        let long = format!("STAT {}", "*".repeat(4000));
        assert_eq!(code(&run(&mut s, &long)), 501);
        // Globs in folder components are literal (no recursion).
        assert_eq!(code(&run(&mut s, "STAT s*/x")), 550);
        // Not in RETR, SIZE or DELE.
        assert_eq!(code(&run(&mut s, "SIZE *.txt")), 550);
    }
}
