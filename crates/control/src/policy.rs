//! Security decisions the data plane asks about: FTP bounce (where active mode may
//! connect), passive port stealing (who may connect to a passive port), session
//! caps, and failed-login accounting.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A refused request, with the reply code to send.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    #[error("data connections go only to your own address")]
    ForeignActiveTarget,
    #[error("data connections to ports below 1024 are refused")]
    PrivilegedPort,
    #[error("Too many sessions on this server; try again later.")]
    TooManySessions,
    #[error("Too many sessions from your address; try again later.")]
    TooManyFromAddress,
}

impl PolicyError {
    /// The FTP reply code.
    pub fn reply_code(&self) -> u16 {
        match self {
            PolicyError::ForeignActiveTarget | PolicyError::PrivilegedPort => 500,
            PolicyError::TooManySessions | PolicyError::TooManyFromAddress => 421,
        }
    }
}

/// Data-connection rules; all protections are on by default.
#[derive(Debug, Clone, Default)]
pub struct SecurityPolicy {
    /// Allow PORT/EPRT to other hosts than the client (FTP bounce).
    pub allow_foreign_active: bool,
    /// Allow PORT/EPRT to ports below 1024.
    pub allow_privileged_active_port: bool,
    /// Accept passive connections from other addresses than the client's.
    pub allow_foreign_passive: bool,
}

impl SecurityPolicy {
    /// May active mode connect to `target` for a client at `control_peer`?
    pub fn check_active_target(
        &self,
        control_peer: IpAddr,
        target: SocketAddr,
    ) -> Result<(), PolicyError> {
        if !self.allow_foreign_active && target.ip().to_canonical() != control_peer.to_canonical() {
            return Err(PolicyError::ForeignActiveTarget);
        }
        if !self.allow_privileged_active_port && target.port() < 1024 {
            return Err(PolicyError::PrivilegedPort);
        }
        Ok(())
    }

    /// May a data connection from `data_peer` serve a client at `control_peer`?
    pub fn passive_peer_allowed(&self, control_peer: IpAddr, data_peer: IpAddr) -> bool {
        self.allow_foreign_passive || control_peer.to_canonical() == data_peer.to_canonical()
    }
}

/// The address a client is counted by for per-address caps and login blocks: IPv4 (also
/// IPv4-mapped IPv6) as is, IPv6 by its /64, since one subscriber or host usually holds a
/// whole /64 and could otherwise step around any per-address limit.
pub fn client_key(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V6(v6) => IpAddr::V6((u128::from(v6) & !((1u128 << 64) - 1)).into()),
        v4 => v4,
    }
}

/// Global and per-address session caps, shared by all workers.
#[derive(Debug)]
pub struct ConnectionLimits {
    max_sessions: AtomicUsize,
    max_per_ip: AtomicUsize,
    open: AtomicUsize,
    per_ip: Mutex<HashMap<IpAddr, usize>>,
}

/// One admitted session; releases its slot when dropped.
#[derive(Debug)]
pub struct SessionPermit {
    limits: Arc<ConnectionLimits>,
    ip: IpAddr,
}

impl ConnectionLimits {
    /// Caps of `max_sessions` in all and `max_per_ip` per address (0 = no cap), an
    /// address being a [`client_key`].
    pub fn new(max_sessions: usize, max_per_ip: usize) -> ConnectionLimits {
        ConnectionLimits {
            max_sessions: AtomicUsize::new(max_sessions),
            max_per_ip: AtomicUsize::new(max_per_ip),
            open: AtomicUsize::new(0),
            per_ip: Mutex::new(HashMap::new()),
        }
    }

    /// Admit a session from `ip` or say why not.
    pub fn try_acquire(self: &Arc<Self>, ip: IpAddr) -> Result<SessionPermit, PolicyError> {
        let ip = client_key(ip);
        let max = self.max_sessions.load(Ordering::Relaxed);
        let prev = self.open.fetch_add(1, Ordering::AcqRel);
        if max != 0 && prev >= max {
            self.open.fetch_sub(1, Ordering::AcqRel);
            return Err(PolicyError::TooManySessions);
        }
        let per_ip_max = self.max_per_ip.load(Ordering::Relaxed);
        let mut map = self.per_ip.lock().unwrap_or_else(|p| p.into_inner());
        let count = map.entry(ip).or_insert(0);
        if per_ip_max != 0 && *count >= per_ip_max {
            if *count == 0 {
                map.remove(&ip);
            }
            drop(map);
            self.open.fetch_sub(1, Ordering::AcqRel);
            return Err(PolicyError::TooManyFromAddress);
        }
        *count += 1;
        Ok(SessionPermit {
            limits: self.clone(),
            ip,
        })
    }

