//! The per-connection FTP state machine.
//!
//! [`Session::on_command`] and [`Session::on_event`] take a parsed command or a data
//! plane event and return a [`Step`]: replies to write, in order, and at most one
//! [`Action`] for the data plane. The session never touches a socket; filesystem
//! metadata goes through [`crate::vfs::Vfs`].
//!
//! This module holds the state and the dispatch; each group of commands lives in its
//! own submodule (login, navigation, data channel, transfers, listings, file operations).

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use crate::auth::{Account, Authenticator};
use crate::command::{Command, EpsvArg, ParseError, TransferType};
use crate::listing::{self, ListFormat};
use crate::policy::{LoginGuard, SecurityPolicy};
use crate::reply::{quote_path, Reply};
use crate::vfs::{
    OpenedFile, Permissions, ReadTarget, Resolved, SharedRootView, Vfs, VfsError, VirtualPath,
};

mod data_channel;
mod file_ops;
mod hash;
mod listings;
mod login;
mod navigation;
mod site;
mod tls;
mod transfers;

pub use tls::{DataProtection, TlsPolicy, TlsRequire};

use file_ops::Modify;

/// Server-wide settings every session reads; replaced as a whole on reload.
#[derive(Debug)]
pub struct SessionConfig {
    /// Root for accounts that do not name their own.
    pub root: PathBuf,
    /// `root` as checked by the first login that got it.
    pub root_view: SharedRootView,
    /// Follow symlinks that point outside the virtual root.
    pub follow_symlinks_outside: bool,
    pub auth: Authenticator,
    pub policy: SecurityPolicy,
    /// Failed-login accounting shared by all sessions.
    pub login_guard: Arc<LoginGuard>,
    /// Text of the 220 greeting.
    pub banner: String,
    /// Address announced in PASV replies (for NAT); the control socket's own otherwise.
    pub pasv_address: Option<Ipv4Addr>,
    /// Whether TLS is offered and what it must protect.
    pub tls: TlsPolicy,
}

/// What the data plane must do after the replies of a [`Step`] are written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Open a passive listener (dropping any previous one), then report
    /// [`Event::PassiveListening`] or [`Event::PassiveUnavailable`].
    ListenPassive,
    /// Remember an already-checked active target (dropping any passive listener).
    UseActive(SocketAddr),
    /// Establish the data connection, report [`Event::DataConnected`], move the data,
    /// then report done, failed or aborted.
    Transfer(TransferRequest),
    /// Abort the running transfer; the data plane answers [`Event::TransferAborted`].
    Abort,
    /// Forget the data channel (passive listener or active target).
    ResetDataChannel,
    /// Check a named user's password off the event loop (with
    /// [`SessionConfig::auth`]) and report [`Event::LoginChecked`].
    VerifyPassword { user: Vec<u8>, password: Secret },
    /// After the replies (234), drop any plaintext the client sent behind AUTH TLS
    /// unread, run the TLS server handshake on the control connection and report
    /// [`Event::TlsEstablished`]; close the connection if the handshake fails.
    StartTls,
    /// Hash a file off the event loop (bounded, through the digest cache) and report
    /// [`Event::HashDone`].
    Hash {
        path: PathBuf,
        key: crate::digest::DigestKey,
    },
    /// Close the control connection once the replies are written.
    Close,
}

/// A password in transit; never printed.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(pub Vec<u8>);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(..)")
    }
}

/// A data transfer the data plane carries out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransferRequest {
    pub kind: TransferKind,
    /// RETR/STOR: the path is symlink-free (checked by the virtual root); open it
    /// refusing symlinks, so one swapped in after the check cannot lead out of the root.
    pub no_symlinks: bool,
    /// TYPE A: convert line endings on the wire.
    pub ascii: bool,
    /// Client-visible path, for logs.
    pub virtual_path: Vec<u8>,
    /// Plain or TLS data connection (PROT).
    pub protection: DataProtection,
}

impl TransferRequest {
    /// The file the path check opened for a download, and its size, taken out of the
    /// request (`None` when the data plane must open the path itself).
    pub fn take_opened_file(&mut self) -> Option<(std::fs::File, u64)> {
        let TransferKind::Retr { opened, .. } = &mut self.kind else {
            return None;
        };
        let opened = opened.take()?;
        let size = opened.size();
        opened.into_file().map(|file| (file, size))
    }
}

