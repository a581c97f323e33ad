//! AUTH TLS, PBSZ, PROT and CCC (RFC 4217), and the TLS policy checks the other
//! commands ask about: may this user log in on a plain connection, may this transfer
//! run on a plain data connection, what must a TLS data connection present.
//!
//! The session only decides; the data plane runs the handshakes and reports back.

use super::*;
use crate::command::{AuthMechanism, ProtLevel};

/// How much of a session must be encrypted (`tls.require`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TlsRequire {
    /// TLS is offered, nothing requires it.
    #[default]
    None,
    /// Named users may log in only on an encrypted control connection.
    Login,
    /// As `Login`, and named users' transfers need PROT P too.
    Data,
}

/// What the operator configured about TLS, as far as the protocol is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct TlsPolicy {
    /// A certificate is configured: AUTH TLS and PROT P are offered.
    pub available: bool,
    pub require: TlsRequire,
    /// A PROT P data connection must resume the control connection's TLS session, so
    /// a connection to a stolen passive port gets nothing.
    pub require_session_reuse: bool,
}

/// What a data connection must be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DataProtection {
    /// PROT C: plain TCP.
    Clear,
    /// PROT P: a TLS server handshake first, resuming the control connection's
    /// session when `require_session_reuse`.
    Tls { require_session_reuse: bool },
}

/// TLS state of one session.
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct TlsState {
    /// AUTH TLS accepted and the handshake not yet reported.
    pub(super) handshaking: bool,
    /// The control connection is encrypted (after AUTH TLS, or an implicit listener).
    pub(super) control: bool,
    /// PBSZ seen on the encrypted connection (RFC 4217 wants it before PROT).
    pub(super) pbsz: bool,
    /// PROT P in effect.
    pub(super) private_data: bool,
}

impl Session {
    /// True once the control connection is encrypted.
    pub fn control_secured(&self) -> bool {
        self.tls.control
    }

    pub(super) fn auth_cmd(&mut self, mechanism: AuthMechanism) -> Step {
        if let AuthMechanism::Other(name) = mechanism {
            return Step::reply(504, format!("AUTH {name} not supported; use AUTH TLS."));
        }
        if !self.config.tls.available {
            return Step::reply(502, "AUTH TLS not available: no certificate configured.");
        }
        if self.tls.control || self.tls.handshaking {
            return Step::reply(503, "Already using TLS.");
        }
        if matches!(self.login, Login::LoggedIn(_) | Login::Verifying) {
            return Step::reply(503, "AUTH TLS must come before login.");
        }
        // RFC 4217: an accepted AUTH resets the login; USER comes again inside TLS.
        self.login = Login::AwaitUser;
        self.tls.handshaking = true;
        Step::reply(234, "AUTH TLS successful.").with(Action::StartTls)
    }

    pub(super) fn pbsz_cmd(&mut self) -> Step {
        if !self.tls.control {
            return Step::reply(503, "PBSZ needs AUTH TLS first.");
        }
        self.tls.pbsz = true;
        // TLS is a stream protection: the only sensible buffer size is 0 (RFC 4217 §9).
        Step::reply(200, "PBSZ=0")
    }

    pub(super) fn prot_cmd(&mut self, level: ProtLevel) -> Step {
        if !self.tls.control {
            return Step::reply(503, "PROT needs AUTH TLS first.");
        }
        if !self.tls.pbsz {
            return Step::reply(503, "PROT needs PBSZ first.");
        }
        match level {
            ProtLevel::Clear => {
                self.tls.private_data = false;
                Step::reply(200, "PROT now Clear.")
            }
            ProtLevel::Private => {
                self.tls.private_data = true;
                Step::reply(200, "PROT now Private.")
            }
            ProtLevel::Safe | ProtLevel::Confidential => {
                Step::reply(536, "PROT level not supported by TLS; use C or P.")
            }
        }
    }

    pub(super) fn ccc_cmd(&mut self) -> Step {
        if !self.tls.control {
            return Step::reply(533, "CCC needs an encrypted control connection.");
        }
        Step::reply(534, "CCC refused: the control connection stays encrypted.")
    }

