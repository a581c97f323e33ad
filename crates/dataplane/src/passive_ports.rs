//! Per-core passive port pools.
//!
//! The configured range is split into one contiguous slice per core, so a PASV on
//! core N hands out a port that only core N listens on. Ports are reused in FIFO
//! order, which keeps a just-closed port (possibly in TIME_WAIT on the client side)
//! at the back of the queue.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::fmt;
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

/// The free ports of one core's slice.
#[derive(Debug)]
pub struct PortPool {
    range: PortRange,
    free: RefCell<VecDeque<u16>>,
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

    /// Take the least recently used free port; `None` (and a counted event) when empty.
    pub fn lease(self: &Rc<Self>) -> Option<PortLease> {
        let port = self.free.borrow_mut().pop_front();
        let lease = match port {
            Some(port) => Some(PortLease {
                port,
                pool: self.clone(),
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

    /// Ports not leased right now.
    pub fn free(&self) -> usize {
        self.free.borrow().len()
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

/// A leased passive port; it returns to its pool when dropped.
#[derive(Debug)]
pub struct PortLease {
    port: u16,
    pool: Rc<PortPool>,
}

impl PortLease {
    /// The leased port number.
    pub fn port(&self) -> u16 {
        self.port
    }
}

impl Drop for PortLease {
    fn drop(&mut self) {
        self.pool.free.borrow_mut().push_back(self.port);
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

    #[test]
    fn leases_return_and_exhaustion_is_counted() {
        let pool = PortPool::new(PortRange {
            first: 100,
            last: 101,
        });
        let a = pool.lease().unwrap();
        let b = pool.lease().unwrap();
        assert_ne!(a.port(), b.port());
        assert!(pool.lease().is_none());
        assert_eq!(pool.exhausted_count(), 1);
        assert_eq!(pool.in_use(), 2);
        let a_port = a.port();
        drop(a);
        assert_eq!(pool.lease().unwrap().port(), a_port);
        drop(b);
        assert_eq!(pool.free(), 2);
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
