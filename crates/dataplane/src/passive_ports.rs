//! Per-core passive port pools.
//!
//! The configured range is split into one contiguous slice per core, so a PASV on
//! core N hands out a port that only core N listens on. A port whose data connection
//! was made keeps its listener open afterwards ("parked"; at most [`MAX_PARKED`]
//! listeners per core are kept, in use or parked, so thousands of long transfers do
//! not each hold one more fd), and the next PASV on that address takes the most
//! recently parked one: it
//! skips socket, bind and listen, and bind's search of the port's TIME_WAIT sockets
//! (each short transfer leaves one on the server's side, since the server closes
//! first), which was the largest single cost of a small-file session. Other ports
//! are reused in FIFO order, which keeps a just-closed port at the back of the queue.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::fmt;
use std::net::{IpAddr, TcpListener};
use std::rc::Rc;
use std::str::FromStr;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;

use crate::metrics::WorkerMetrics;

/// An inclusive port range such as `50000-51999`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PortRange {
    pub first: u16,
    pub last: u16,
}

/// Why a port range could not be parsed or split.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PortRangeError {
    #[error("expected FIRST-LAST with 1 <= FIRST <= LAST <= 65535, got {0:?}")]
    Syntax(String),
    #[error(
        "range {range} has {ports} ports, fewer than the {cores} workers that need a slice each"
    )]
    TooSmall {
        range: PortRange,
        ports: usize,
        cores: usize,
    },
}

impl PortRange {
    /// Number of ports in the range.
    pub fn len(&self) -> usize {
        usize::from(self.last - self.first) + 1
    }

    /// Always false: a range holds at least one port.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// Split into `parts` contiguous slices whose sizes differ by at most one.
    pub fn split(&self, parts: usize) -> Result<Vec<PortRange>, PortRangeError> {
        let total = self.len();
        if parts == 0 || parts > total {
            return Err(PortRangeError::TooSmall {
                range: *self,
                ports: total,
                cores: parts,
            });
        }
        let (base, extra) = (total / parts, total % parts);
        let mut first = usize::from(self.first);
        Ok((0..parts)
            .map(|i| {
                let size = base + usize::from(i < extra);
                let slice = PortRange {
                    first: first as u16,
                    last: (first + size - 1) as u16,
                };
                first += size;
                slice
            })
            .collect())
    }
}

impl fmt::Display for PortRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.first, self.last)
    }
}

impl FromStr for PortRange {
    type Err = PortRangeError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || PortRangeError::Syntax(s.to_string());
        let (a, b) = s.trim().split_once('-').ok_or_else(bad)?;
        let first: u16 = a.trim().parse().map_err(|_| bad())?;
        let last: u16 = b.trim().parse().map_err(|_| bad())?;
        if first == 0 || first > last {
            return Err(bad());
        }
        Ok(PortRange { first, last })
    }
}

/// Listeners kept per core past their data connection (during it and parked after
/// it). Each holds an fd, so this is small next to the fds of the transfers it serves.
pub const MAX_PARKED: usize = 256;

/// A passive listener kept open on its port after its data connection was made.
#[derive(Debug)]
struct Parked {
    port: u16,
    ip: IpAddr,
    listener: Rc<TcpListener>,
}

/// The free ports of one core's slice.
#[derive(Debug)]
pub struct PortPool {
    range: PortRange,
    free: RefCell<VecDeque<u16>>,
    /// Free ports with their listener still open, most recently parked last.
    parked: RefCell<Vec<Parked>>,
    /// Listeners kept: parked, or in a lease until its data connection ends.
    kept: Cell<usize>,
    max_parked: usize,
    exhausted: Cell<u64>,
    metrics: Option<Arc<WorkerMetrics>>,
}

impl PortPool {
    /// A pool holding every port of `range`.
    pub fn new(range: PortRange) -> Rc<PortPool> {
        Self::with_metrics(range, None)
    }

    /// A pool that also mirrors its size, use and exhaustion into worker metrics.
    pub fn with_metrics(range: PortRange, metrics: Option<Arc<WorkerMetrics>>) -> Rc<PortPool> {
        if let Some(m) = &metrics {
            m.passive_size.store(range.len() as u64, Relaxed);
        }
        Rc::new(PortPool {
            range,
            free: RefCell::new((range.first..=range.last).collect()),
            parked: RefCell::new(Vec::new()),
            kept: Cell::new(0),
            max_parked: MAX_PARKED,
            exhausted: Cell::new(0),
            metrics,
        })
    }