    /// The data plane finished the control connection's TLS handshake (after
    /// [`Action::StartTls`], or at once on an implicit TLS listener).
    pub(super) fn on_tls_established(&mut self) -> Step {
        self.tls.handshaking = false;
        self.tls.control = true;
        Step::default()
    }

    /// `tls.require = login`/`data`: a named user may not start logging in on a plain
    /// control connection, where the password would travel in clear.
    pub(super) fn login_needs_tls(&self, user: &[u8]) -> Option<Step> {
        let required = self.config.tls.require != TlsRequire::None;
        if required && !self.tls.control && !self.config.auth.is_anonymous(user) {
            return Some(Step::reply(
                530,
                "Non-anonymous sessions must use encryption: AUTH TLS first.",
            ));
        }
        None
    }

    /// `tls.require = data`: a named user's transfers need PROT P.
    pub(super) fn data_needs_tls(&self) -> Option<Step> {
        let anonymous = self.user().is_some_and(|(_, anonymous)| anonymous);
        if self.config.tls.require == TlsRequire::Data && !anonymous && !self.tls.private_data {
            return Some(Step::reply(
                521,
                "Data connections must be encrypted: use PBSZ 0 and PROT P.",
            ));
        }
        None
    }

    /// What the next data connection must be.
    pub(super) fn data_protection(&self) -> DataProtection {
        if self.tls.private_data {
            DataProtection::Tls {
                require_session_reuse: self.config.tls.require_session_reuse,
            }
        } else {
            DataProtection::Clear
        }
    }