/// The direction and source or target of a transfer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TransferKind {
    /// Send `path` from byte `offset` (REST); `opened` is the file when the path check
    /// already opened it.
    Retr {
        path: PathBuf,
        offset: u64,
        opened: Option<OpenedFile>,
    },
    /// Receive into `path`.
    Store { path: PathBuf, mode: StoreMode },
    /// Send a directory listing.
    Listing(Box<listing::ListingRequest>),
}

/// How an upload lands in its file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StoreMode {
    /// STOR/STOU: a new file replacing any old one, made visible only when complete.
    Replace,
    /// APPE: append to the existing file.
    Append,
    /// STOR after REST n: write in place from byte n.
    Resume(u64),
}

/// What the data plane reports back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A passive listener is open on this address.
    PassiveListening(SocketAddr),
    /// No passive port could be opened (pool exhausted or bind failure).
    PassiveUnavailable,
    /// The data connection is up; the transfer starts. A transfer that ends at once
    /// (a small file that fit the socket) may skip it: its 150 then goes out with the 226.
    DataConnected,
    /// The transfer finished; all bytes moved.
    TransferDone { bytes: u64 },
    /// The transfer failed.
    TransferFailed(TransferFailure),
    /// The transfer stopped because of ABOR.
    TransferAborted,
    /// The outcome of [`Action::VerifyPassword`]: the account, or `None` if refused.
    LoginChecked(Option<Account>),
    /// The control connection's TLS handshake completed.
    TlsEstablished,
    /// The outcome of [`Action::Hash`]: the hex digest, or `None` if hashing failed.
    HashDone(Option<String>),
}

/// Why a transfer failed, as far as the client needs to know.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum TransferFailure {
    #[error("cannot open data connection")]
    DataConnection,
    #[error("data connection lost")]
    ConnectionLost,
    #[error("data connection stalled")]
    Timeout,
    #[error("file unavailable")]
    FileUnavailable,
    #[error("no space left on device")]
    NoSpace,
    #[error("local error")]
    Local,
    #[error("TLS data connection did not resume the control connection's session")]
    TlsSessionNotReused,
    #[error("TLS handshake on the data connection failed")]
    TlsHandshake,
}

impl TransferFailure {
    fn reply(self) -> Reply {
        match self {
            TransferFailure::DataConnection => Reply::new(425, "Failed to establish connection."),
            TransferFailure::ConnectionLost => {
                Reply::new(426, "Connection closed; transfer aborted.")
            }
            TransferFailure::Timeout => {
                Reply::new(426, "Data connection timed out; transfer aborted.")
            }
            TransferFailure::FileUnavailable => Reply::new(550, "Failed to open file."),
            TransferFailure::NoSpace => Reply::new(452, "Insufficient storage space."),
            TransferFailure::Local => {
                Reply::new(451, "Local error in processing; transfer aborted.")
            }
            TransferFailure::TlsSessionNotReused => Reply::new(
                522,
                "TLS data connection refused: it must resume the control connection's TLS session.",
            ),
            TransferFailure::TlsHandshake => {
                Reply::new(425, "TLS handshake on the data connection failed.")
            }
        }
    }
}

/// Replies to write, then an optional action.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Step {
    pub replies: Vec<Reply>,
    pub action: Option<Action>,
    /// Wait this long before writing the replies (failed logins).
    pub delay: Duration,
}

impl Step {
    fn reply(code: u16, text: impl Into<String>) -> Step {
        Step {
            replies: vec![Reply::new(code, text)],
            ..Step::default()
        }
    }

    fn with(mut self, action: Action) -> Step {
        self.action = Some(action);
        self
    }
}

enum Login {
    AwaitUser,
    AwaitPass(Vec<u8>),
    /// A password check runs off the event loop (argon2 takes milliseconds).
    Verifying,
    LoggedIn(Box<LoggedIn>),
}