    fn publish(&self) {
        if let Some(m) = &self.metrics {
            m.passive_in_use.store(self.in_use() as u64, Relaxed);
            m.passive_exhausted.store(self.exhausted.get(), Relaxed);
        }
    }

    /// Take a port for a listener on `ip`: the most recently parked listener on `ip`
    /// if there is one (the lease carries it), else the least recently used free port
    /// (else the port of a listener parked on another address, which is closed).
    /// `None` (and a counted event) when every port is leased.
    pub fn lease(self: &Rc<Self>, ip: IpAddr) -> Option<PortLease> {
        let lease = {
            let mut parked = self.parked.borrow_mut();
            if let Some(i) = parked.iter().rposition(|p| p.ip == ip) {
                let p = parked.remove(i);
                Some((p.port, Some(p.listener)))
            } else if let Some(port) = self.free.borrow_mut().pop_front() {
                Some((port, None))
            } else if !parked.is_empty() {
                self.kept.set(self.kept.get() - 1);
                Some((parked.remove(0).port, None))
            } else {
                None
            }
        };
        let lease = match lease {
            Some((port, listener)) => Some(PortLease {
                port,
                ip,
                pool: self.clone(),
                listener,
            }),
            None => {
                self.exhausted.set(self.exhausted.get() + 1);
                None
            }
        };
        self.publish();
        lease
    }

    /// Count a lease that was useless because no port of the slice could be bound.
    pub fn note_exhausted(&self) {
        self.exhausted.set(self.exhausted.get() + 1);
        self.publish();
    }

    /// The slice this pool hands out.
    pub fn range(&self) -> PortRange {
        self.range
    }

    /// Ports not leased right now (parked ones included).
    pub fn free(&self) -> usize {
        self.free.borrow().len() + self.parked.borrow().len()
    }

    /// Listeners parked right now.
    pub fn parked(&self) -> usize {
        self.parked.borrow().len()
    }

    /// Ports leased right now.
    pub fn in_use(&self) -> usize {
        self.range.len() - self.free()
    }

    /// How many leases failed because the pool was empty.
    pub fn exhausted_count(&self) -> u64 {
        self.exhausted.get()
    }
}

/// A leased passive port; it returns to its pool when dropped, with its listener if
/// one was parked in the lease ([`PortLease::park`]).
#[derive(Debug)]
pub struct PortLease {
    port: u16,
    /// The address the lease's listener listens on.
    ip: IpAddr,
    pool: Rc<PortPool>,
    listener: Option<Rc<TcpListener>>,
}

impl PortLease {
    /// The leased port number.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The listener left open on this port by an earlier lease, if any. Connections
    /// may wait in its backlog from before this lease: drain them first.
    pub fn take_listener(&mut self) -> Option<Rc<TcpListener>> {
        let listener = self.listener.take();
        if listener.is_some() {
            self.pool.kept.set(self.pool.kept.get() - 1);
        }
        listener
    }

    /// Keep `listener` (open on this port and the lease's address) for the next lease
    /// on that address when this one ends, if the pool keeps fewer than its maximum;
    /// otherwise it is dropped (closed) here.
    pub fn park(&mut self, listener: Rc<TcpListener>) {
        if self.listener.is_none() && self.pool.kept.get() < self.pool.max_parked {
            self.pool.kept.set(self.pool.kept.get() + 1);
            self.listener = Some(listener);
        }
    }
}

impl Drop for PortLease {
    fn drop(&mut self) {
        // Still counted as kept: it moves from the lease to the parked stack.
        match self.listener.take() {
            Some(listener) => self.pool.parked.borrow_mut().push(Parked {
                port: self.port,
                ip: self.ip,
                listener,
            }),
            None => self.pool.free.borrow_mut().push_back(self.port),
        }
        self.pool.publish();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_split() {
        let r: PortRange = "50000-50009".parse().unwrap();
        let parts = r.split(3).unwrap();
        assert_eq!(
            parts,
            vec![
                PortRange {
                    first: 50000,
                    last: 50003
                },
                PortRange {
                    first: 50004,
                    last: 50006
                },
                PortRange {
                    first: 50007,
                    last: 50009
                },
            ]
        );
        assert!(r.split(11).is_err());
        assert!("9-1".parse::<PortRange>().is_err());
        assert!("0-10".parse::<PortRange>().is_err());
        assert!("abc".parse::<PortRange>().is_err());
    }

    const V4: IpAddr = IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);
    const V6: IpAddr = IpAddr::V6(std::net::Ipv6Addr::LOCALHOST);

