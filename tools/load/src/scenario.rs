//! What each session does: the scenario (which command moves which data) and the
//! data-channel mode (passive, active, or a mix of both across sessions).

use std::sync::Arc;

use crate::mix::{Mix, MixError};
use crate::units::{parse_size, UnitError};
use crate::xferlog::{Replay, XferlogError};

/// What one transfer of a session does.
#[derive(Debug, Clone, PartialEq)]
pub enum Scenario {
    /// `RETR` one path.
    Retr(String),
    /// `RETR` paths listed in a local file, chosen round-robin.
    RetrList(Vec<String>),
    /// `RETR` paths drawn by weight from a `path weight` list.
    RetrMix(Mix),
    /// The transfers of an xferlog, one session each, started at their logged times.
    Replay(Arc<Replay>),
    /// `STOR` uploads of this many bytes, names unique per session.
    Stor(u64),
    /// `LIST` one directory.
    List(String),
    /// `MLSD` one directory.
    Mlsd(String),
    /// Connect, log in, `QUIT`: no data channel.
    LoginOnly,
}

/// A scenario given on the command line that cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ScenarioError {
    #[error("no scenario given (retr PATH | retr-list FILE | retr-mix FILE | replay XFERLOG | stor SIZE | list DIR | mlsd DIR | login-only)")]
    Missing,
    #[error("unknown scenario `{0}` (retr | retr-list | retr-mix | replay | stor | list | mlsd | login-only)")]
    Unknown(String),
    #[error("scenario `{verb}` takes {expected}")]
    Arguments {
        verb: String,
        expected: &'static str,
    },
    #[error("stor size: {0}")]
    Size(#[from] UnitError),
    #[error("cannot read {path}: {source}")]
    ReadList {
        path: String,
        source: std::io::Error,
    },
    #[error("path list {0} holds no paths")]
    EmptyList(String),
    #[error("weighted path list {path}: {source}")]
    Mix { path: String, source: MixError },
    #[error("xferlog {path}: {source}")]
    Xferlog { path: String, source: XferlogError },
    #[error(
        "unknown data mode `{0}` (passive | epsv | pasv | active | port | eprt | mixed:RATIO)"
    )]
    Mode(String),
    #[error("mixed ratio must be between 0 and 1, got `{0}`")]
    Ratio(String),
}

impl Scenario {
    /// Builds a scenario from its words; `read_list` loads the file of `retr-list`,
    /// `retr-mix` or `replay`; `strip` is cut from the front of replayed paths.
    pub fn from_words(
        words: &[String],
        read_list: impl FnOnce(&str) -> std::io::Result<String>,
        strip: &str,
    ) -> Result<Self, ScenarioError> {
        let (verb, args) = words.split_first().ok_or(ScenarioError::Missing)?;
        let one_arg = |expected: &'static str| match args {
            [arg] => Ok(arg.clone()),
            _ => Err(ScenarioError::Arguments {
                verb: verb.clone(),
                expected,
            }),
        };
        match verb.to_ascii_lowercase().as_str() {
            "retr" => Ok(Self::Retr(one_arg("one PATH")?)),
            "list" => Ok(Self::List(one_arg("one DIR")?)),
            "mlsd" => Ok(Self::Mlsd(one_arg("one DIR")?)),
            "stor" => Ok(Self::Stor(parse_size(&one_arg("one SIZE")?)?)),
            "retr-list" => {
                let file = one_arg("one FILE_OF_PATHS")?;
                let text = read_list(&file).map_err(|source| ScenarioError::ReadList {
                    path: file.clone(),
                    source,
                })?;
                let paths = parse_path_list(&text);
                if paths.is_empty() {
                    return Err(ScenarioError::EmptyList(file));
                }
                Ok(Self::RetrList(paths))
            }
            "retr-mix" => {
                let file = one_arg("one FILE_OF_PATH_WEIGHT_LINES")?;
                let text = read_list(&file).map_err(|source| ScenarioError::ReadList {
                    path: file.clone(),
                    source,
                })?;
                let mix = Mix::parse(&text).map_err(|source| ScenarioError::Mix {
                    path: file.clone(),
                    source,
                })?;
                Ok(Self::RetrMix(mix))
            }
            "replay" => {
                let file = one_arg("one XFERLOG")?;
                let text = read_list(&file).map_err(|source| ScenarioError::ReadList {
                    path: file.clone(),
                    source,
                })?;
                let replay =
                    Replay::parse(&text, strip).map_err(|source| ScenarioError::Xferlog {
                        path: file.clone(),
                        source,
                    })?;
                Ok(Self::Replay(Arc::new(replay)))
            }
            "login-only" | "login" => match args {
                [] => Ok(Self::LoginOnly),
                _ => Err(ScenarioError::Arguments {
                    verb: verb.clone(),
                    expected: "no arguments",
                }),
            },
            _ => Err(ScenarioError::Unknown(verb.clone())),
        }
    }

    /// Paths whose size is checked before the run (downloads only).
    pub fn download_paths(&self) -> &[String] {
        match self {
            Self::Retr(p) => std::slice::from_ref(p),
            Self::RetrList(ps) => ps,
            Self::RetrMix(m) => m.paths(),
            Self::Replay(r) => &r.download_paths,
            _ => &[],
        }
    }

    /// True when transfers need a data channel.
    pub fn uses_data_channel(&self) -> bool {
        !matches!(self, Self::LoginOnly)
    }

    /// Short description for reports, e.g. `retr /pub/file`.
    pub fn describe(&self) -> String {
        match self {
            Self::Retr(p) => format!("retr {p}"),
            Self::RetrList(ps) => format!("retr-list ({} paths)", ps.len()),
            Self::RetrMix(m) => format!("retr-mix ({} paths)", m.paths().len()),
            Self::Replay(r) => format!("replay ({} transfers)", r.entries.len()),
            Self::Stor(n) => format!("stor {n} bytes"),
            Self::List(d) => format!("list {d}"),
            Self::Mlsd(d) => format!("mlsd {d}"),
            Self::LoginOnly => "login-only".to_string(),
        }
    }
}

