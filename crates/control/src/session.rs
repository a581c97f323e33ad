//! The per-connection FTP state machine.
//!
//! [`Session::on_command`] and [`Session::on_event`] take a parsed command or a data
//! plane event and return a [`Step`]: replies to write, in order, and at most one
//! [`Action`] for the data plane. The session never touches a socket; filesystem
//! metadata goes through [`crate::vfs::Vfs`].

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use crate::auth::{Account, Authenticator};
use crate::command::{Command, EpsvArg, ParseError, TransferType};
use crate::listing::{self, ListFormat};
use crate::policy::{LoginGuard, SecurityPolicy};
use crate::reply::{quote_path, Reply};
use crate::vfs::{Permissions, Resolved, Vfs, VfsError, VirtualPath};

/// Server-wide settings every session reads; replaced as a whole on reload.
#[derive(Debug)]
pub struct SessionConfig {
    /// Root for accounts that do not name their own.
    pub root: PathBuf,
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
}

/// The direction and source or target of a transfer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TransferKind {
    /// Send `path` from byte `offset` (REST).
    Retr { path: PathBuf, offset: u64 },
    /// Receive into `path`.
    Store { path: PathBuf, mode: StoreMode },
    /// Send a directory listing.
    Listing {
        path: PathBuf,
        format: ListFormat,
        perms: Permissions,
    },
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
    /// The data connection is up; the transfer starts.
    DataConnected,
    /// The transfer finished; all bytes moved.
    TransferDone { bytes: u64 },
    /// The transfer failed.
    TransferFailed(TransferFailure),
    /// The transfer stopped because of ABOR.
    TransferAborted,
    /// The outcome of [`Action::VerifyPassword`]: the account, or `None` if refused.
    LoginChecked(Option<Account>),
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
}

const FEATURES: &[&str] = &[
    "EPRT",
    "EPSV",
    "HOST",
    "MDTM",
    "MLST type*;size*;modify*;perm*;unique*;",
    "PASV",
    "REST STREAM",
    "SIZE",
    "TVFS",
    "UTF8",
];