    /// Sessions admitted and not yet released.
    pub fn open_sessions(&self) -> usize {
        self.open.load(Ordering::Relaxed)
    }

    /// New caps (config reload); running sessions stay.
    pub fn set_limits(&self, max_sessions: usize, max_per_ip: usize) {
        self.max_sessions.store(max_sessions, Ordering::Relaxed);
        self.max_per_ip.store(max_per_ip, Ordering::Relaxed);
    }
}

impl Drop for SessionPermit {
    fn drop(&mut self) {
        let mut map = self.limits.per_ip.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(c) = map.get_mut(&self.ip) {
            *c -= 1;
            if *c == 0 {
                map.remove(&self.ip);
            }
        }
        drop(map);
        self.limits.open.fetch_sub(1, Ordering::AcqRel);
    }
}

#[derive(Debug, Clone, Copy)]
struct Failures {
    count: u32,
    last: Instant,
    blocked_until: Option<Instant>,
}

/// Failed-login accounting per address: a delay on each failure and a temporary
/// block after too many. Memory is bounded by evicting the oldest entries.
#[derive(Debug)]
pub struct LoginGuard {
    max_failures: u32,
    block_for: Duration,
    delay: Duration,
    entries: Mutex<HashMap<IpAddr, Failures>>,
}

/// Addresses tracked at most; beyond this the stalest are forgotten.
const MAX_TRACKED: usize = 65_536;

impl LoginGuard {
    /// Block an address for `block_for` after `max_failures` (0 = never block).
    pub fn new(max_failures: u32, block_for: Duration, delay: Duration) -> LoginGuard {
        LoginGuard {
            max_failures,
            block_for,
            delay,
            entries: Mutex::new(HashMap::new()),
        }
    }

    /// Is `ip` blocked at `now`?
    pub fn is_blocked(&self, ip: IpAddr, now: Instant) -> bool {
        let map = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        map.get(&client_key(ip))
            .and_then(|f| f.blocked_until)
            .is_some_and(|until| now < until)
    }

    /// Count a failure; returns the delay to apply before answering.
    pub fn record_failure(&self, ip: IpAddr, now: Instant) -> Duration {
        let ip = client_key(ip);
        let mut map = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        if map.len() >= MAX_TRACKED && !map.contains_key(&ip) {
            let stale = now.checked_sub(self.block_for).unwrap_or(now);
            map.retain(|_, f| f.last > stale);
            if map.len() >= MAX_TRACKED {
                if let Some(oldest) = map.iter().min_by_key(|(_, f)| f.last).map(|(k, _)| *k) {
                    map.remove(&oldest);
                }
            }
        }
        let f = map.entry(ip).or_insert(Failures {
            count: 0,
            last: now,
            blocked_until: None,
        });
        if f.blocked_until.is_some_and(|u| now >= u) {
            f.count = 0;
            f.blocked_until = None;
        }
        f.count += 1;
        f.last = now;
        if self.max_failures != 0 && f.count >= self.max_failures {
            f.blocked_until = Some(now + self.block_for);
        }
        self.delay
    }

    /// Forget failures of `ip` after a good login.
    pub fn record_success(&self, ip: IpAddr) {
        let mut map = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        map.remove(&client_key(ip));
    }