struct LoggedIn {
    account: Account,
    vfs: Vfs,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DataChannel {
    None,
    /// PASV/EPSV asked; the listener is (being) opened.
    Passive {
        extended: bool,
    },
    Active,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TransferState {
    Idle,
    /// Transfer action issued, waiting for the data connection.
    Connecting,
    Running,
    /// ABOR sent to the data plane.
    Aborting,
}

/// One control connection's protocol state.
pub struct Session {
    config: Arc<SessionConfig>,
    peer: SocketAddr,
    local: SocketAddr,
    login: Login,
    cwd: VirtualPath,
    transfer_type: TransferType,
    rest: u64,
    rename_from: Option<Resolved>,
    data: DataChannel,
    epsv_all: bool,
    transfer: TransferState,
    /// Reply text for the 150 of the pending transfer.
    opening: String,
    tls: tls::TlsState,
    /// Algorithm HASH uses (OPTS HASH).
    hash_algorithm: crate::digest::HashAlgorithm,
    /// A digest being computed by the data plane.
    hashing: Option<hash::PendingHash>,
}

const FEATURES: &[&str] = &[
    "AUTH TLS",
    "EPRT",
    "EPSV",
    "HOST",
    "MDTM",
    "MFMT",
    "MLST type*;size*;modify*;perm*;unique*;",
    "PASV",
    "PBSZ",
    "PROT",
    "REST STREAM",
    "SIZE",
    "TVFS",
    "UTF8",
    "XCRC",
    "XMD5",
    "XSHA1",
    "XSHA256",
    "XSHA512",
];

const HELP_VERBS: &str = "ABOR ACCT ALLO APPE AUTH CCC CDUP CWD DELE EPRT EPSV FEAT HASH HELP HOST LIST MDTM MFMT MKD MLSD MLST MODE NLST NOOP OPTS PASS PASV PBSZ PORT PROT PWD QUIT REIN REST RETR RMD RNFR RNTO SITE SIZE STAT STOR STOU STRU SYST TYPE USER XCRC XMD5 XSHA1 XSHA256 XSHA512";

impl Session {
    /// A new session for a control connection from `peer` accepted on `local`.
    pub fn new(config: Arc<SessionConfig>, peer: SocketAddr, local: SocketAddr) -> Session {
        Session {
            config,
            peer,
            local,
            login: Login::AwaitUser,
            cwd: VirtualPath::root(),
            transfer_type: TransferType::Image,
            rest: 0,
            rename_from: None,
            data: DataChannel::None,
            epsv_all: false,
            transfer: TransferState::Idle,
            opening: String::new(),
            tls: tls::TlsState::default(),
            hash_algorithm: crate::digest::HashAlgorithm::Sha256,
            hashing: None,
        }
    }

    /// The 220 greeting.
    pub fn greeting(&self) -> Reply {
        Reply::new(220, self.config.banner.clone())
    }

    /// The control peer's address.
    pub fn peer(&self) -> SocketAddr {
        self.peer
    }

    /// The logged-in user's name and whether it is anonymous.
    pub fn user(&self) -> Option<(&str, bool)> {
        match &self.login {
            Login::LoggedIn(l) => Some((&l.account.name, l.account.anonymous)),
            _ => None,
        }
    }

    /// True between a transfer action and its final event.
    pub fn transfer_in_progress(&self) -> bool {
        self.transfer != TransferState::Idle
    }

    /// True while the data plane works for this session (a transfer or a password
    /// check); commands other than ABOR and STAT wait until it is done.
    pub fn busy(&self) -> bool {
        self.transfer_in_progress()
            || matches!(self.login, Login::Verifying)
            || self.hashing.is_some()
    }

    /// The settings this session runs with.
    pub fn config(&self) -> &Arc<SessionConfig> {
        &self.config
    }

    /// Commands handled at once while a transfer runs; others wait for it to end.
    pub fn runs_during_transfer(command: &Result<Command, ParseError>) -> bool {
        matches!(command, Ok(Command::Abor | Command::Stat(None)))
    }

    /// Handle one parsed (or unparsable) command line.
    pub fn on_command(&mut self, command: Result<Command, ParseError>) -> Step {
        let command = match command {
            Ok(c) => c,
            Err(e) => return Step::reply(e.reply_code(), e.to_string()),
        };
        if !matches!(command, Command::Rnto(_)) && self.rename_from.is_some() {
            // RNTO must come right after RNFR.
            if !matches!(command, Command::Rnfr(_)) {
                self.rename_from = None;
            }
        }
        match command {
            Command::User(name) => self.user_cmd(name),
            Command::Pass(pass) => self.pass_cmd(&pass),
            Command::Quit => Step::reply(221, "Goodbye.").with(Action::Close),
            Command::Feat => {
                let mut lines = vec!["Features:".to_string()];
                let tls_only = ["AUTH TLS", "PBSZ", "PROT"];
                lines.extend(
                    FEATURES
                        .iter()
                        .filter(|f| self.config.tls.available || !tls_only.contains(f))
                        .map(|f| f.to_string()),
                );
                lines.push(self.hash_feature());
                lines.push("End".into());
                Step {
                    replies: vec![Reply::multi(211, lines)],
                    ..Step::default()
                }
            }
            Command::Syst => Step::reply(215, "UNIX Type: L8"),
            Command::Noop => Step::reply(200, "NOOP ok."),
            Command::Help(_) => Step {
                replies: vec![Reply::multi(
                    214,
                    vec![
                        "The following commands are recognized.".into(),
                        HELP_VERBS.into(),
                        "Help OK.".into(),
                    ],
                )],
                ..Step::default()
            },
            Command::Opts { name, value } if name == "HASH" => self.opts_hash(&value),
            Command::Opts { name, value } => opts(&name, &value),
            Command::Host(_) => match self.login {
                Login::LoggedIn(_) => Step::reply(503, "HOST must come before login."),
                _ => Step::reply(220, "Host accepted."),
            },
            Command::Abor => self.abort(),
            Command::Stat(None) => self.status(),
            Command::Auth(mechanism) => self.auth_cmd(mechanism),
            Command::Pbsz(_) => self.pbsz_cmd(),
            Command::Prot(level) => self.prot_cmd(level),
            Command::Ccc => self.ccc_cmd(),
            other => match &self.login {
                Login::LoggedIn(_) => self.logged_in_cmd(other),
                _ => Step::reply(530, "Please login with USER and PASS."),
            },
        }
    }

    fn logged_in(&self) -> &LoggedIn {
        match &self.login {
            Login::LoggedIn(l) => l,
            _ => unreachable!("checked by on_command"),
        }
    }

    fn perms(&self) -> Permissions {
        self.logged_in().account.perms
    }

    fn resolve(&self, arg: &[u8]) -> Result<Resolved, Step> {
        self.logged_in()
            .vfs
            .resolve(&self.cwd, arg)
            .map_err(|e| vfs_error(&e))
    }

    /// [`Session::resolve_with_metadata`] for a download (with the file when the check
    /// could open it).
    fn resolve_for_reading(&self, arg: &[u8]) -> Result<ReadTarget, Step> {
        self.logged_in()
            .vfs
            .resolve_for_reading(&self.cwd, arg)
            .map_err(|e| vfs_error(&e))
    }

    /// [`Session::resolve`] and the metadata of what the path names.
    fn resolve_with_metadata(
        &self,
        arg: &[u8],
    ) -> Result<(Resolved, Result<std::fs::Metadata, VfsError>), Step> {
        self.logged_in()
            .vfs
            .resolve_with_metadata(&self.cwd, arg)
            .map_err(|e| vfs_error(&e))
    }

    fn logged_in_cmd(&mut self, command: Command) -> Step {
        match command {
            Command::Acct(_) => Step::reply(202, "ACCT not needed."),
            Command::Pwd => Step::reply(
                257,
                format!(
                    "\"{}\" is the current directory",
                    quote_path(self.cwd.as_bytes())
                ),
            ),
            Command::Cwd(path) => self.change_dir(&path),
            Command::Cdup => {
                let parent = self.cwd.parent().as_bytes().to_vec();
                self.change_dir(&parent)
            }
            Command::Rein => {
                if self.transfer_in_progress() {
                    return Step::reply(503, "Transfer in progress; ABOR it first.");
                }
                let config = self.config.clone();
                let secured = self.tls.control;
                *self = Session::new(config, self.peer, self.local);
                // TLS on the control connection cannot be undone; PBSZ/PROT start over.
                self.tls.control = secured;
                Step::reply(220, self.config.banner.clone()).with(Action::ResetDataChannel)
            }
            Command::Type(t) => {
                self.transfer_type = t;
                match t {
                    TransferType::Ascii => Step::reply(200, "Switching to ASCII mode."),
                    TransferType::Image => Step::reply(200, "Switching to Binary mode."),
                }
            }
            Command::Stru(_) => Step::reply(200, "Structure set to F."),
            Command::Mode(_) => Step::reply(200, "Mode set to S."),
            Command::Allo => Step::reply(202, "ALLO command ignored."),
            Command::Rest(offset) => {
                self.rest = offset;
                Step::reply(350, format!("Restart position accepted ({offset})."))
            }
            Command::RestStream => Step::reply(200, "REST STREAM mode is the only mode."),
            Command::Port(addr) => self.active(SocketAddr::V4(addr)),
            Command::Eprt(addr) => self.active(addr),
            Command::Pasv => self.passive(false),
            Command::Epsv(arg) => self.epsv(arg),
            Command::Retr(path) => self.retr(&path),
            Command::Stor(path) => self.store(&path, false),
            Command::Appe(path) => self.store(&path, true),
            Command::Stou => self.store_unique(),
            Command::List(args) => self.listing(args, ListFormat::List),
            Command::Nlst(args) => self.listing(args, ListFormat::Nlst),
            Command::Mlsd(path) => self.listing(
                crate::command::ListArgs {
                    path,
                    ..Default::default()
                },
                ListFormat::Mlsd,
            ),
            Command::Mlst(path) => self.mlst(path),
            Command::Size(path) => self.size(&path),
            Command::Mdtm(path) => self.mdtm(&path),
            Command::Rnfr(path) => self.rnfr(&path),
            Command::Rnto(path) => self.rnto(&path),
            Command::Dele(path) => self.modify(&path, Modify::DeleteFile),
            Command::Rmd(path) => self.modify(&path, Modify::RemoveDir),
            Command::Mkd(path) => self.modify(&path, Modify::MakeDir),
            Command::Site(arg) => self.site(&arg),
            Command::Mfmt { mtime, path } => self.mfmt(mtime, &path),
            Command::Hash(path) => self.hash(&path, None),
            Command::XHash { algorithm, path } => self.hash(&path, Some(algorithm)),
            Command::Stat(Some(path)) => self.stat_path(&path),
            // Handled before the login check.
            Command::User(_)
            | Command::Pass(_)
            | Command::Quit
            | Command::Feat
            | Command::Syst
            | Command::Noop
            | Command::Help(_)
            | Command::Opts { .. }
            | Command::Host(_)
            | Command::Abor
            | Command::Stat(None)
            | Command::Auth(_)
            | Command::Pbsz(_)
            | Command::Prot(_)
            | Command::Ccc => Step::reply(503, "Bad sequence of commands."),
        }
    }
    fn status(&self) -> Step {
        let mut lines = vec![
            "FTP server status:".to_string(),
            format!("Connected to {}", self.peer.ip()),
        ];
        match self.user() {
            Some((name, _)) => lines.push(format!("Logged in as {name}")),
            None => lines.push("Not logged in".into()),
        }
        lines.push(format!("TYPE: {}", self.mode_word()));
        lines.extend(self.tls_status().map(str::to_string));
        lines.push(
            match self.transfer {
                TransferState::Idle => "No data connection",
                TransferState::Connecting => "Data connection being established",
                TransferState::Running => "Transfer in progress",
                TransferState::Aborting => "Transfer being aborted",
            }
            .into(),
        );
        lines.push("End of status".into());
        Step {
            replies: vec![Reply::multi(211, lines)],
            ..Step::default()
        }
    }

    /// Handle an event from the data plane.
    pub fn on_event(&mut self, event: Event) -> Step {
        match event {
            Event::PassiveListening(addr) => self.passive_reply(addr),
            Event::PassiveUnavailable => {
                self.data = DataChannel::None;
                Step::reply(425, "No passive port available; try again later.")
            }
            Event::DataConnected => {
                if self.transfer == TransferState::Connecting {
                    self.transfer = TransferState::Running;
                    Step::reply(150, std::mem::take(&mut self.opening))
                } else {
                    Step::default()
                }
            }
            Event::TransferDone { .. } => {
                let aborting = self.transfer == TransferState::Aborting;
                // A transfer that ended before reporting its data connection (a small
                // file sent whole at once) gets its 150 here, in one reply with the 226.
                let opening = std::mem::take(&mut self.opening);
                self.finish_transfer();
                let mut replies = Vec::with_capacity(2);
                if !opening.is_empty() {
                    replies.push(Reply::new(150, opening));
                }
                replies.push(if aborting {
                    // The data was all sent before the abort took effect (RFC 959: 226 only).
                    Reply::new(226, "ABOR successful; transfer had completed.")
                } else {
                    Reply::new(226, "Transfer complete.")
                });
                Step {
                    replies,
                    ..Step::default()
                }
            }
            Event::TransferFailed(failure) => {
                let aborting = self.transfer == TransferState::Aborting;
                self.finish_transfer();
                if aborting {
                    self.abort_replies()
                } else {
                    Step {
                        replies: vec![failure.reply()],
                        ..Step::default()
                    }
                }
            }
            Event::TransferAborted => {
                self.finish_transfer();
                self.abort_replies()
            }
            Event::TlsEstablished => self.on_tls_established(),
            Event::HashDone(digest) => self.hash_done(digest),
            Event::LoginChecked(account) => {
                if matches!(self.login, Login::Verifying) {
                    self.finish_login(account)
                } else {
                    Step::default()
                }
            }
        }
    }
}

fn vfs_error(e: &VfsError) -> Step {
    Step::reply(e.reply_code(), e.reply_text())
}

fn opts(name: &str, value: &[u8]) -> Step {
    match name {
        "UTF8" | "UTF-8" if value.eq_ignore_ascii_case(b"on") => {
            Step::reply(200, "Always in UTF8 mode.")
        }
        "UTF8" | "UTF-8" => Step::reply(501, "UTF8 cannot be turned off."),
        "MLST" => Step::reply(200, "MLST OPTS type;size;modify;perm;unique;"),
        _ => Step::reply(501, "Option not understood."),
    }
}

#[cfg(test)]
mod test_support {
    use super::*;
    use crate::auth::AnonymousPolicy;
    use crate::command::parse;

    pub(super) fn config(root: &std::path::Path, perms: Permissions) -> Arc<SessionConfig> {
        Arc::new(SessionConfig {
            root: root.to_path_buf(),
            root_view: SharedRootView::default(),
            follow_symlinks_outside: false,
            auth: Authenticator::new(
                None,
                AnonymousPolicy {
                    enabled: true,
                    require_email: false,
                    root: None,
                    perms,
                },
            ),
            policy: SecurityPolicy::default(),
            login_guard: Arc::new(LoginGuard::new(
                3,
                Duration::from_secs(60),
                Duration::from_millis(5),
            )),
            banner: "ready".into(),
            pasv_address: None,
            tls: TlsPolicy::default(),
        })
    }

    /// Anonymous read-only plus the named user `alice` (password `secret`).
    pub(super) fn config_with_users(root: &std::path::Path) -> SessionConfig {
        let hash = crate::auth::hash_password("secret").unwrap();
        let users = crate::auth::UsersFile::parse(&format!(
            "[[user]]\nname = \"alice\"\npassword = \"{hash}\"\n"
        ))
        .unwrap();
        let mut config = Arc::try_unwrap(self::config(root, Permissions::read_only())).unwrap();
        config.auth = Authenticator::new(Some(users), AnonymousPolicy::default());
        config
    }

    pub(super) fn session(root: &std::path::Path, perms: Permissions) -> Session {
        let peer = "127.0.0.1:40000".parse().unwrap();
        let local = "127.0.0.1:2121".parse().unwrap();
        Session::new(config(root, perms), peer, local)
    }

    pub(super) fn run(s: &mut Session, line: &str) -> Step {
        s.on_command(parse(line.as_bytes()))
    }

    pub(super) fn code(step: &Step) -> u16 {
        step.replies[0].code()
    }

    pub(super) fn logged_in(root: &std::path::Path, perms: Permissions) -> Session {
        let mut s = session(root, perms);
        assert_eq!(code(&run(&mut s, "USER anonymous")), 331);
        assert_eq!(code(&run(&mut s, "PASS x@y")), 230);
        s
    }

    pub(super) fn tree() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("file.txt"), b"hello\n").unwrap();
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        dir
    }
}