const HELP_VERBS: &str = "ABOR ACCT ALLO APPE CDUP CWD DELE EPRT EPSV FEAT HELP HOST LIST MDTM MKD MLSD MLST MODE NLST NOOP OPTS PASS PASV PORT PWD QUIT REIN REST RETR RMD RNFR RNTO SITE SIZE STAT STOR STOU STRU SYST TYPE USER";

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
        self.transfer_in_progress() || matches!(self.login, Login::Verifying)
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
                lines.extend(FEATURES.iter().map(|f| f.to_string()));
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
            Command::Opts { name, value } => opts(&name, &value),
            Command::Host(_) => match self.login {
                Login::LoggedIn(_) => Step::reply(503, "HOST must come before login."),
                _ => Step::reply(220, "Host accepted."),
            },
            Command::Abor => self.abort(),
            Command::Stat(None) => self.status(),
            other => match &self.login {
                Login::LoggedIn(_) => self.logged_in_cmd(other),
                _ => Step::reply(530, "Please login with USER and PASS."),
            },
        }
    }

    fn user_cmd(&mut self, name: Vec<u8>) -> Step {
        if matches!(self.login, Login::LoggedIn(_)) {
            return Step::reply(530, "Can't change to another user.");
        }
        if self
            .config
            .login_guard
            .is_blocked(self.peer.ip(), Instant::now())
        {
            return Step::reply(
                421,
                "Too many failed logins from your address; try again later.",
            )
            .with(Action::Close);
        }
        self.login = Login::AwaitPass(name);
        Step::reply(331, "Please specify the password.")
    }

    fn pass_cmd(&mut self, pass: &[u8]) -> Step {
        let user = match std::mem::replace(&mut self.login, Login::AwaitUser) {
            Login::AwaitPass(user) => user,
            Login::LoggedIn(l) => {
                self.login = Login::LoggedIn(l);
                return Step::reply(230, "Already logged in.");
            }
            Login::AwaitUser => return Step::reply(503, "Login with USER first."),
            Login::Verifying => {
                self.login = Login::Verifying;
                return Step::reply(503, "Login check in progress.");
            }
        };
        if !self.config.auth.is_anonymous(&user) {
            self.login = Login::Verifying;
            return Step::default().with(Action::VerifyPassword {
                user,
                password: Secret(pass.to_vec()),
            });
        }
        let account = self.config.auth.login(&user, pass).ok();
        self.finish_login(account)
    }

    fn finish_login(&mut self, account: Option<Account>) -> Step {
        let guard = &self.config.login_guard;
        let ip = self.peer.ip();
        let Some(account) = account else {
            self.login = Login::AwaitUser;
            let delay = guard.record_failure(ip, Instant::now());
            let mut step = Step::reply(530, "Login incorrect.");
            step.delay = delay;
            return step;
        };
        let root = account
            .root
            .clone()
            .unwrap_or_else(|| self.config.root.clone());
        match Vfs::new(&root, self.config.follow_symlinks_outside) {
            Ok(vfs) => {
                guard.record_success(ip);
                self.login = Login::LoggedIn(Box::new(LoggedIn { account, vfs }));
                self.cwd = VirtualPath::root();
                Step::reply(230, "Login successful.")
            }
            Err(_) => {
                self.login = Login::AwaitUser;
                Step::reply(530, "Login incorrect: home directory unavailable.")
            }
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
                *self = Session::new(config, self.peer, self.local);
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
            Command::List(path) => self.listing(path, ListFormat::List),
            Command::Nlst(path) => self.listing(path, ListFormat::Nlst),
            Command::Mlsd(path) => self.listing(path, ListFormat::Mlsd),
            Command::Mlst(path) => self.mlst(path),
            Command::Size(path) => self.size(&path),
            Command::Mdtm(path) => self.mdtm(&path),
            Command::Rnfr(path) => self.rnfr(&path),
            Command::Rnto(path) => self.rnto(&path),
            Command::Dele(path) => self.modify(&path, Modify::DeleteFile),
            Command::Rmd(path) => self.modify(&path, Modify::RemoveDir),
            Command::Mkd(path) => self.modify(&path, Modify::MakeDir),
            Command::Site(arg) => {
                if arg.eq_ignore_ascii_case(b"help") {
                    Step::reply(214, "No SITE commands are available.")
                } else {
                    Step::reply(500, "Unknown SITE command.")
                }
            }
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
            | Command::Stat(None) => Step::reply(503, "Bad sequence of commands."),
        }
    }

    fn change_dir(&mut self, path: &[u8]) -> Step {
        let target = match self.resolve(path) {
            Ok(t) => t,
            Err(_) => return Step::reply(550, "Failed to change directory."),
        };
        match self.logged_in().vfs.metadata(&target) {
            Ok(m) if m.is_dir() => {
                self.cwd = target.virt;
                Step::reply(250, "Directory successfully changed.")
            }
            _ => Step::reply(550, "Failed to change directory."),
        }
    }

    fn active(&mut self, target: SocketAddr) -> Step {
        if self.epsv_all {
            return Step::reply(503, "EPSV ALL in effect; PORT and EPRT are refused.");
        }
        if let Err(e) = self
            .config
            .policy
            .check_active_target(self.peer.ip(), target)
        {
            return Step::reply(e.reply_code(), format!("Illegal PORT command: {e}."));
        }
        self.data = DataChannel::Active;
        Step::reply(200, "PORT command successful. Consider using EPSV.")
            .with(Action::UseActive(target))
    }

    fn passive(&mut self, extended: bool) -> Step {
        if !extended {
            if self.epsv_all {
                return Step::reply(503, "EPSV ALL in effect; PASV is refused.");
            }
            if is_v6(self.local.ip()) {
                return Step::reply(522, "PASV is IPv4 only; use EPSV.");
            }
        }
        self.data = DataChannel::Passive { extended };
        Step::default().with(Action::ListenPassive)
    }

    fn epsv(&mut self, arg: EpsvArg) -> Step {
        let family = if is_v6(self.local.ip()) { 2 } else { 1 };
        match arg {
            EpsvArg::All => {
                self.epsv_all = true;
                Step::reply(200, "EPSV ALL ok.")
            }
            EpsvArg::Protocol(p) if p != family => Step::reply(
                522,
                format!("Network protocol not supported, use ({family})"),
            ),
            _ => self.passive(true),
        }
    }

    fn data_ready(&self) -> Result<(), Step> {
        if self.data == DataChannel::None {
            return Err(Step::reply(425, "Use PORT, EPRT, PASV or EPSV first."));
        }
        Ok(())
    }

    fn start_transfer(&mut self, kind: TransferKind, target: &Resolved, opening: String) -> Step {
        self.transfer = TransferState::Connecting;
        self.opening = opening;
        self.rest = 0;
        Step::default().with(Action::Transfer(TransferRequest {
            kind,
            no_symlinks: target.canonical.is_some(),
            ascii: self.transfer_type == TransferType::Ascii,
            virtual_path: target.virt.as_bytes().to_vec(),
        }))
    }

    fn mode_word(&self) -> &'static str {
        match self.transfer_type {
            TransferType::Ascii => "ASCII",
            TransferType::Image => "BINARY",
        }
    }

    fn retr(&mut self, path: &[u8]) -> Step {
        if !self.perms().read {
            return Step::reply(550, "Permission denied.");
        }
        let target = match self.resolve(path) {
            Ok(t) => t,
            Err(step) => return step,
        };
        let size = match self.logged_in().vfs.metadata(&target) {
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
        };
        self.start_transfer(kind, &target, opening)
    }

    fn store(&mut self, path: &[u8], append: bool) -> Step {
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

    fn store_unique(&mut self) -> Step {
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

    fn listing(&mut self, path: Option<Vec<u8>>, format: ListFormat) -> Step {
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

    fn mlst(&mut self, path: Option<Vec<u8>>) -> Step {
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

    fn stat_path(&mut self, path: &[u8]) -> Step {
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

    fn file_metadata(&self, path: &[u8]) -> Result<std::fs::Metadata, Step> {
        if !self.perms().read {
            return Err(Step::reply(550, "Permission denied."));
        }
        let target = self.resolve(path)?;
        match self.logged_in().vfs.metadata(&target) {
            Ok(m) if m.is_file() => Ok(m),
            Ok(_) => Err(Step::reply(550, "Not a plain file.")),
            Err(e) => Err(vfs_error(&e)),
        }
    }

    fn size(&mut self, path: &[u8]) -> Step {
        match self.file_metadata(path) {
            Ok(m) => Step::reply(213, m.len().to_string()),
            Err(step) => step,
        }
    }

    fn mdtm(&mut self, path: &[u8]) -> Step {
        match self.file_metadata(path).map(|m| m.modified()) {
            Ok(Ok(t)) => Step::reply(213, listing::mdtm_string(t)),
            Ok(Err(_)) => Step::reply(550, "Modification time unavailable."),
            Err(step) => step,
        }
    }

    fn rnfr(&mut self, path: &[u8]) -> Step {
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

    fn rnto(&mut self, path: &[u8]) -> Step {
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

    fn modify(&mut self, path: &[u8], op: Modify) -> Step {
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

    fn abort(&mut self) -> Step {
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
                self.finish_transfer();
                if aborting {
                    // The data was all sent before the abort took effect (RFC 959: 226 only).
                    Step::reply(226, "ABOR successful; transfer had completed.")
                } else {
                    Step::reply(226, "Transfer complete.")
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
            Event::LoginChecked(account) => {
                if matches!(self.login, Login::Verifying) {
                    self.finish_login(account)
                } else {
                    Step::default()
                }
            }
        }
    }

    fn abort_replies(&self) -> Step {
        Step {
            replies: vec![
                Reply::new(426, "Connection closed; transfer aborted."),
                Reply::new(226, "ABOR successful."),
            ],
            ..Step::default()
        }
    }

    fn finish_transfer(&mut self) {
        self.transfer = TransferState::Idle;
        self.data = DataChannel::None;
        self.opening.clear();
    }

    fn passive_reply(&mut self, addr: SocketAddr) -> Step {
        match self.data {
            DataChannel::Passive { extended: true } => Step::reply(
                229,
                format!("Entering Extended Passive Mode (|||{}|)", addr.port()),
            ),
            DataChannel::Passive { extended: false } => {
                let ip = self
                    .config
                    .pasv_address
                    .unwrap_or(match addr.ip().to_canonical() {
                        IpAddr::V4(v4) => v4,
                        IpAddr::V6(_) => Ipv4Addr::UNSPECIFIED,
                    });
                let [a, b, c, d] = ip.octets();
                let port = addr.port();
                Step::reply(
                    227,
                    format!(
                        "Entering Passive Mode ({a},{b},{c},{d},{},{}).",
                        port >> 8,
                        port & 0xff
                    ),
                )
            }
            // The client moved on (PORT after PASV): the data plane already dropped it.
            _ => Step::default(),
        }
    }
}

#[derive(Debug, Clone, Copy)]
enum Modify {
    DeleteFile,
    RemoveDir,
    MakeDir,
}

fn is_v6(ip: IpAddr) -> bool {
    matches!(ip.to_canonical(), IpAddr::V6(_))
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
mod tests {
    use super::*;
    use crate::auth::AnonymousPolicy;
    use crate::command::parse;
    use std::net::SocketAddrV4;

    fn config(root: &std::path::Path, perms: Permissions) -> Arc<SessionConfig> {
        Arc::new(SessionConfig {
            root: root.to_path_buf(),
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
        })
    }

    fn session(root: &std::path::Path, perms: Permissions) -> Session {
        let peer = "127.0.0.1:40000".parse().unwrap();
        let local = "127.0.0.1:2121".parse().unwrap();
        Session::new(config(root, perms), peer, local)
    }

    fn run(s: &mut Session, line: &str) -> Step {
        s.on_command(parse(line.as_bytes()))
    }

    fn code(step: &Step) -> u16 {
        step.replies[0].code()
    }

    fn logged_in(root: &std::path::Path, perms: Permissions) -> Session {
        let mut s = session(root, perms);
        assert_eq!(code(&run(&mut s, "USER anonymous")), 331);
        assert_eq!(code(&run(&mut s, "PASS x@y")), 230);
        s
    }

    fn tree() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("file.txt"), b"hello\n").unwrap();
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        dir
    }

    #[test]
    fn commands_before_login_get_530() {
        let dir = tree();
        let mut s = session(dir.path(), Permissions::read_only());
        assert_eq!(code(&run(&mut s, "RETR file.txt")), 530);
        assert_eq!(code(&run(&mut s, "CWD sub")), 530);
        assert_eq!(code(&run(&mut s, "PASS x")), 503);
        assert_eq!(code(&run(&mut s, "FEAT")), 211);
        assert_eq!(code(&run(&mut s, "SYST")), 215);
        assert_eq!(run(&mut s, "QUIT").action, Some(Action::Close));
    }

    #[test]
    fn bad_password_is_delayed_and_counted() {
        let dir = tree();
        let mut s = session(dir.path(), Permissions::read_only());
        run(&mut s, "USER nobody");
        let step = run(&mut s, "PASS wrong");
        let Some(Action::VerifyPassword { user, password }) = step.action else {
            panic!("named users are checked off the event loop: {step:?}");
        };
        assert!(step.replies.is_empty());
        assert!(s.busy());
        assert!(
            !format!("{password:?}").contains("wrong"),
            "passwords are never printed"
        );
        assert_eq!(code(&run(&mut s, "PASS again")), 503);
        let account = s.config().auth.login(&user, &password.0).ok();
        let step = s.on_event(Event::LoginChecked(account));
        assert_eq!(code(&step), 530);
        assert!(step.delay > Duration::ZERO);
        assert!(!s.busy());
        assert_eq!(code(&run(&mut s, "RETR x")), 530);
    }

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
            Some(Action::Transfer(TransferRequest {
                kind: TransferKind::Retr { offset, ref path },
                ascii,
                ..
            })) => {
                assert_eq!(offset, 2);
                assert!(path.ends_with("file.txt"));
                assert!(!ascii);
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

    #[test]
    fn active_mode_is_checked_by_policy() {
        let dir = tree();
        let mut s = logged_in(dir.path(), Permissions::read_only());
        assert_eq!(code(&run(&mut s, "PORT 127,0,0,1,0,21")) / 100, 5);
        assert_eq!(code(&run(&mut s, "PORT 10,0,0,1,200,1")) / 100, 5);
        let step = run(&mut s, "PORT 127,0,0,1,200,1");
        assert_eq!(code(&step), 200);
        let target = SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::LOCALHOST, 200 * 256 + 1));
        assert_eq!(step.action, Some(Action::UseActive(target)));
        assert_eq!(code(&run(&mut s, "EPSV ALL")), 200);
        assert_eq!(code(&run(&mut s, "PORT 127,0,0,1,200,1")), 503);
        assert_eq!(code(&run(&mut s, "PASV")), 503);
    }

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
                kind: TransferKind::Listing { format, .. },
                ascii,
                ..
            })) => {
                assert_eq!(format, ListFormat::List);
                assert!(ascii);
            }
            other => panic!("expected listing, got {other:?}"),
        }
    }

    #[test]
    fn parse_errors_become_replies() {
        let dir = tree();
        let mut s = session(dir.path(), Permissions::read_only());
        assert_eq!(code(&run(&mut s, "XYZZY")), 500);
        assert_eq!(code(&run(&mut s, "USER")), 501);
    }
}
