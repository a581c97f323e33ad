//! PORT, EPRT, PASV, EPSV: choosing how the next data connection is made.

use super::*;

impl Session {
    pub(super) fn active(&mut self, target: SocketAddr) -> Step {
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

    pub(super) fn passive(&mut self, extended: bool) -> Step {
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

    pub(super) fn epsv(&mut self, arg: EpsvArg) -> Step {
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

    pub(super) fn data_ready(&self) -> Result<(), Step> {
        if self.data == DataChannel::None {
            return Err(Step::reply(425, "Use PORT, EPRT, PASV or EPSV first."));
        }
        if let Some(step) = self.data_needs_tls() {
            return Err(step);
        }
        Ok(())
    }

    pub(super) fn passive_reply(&mut self, addr: SocketAddr) -> Step {
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

pub(super) fn is_v6(ip: IpAddr) -> bool {
    matches!(ip.to_canonical(), IpAddr::V6(_))
}

#[cfg(test)]
mod tests {
    use super::super::test_support::*;
    use super::super::*;
    use crate::vfs::Permissions;
    use std::net::SocketAddrV4;

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
}
