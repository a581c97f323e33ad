//! A per-core pool of transfer buffers for the copying paths (TLS data connections),
//! so a busy server reuses a few warm buffers instead of allocating one per chunk.

use std::cell::RefCell;
use std::rc::Rc;

/// Buffers kept idle per worker; more are allocated under load and freed on return.
const IDLE_MAX: usize = 64;

/// Idle buffers of one size.
pub struct BufferPool {
    size: usize,
    idle: RefCell<Vec<Vec<u8>>>,
}

impl BufferPool {
    /// A pool of `size`-byte buffers.
    pub fn new(size: usize) -> Rc<BufferPool> {
        Rc::new(BufferPool {
            size,
            idle: RefCell::new(Vec::new()),
        })
    }

    /// An empty buffer with `size` bytes of capacity.
    pub fn take(&self) -> Vec<u8> {
        self.idle
            .borrow_mut()
            .pop()
            .unwrap_or_else(|| Vec::with_capacity(self.size))
    }

    /// Return a buffer for reuse (dropped if the pool is full or it was resized).
    pub fn give(&self, mut buf: Vec<u8>) {
        let mut idle = self.idle.borrow_mut();
        if buf.capacity() == self.size && idle.len() < IDLE_MAX {
            buf.clear();
            idle.push(buf);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buffers_come_back_empty_and_the_pool_is_bounded() {
        let pool = BufferPool::new(1024);
        let mut a = pool.take();
        a.extend_from_slice(b"data");
        let ptr = a.as_ptr();
        pool.give(a);
        let b = pool.take();
        assert!(b.is_empty() && b.capacity() == 1024);
        assert_eq!(b.as_ptr(), ptr, "reused");
        pool.give(Vec::with_capacity(10));
        assert!(pool.idle.borrow().is_empty(), "wrong size is dropped");
        for _ in 0..IDLE_MAX + 5 {
            pool.give(Vec::with_capacity(1024));
        }
        assert_eq!(pool.idle.borrow().len(), IDLE_MAX);
    }
}