    /// Addresses tracked now.
    pub fn tracked(&self) -> usize {
        self.entries.lock().unwrap_or_else(|p| p.into_inner()).len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn ipv6_clients_count_by_their_slash_64() {
        assert_eq!(client_key(ip("2001:db8:1:2:aaaa::1")), ip("2001:db8:1:2::"));
        assert_eq!(client_key(ip("::ffff:192.0.2.7")), ip("192.0.2.7"));
        assert_eq!(client_key(ip("192.0.2.7")), ip("192.0.2.7"));
        let limits = Arc::new(ConnectionLimits::new(0, 2));
        let _a = limits.try_acquire(ip("2001:db8:1:2::1")).unwrap();
        let _b = limits.try_acquire(ip("2001:db8:1:2:ffff::9")).unwrap();
        assert_eq!(
            limits.try_acquire(ip("2001:db8:1:2::3")).err(),
            Some(PolicyError::TooManyFromAddress)
        );
        assert!(limits.try_acquire(ip("2001:db8:1:3::1")).is_ok());
        let guard = LoginGuard::new(1, Duration::from_secs(60), Duration::ZERO);
        let now = Instant::now();
        guard.record_failure(ip("2001:db8:1:2::1"), now);
        assert!(guard.is_blocked(ip("2001:db8:1:2::77"), now));
        assert!(!guard.is_blocked(ip("2001:db8:1:3::1"), now));
    }

    #[test]
    fn bounce_and_privileged_ports() {
        let p = SecurityPolicy::default();
        let peer = ip("127.0.0.1");
        assert_eq!(
            p.check_active_target(peer, "127.0.0.1:21".parse().unwrap()),
            Err(PolicyError::PrivilegedPort)
        );
        assert_eq!(
            p.check_active_target(peer, "10.0.0.1:50000".parse().unwrap()),
            Err(PolicyError::ForeignActiveTarget)
        );
        assert!(p
            .check_active_target(peer, "127.0.0.1:50000".parse().unwrap())
            .is_ok());
        assert!(p
            .check_active_target(ip("::ffff:127.0.0.1"), "127.0.0.1:50000".parse().unwrap())
            .is_ok());
        let open = SecurityPolicy {
            allow_foreign_active: true,
            allow_privileged_active_port: true,
            allow_foreign_passive: true,
        };
        assert!(open
            .check_active_target(peer, "10.0.0.1:21".parse().unwrap())
            .is_ok());
        assert!(!p.passive_peer_allowed(peer, ip("127.0.0.2")));
        assert!(p.passive_peer_allowed(peer, ip("::ffff:127.0.0.1")));
        assert!(open.passive_peer_allowed(peer, ip("127.0.0.2")));
    }

    #[test]
    fn limits_acquire_and_release() {
        let l = Arc::new(ConnectionLimits::new(3, 2));
        let a1 = l.try_acquire(ip("10.0.0.1")).unwrap();
        let _a2 = l.try_acquire(ip("10.0.0.1")).unwrap();
        assert_eq!(
            l.try_acquire(ip("10.0.0.1")).unwrap_err(),
            PolicyError::TooManyFromAddress
        );
        let _b = l.try_acquire(ip("10.0.0.2")).unwrap();
        assert_eq!(
            l.try_acquire(ip("10.0.0.3")).unwrap_err(),
            PolicyError::TooManySessions
        );
        assert_eq!(l.open_sessions(), 3);
        drop(a1);
        assert!(l.try_acquire(ip("10.0.0.1")).is_ok());
        l.set_limits(0, 0);
        let many: Vec<_> = (0..10)
            .map(|_| l.try_acquire(ip("10.0.0.9")).unwrap())
            .collect();
        assert_eq!(many.len(), 10);
        assert_eq!(PolicyError::TooManySessions.reply_code(), 421);
    }

    #[test]
    fn login_guard_blocks_then_forgets() {
        let g = LoginGuard::new(3, Duration::from_secs(60), Duration::from_millis(500));
        let t = Instant::now();
        let a = ip("192.0.2.1");
        assert_eq!(g.record_failure(a, t), Duration::from_millis(500));
        g.record_failure(a, t);
        assert!(!g.is_blocked(a, t));
        g.record_failure(a, t);
        assert!(g.is_blocked(a, t));
        assert!(!g.is_blocked(a, t + Duration::from_secs(61)));
        assert!(!g.is_blocked(ip("192.0.2.2"), t));
        g.record_success(a);
        assert!(!g.is_blocked(a, t));
    }

    #[test]
    fn login_guard_memory_is_bounded() {
        let g = LoginGuard::new(0, Duration::from_secs(1), Duration::ZERO);
        let t = Instant::now();
        for i in 0..(MAX_TRACKED as u32 + 100) {
            g.record_failure(IpAddr::from(i.to_be_bytes()), t);
        }
        assert!(g.tracked() <= MAX_TRACKED);
    }
}