    #[test]
    fn leases_return_and_exhaustion_is_counted() {
        let pool = PortPool::new(PortRange {
            first: 100,
            last: 101,
        });
        let a = pool.lease(V4).unwrap();
        let b = pool.lease(V4).unwrap();
        assert_ne!(a.port(), b.port());
        assert!(pool.lease(V4).is_none());
        assert_eq!(pool.exhausted_count(), 1);
        assert_eq!(pool.in_use(), 2);
        let a_port = a.port();
        drop(a);
        assert_eq!(pool.lease(V4).unwrap().port(), a_port);
        drop(b);
        assert_eq!(pool.free(), 2);
    }

    fn listener() -> Rc<TcpListener> {
        Rc::new(TcpListener::bind("127.0.0.1:0").unwrap())
    }

    #[test]
    fn a_parked_listener_goes_to_the_next_lease_on_its_address() {
        let pool = PortPool::new(PortRange {
            first: 100,
            last: 103,
        });
        let mut a = pool.lease(V4).unwrap();
        assert!(a.take_listener().is_none());
        let l = listener();
        a.park(l.clone());
        let port = a.port();
        drop(a);
        assert_eq!((pool.parked(), pool.in_use()), (1, 0));
        // Another address gets a fresh port; the parked listener stays.
        let v6 = pool.lease(V6).unwrap();
        assert_ne!(v6.port(), port);
        assert_eq!(pool.parked(), 1);
        // The same address gets the parked port and its listener, ahead of FIFO order.
        let mut b = pool.lease(V4).unwrap();
        assert_eq!(b.port(), port);
        assert!(Rc::ptr_eq(&b.take_listener().unwrap(), &l));
        assert_eq!(pool.parked(), 0);
        drop(b);
        // Returned without a listener: back to the free queue.
        assert_eq!(pool.parked(), 0);
        assert_eq!(pool.free(), 3);
    }

    #[test]
    fn parked_listeners_are_bounded_and_give_way_when_ports_run_out() {
        let pool = PortPool::new(PortRange {
            first: 100,
            last: 101,
        });
        let mut a = pool.lease(V4).unwrap();
        a.park(listener());
        drop(a);
        // Every port leased: the listener parked for another address is given up.
        let b = pool.lease(V6).unwrap();
        let c = pool.lease(V6).unwrap();
        assert_ne!(b.port(), c.port());
        assert_eq!(pool.parked(), 0);
        assert!(pool.lease(V6).is_none());
        drop((b, c));
        // At most max_parked listeners are kept, in leases and parked together: a
        // second lease cannot keep one while the first holds its own.
        let small = Rc::new(PortPool {
            max_parked: 1,
            ..Rc::try_unwrap(PortPool::new(PortRange { first: 1, last: 3 })).unwrap()
        });
        let mut x = small.lease(V4).unwrap();
        let mut y = small.lease(V4).unwrap();
        x.park(listener());
        y.park(listener());
        assert!(y.take_listener().is_none());
        drop((x, y));
        assert_eq!(small.parked(), 1);
        assert_eq!(small.free(), 3);
        // Taken for use and given back: still one kept.
        let mut z = small.lease(V4).unwrap();
        let l = z.take_listener().unwrap();
        let mut w = small.lease(V4).unwrap();
        w.park(listener());
        z.park(l);
        assert!(z.take_listener().is_none(), "w holds the one listener kept");
        drop((z, w));
        assert_eq!(small.parked(), 1);
    }
}

#[cfg(test)]
mod props {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn split_covers_range_exactly(first in 1u16..60000, len in 1usize..5000, parts in 1usize..64) {
            let last = (usize::from(first) + len - 1).min(65535) as u16;
            let r = PortRange { first, last };
            prop_assume!(parts <= r.len());
            let slices = r.split(parts).unwrap();
            prop_assert_eq!(slices.len(), parts);
            prop_assert_eq!(slices[0].first, first);
            prop_assert_eq!(slices[parts - 1].last, last);
            for w in slices.windows(2) {
                prop_assert_eq!(w[0].last + 1, w[1].first);
            }
        }
    }
}