/// One path per line; blank lines and `#` comments skipped.
pub fn parse_path_list(text: &str) -> Vec<String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_string)
        .collect()
}

/// How a session opens its data channels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Passive {
    /// EPSV, falling back to PASV when the server refuses EPSV.
    EpsvThenPasv,
    /// EPSV only.
    Epsv,
    /// PASV only.
    Pasv,
}

/// How a session opens its data channels, active side.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Active {
    /// PORT (IPv4 only).
    Port,
    /// EPRT.
    Eprt,
}

/// One session's data-channel mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionMode {
    Passive(Passive),
    Active(Active),
}

impl SessionMode {
    /// `passive` or `active`, for reports.
    pub fn side(self) -> &'static str {
        match self {
            Self::Passive(_) => "passive",
            Self::Active(_) => "active",
        }
    }
}

/// The `--mode` option: one mode for all sessions, or a share of active sessions.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum DataMode {
    Fixed(SessionMode),
    /// This share of sessions (0..=1) use PORT, the others EPSV with PASV fallback.
    Mixed(f64),
}

impl DataMode {
    /// Parses `passive|epsv|pasv|active|port|eprt|mixed:RATIO`.
    pub fn parse(s: &str) -> Result<Self, ScenarioError> {
        let lower = s.to_ascii_lowercase();
        let fixed = |m| Ok(Self::Fixed(m));
        match lower.as_str() {
            "passive" => fixed(SessionMode::Passive(Passive::EpsvThenPasv)),
            "epsv" => fixed(SessionMode::Passive(Passive::Epsv)),
            "pasv" => fixed(SessionMode::Passive(Passive::Pasv)),
            "active" | "port" => fixed(SessionMode::Active(Active::Port)),
            "eprt" => fixed(SessionMode::Active(Active::Eprt)),
            _ => {
                let ratio = lower
                    .strip_prefix("mixed:")
                    .or_else(|| (lower == "mixed").then_some("0.5"))
                    .ok_or_else(|| ScenarioError::Mode(s.to_string()))?;
                let r: f64 = ratio
                    .parse()
                    .map_err(|_| ScenarioError::Ratio(s.to_string()))?;
                if !(0.0..=1.0).contains(&r) {
                    return Err(ScenarioError::Ratio(s.to_string()));
                }
                Ok(Self::Mixed(r))
            }
        }
    }

    /// The mode of the session with this sequence number.
    ///
    /// In mixed mode active sessions are spread evenly: session `i` is active when
    /// `floor((i+1)*r) > floor(i*r)`, so any window of sessions holds the right share.
    pub fn for_session(self, seq: u64) -> SessionMode {
        match self {
            Self::Fixed(m) => m,
            Self::Mixed(r) => {
                let before = (seq as f64 * r).floor();
                let after = ((seq + 1) as f64 * r).floor();
                if after > before {
                    SessionMode::Active(Active::Port)
                } else {
                    SessionMode::Passive(Passive::EpsvThenPasv)
                }
            }
        }
    }

