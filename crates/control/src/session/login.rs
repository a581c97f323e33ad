//! USER and PASS: the login sequence, password checks off the event loop, failed-login delays.

use std::time::Instant;

use super::*;

impl Session {
    pub(super) fn user_cmd(&mut self, name: Vec<u8>) -> Step {
        if matches!(self.login, Login::LoggedIn(_)) {
            return Step::reply(530, "Can't change to another user.");
        }
        if let Some(step) = self.login_needs_tls(&name) {
            self.login = Login::AwaitUser;
            return step;
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

    pub(super) fn pass_cmd(&mut self, pass: &[u8]) -> Step {
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

    pub(super) fn finish_login(&mut self, account: Option<Account>) -> Step {
        let guard = &self.config.login_guard;
        let ip = self.peer.ip();
        let Some(account) = account else {
            self.login = Login::AwaitUser;
            let delay = guard.record_failure(ip, Instant::now());
            let mut step = Step::reply(530, "Login incorrect.");
            step.delay = delay;
            return step;
        };
        let follow = self.config.follow_symlinks_outside;
        let vfs = match &account.root {
            Some(root) => Vfs::new(root, follow),
            None => self
                .config
                .root_view
                .get_or_check(&self.config.root, follow),
        };
        match vfs {
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
}

#[cfg(test)]
mod tests {
    use super::super::test_support::*;
    use super::super::*;
    use crate::vfs::Permissions;

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
    fn parse_errors_become_replies() {
        let dir = tree();
        let mut s = session(dir.path(), Permissions::read_only());
        assert_eq!(code(&run(&mut s, "XYZZY")), 500);
        assert_eq!(code(&run(&mut s, "USER")), 501);
    }
}