    /// STAT lines about encryption.
    pub(super) fn tls_status(&self) -> [&'static str; 2] {
        [
            if self.tls.control {
                "Control connection is encrypted (TLS)"
            } else {
                "Control connection is plain text"
            },
            if self.tls.private_data {
                "Data connections are encrypted (PROT P)"
            } else {
                "Data connections are plain (PROT C)"
            },
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::super::test_support::*;
    use super::*;

    fn tls_session(root: &std::path::Path, require: TlsRequire) -> Session {
        let mut config = config_with_users(root);
        config.tls = TlsPolicy {
            available: true,
            require,
            require_session_reuse: true,
        };
        let peer = "127.0.0.1:40000".parse().unwrap();
        let local = "127.0.0.1:2121".parse().unwrap();
        Session::new(Arc::new(config), peer, local)
    }

    fn secure(s: &mut Session) {
        let step = run(s, "AUTH TLS");
        assert_eq!(code(&step), 234);
        assert_eq!(step.action, Some(Action::StartTls));
        assert!(s.on_event(Event::TlsEstablished).replies.is_empty());
        assert!(s.control_secured());
    }

    #[test]
    fn feat_lists_tls_only_when_available() {
        let dir = tree();
        let plain = run(&mut session(dir.path(), Permissions::read_only()), "FEAT");
        assert!(!plain.replies[0].to_string().contains("AUTH TLS"));
        let mut s = tls_session(dir.path(), TlsRequire::None);
        let feat = run(&mut s, "FEAT").replies[0].to_string();
        for f in [" AUTH TLS\r\n", " PBSZ\r\n", " PROT\r\n"] {
            assert!(feat.contains(f), "{f:?} missing from {feat}");
        }
    }

    #[test]
    fn auth_pbsz_prot_sequence() {
        let dir = tree();
        let mut s = session(dir.path(), Permissions::read_only());
        assert_eq!(code(&run(&mut s, "AUTH TLS")), 502, "no certificate");
        let mut s = tls_session(dir.path(), TlsRequire::None);
        assert_eq!(code(&run(&mut s, "AUTH GSSAPI")), 504);
        assert_eq!(code(&run(&mut s, "PBSZ 0")), 503);
        assert_eq!(code(&run(&mut s, "PROT P")), 503);
        assert_eq!(code(&run(&mut s, "CCC")), 533);
        secure(&mut s);
        assert_eq!(code(&run(&mut s, "AUTH TLS")), 503);
        assert_eq!(code(&run(&mut s, "PROT P")), 503, "PBSZ first");
        assert_eq!(
            run(&mut s, "PBSZ 16384").replies[0].to_bytes(),
            b"200 PBSZ=0\r\n"
        );
        assert_eq!(code(&run(&mut s, "PROT S")), 536);
        assert_eq!(code(&run(&mut s, "PROT E")), 536);
        assert_eq!(code(&run(&mut s, "PROT P")), 200);
        assert_eq!(code(&run(&mut s, "CCC")), 534);
        assert_eq!(code(&run(&mut s, "USER anonymous")), 331);
        assert_eq!(code(&run(&mut s, "PASS a@b")), 230);
        run(&mut s, "PASV");
        s.on_event(Event::PassiveListening("127.0.0.1:50001".parse().unwrap()));
        match run(&mut s, "RETR file.txt").action {
            Some(Action::Transfer(t)) => assert_eq!(
                t.protection,
                DataProtection::Tls {
                    require_session_reuse: true
                }
            ),
            other => panic!("expected a transfer, got {other:?}"),
        }
        s.on_event(Event::TransferDone { bytes: 6 });
        assert_eq!(code(&run(&mut s, "PROT C")), 200);
        run(&mut s, "PASV");
        s.on_event(Event::PassiveListening("127.0.0.1:50001".parse().unwrap()));
        match run(&mut s, "RETR file.txt").action {
            Some(Action::Transfer(t)) => assert_eq!(t.protection, DataProtection::Clear),
            other => panic!("expected a transfer, got {other:?}"),
        }
    }

    #[test]
    fn auth_after_login_is_refused_and_before_it_resets_user() {
        let dir = tree();
        let mut s = tls_session(dir.path(), TlsRequire::None);
        assert_eq!(code(&run(&mut s, "USER anonymous")), 331);
        assert_eq!(code(&run(&mut s, "AUTH TLS")), 234);
        s.on_event(Event::TlsEstablished);
        assert_eq!(code(&run(&mut s, "PASS x@y")), 503, "USER again inside TLS");
        let mut s = tls_session(dir.path(), TlsRequire::None);
        run(&mut s, "USER anonymous");
        run(&mut s, "PASS x@y");
        assert_eq!(code(&run(&mut s, "AUTH TLS")), 503);
    }

    #[test]
    fn require_login_refuses_plain_named_users_but_not_anonymous() {
        let dir = tree();
        let mut s = tls_session(dir.path(), TlsRequire::Login);
        assert_eq!(code(&run(&mut s, "USER alice")), 530);
        assert_eq!(code(&run(&mut s, "PASS secret")), 503);
        assert_eq!(code(&run(&mut s, "USER anonymous")), 331);
        let mut s = tls_session(dir.path(), TlsRequire::Login);
        secure(&mut s);
        assert_eq!(code(&run(&mut s, "USER alice")), 331);
        let mut s = tls_session(dir.path(), TlsRequire::None);
        assert_eq!(code(&run(&mut s, "USER alice")), 331);
    }

    #[test]
    fn require_data_needs_prot_p_for_named_users() {
        let dir = tree();
        let mut s = tls_session(dir.path(), TlsRequire::Data);
        secure(&mut s);
        run(&mut s, "USER alice");
        let step = run(&mut s, "PASS secret");
        let Some(Action::VerifyPassword { user, password }) = step.action else {
            panic!("named users are checked off the event loop: {step:?}");
        };
        let account = s.config().auth.login(&user, &password.0).ok();
        assert_eq!(code(&s.on_event(Event::LoginChecked(account))), 230);
        run(&mut s, "PASV");
        s.on_event(Event::PassiveListening("127.0.0.1:50001".parse().unwrap()));
        assert_eq!(code(&run(&mut s, "RETR file.txt")), 521);
        run(&mut s, "PBSZ 0");
        run(&mut s, "PROT P");
        assert!(matches!(
            run(&mut s, "RETR file.txt").action,
            Some(Action::Transfer(_))
        ));

        let mut s = tls_session(dir.path(), TlsRequire::Data);
        run(&mut s, "USER anonymous");
        run(&mut s, "PASS a@b");
        run(&mut s, "PASV");
        s.on_event(Event::PassiveListening("127.0.0.1:50001".parse().unwrap()));
        assert!(
            matches!(
                run(&mut s, "RETR file.txt").action,
                Some(Action::Transfer(_))
            ),
            "anonymous may stay plain"
        );
    }
}