    /// Description for reports.
    pub fn describe(self) -> String {
        match self {
            Self::Fixed(SessionMode::Passive(Passive::EpsvThenPasv)) => "passive".into(),
            Self::Fixed(SessionMode::Passive(Passive::Epsv)) => "epsv".into(),
            Self::Fixed(SessionMode::Passive(Passive::Pasv)) => "pasv".into(),
            Self::Fixed(SessionMode::Active(Active::Port)) => "active".into(),
            Self::Fixed(SessionMode::Active(Active::Eprt)) => "eprt".into(),
            Self::Mixed(r) => format!("mixed:{r}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(s: &str) -> Vec<String> {
        s.split_whitespace().map(str::to_string).collect()
    }

    fn no_file(_: &str) -> std::io::Result<String> {
        Err(std::io::Error::from(std::io::ErrorKind::NotFound))
    }

    #[test]
    fn scenarios() {
        assert_eq!(
            Scenario::from_words(&words("retr /pub/a"), no_file, "").unwrap(),
            Scenario::Retr("/pub/a".into())
        );
        assert_eq!(
            Scenario::from_words(&words("STOR 4KiB"), no_file, "").unwrap(),
            Scenario::Stor(4096)
        );
        assert_eq!(
            Scenario::from_words(&words("list /"), no_file, "").unwrap(),
            Scenario::List("/".into())
        );
        assert_eq!(
            Scenario::from_words(&words("login-only"), no_file, "").unwrap(),
            Scenario::LoginOnly
        );
        let list = Scenario::from_words(
            &words("retr-list paths.txt"),
            |p| {
                assert_eq!(p, "paths.txt");
                Ok("# comment\n/a\n\n /b \n".into())
            },
            "",
        )
        .unwrap();
        assert_eq!(list, Scenario::RetrList(vec!["/a".into(), "/b".into()]));
        assert_eq!(list.download_paths().len(), 2);
    }

    #[test]
    fn mix_replay_and_mlsd() {
        let mix = Scenario::from_words(&words("retr-mix w.txt"), |_| Ok("/a 3\n/b 1\n".into()), "")
            .unwrap();
        assert_eq!(mix.download_paths(), ["/a", "/b"]);
        assert_eq!(mix.describe(), "retr-mix (2 paths)");
        let log = "Tue Nov 25 04:14:10 2025 1 h 2 /srv/a b _ o a u ftp 0 * c\n";
        let replay =
            Scenario::from_words(&words("replay x.log"), |_| Ok(log.into()), "/srv/").unwrap();
        assert_eq!(replay.download_paths(), ["a"]);
        assert_eq!(replay.describe(), "replay (1 transfers)");
        assert!(matches!(
            Scenario::from_words(&words("replay x.log"), |_| Ok("junk".into()), ""),
            Err(ScenarioError::Xferlog { .. })
        ));
        assert!(matches!(
            Scenario::from_words(&words("retr-mix w.txt"), |_| Ok("/a x".into()), ""),
            Err(ScenarioError::Mix { .. })
        ));
        assert_eq!(
            Scenario::from_words(&words("mlsd /big"), no_file, "").unwrap(),
            Scenario::Mlsd("/big".into())
        );
    }

    #[test]
    fn bad_scenarios() {
        assert!(matches!(
            Scenario::from_words(&[], no_file, ""),
            Err(ScenarioError::Missing)
        ));
        assert!(matches!(
            Scenario::from_words(&words("retr"), no_file, ""),
            Err(ScenarioError::Arguments { .. })
        ));
        assert!(matches!(
            Scenario::from_words(&words("login-only x"), no_file, ""),
            Err(ScenarioError::Arguments { .. })
        ));
        assert!(matches!(
            Scenario::from_words(&words("dance /"), no_file, ""),
            Err(ScenarioError::Unknown(_))
        ));
        assert!(matches!(
            Scenario::from_words(&words("stor lots"), no_file, ""),
            Err(ScenarioError::Size(_))
        ));
        assert!(matches!(
            Scenario::from_words(&words("retr-list missing"), no_file, ""),
            Err(ScenarioError::ReadList { .. })
        ));
        assert!(matches!(
            Scenario::from_words(&words("retr-list empty"), |_| Ok("#\n".into()), ""),
            Err(ScenarioError::EmptyList(_))
        ));
    }

    #[test]
    fn modes() {
        use SessionMode as M;
        assert_eq!(
            DataMode::parse("passive").unwrap(),
            DataMode::Fixed(M::Passive(Passive::EpsvThenPasv))
        );
        assert_eq!(
            DataMode::parse("PORT").unwrap(),
            DataMode::Fixed(M::Active(Active::Port))
        );
        assert_eq!(
            DataMode::parse("eprt").unwrap(),
            DataMode::Fixed(M::Active(Active::Eprt))
        );
        assert_eq!(
            DataMode::parse("mixed:0.25").unwrap(),
            DataMode::Mixed(0.25)
        );
        assert_eq!(DataMode::parse("mixed").unwrap(), DataMode::Mixed(0.5));
        assert!(matches!(
            DataMode::parse("mixed:2"),
            Err(ScenarioError::Ratio(_))
        ));
        assert!(matches!(
            DataMode::parse("both"),
            Err(ScenarioError::Mode(_))
        ));
    }

    #[test]
    fn mixed_spreads_evenly() {
        let count_active = |r: f64, n: u64| {
            (0..n)
                .filter(|&i| matches!(DataMode::Mixed(r).for_session(i), SessionMode::Active(_)))
                .count()
        };
        assert_eq!(count_active(0.5, 10_000), 5_000);
        assert_eq!(count_active(0.25, 100), 25);
        assert_eq!(count_active(0.0, 100), 0);
        assert_eq!(count_active(1.0, 100), 100);
        // Every pair of consecutive sessions holds one active one at 0.5.
        for i in (0..100).step_by(2) {
            let a = DataMode::Mixed(0.5).for_session(i).side();
            let b = DataMode::Mixed(0.5).for_session(i + 1).side();
            assert_ne!(a, b);
        }
    }
}
